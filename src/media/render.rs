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
//! (SIMD: AVX2 on x86-64, NEON on aarch64) resizes with Lanczos3, a watermark is drawn
//! if asked, and libjpeg-turbo (JPEG) or libwebp (lossy WebP) encodes. Outputs carry
//! only Artist and Copyright (a minimal EXIF, orientation 1: their pixels are upright)
//! and, for Adobe RGB / Display P3 sources, the source's ICC profile: the pixels are
//! not converted but tagged, so colour-managed viewers (phone browsers) show the
//! source's gamut, and sRGB sources stay untagged (what untagged means anyway). A
//! camera set to Adobe RGB writes no profile, only EXIF (InteroperabilityIndex "R03"):
//! its derivatives get an Adobe RGB-compatible one ([`super::colour`]). No GPS, serial
//! numbers or owner names ever reach a derivative.
//!
//! A decompression-bomb guard refuses images whose declared pixel count exceeds the
//! limit before anything is allocated. Every failure is an error with a reason a vendor
//! can read; nothing here panics on bad input.
//!
//! Size: about 1000 lines of code and 50 of tests in one file, on purpose: decode, orient,
//! resize, watermark and encode share the private `Pixels` type and one `Renderer`
//! with its reusable buffers; JPEG segment parsing is `media::jpeg`, the batch CLI
//! `cli::render`.

use std::path::Path;
use std::time::{Duration, Instant};

use fast_image_resize as fir;
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

use super::jpeg::{jpeg_meta, jpeg_meta_of, EoiScan};

/// Default limit on declared pixels (about 100 MP), `previews.max_pixels`'s default.
pub use crate::config::DEFAULT_MAX_PIXELS;

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

/// Every route.
pub const ROUTES: [Route; 4] = [
    Route::ExifThumbnail,
    Route::MpfPreview,
    Route::ScaledDecode,
    Route::FullDecode,
];

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
    /// Its encoding.
    pub format: Format,
    /// How it was made.
    pub route: Route,
    /// Time spent decoding.
    pub decode: Duration,
    /// Time spent orienting and resizing.
    pub resize: Duration,
    /// Time spent encoding.
    pub encode: Duration,
}

/// Reads what rendering a stored photo needs: for a JPEG, its bytes through the main
/// image's EOI and its MPF preview, not what is appended after them (padding, the
/// MP4 of a "motion photo"); for other formats, the whole file.
pub fn read_source(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    const HEAD: u64 = 256 << 10;
    const CHUNK: u64 = 1 << 20;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut buf = Vec::with_capacity(len.min(HEAD as usize));
    (&mut file).take(HEAD).read_to_end(&mut buf)?;
    if !buf.starts_with(&[0xFF, 0xD8, 0xFF]) || buf.len() >= len {
        file.read_to_end(&mut buf)?;
        return Ok(buf);
    }
    let meta = jpeg_meta_of(&buf, len);
    let mut scan = EoiScan::at(2);
    let end = loop {
        match scan.advance(&buf) {
            Ok(Some(end)) => break end,
            Ok(None) => {}
            Err(()) => break len, // damaged: the decoder gets it all and says why
        }
        let before = buf.len();
        (&mut file).take(CHUNK).read_to_end(&mut buf)?;
        if buf.len() == before {
            break len; // no EOI: a truncated image, all of it
        }
    };
    let needed = end.max(meta.mpf_preview.map_or(0, |(_, e)| e)).min(len);
    if needed > buf.len() {
        (&mut file)
            .take((needed - buf.len()) as u64)
            .read_to_end(&mut buf)?;
    }
    buf.truncate(needed);
    Ok(buf)
}

// --- Pixels. ---

/// Decoded pixels: RGB or grey, 8 bits per sample.
#[derive(Clone)]
struct Pixels {
    data: Vec<u8>,
    width: usize,
    height: usize,
    channels: usize,
}

/// A decoded source, not yet oriented.
struct Decoded {
    pixels: Pixels,
    /// The EXIF orientation to apply (1–8).
    orientation: u8,
    route: Route,
    /// The main image's dimensions as stored (the pixels may be scaled down, or come
    /// from an embedded preview).
    dims: (usize, usize),
    /// The source's ICC profile, if it has one.
    icc: Option<Vec<u8>>,
    /// The source is CMYK (its pixels here are converted, without a profile).
    cmyk: bool,
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

