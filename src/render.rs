//! Rendering: decode → orient → resize → encode, for the small derivatives attendees
//! see (thumb 320, preview 1280).
//!
//! The expensive part of a thumbnail is decoding 24–45 megapixels. Two routes avoid it:
//! - **Embedded previews.** Camera JPEGs carry an EXIF thumbnail (IFD1, usually
//!   160×120) and often a large MPF preview (APP2 "MPF", e.g. 1616×1080) appended
//!   after the main image. When one is at least as large as the derivative and has the
//!   main image's aspect ratio, the derivative is rendered from it.
//! - **Shrink-on-load.** libjpeg-turbo decodes at 1/2, 1/4 or 1/8 scale in the DCT
//!   domain (as libvips does); the largest reduction that keeps the image at least as
//!   large as the target is used.
//!
//! Then EXIF orientation 1–8 is applied to the (now small) pixels, fast_image_resize
//! (SIMD: AVX2 on x86-64, NEON on aarch64) resizes with Lanczos3, and libjpeg-turbo
//! encodes. Outputs carry no metadata at all (so no GPS, serial numbers or owner
//! names), and their pixels are upright.
//!
//! A decompression-bomb guard refuses images whose declared pixel count exceeds the
//! limit before anything is allocated. Every failure is an error with a reason a vendor
//! can read; nothing here panics on bad input.
//!
//! Not here yet (next steps of the previews work): colour management (ICC profiles
//! are dropped, so Adobe RGB / Display P3 sources come out slightly desaturated),
//! watermarks, WebP output, the render queue and serving.

use std::path::Path;
use std::time::{Duration, Instant};

use fast_image_resize as fir;
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

/// Default limit on declared pixels (about 100 MP).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// Why a photo could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Declared dimensions exceed the pixel limit (a decompression bomb, or a panorama
    /// too large for the box).
    #[error("image too large to render: {width}×{height} exceeds {limit} pixels")]
    TooLarge {
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
        /// The limit.
        limit: u64,
    },
    /// The format cannot be rendered here (camera RAW, HEIC).
    #[error("no preview for {0}")]
    Unsupported(String),
    /// The file is damaged.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    /// Encoding failed.
    #[error("cannot encode the preview: {0}")]
    Encode(String),
}

/// How a derivative was made, for the dashboard's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// From the EXIF thumbnail (IFD1).
    ExifThumbnail,
    /// From the MPF large preview.
    MpfPreview,
    /// From the main image, decoded at 1/2, 1/4 or 1/8 in the DCT domain.
    ScaledDecode,
    /// From the main image at full size.
    FullDecode,
}

impl Route {
    /// A short name for logs and figures.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::ExifThumbnail => "exif-thumbnail",
            Route::MpfPreview => "mpf-preview",
            Route::ScaledDecode => "scaled-decode",
            Route::FullDecode => "full-decode",
        }
    }
}

/// A rendered derivative.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Encoded JPEG bytes.
    pub bytes: Vec<u8>,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// How it was made.
    pub route: Route,
    /// Time spent decoding.
    pub decode: Duration,
    /// Time spent orienting and resizing.
    pub resize: Duration,
    /// Time spent encoding.
    pub encode: Duration,
}

// --- Pure parsing of JPEG metadata segments. ---

/// What the JPEG's metadata segments say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JpegMeta {
    /// EXIF orientation 1–8 (1 if absent or invalid).
    pub orientation: u8,
    /// Byte range of the EXIF thumbnail (a JPEG) in the file.
    pub exif_thumbnail: Option<(usize, usize)>,
    /// Byte range of the MPF large preview (a JPEG) in the file.
    pub mpf_preview: Option<(usize, usize)>,
}

/// Reads orientation and embedded previews from a JPEG's segments before the image
/// data. Every offset is checked against `data`; anything malformed is ignored (the
/// main image is still there), never trusted.
pub fn jpeg_meta(data: &[u8]) -> JpegMeta {
    let mut meta = JpegMeta {
        orientation: 1,
        ..Default::default()
    };
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return meta;
    }
    let mut pos = 2;
    while pos + 4 <= data.len() {
        if data[pos] != 0xFF {
            break;
        }
        let marker = data[pos + 1];
        if marker == 0xFF {
            pos += 1;
            continue;
        }
        // Start of scan or end of image: no more metadata segments.
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        if len < 2 || pos + 2 + len > data.len() {
            break;
        }
        let body_start = pos + 4;
        let body = &data[body_start..pos + 2 + len];
        if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
            let tiff_start = body_start + 6;
            read_exif(
                &data[tiff_start..pos + 2 + len],
                tiff_start,
                data.len(),
                &mut meta,
            );
        } else if marker == 0xE2 && body.starts_with(b"MPF\0") {
            let tiff_start = body_start + 4;
            meta.mpf_preview = read_mpf(&data[tiff_start..pos + 2 + len], tiff_start, data.len());
        }
        pos += 2 + len;
    }
    meta
}