    /// Renders every size in `sizes` as JPEG from one decode (made for the largest
    /// size), in the order given. Each result's `decode` is the shared decode's time.
    pub fn render_set(
        &mut self,
        data: &[u8],
        sizes: &[u32],
        quality: u8,
    ) -> Result<Vec<Rendered>, RenderError> {
        let jobs: Vec<Job<'_>> = sizes.iter().map(|&size| Job::plain(size)).collect();
        self.render_jobs(data, &jobs, &[Format::Jpeg], quality)
    }

    /// Renders every job in every format from one decode: `jobs.len() × formats.len()`
    /// results, job by job (each job's formats in the order given). JPEG is encoded at
    /// `quality`, WebP at [`webp_quality`] of it. Every output carries [`Tags`] of the
    /// source: Artist and Copyright, and its ICC profile when that is not sRGB.
    pub fn render_jobs(
        &mut self,
        data: &[u8],
        jobs: &[Job<'_>],
        formats: &[Format],
        quality: u8,
    ) -> Result<Vec<Rendered>, RenderError> {
        let mut out: Vec<Option<Rendered>> = self
            .render_staged(data, jobs, formats, quality, |_| Ok(()))?
            .into_iter()
            .map(Some)
            .collect();
        // Format by format → job by job.
        let n = jobs.len();
        let mut by_job = Vec::with_capacity(out.len());
        for j in 0..n {
            for f in 0..formats.len() {
                by_job.push(out[f * n + j].take().expect("each result once"));
            }
        }
        Ok(by_job)
    }

    /// Renders every job in every format from one decode, format by format: every
    /// job is resized first, then encoded in `formats[0]`, handed to `ready` (which
    /// may store them, so they can be served before the next format is encoded),
    /// then in `formats[1]`, and so on. Returns every result, format by format.
    pub fn render_staged(
        &mut self,
        data: &[u8],
        jobs: &[Job<'_>],
        formats: &[Format],
        quality: u8,
        ready: impl FnMut(&[Rendered]) -> Result<(), RenderError>,
    ) -> Result<Vec<Rendered>, RenderError> {
        let result = self.render_once(data, jobs, formats, quality, ready);
        if result.is_err() {
            self.reset()?;
        }
        result
    }

    fn render_once(
        &mut self,
        data: &[u8],
        jobs: &[Job<'_>],
        formats: &[Format],
        quality: u8,
        mut ready: impl FnMut(&[Rendered]) -> Result<(), RenderError>,
    ) -> Result<Vec<Rendered>, RenderError> {
        let largest = jobs.iter().map(|j| j.size).max().unwrap_or(320);
        let started = Instant::now();
        let jpeg = data.starts_with(&[0xFF, 0xD8, 0xFF]);
        let Decoded {
            pixels,
            orientation,
            route,
            dims: (main_w, main_h),
            icc,
            cmyk,
        } = if jpeg {
            self.decode_jpeg(data, largest)?
        } else {
            self.decode_other(data)?
        };
        let pixels = orient(pixels, orientation);
        let (main_w, main_h) = if orientation >= 5 {
            (main_h, main_w)
        } else {
            (main_w, main_h)
        };
        let decode = started.elapsed();
        let tags = Tags::of(data, icc, pixels.channels, !cmyk);
        // Every job's pixels (None: the decode itself), and how long each took.
        let mut made: Vec<(Option<Pixels>, Duration)> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let started = Instant::now();
            // The output's size follows the main image, whatever was decoded.
            let (width, height) = fit(main_w, main_h, job.size);
            let mut resized = self.resize(&pixels, width, height)?;
            if let Some(watermark) = job.watermark {
                let mut copy = resized.unwrap_or_else(|| pixels.clone());
                watermark.apply(&mut copy.data, copy.width, copy.height, copy.channels);
                resized = Some(copy);
            }
            made.push((resized, started.elapsed()));
        }
        let mut out = Vec::with_capacity(jobs.len() * formats.len());
        for &format in formats {
            let first = out.len();
            for (resized, resize) in &made {
                let pixels = resized.as_ref().unwrap_or(&pixels);
                let started = Instant::now();
                let bytes = match format {
                    Format::Jpeg => self.encode(pixels, quality, &tags)?,
                    Format::Webp => encode_webp(pixels, webp_quality(quality), &tags)?,
                };
                out.push(Rendered {
                    bytes,
                    width: pixels.width as u32,
                    height: pixels.height as u32,
                    format,
                    route,
                    decode,
                    resize: *resize,
                    encode: started.elapsed(),
                });
            }
            ready(&out[first..])?;
        }
        Ok(out)
    }

    fn encode(
        &mut self,
        pixels: &Pixels,
        quality: u8,
        tags: &Tags,
    ) -> Result<Vec<u8>, RenderError> {
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
        let mut jpeg = self.compressor.compress_to_vec(image).map_err(encode_err)?;
        if let Some(icc) = &tags.icc {
            jpeg = super::jpeg::insert_segments(jpeg, &super::jpeg::icc_segments(icc));
        }
        if let Some(exif) = &tags.exif {
            jpeg = super::jpeg::insert_exif(jpeg, exif);
        }
        Ok(jpeg)
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

    /// Decodes a JPEG for a derivative of `size`, from an embedded preview or the main
    /// image (whose dimensions are given: a preview's may differ by a pixel).
    fn decode_jpeg(&mut self, data: &[u8], size: u32) -> Result<Decoded, RenderError> {
        let header = self
            .decompressor
            .read_header(data)
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        self.check_pixels(header.width as u64, header.height as u64)?;
        let meta = jpeg_meta(data);
        let decoded = |pixels, route| Decoded {
            pixels,
            orientation: meta.orientation_for(header.width, header.height),
            route,
            dims: (header.width, header.height),
            icc: icc_profile(data),
            cmyk: matches!(
                header.colorspace,
                turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
            ),
        };
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
                    return Ok(decoded(pixels, route));
                }
            }
        }
        let factor = shrink_factor(header.width, header.height, size);
        let route = if factor == ScalingFactor::ONE {
            Route::FullDecode
        } else {
            Route::ScaledDecode
        };
        Ok(decoded(self.decode_jpeg_pixels(data, size)?, route))
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

    /// PNG, WebP, TIFF through the image crate, with its allocation limits: the pixels
    /// at full size, with their EXIF orientation (1–8) and ICC profile, if any.
    fn decode_other(&mut self, data: &[u8]) -> Result<Decoded, RenderError> {
        use image::ImageDecoder;
        let err = |e: image::ImageError| RenderError::Decode(e.to_string());
        let reader = image::ImageReader::new(std::io::Cursor::new(data))
            .with_guessed_format()
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        if reader.format().is_none() {
            let heif = data.get(4..8) == Some(b"ftyp");
            return Err(RenderError::Unsupported(
                if heif {
                    "HEIF/HEIC photos (stored, and offered as a full download; no HEVC decoder on the box)"
                } else {
                    "this file type"
                }
                .into(),
            ));
        }
        let mut decoder = reader.into_decoder().map_err(err)?;
        let (w, h) = decoder.dimensions();
        self.check_pixels(w as u64, h as u64)?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_pixels * 8);
        decoder.set_limits(limits).map_err(err)?;
        // Metadata that cannot be read leaves the picture as it is (upright, sRGB).
        let orientation = decoder.orientation().map_or(1, |o| o.to_exif());
        let icc = decoder.icc_profile().ok().flatten();
        let cmyk = matches!(
            decoder.original_color_type(),
            image::ExtendedColorType::Cmyk8 | image::ExtendedColorType::Cmyk16
        );
        let decoded = image::DynamicImage::from_decoder(decoder).map_err(err)?;
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
        let pixels = Pixels {
            data,
            width: w as usize,
            height: h as usize,
            channels,
        };
        Ok(Decoded {
            dims: (pixels.width, pixels.height),
            pixels,
            orientation,
            route: Route::FullDecode,
            icc,
            cmyk,
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

/// One derivative to make from a decode: a size, maybe watermarked.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    /// Longest edge.
    pub size: u32,
    /// Drawn over the resized pixels.
    pub watermark: Option<&'a crate::media::watermark::Watermark>,
}

impl Job<'_> {
    /// A derivative of `size` without a watermark.
    pub fn plain(size: u32) -> Job<'static> {
        Job {
            size,
            watermark: None,
        }
    }
}

/// An output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG (libjpeg-turbo): every client.
    Jpeg,
    /// Lossy WebP (libwebp): smaller, for clients that say they accept it.
    Webp,
}