fn read_exif(tiff: &[u8], tiff_start: usize, file_len: usize, meta: &mut JpegMeta) {
    let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return;
    };
    if let Some(field) = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY) {
        if let Some(v @ 1..=8) = field.value.get_uint(0) {
            meta.orientation = v as u8;
        }
    }
    let offset = exif
        .get_field(exif::Tag::JPEGInterchangeFormat, exif::In::THUMBNAIL)
        .and_then(|f| f.value.get_uint(0));
    let length = exif
        .get_field(exif::Tag::JPEGInterchangeFormatLength, exif::In::THUMBNAIL)
        .and_then(|f| f.value.get_uint(0));
    if let (Some(offset), Some(length)) = (offset, length) {
        let start = tiff_start.saturating_add(offset as usize);
        let end = start.saturating_add(length as usize);
        if length >= 4 && end <= file_len && (offset as usize) + (length as usize) <= tiff.len() {
            meta.exif_thumbnail = Some((start, end));
        }
    }
}

/// Finds the MPF "large thumbnail" (class 1 or 2) entry. MP Entry offsets are relative
/// to the MPF TIFF header; only the preview classes are taken (not gain maps or
/// stereo frames, which share the format).
fn read_mpf(tiff: &[u8], tiff_start: usize, file_len: usize) -> Option<(usize, usize)> {
    if tiff.len() < 8 {
        return None;
    }
    let le = match &tiff[..4] {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let u16_at = |p: usize| -> Option<u16> {
        let b = tiff.get(p..p + 2)?;
        Some(if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |p: usize| -> Option<u32> {
        let b = tiff.get(p..p + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    let mut entries = None;
    for i in 0..count.min(64) {
        let e = ifd + 2 + i * 12;
        if u16_at(e)? == 0xB002 {
            let n = u32_at(e + 4)? as usize;
            let at = u32_at(e + 8)? as usize;
            entries = Some((at, n / 16));
        }
    }
    let (at, n) = entries?;
    for i in 0..n.min(16) {
        let e = at + i * 16;
        let attribute = u32_at(e)?;
        let size = u32_at(e + 4)? as usize;
        let offset = u32_at(e + 8)? as usize;
        let kind = attribute & 0x00FF_FFFF;
        if (kind == 0x01_0001 || kind == 0x01_0002) && offset > 0 {
            let start = tiff_start.checked_add(offset)?;
            let end = start.checked_add(size)?;
            if end <= file_len && size >= 4 {
                return Some((start, end));
            }
        }
    }
    None
}

// --- Pixels. ---

/// Decoded pixels: RGB or grey, 8 bits per sample.
struct Pixels {
    data: Vec<u8>,
    width: usize,
    height: usize,
    channels: usize,
}

/// The largest DCT scale-down (1/8, 1/4, 1/2) that keeps the longest edge at least
/// the target — for thumbs (≤ 640) at least `THUMB_SHRINK_MARGIN` × the target, so
/// Lanczos3 does more of the reduction: DCT scaling to 1/8 aliases fine detail, and a
/// thumb's decode is cheap enough to afford the margin (a preview's is not, in time
/// and memory on a Pi).
pub fn shrink_factor(width: usize, height: usize, target: u32) -> ScalingFactor {
    let longest = width.max(height);
    let margin = if target <= 640 {
        THUMB_SHRINK_MARGIN
    } else {
        1.0
    };
    let needed = (target as f64 * margin).ceil() as usize;
    for denom in [8usize, 4, 2] {
        let factor = ScalingFactor::new(1, denom);
        if factor.scale(longest) >= needed {
            return factor;
        }
    }
    ScalingFactor::ONE
}

/// How much larger than a thumb's target a shrink-on-load decode stays.
pub const THUMB_SHRINK_MARGIN: f64 = 1.5;

/// Reusable per-thread state: a decompressor, a compressor and a resizer.
pub struct Renderer {
    decompressor: Decompressor,
    compressor: turbojpeg::Compressor,
    resizer: fir::Resizer,
    max_pixels: u64,
}

impl Renderer {
    /// A renderer refusing images over `max_pixels`.
    pub fn new(max_pixels: u64) -> Result<Renderer, RenderError> {
        Ok(Renderer {
            decompressor: Decompressor::new().map_err(|e| RenderError::Decode(e.to_string()))?,
            compressor: turbojpeg::Compressor::new()
                .map_err(|e| RenderError::Encode(e.to_string()))?,
            resizer: fir::Resizer::new(),
            max_pixels,
        })
    }

    fn reset(&mut self) -> Result<(), RenderError> {
        self.decompressor = Decompressor::new().map_err(|e| RenderError::Decode(e.to_string()))?;
        self.compressor =
            turbojpeg::Compressor::new().map_err(|e| RenderError::Encode(e.to_string()))?;
        Ok(())
    }

    /// Renders `data` (a whole photo file) with its longest edge at most `size`, as a
    /// JPEG of `quality`. Images smaller than `size` are not enlarged.
    pub fn render(&mut self, data: &[u8], size: u32, quality: u8) -> Result<Rendered, RenderError> {
        let mut set = self.render_set(data, &[size], quality)?;
        Ok(set.remove(0))
    }

    /// Renders every size in `sizes` from one decode (made for the largest size), in
    /// the order given. Each result's `decode` is the shared decode's time.
    pub fn render_set(
        &mut self,
        data: &[u8],
        sizes: &[u32],
        quality: u8,
    ) -> Result<Vec<Rendered>, RenderError> {
        let result = self.render_once(data, sizes, quality);
        if result.is_err() {
            self.reset()?;
        }
        result
    }

    fn render_once(
        &mut self,
        data: &[u8],
        sizes: &[u32],
        quality: u8,
    ) -> Result<Vec<Rendered>, RenderError> {
        let largest = sizes.iter().copied().max().unwrap_or(320);
        let started = Instant::now();
        let (pixels, orientation, route, (main_w, main_h)) =
            if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
                self.decode_jpeg(data, largest)?
            } else {
                let pixels = self.decode_other(data)?;
                let dims = (pixels.width, pixels.height);
                (pixels, 1, Route::FullDecode, dims)
            };
        let pixels = orient(pixels, orientation);
        let (main_w, main_h) = if orientation >= 5 {
            (main_h, main_w)
        } else {
            (main_w, main_h)
        };
        let decode = started.elapsed();
        let mut out = Vec::with_capacity(sizes.len());
        for &size in sizes {
            let started = Instant::now();
            // The output's size follows the main image, whatever was decoded.
            let (width, height) = fit(main_w, main_h, size);
            let resized = self.resize(&pixels, width, height)?;
            let pixels = resized.as_ref().unwrap_or(&pixels);
            let resize = started.elapsed();
            let started = Instant::now();
            let bytes = self.encode(pixels, quality)?;
            out.push(Rendered {
                bytes,
                width: pixels.width as u32,
                height: pixels.height as u32,
                route,
                decode,
                resize,
                encode: started.elapsed(),
            });
        }
        Ok(out)
    }

    fn encode(&mut self, pixels: &Pixels, quality: u8) -> Result<Vec<u8>, RenderError> {
        let format = if pixels.channels == 1 {
            PixelFormat::GRAY
        } else {
            PixelFormat::RGB
        };
        let image = Image {
            pixels: pixels.data.as_slice(),
            width: pixels.width,
            pitch: pixels.width * pixels.channels,
            height: pixels.height,
            format,
        };
        let encode_err = |e: turbojpeg::Error| RenderError::Encode(e.to_string());
        self.compressor
            .set_quality(quality.clamp(1, 100) as i32)
            .map_err(encode_err)?;
        self.compressor
            .set_subsamp(if pixels.channels == 1 {
                turbojpeg::Subsamp::Gray
            } else {
                turbojpeg::Subsamp::Sub2x2
            })
            .map_err(encode_err)?;
        self.compressor.compress_to_vec(image).map_err(encode_err)
    }

    fn check_pixels(&self, width: u64, height: u64) -> Result<(), RenderError> {
        if width == 0 || height == 0 {
            return Err(RenderError::Decode("zero width or height".into()));
        }
        if width.saturating_mul(height) > self.max_pixels {
            return Err(RenderError::TooLarge {
                width,
                height,
                limit: self.max_pixels,
            });
        }
        Ok(())
    }

    /// Decodes a JPEG for a derivative of `size`; returns the pixels, the orientation,
    /// the route and the main image's dimensions (a preview's may differ by a pixel).
    #[allow(clippy::type_complexity)]
    fn decode_jpeg(
        &mut self,
        data: &[u8],
        size: u32,
    ) -> Result<(Pixels, u8, Route, (usize, usize)), RenderError> {
        let header = self
            .decompressor
            .read_header(data)
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        self.check_pixels(header.width as u64, header.height as u64)?;
        let meta = jpeg_meta(data);
        let aspect = header.width as f64 / header.height as f64;
        // An embedded preview, if one is large enough and shows the same framing.
        for (range, route) in [
            (meta.exif_thumbnail, Route::ExifThumbnail),
            (meta.mpf_preview, Route::MpfPreview),
        ] {
            let Some((start, end)) = range else { continue };
            let preview = &data[start..end];
            let Ok(h) = self.decompressor.read_header(preview) else {
                continue;
            };
            let same_framing =
                ((h.width as f64 / h.height.max(1) as f64) - aspect).abs() / aspect < 0.01;
            // Embedded previews are compressed harder than the main image: only one at
            // least twice the derivative's size keeps its artefacts below what the
            // downscale removes (measured with benches/render.sh, SSIMULACRA2).
            if h.width.max(h.height) >= 2 * size as usize && same_framing {
                if let Ok(pixels) = self.decode_jpeg_pixels(preview, size) {
                    return Ok((
                        pixels,
                        meta.orientation,
                        route,
                        (header.width, header.height),
                    ));
                }
            }
        }
        let factor = shrink_factor(header.width, header.height, size);
        let route = if factor == ScalingFactor::ONE {
            Route::FullDecode
        } else {
            Route::ScaledDecode
        };
        Ok((
            self.decode_jpeg_pixels(data, size)?,
            meta.orientation,
            route,
            (header.width, header.height),
        ))
    }

    fn decode_jpeg_pixels(&mut self, data: &[u8], size: u32) -> Result<Pixels, RenderError> {
        let err = |e: turbojpeg::Error| RenderError::Decode(e.to_string());
        let header = self.decompressor.read_header(data).map_err(err)?;
        self.check_pixels(header.width as u64, header.height as u64)?;
        let factor = shrink_factor(header.width, header.height, size);
        self.decompressor.set_scaling_factor(factor).map_err(err)?;
        let scaled = header.scaled(factor);
        let cmyk = matches!(
            header.colorspace,
            turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
        );
        let gray = matches!(header.colorspace, turbojpeg::Colorspace::Gray);
        let (format, channels) = if cmyk {
            (PixelFormat::CMYK, 4)
        } else if gray {
            (PixelFormat::GRAY, 1)
        } else {
            (PixelFormat::RGB, 3)
        };
        let mut buf = vec![0u8; scaled.width * scaled.height * channels];
        let image = Image {
            pixels: buf.as_mut_slice(),
            width: scaled.width,
            pitch: scaled.width * channels,
            height: scaled.height,
            format,
        };
        if let Err(e) = self.decompressor.decompress(data, image) {
            // A TurboJPEG handle is not reliable after an error or warning: start the
            // next image on a fresh one.
            self.reset()?;
            // libjpeg reports damaged-but-decodable data (a truncated file, a bad
            // marker) as a warning after filling the rest grey, as libvips shows it;
            // TurboJPEG's wrapper turns warnings into errors. Keep those images.
            if !is_libjpeg_warning(&e.to_string()) {
                return Err(err(e));
            }
            tracing::debug!(warning = %e, "JPEG decoded with a warning");
        }
        if cmyk {
            buf = cmyk_to_rgb(&buf, is_adobe_inverted(data));
        }
        Ok(Pixels {
            data: buf,
            width: scaled.width,
            height: scaled.height,
            channels: if cmyk { 3 } else { channels },
        })
    }

    /// PNG, WebP, TIFF through the image crate, with its allocation limits.
    fn decode_other(&mut self, data: &[u8]) -> Result<Pixels, RenderError> {
        let mut reader = image::ImageReader::new(std::io::Cursor::new(data))
            .with_guessed_format()
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        if reader.format().is_none() {
            return Err(RenderError::Unsupported("this file type".into()));
        }
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        self.check_pixels(w as u64, h as u64)?;
        reader = image::ImageReader::new(std::io::Cursor::new(data))
            .with_guessed_format()
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_pixels * 8);
        reader.limits(limits);
        let decoded = reader
            .decode()
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        let (data, channels) = if decoded.color().has_alpha() {
            // Composite over white: a JPEG derivative has no alpha channel.
            let rgba = decoded.to_rgba8();
            let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
            for px in rgba.pixels() {
                let a = px[3] as u32;
                for c in 0..3 {
                    rgb.push(((px[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8);
                }
            }
            (rgb, 3)
        } else if decoded.color().channel_count() == 1 {
            (decoded.to_luma8().into_raw(), 1)
        } else {
            (decoded.to_rgb8().into_raw(), 3)
        };
        Ok(Pixels {
            data,
            width: w as usize,
            height: h as usize,
            channels,
        })
    }

    /// Resizes to a longest edge of `size`; `None` when the image is already no larger.
    /// Resizes to exactly `width`×`height`; `None` when the pixels already are.
    fn resize(
        &mut self,
        pixels: &Pixels,
        width: usize,
        height: usize,
    ) -> Result<Option<Pixels>, RenderError> {
        if (pixels.width, pixels.height) == (width, height) {
            return Ok(None);
        }
        let (width, height) = (width as u32, height as u32);
        let pixel_type = if pixels.channels == 1 {
            fir::PixelType::U8
        } else {
            fir::PixelType::U8x3
        };
        let src = fir::images::ImageRef::new(
            pixels.width as u32,
            pixels.height as u32,
            &pixels.data,
            pixel_type,
        )
        .map_err(|e| RenderError::Decode(e.to_string()))?;
        let mut dst = fir::images::Image::new(width, height, pixel_type);
        let options = fir::ResizeOptions::new()
            .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
        self.resizer
            .resize(&src, &mut dst, &options)
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        Ok(Some(Pixels {
            data: dst.into_vec(),
            width: width as usize,
            height: height as usize,
            channels: pixels.channels,
        }))
    }
}

/// The size of a derivative of `size` (longest edge) for an image of `width`×`height`:
/// never enlarged.
pub fn fit(width: usize, height: usize, size: u32) -> (usize, usize) {
    let longest = width.max(height);
    if longest <= size as usize {
        return (width, height);
    }
    let scale = size as f64 / longest as f64;
    (
        ((width as f64 * scale).round() as usize).max(1),
        ((height as f64 * scale).round() as usize).max(1),
    )
}

/// libjpeg's warnings (JWRN_*): the image was decoded, with damage filled in.
fn is_libjpeg_warning(message: &str) -> bool {
    message.contains("Corrupt JPEG data") || message.contains("Premature end of JPEG file")
}

/// Adobe's APP14 marker with transform 2 (YCCK) or 0 with CMYK means the stored CMYK
/// values are inverted, as Photoshop writes them.
fn is_adobe_inverted(data: &[u8]) -> bool {
    let mut pos = 2;
    while pos + 4 <= data.len() && data[pos] == 0xFF {
        let marker = data[pos + 1];
        if marker == 0xDA {
            break;
        }
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        if marker == 0xEE && data.get(pos + 4..pos + 9) == Some(b"Adobe") {
            return true;
        }
        pos += 2 + len;
    }
    false
}

/// Naive CMYK → RGB (no colour management): good enough for a preview of the rare
/// CMYK photo.
fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let (c, m, y, k) = if inverted {
            (px[0] as u32, px[1] as u32, px[2] as u32, px[3] as u32)
        } else {
            (
                255 - px[0] as u32,
                255 - px[1] as u32,
                255 - px[2] as u32,
                255 - px[3] as u32,
            )
        };
        rgb.push((c * k / 255) as u8);
        rgb.push((m * k / 255) as u8);
        rgb.push((y * k / 255) as u8);
    }
    rgb
}

/// Applies EXIF orientation 1–8 so the pixels are upright.
fn orient(p: Pixels, orientation: u8) -> Pixels {
    if orientation <= 1 || orientation > 8 {
        return p;
    }
    let (w, h, c) = (p.width, p.height, p.channels);
    let transposed = orientation >= 5;
    let (nw, nh) = if transposed { (h, w) } else { (w, h) };
    let mut out = vec![0u8; p.data.len()];
    for y in 0..h {
        for x in 0..w {
            // Where source pixel (x, y) lands.
            let (dx, dy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (h - 1 - y, x),
                7 => (h - 1 - y, w - 1 - x),
                8 => (y, w - 1 - x),
                _ => (x, y),
            };
            let s = (y * w + x) * c;
            let d = (dy * nw + dx) * c;
            out[d..d + c].copy_from_slice(&p.data[s..s + c]);
        }
    }
    Pixels {
        data: out,
        width: nw,
        height: nh,
        channels: c,
    }
}

/// Called for every derivative [`render_files`] makes or fails to make.
pub type Report<'a> = dyn Fn(&Path, u32, Result<&Rendered, &RenderError>) + Sync + 'a;

/// Renders every file in `files` at each of `sizes` into `out`, as
/// `<out>/<stem>_<size>.jpg`, on `threads` threads. Calls `report` for each
/// derivative made or failed. Returns the number of failures.
pub fn render_files(
    files: &[std::path::PathBuf],
    sizes: &[u32],
    quality: u8,
    out: &Path,
    threads: usize,
    max_pixels: u64,
    report: &Report<'_>,
) -> usize {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut renderer = match Renderer::new(max_pixels) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("venuebox: render: {e}");
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let data = match std::fs::read(file) {
                        Ok(d) => d,
                        Err(e) => {
                            for &size in sizes {
                                report(file, size, Err(&RenderError::Decode(e.to_string())));
                            }
                            failures.fetch_add(sizes.len(), std::sync::atomic::Ordering::Relaxed);
                            continue;
                        }
                    };
                    let stem = file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    match renderer.render_set(&data, sizes, quality) {
                        Ok(set) => {
                            for (&size, r) in sizes.iter().zip(&set) {
                                let path = out.join(format!("{stem}_{size}.jpg"));
                                match std::fs::write(&path, &r.bytes) {
                                    Ok(()) => report(file, size, Ok(r)),
                                    Err(e) => {
                                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        report(
                                            file,
                                            size,
                                            Err(&RenderError::Encode(e.to_string())),
                                        );
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            failures.fetch_add(sizes.len(), std::sync::atomic::Ordering::Relaxed);
                            for &size in sizes {
                                report(file, size, Err(&e));
                            }
                        }
                    }
                }
            });
        }
    });
    failures.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_keeps_at_least_the_target() {
        assert_eq!(shrink_factor(6000, 4000, 320), ScalingFactor::new(1, 8));
        assert_eq!(
            shrink_factor(2576, 1932, 320),
            ScalingFactor::new(1, 4),
            "thumbs keep a margin"
        );
        assert_eq!(shrink_factor(6000, 4000, 1280), ScalingFactor::new(1, 4));
        assert_eq!(shrink_factor(2000, 1500, 1280), ScalingFactor::ONE);
        assert_eq!(shrink_factor(2600, 1500, 1280), ScalingFactor::new(1, 2));
    }

    #[test]
    fn orientation_moves_pixels_where_exif_says() {
        // A 2×1 image: red then blue. Orientation 6 (rotate 90° clockwise) makes it
        // 1×2 with red on top; orientation 8 puts blue on top.
        let p = || Pixels {
            data: vec![255, 0, 0, 0, 0, 255],
            width: 2,
            height: 1,
            channels: 3,
        };
        let six = orient(p(), 6);
        assert_eq!((six.width, six.height), (1, 2));
        assert_eq!(six.data, vec![255, 0, 0, 0, 0, 255]);
        let eight = orient(p(), 8);
        assert_eq!(eight.data, vec![0, 0, 255, 255, 0, 0]);
        let two = orient(p(), 2);
        assert_eq!(two.data, vec![0, 0, 255, 255, 0, 0]);
        assert_eq!(
            orient(p(), 9).data,
            p().data,
            "invalid orientations are ignored"
        );
    }

    #[test]
    fn metadata_parsing_survives_garbage() {
        assert_eq!(jpeg_meta(b"").orientation, 1);
        assert_eq!(
            jpeg_meta(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, b'E']).orientation,
            1
        );
        let mut mpf = vec![0xFF, 0xD8, 0xFF, 0xE2, 0x00, 0x20];
        mpf.extend_from_slice(b"MPF\0MM\0*\xFF\xFF\xFF\xFF");
        mpf.resize(40, 0);
        assert_eq!(jpeg_meta(&mpf).mpf_preview, None);
    }
}