impl Format {
    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
        }
    }

    /// MIME type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }

    /// Parses `jpeg`/`jpg`/`webp`.
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(Format::Jpeg),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }
}

/// The WebP quality that matches JPEG `quality`: libwebp's scale is not libjpeg's.
/// Measured on the test corpus at 1280 (benches/formats.sh, SSIMULACRA2 medians):
/// JPEG 85 scores 81.77; WebP 80 only 74.87, WebP 85 78.33, WebP 90 81.80 (at 93 %
/// of JPEG's bytes). So WebP gets JPEG's quality + 5.
pub fn webp_quality(jpeg_quality: u8) -> f32 {
    (jpeg_quality as f32 + 5.0).clamp(1.0, 100.0)
}

/// What every derivative of one source carries: Artist/Copyright (EXIF) and an ICC
/// profile: the source's, when it has one that is not sRGB and fits the output; for a
/// source without one whose EXIF says Adobe RGB, an Adobe RGB-compatible one
/// ([`crate::media::colour`]).
#[derive(Debug, Default, Clone)]
pub struct Tags {
    /// TIFF bytes of the credit EXIF.
    pub exif: Option<Vec<u8>>,
    /// An ICC profile to embed.
    pub icc: Option<Vec<u8>>,
}

impl Tags {
    /// The tags of the photo `data`, whose ICC profile is `icc`, for pixels of
    /// `channels`. An embedded profile wins over EXIF (an sRGB one too: the output is
    /// then untagged). Without one, EXIF ColorSpace and InteroperabilityIndex decide
    /// ([`crate::media::colour::ExifColourSpace`]), for an `rgb_source` only: a CMYK
    /// source's pixels were converted without a profile, and no RGB space describes
    /// them.
    pub fn of(data: &[u8], icc: Option<Vec<u8>>, channels: usize, rgb_source: bool) -> Tags {
        use crate::media::{colour, privacy};
        let credit = privacy::credit(data);
        let icc = match icc {
            Some(icc) => Some(icc),
            None if rgb_source => {
                colour::implied_profile(privacy::exif_block(data)).map(<[u8]>::to_vec)
            }
            None => None,
        };
        Tags {
            exif: privacy::credit_exif(&credit, 1),
            icc: icc.filter(|icc| icc.len() >= 132 && icc_worth_tagging(icc, channels)),
        }
    }
}

/// The ICC profile of a JPEG, reassembled from its APP2 `ICC_PROFILE` chunks.
pub fn icc_profile(data: &[u8]) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut pos = 2;
    while pos + 4 <= data.len() && data[pos] == 0xFF {
        let marker = data[pos + 1];
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        if len < 2 || pos + 2 + len > data.len() {
            break;
        }
        let body = &data[pos + 4..pos + 2 + len];
        if marker == 0xE2 && body.len() > 14 && body.starts_with(b"ICC_PROFILE\0") {
            chunks.push((body[12], &body[14..]));
        }
        pos += 2 + len;
    }
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|c| c.0);
    let icc: Vec<u8> = chunks.iter().flat_map(|c| c.1.iter().copied()).collect();
    // The header's declared size must match what was gathered.
    let declared = u32::from_be_bytes(icc.get(..4)?.try_into().ok()?) as usize;
    (icc.len() >= 132 && declared == icc.len()).then_some(icc)
}

/// Tag an output with `icc` only if it describes the output's pixels (RGB for colour,
/// GRAY for grey: never the CMYK profile of a CMYK source, whose pixels were converted)
/// and is not sRGB (what an untagged image means anyway).
fn icc_worth_tagging(icc: &[u8], channels: usize) -> bool {
    let space = &icc[16..20];
    let fits = match channels {
        1 => space == b"GRAY",
        _ => space == b"RGB ",
    };
    if !fits {
        return false;
    }
    // The description ('desc', ASCII in v2, UTF-16BE in v4).
    let count = u32::from_be_bytes([icc[128], icc[129], icc[130], icc[131]]) as usize;
    for i in 0..count.min(64) {
        let e = 132 + i * 12;
        let Some(entry) = icc.get(e..e + 12) else {
            break;
        };
        if &entry[..4] == b"desc" {
            let offset = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]) as usize;
            let size = u32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]) as usize;
            let Some(desc) = icc.get(offset..offset.saturating_add(size)) else {
                break;
            };
            let srgb_utf16 = [0, b's', 0, b'R', 0, b'G', 0, b'B'];
            let is_srgb =
                desc.windows(4).any(|w| w == b"sRGB") || desc.windows(8).any(|w| w == srgb_utf16);
            return !is_srgb;
        }
    }
    true
}

/// libwebp's effort (0 fastest – 6 slowest). Method 2 encodes about 2.4× faster
/// than the default 4 at the same SSIMULACRA2 (benches/formats.sh).
const WEBP_METHOD: i32 = 2;

/// Lossy WebP, with the tags in an extended (VP8X) container.
fn encode_webp(pixels: &Pixels, quality: f32, tags: &Tags) -> Result<Vec<u8>, RenderError> {
    let rgb;
    let data = if pixels.channels == 1 {
        rgb = pixels
            .data
            .iter()
            .flat_map(|&v| [v, v, v])
            .collect::<Vec<u8>>();
        &rgb
    } else {
        &pixels.data
    };
    let encoder = webp::Encoder::from_rgb(data, pixels.width as u32, pixels.height as u32);
    let mut config = webp::WebPConfig::new()
        .map_err(|()| RenderError::Encode("WebP: cannot configure the encoder".into()))?;
    config.quality = quality;
    config.method = WEBP_METHOD;
    let encoded = encoder
        .encode_advanced(&config)
        .map_err(|e| RenderError::Encode(format!("WebP: {e:?}")))?;
    let simple: &[u8] = &encoded;
    // A simple file is RIFF, size, WEBP, then one VP8 chunk.
    let Some(vp8) = simple.get(12..) else {
        return Err(RenderError::Encode("WebP: short output".into()));
    };
    let icc = tags.icc.as_deref().filter(|_| pixels.channels == 3);
    if icc.is_none() && tags.exif.is_none() {
        return Ok(simple.to_vec());
    }
    let chunk = |out: &mut Vec<u8>, name: &[u8; 4], body: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
    };
    let mut body = b"WEBP".to_vec();
    let mut vp8x = [0u8; 10];
    vp8x[0] = if icc.is_some() { 0x20 } else { 0 } | if tags.exif.is_some() { 0x08 } else { 0 };
    vp8x[4..7].copy_from_slice(&((pixels.width - 1) as u32).to_le_bytes()[..3]);
    vp8x[7..10].copy_from_slice(&((pixels.height - 1) as u32).to_le_bytes()[..3]);
    chunk(&mut body, b"VP8X", &vp8x);
    if let Some(icc) = icc {
        chunk(&mut body, b"ICCP", icc);
    }
    body.extend_from_slice(vp8);
    if let Some(exif) = &tags.exif {
        chunk(&mut body, b"EXIF", exif);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The instant preview of an upload in progress: the EXIF thumbnail found in the
/// first bytes of a JPEG, upright, cropped to the main image's framing (cameras
/// letterbox a 3:2 photo into a 4:3 thumbnail), as a JPEG. `None` when `head` holds
/// none (yet). Cheap: a 160×120 decode.
pub fn instant_preview(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return None;
    }
    let meta = jpeg_meta(head);
    let (start, end) = meta.exif_thumbnail?;
    let thumb = head.get(start..end)?;
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).ok()?;
    // At full size: a thumbnail is small already.
    let pixels = renderer.decode_jpeg_pixels(thumb, u32::MAX).ok()?;
    let (pixels, orientation) = match main_dimensions(head) {
        Some((w, h)) => (
            crop_to_aspect(pixels, w as f64 / h as f64),
            meta.orientation_for(w as usize, h as usize),
        ),
        None => (pixels, meta.orientation),
    };
    let pixels = orient(pixels, orientation);
    renderer.encode(&pixels, 85, &Tags::default()).ok()
}

/// The main image's dimensions from EXIF (PixelX/YDimension) or the first SOF.
fn main_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 2;
    while pos + 4 <= head.len() && head[pos] == 0xFF {
        let marker = head[pos + 1];
        let len = u16::from_be_bytes([head[pos + 2], head[pos + 3]]) as usize;
        let body = head.get(pos + 4..pos + 2 + len)?;
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
            && body.len() >= 5
        {
            let h = u16::from_be_bytes([body[1], body[2]]) as u32;
            let w = u16::from_be_bytes([body[3], body[4]]) as u32;
            return (w > 0 && h > 0).then_some((w, h));
        }
        if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
            if let Ok(exif) = exif::Reader::new().read_raw(body[6..].to_vec()) {
                let get = |t| {
                    exif.get_field(t, exif::In::PRIMARY)
                        .and_then(|f| f.value.get_uint(0))
                };
                if let (Some(w), Some(h)) = (
                    get(exif::Tag::PixelXDimension),
                    get(exif::Tag::PixelYDimension),
                ) {
                    if w > 0 && h > 0 {
                        return Some((w, h));
                    }
                }
            }
        }
        if marker == 0xDA {
            return None;
        }
        pos += 2 + len;
    }
    None
}

/// Crops the centre of `p` to `aspect` (width / height) when it differs by over 2 %.
fn crop_to_aspect(p: Pixels, aspect: f64) -> Pixels {
    let current = p.width as f64 / p.height as f64;
    if (current - aspect).abs() / aspect < 0.02 {
        return p;
    }
    let (w, h) = if current > aspect {
        (
            ((p.height as f64 * aspect).round() as usize).max(1),
            p.height,
        )
    } else {
        (p.width, ((p.width as f64 / aspect).round() as usize).max(1))
    };
    let (x0, y0) = ((p.width - w) / 2, (p.height - h) / 2);
    let c = p.channels;
    let mut data = Vec::with_capacity(w * h * c);
    for y in y0..y0 + h {
        let row = (y * p.width + x0) * c;
        data.extend_from_slice(&p.data[row..row + w * c]);
    }
    Pixels {
        data,
        width: w,
        height: h,
        channels: c,
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

    /// A 64×32 JPEG (left half red, right half blue) with EXIF orientation 6 and the
    /// given EXIF PixelXDimension × PixelYDimension.
    fn tagged_jpeg(exif_dims: (u32, u32)) -> Vec<u8> {
        let mut data = Vec::with_capacity(64 * 32 * 3);
        for _y in 0..32 {
            for x in 0..64 {
                data.extend_from_slice(if x < 32 { &[255, 0, 0] } else { &[0, 0, 255] });
            }
        }
        let pixels = Pixels {
            data,
            width: 64,
            height: 32,
            channels: 3,
        };
        let jpeg = Renderer::new(DEFAULT_MAX_PIXELS)
            .unwrap()
            .encode(&pixels, 95, &Tags::default())
            .unwrap();
        let fields = [
            exif::Field {
                tag: exif::Tag::Orientation,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Short(vec![6]),
            },
            exif::Field {
                tag: exif::Tag::PixelXDimension,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Long(vec![exif_dims.0]),
            },
            exif::Field {
                tag: exif::Tag::PixelYDimension,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Long(vec![exif_dims.1]),
            },
        ];
        let mut writer = exif::experimental::Writer::new();
        for f in &fields {
            writer.push_field(f);
        }
        let mut tiff = std::io::Cursor::new(Vec::new());
        writer.write(&mut tiff, false).unwrap();
        super::super::jpeg::insert_exif(jpeg, &tiff.into_inner())
    }

    /// Issue 13, item 20: a rotating tag whose EXIF dimensions are the transpose of
    /// the frame's is stale (an editor rotated the pixels and left it): rendered as
    /// stored, by every route that orients. With matching dimensions the tag is obeyed.
    #[test]
    fn a_stale_orientation_is_not_applied_twice() {
        let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
        // Camera-like: the EXIF dimensions are the frame's; rotate 90° clockwise.
        let fresh = tagged_jpeg((64, 32));
        assert_eq!(jpeg_meta(&fresh).orientation_for(64, 32), 6);
        let out = renderer.render(&fresh, 64, 90).unwrap();
        assert_eq!((out.width, out.height), (32, 64));
        // Edited: the frame was rotated from 32×64 to 64×32, the tag left at 6.
        let stale = tagged_jpeg((32, 64));
        assert_eq!(jpeg_meta(&stale).orientation_for(64, 32), 1);
        let out = renderer.render(&stale, 64, 90).unwrap();
        assert_eq!((out.width, out.height), (64, 32), "rendered as stored");
        // Red stays on the left: not rotated at all.
        let decoded = turbojpeg::decompress(&out.bytes, PixelFormat::RGB).unwrap();
        let left = &decoded.pixels[(16 * 64 + 4) * 3..(16 * 64 + 4) * 3 + 3];
        assert!(left[0] > 200 && left[2] < 60, "left pixel {left:?}");
        // A square frame cannot tell: the tag is obeyed.
        let meta = jpeg_meta(&stale);
        assert_eq!(meta.orientation_for(32, 32), 6);
        // A portrait frame whose EXIF dimensions were updated to it, still tagged to
        // turn: turned already.
        let updated = jpeg_meta(&tagged_jpeg((32, 64)));
        assert_eq!(updated.orientation_for(32, 64), 1);
        // A landscape frame tagged to turn, with its own dimensions: a camera's.
        assert_eq!(jpeg_meta(&tagged_jpeg((64, 32))).orientation_for(64, 32), 6);
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
