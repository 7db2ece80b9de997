//! Rendering: decode → orient → resize → encode, for the small derivatives attendees
//! see (thumb 320, preview 1280).
//!
//! The expensive part of a thumbnail is decoding 24–45 megapixels. Two routes avoid it:
//! - **Embedded previews.** Camera JPEGs carry an EXIF thumbnail (IFD1, usually
//!   160×120) and often a large MPF preview (APP2 "MPF", e.g. 1616×1080) appended
//!   after the main image. When the picture in one is at least twice the derivative
//!   and its framing is known (the main image's aspect ratio, or letterbox bars found),
//!   the derivative is rendered from it.
//! - **Shrink-on-load.** libjpeg-turbo decodes at 1/2, 1/4 or 1/8 scale in the DCT
//!   domain (as libvips does); the largest reduction that keeps the image at least as
//!   large as the target is used.
//!
//! Every route knows where the picture lies in its pixels in exact fractional
//! coordinates (`Region`: a scaled decode's last row and column stand for part of a
//! pixel; a letterboxed thumbnail's picture is a band of it), and fast_image_resize
//! (SIMD: AVX2 on x86-64, NEON on aarch64) resizes exactly that region with Lanczos3,
//! in the stored frame. Then EXIF orientation 1–8 is applied to the small result, a
//! watermark is drawn if asked, and libjpeg-turbo (JPEG) or libwebp (lossy WebP)
//! encodes. Outputs carry
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
    /// Where the main image's picture lies in `pixels`, in fractional pixels of the
    /// stored (unrotated) frame: every resize takes exactly this region.
    region: Region,
    /// The source's ICC profile, if it has one.
    icc: Option<Vec<u8>>,
    /// The source is CMYK (its pixels here are converted, without a profile).
    cmyk: bool,
}

/// A rectangle in fractional source pixels (left and top edges, width and height; a
/// pixel `x` spans `x..x + 1`): where the main image's picture lies in decoded pixels.
///
/// A DCT-scaled decode has ceil(dimension × scale) pixels while the picture covers
/// dimension × scale of them (the last row or column stands for part of a pixel), and
/// an embedded preview may be letterboxed: resizing all the decoded pixels would
/// stretch or shift the picture by up to half an output pixel (issue 17, item 1).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Region {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl Region {
    /// All of a `width` × `height` raster.
    fn whole(width: usize, height: usize) -> Region {
        Region {
            left: 0.0,
            top: 0.0,
            width: width as f64,
            height: height as f64,
        }
    }

    /// What a `width` × `height` image decoded at `factor` covers: the first
    /// width × factor by height × factor pixels of the ceil(dimension × factor) decoded.
    fn scaled(width: usize, height: usize, factor: ScalingFactor) -> Region {
        let scale = factor.num() as f64 / factor.denom() as f64;
        Region {
            left: 0.0,
            top: 0.0,
            width: width as f64 * scale,
            height: height as f64 * scale,
        }
    }

    /// Whether this is all of `pixels`, to the last pixel.
    fn is_all_of(&self, pixels: &Pixels) -> bool {
        *self == Region::whole(pixels.width, pixels.height)
    }
}

/// An embedded preview whose aspect ratio is within this fraction of the main image's
/// shows the whole picture, stretched to the preview's pixels: measured on the corpus's
/// Sony files (6000×4000 and 4912×3264 in a 1616×1080 MPF preview), a full decode
/// resized anisotropically to 1616×1080 differs from the preview by a mean of 0.98 and
/// 1.08 levels, centre crops of an isotropic resize by 1.59 and 3.36 at best.
const SAME_FRAMING: f64 = 0.01;

/// Where the main image's picture (`main_w` × `main_h`, stored frame) lies in the
/// pixels of an embedded preview `p` whose whole frame is `extent` of them.
///
/// - Same framing (aspect within [`SAME_FRAMING`]): all of `extent`.
/// - Otherwise the camera letterboxed (or pillarboxed) the picture into the preview:
///   the picture fitted and centred, refined by the black bars actually found, because
///   cameras round the band their own way (a Nikon D90 fills rows 8–111 of its 160×120
///   thumbnail with a 4288×2848 picture, where fitting gives 6.85–113.15; a Canon EOS
///   RP rows 6–113 with 6.67–113.33). A bar is only believed within
///   [`BAR_TOLERANCE`] pixels of where fitting puts it (a dark sky is not a bar).
///
/// The flag says whether the framing is known: same framing, or bars found on both
/// sides. A preview of another aspect without bars may be a crop of the picture
/// rather than a letterbox of it; rendering a derivative from one would zoom in.
fn preview_framing(
    p: Pixels,
    extent: Region,
    main_w: usize,
    main_h: usize,
) -> (Pixels, Region, bool) {
    let aspect = main_w as f64 / main_h as f64;
    let preview_aspect = extent.width / extent.height;
    if (preview_aspect - aspect).abs() / aspect < SAME_FRAMING {
        return (p, extent, true);
    }
    let (region, bars) = if preview_aspect < aspect {
        // Bars above and below.
        let height = extent.width / aspect;
        let top = extent.top + (extent.height - height) / 2.0;
        let (top, bottom, bars) = refine_band(top, top + height, extent.top, extent.height, |y| {
            is_bar(&p, y, true)
        });
        let region = Region {
            top,
            height: bottom - top,
            ..extent
        };
        (region, bars)
    } else {
        // Bars left and right.
        let width = extent.height * aspect;
        let left = extent.left + (extent.width - width) / 2.0;
        let (left, right, bars) = refine_band(left, left + width, extent.left, extent.width, |x| {
            is_bar(&p, x, false)
        });
        let region = Region {
            left,
            width: right - left,
            ..extent
        };
        (region, bars)
    };
    let (p, region) = without_bars(p, region);
    (p, region, bars)
}

/// `p` cut to the whole pixels `region` touches, and `region` in the cut pixels: a
/// resize reads pixels just outside its region (as it should where they are picture),
/// and a letterbox's black bars would darken the picture's edge lines.
fn without_bars(p: Pixels, region: Region) -> (Pixels, Region) {
    let x0 = (region.left.floor().max(0.0) as usize).min(p.width - 1);
    let y0 = (region.top.floor().max(0.0) as usize).min(p.height - 1);
    let x1 = ((region.left + region.width).ceil() as usize).clamp(x0 + 1, p.width);
    let y1 = ((region.top + region.height).ceil() as usize).clamp(y0 + 1, p.height);
    if (x0, y0, x1, y1) == (0, 0, p.width, p.height) {
        return (p, region);
    }
    let c = p.channels;
    let mut data = Vec::with_capacity((x1 - x0) * (y1 - y0) * c);
    for y in y0..y1 {
        let row = (y * p.width + x0) * c;
        data.extend_from_slice(&p.data[row..row + (x1 - x0) * c]);
    }
    let cut = Pixels {
        data,
        width: x1 - x0,
        height: y1 - y0,
        channels: c,
    };
    let region = Region {
        left: region.left - x0 as f64,
        top: region.top - y0 as f64,
        ..region
    };
    (cut, region)
}

/// How far (in preview pixels) a bar found may move an edge from where fitting puts it.
const BAR_TOLERANCE: f64 = 2.5;

/// The picture's band `start..end` (fractional) along one axis of a preview whose
/// frame is `origin..origin + len`: each edge moved to the first line that is not a
/// bar (`bar(line)`), counting in from the frame's edge, when that is within
/// [`BAR_TOLERANCE`] of the fitted edge. The flag: a bar was found and believed at
/// both ends.
fn refine_band(
    start: f64,
    end: f64,
    origin: f64,
    len: f64,
    bar: impl Fn(usize) -> bool,
) -> (f64, f64, bool) {
    let first = origin.ceil() as usize;
    let last = (origin + len).floor() as usize; // exclusive
    let mut top = first;
    while top < last && bar(top) {
        top += 1;
    }
    let mut bottom = last;
    while bottom > top && bar(bottom - 1) {
        bottom -= 1;
    }
    let believe = |found: usize, fitted: f64| (found as f64 - fitted).abs() <= BAR_TOLERANCE;
    let (top_ok, bottom_ok) = (believe(top, start), believe(bottom, end));
    (
        if top_ok { top as f64 } else { start },
        if bottom_ok { bottom as f64 } else { end },
        top_ok && bottom_ok && top > first && bottom < last,
    )
}

/// Whether row (`row` true) or column `i` of `p` is a letterbox bar: black throughout,
/// allowing for JPEG noise (the corpus's bars average 0.0–1.4 with a maximum below 40).
fn is_bar(p: &Pixels, i: usize, row: bool) -> bool {
    const MAX: u8 = 40;
    const MEAN: u64 = 6;
    let c = p.channels;
    let (mut sum, mut n) = (0u64, 0u64);
    let mut check = |x: usize, y: usize| {
        let at = (y * p.width + x) * c;
        for &v in &p.data[at..at + c] {
            if v > MAX {
                return false;
            }
            sum += v as u64;
            n += 1;
        }
        true
    };
    let all = if row {
        i < p.height && (0..p.width).all(|x| check(x, i))
    } else {
        i < p.width && (0..p.height).all(|y| check(i, y))
    };
    all && n > 0 && sum <= MEAN * n
}

/// The largest DCT scale-down (1/8, 1/4, 3/8, 1/2) that keeps the longest edge at
/// least the target times a margin, so that Lanczos3 always does some of the reduction: a
/// scaled decode that lands within a few pixels of the target leaves a resize by
/// ~1.01, which only interpolates (a sub-pixel blur) and costs SSIMULACRA2 points (the
/// Samsung portrait of the corpus: 2576 px at 1/2 is 1288 for a 1280 preview, 3.7
/// points below vipsthumbnail; at 1/8 for a 320 thumb, 6.5 points). Thumbs (≤ 640 px)
/// keep [`THUMB_SHRINK_MARGIN`], previews [`PREVIEW_SHRINK_MARGIN`].
///
/// Both were chosen on half the corpus and checked on the other half (issue 17, items
/// 2 and 7; docs/benchmarks.md, "Shrink-on-load margins"): the smallest margin of
/// 1.0, 1.05, 1.25, 1.5 whose worst file stays within 1 SSIMULACRA2 point of
/// vipsthumbnail (half the gate of 2, kept for photos never seen) and whose median is
/// no lower.
///
/// 3/8 (libjpeg-turbo's `jpeg_idct_3x3`, jidctint.c; 4:2:0 chroma at 6×6) takes
/// photos whose 1/2 would be needlessly large: less to inverse-transform, colour-
/// convert and resize, the same entropy decoding (1.5 % of a 1280 batch's CPU time,
/// SSIMULACRA2 within 0.5 of 1/2 on every corpus photo it takes). Libjpeg-turbo's
/// other eighths (5/8–7/8) are not offered: their C IDCTs cost more than the SIMD
/// 8×8 they would replace, and they land near the target (docs/benchmarks.md,
/// "3/8, and what else was tried for speed").
pub fn shrink_factor(width: usize, height: usize, target: u32) -> ScalingFactor {
    let longest = width.max(height);
    let margin = if target <= THUMB_MAX_SIZE {
        THUMB_SHRINK_MARGIN
    } else {
        PREVIEW_SHRINK_MARGIN
    };
    let needed = (target as f64 * margin).ceil() as usize;
    for (num, denom) in [(1usize, 8usize), (1, 4), (3, 8), (1, 2)] {
        let factor = ScalingFactor::new(num, denom);
        if factor.scale(longest) >= needed {
            return factor;
        }
    }
    ScalingFactor::ONE
}

/// The largest target (longest edge, px) rendered as a thumb: it takes
/// [`THUMB_SHRINK_MARGIN`], at 1/8 `jpeg_dc::decode_eighth_thumb`, and progressive
/// files' low scans only (`jpeg::progressive_low_scans`); larger
/// targets are previews.
pub const THUMB_MAX_SIZE: u32 = 640;

/// The highest zig-zag index at which an AC band of a progressive JPEG may start and
/// still be decoded for a thumb at a reduced scale ([`super::jpeg::progressive_low_scans`]):
/// 5, the end of the first luma band of libjpeg's and cjpeg's default script (1–5),
/// which covers the first-order terms the reduced IDCTs weigh most; the resize after
/// the decode averages away what the rest add (docs/benchmarks.md, "Progressive
/// thumbs from their low scans").
pub const LOW_SCANS_LIMIT: u8 = 5;

/// How much larger than a thumb's target (≤ 640 px) a shrink-on-load decode stays:
/// 1.25 (it was 1.5 before issue 17, item 2: more photos now decode at 1/8).
pub const THUMB_SHRINK_MARGIN: f64 = 1.25;

/// How much larger than a preview's target (> 640 px) a shrink-on-load decode stays:
/// 1.05 (it was 1.0: a decode landing within 5 % of the target now decodes larger).
pub const PREVIEW_SHRINK_MARGIN: f64 = 1.05;

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
            region,
            icc,
            cmyk,
        } = if jpeg {
            self.decode_jpeg(data, largest)?
        } else {
            self.decode_other(data)?
        };
        let decode = started.elapsed();
        let tags = Tags::of(data, icc, pixels.channels, !cmyk);
        // Every job's pixels (None: the decode itself), and how long each took.
        let mut made: Vec<(Option<Pixels>, Duration)> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let started = Instant::now();
            // The output's size follows the main image, whatever was decoded; resized
            // in the stored frame (where `region` is), then turned upright.
            let (width, height) = fit(main_w, main_h, job.size);
            let mut resized = self.resize(&pixels, region, width, height)?;
            if orientation != 1 {
                let stored = resized.unwrap_or_else(|| pixels.clone());
                resized = Some(orient(stored, orientation));
            }
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
        let decoded = |(pixels, region), route| Decoded {
            pixels,
            orientation: meta.orientation_for(header.width, header.height),
            route,
            dims: (header.width, header.height),
            region,
            icc: icc_profile(data),
            cmyk: matches!(
                header.colorspace,
                turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
            ),
        };
        let aspect = header.width as f64 / header.height as f64;
        // An embedded preview, if the picture in it is large enough.
        for (range, route) in [
            (meta.exif_thumbnail, Route::ExifThumbnail),
            (meta.mpf_preview, Route::MpfPreview),
        ] {
            let Some((start, end)) = range else { continue };
            let preview = &data[start..end];
            let Ok(h) = self.decompressor.read_header(preview) else {
                continue;
            };
            if h.width == 0 || h.height == 0 {
                continue;
            }
            let same_framing =
                ((h.width as f64 / h.height as f64) - aspect).abs() / aspect < SAME_FRAMING;
            // The picture's longest edge in the preview, as fitting puts it.
            let picture = if same_framing {
                h.width.max(h.height) as f64
            } else {
                (h.width as f64)
                    .min(h.height as f64 * aspect)
                    .max((h.height as f64).min(h.width as f64 / aspect))
            };
            // Embedded previews are compressed harder than the main image: only one at
            // least twice the derivative's size keeps its artefacts below what the
            // downscale removes (measured with benches/render.sh, SSIMULACRA2).
            if picture < 2.0 * size as f64 {
                continue;
            }
            // A letterboxed preview is decoded whole, so its bars are found to the pixel.
            let decode_size = if same_framing { size } else { u32::MAX };
            if let Ok((pixels, extent)) = self.decode_jpeg_pixels_with(preview, h, decode_size) {
                let (pixels, region, known) =
                    preview_framing(pixels, extent, header.width, header.height);
                if known {
                    return Ok(decoded((pixels, region), route));
                }
            }
        }
        let factor = shrink_factor(header.width, header.height, size);
        let route = if factor == ScalingFactor::ONE {
            Route::FullDecode
        } else {
            Route::ScaledDecode
        };
        Ok(decoded(
            self.decode_jpeg_pixels_with(data, header, size)?,
            route,
        ))
    }

    /// Decodes `data` at the largest DCT reduction that [`shrink_factor`] allows for
    /// `size`: the pixels, and the region of them its whole frame covers.
    fn decode_jpeg_pixels(
        &mut self,
        data: &[u8],
        size: u32,
    ) -> Result<(Pixels, Region), RenderError> {
        let header = self
            .decompressor
            .read_header(data)
            .map_err(|e| RenderError::Decode(e.to_string()))?;
        self.decode_jpeg_pixels_with(data, header, size)
    }

    /// [`Self::decode_jpeg_pixels`] with `data`'s header already read (libjpeg reads
    /// and saves its markers again on every read, which showed in profiles).
    fn decode_jpeg_pixels_with(
        &mut self,
        data: &[u8],
        header: turbojpeg::DecompressHeader,
        size: u32,
    ) -> Result<(Pixels, Region), RenderError> {
        let err = |e: turbojpeg::Error| RenderError::Decode(e.to_string());
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
        // At 1/8, a baseline file's DC coefficients give the same pixels faster (for a
        // thumb, resized down by at least THUMB_SHRINK_MARGIN after it, with 4:2:0
        // chroma from its low coefficients: nearly the same); at 1/4, its four lowest
        // coefficients per block give a 4×4 area's mean faster, scored no lower
        // (media::jpeg_dc; libjpeg-turbo takes everything they leave).
        let thumb = size <= THUMB_MAX_SIZE;
        let reduced = if factor == ScalingFactor::new(1, 8) && !cmyk && thumb {
            super::jpeg_dc::decode_eighth_thumb(data)
        } else if factor == ScalingFactor::new(1, 8) && !cmyk {
            super::jpeg_dc::decode_eighth(data)
        } else if factor == ScalingFactor::new(1, 4) && !cmyk {
            super::jpeg_dc::decode_quarter_low(data)
        } else {
            None
        };
        if let Some(e) = reduced {
            if (e.width, e.height, e.channels) == (scaled.width, scaled.height, channels) {
                let pixels = Pixels {
                    data: e.data,
                    width: e.width,
                    height: e.height,
                    channels,
                };
                return Ok((pixels, Region::scaled(header.width, header.height, factor)));
            }
        }
        let mut buf = vec![0u8; scaled.width * scaled.height * channels];
        fn image(
            pixels: &mut [u8],
            width: usize,
            height: usize,
            format: PixelFormat,
        ) -> Image<&mut [u8]> {
            Image {
                pixels,
                width,
                pitch: width * format.size(),
                height,
                format,
            }
        }
        let (width, height) = (scaled.width, scaled.height);
        // A progressive thumb: only the scans it needs, unless libjpeg-turbo fails or
        // warns on those (then the whole file, below).
        let low = if thumb && factor != ScalingFactor::ONE {
            super::jpeg::progressive_low_scans(data, LOW_SCANS_LIMIT)
        } else {
            None
        };
        let done = match low {
            Some(low) => {
                let ok = self
                    .decompressor
                    .decompress(&low, image(&mut buf, width, height, format))
                    .is_ok();
                if !ok {
                    self.reset()?;
                }
                ok
            }
            None => false,
        };
        if done {
            // Decoded from the low scans.
        } else if let Err(e) = self
            .decompressor
            .decompress(data, image(&mut buf, width, height, format))
        {
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
        let pixels = Pixels {
            data: buf,
            width: scaled.width,
            height: scaled.height,
            channels: if cmyk { 3 } else { channels },
        };
        Ok((pixels, Region::scaled(header.width, header.height, factor)))
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
            region: Region::whole(pixels.width, pixels.height),
            pixels,
            orientation,
            route: Route::FullDecode,
            icc,
            cmyk,
        })
    }

    /// Resizes `region` of `pixels` (fractional, see [`Region`]) to exactly
    /// `width`×`height`; `None` when that is all of the pixels at that size already.
    /// Lanczos3 reads pixels just outside the region where there are any, as a resize
    /// of the full-size picture would.
    fn resize(
        &mut self,
        pixels: &Pixels,
        region: Region,
        width: usize,
        height: usize,
    ) -> Result<Option<Pixels>, RenderError> {
        if (pixels.width, pixels.height) == (width, height) && region.is_all_of(pixels) {
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
            .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3))
            .crop(region.left, region.top, region.width, region.height);
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
/// first bytes of a JPEG, upright, cut to the main image's framing (cameras letterbox
/// a 3:2 photo into a 4:3 thumbnail: the picture's exact band, see
/// `preview_framing`) and resized to the main image's aspect at the band's size, as a
/// JPEG. `None` when `head` holds none (yet). Cheap: a 160×120 decode.
pub fn instant_preview(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return None;
    }
    let meta = jpeg_meta(head);
    let (start, end) = meta.exif_thumbnail?;
    let thumb = head.get(start..end)?;
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).ok()?;
    // At full size: a thumbnail is small already.
    let (pixels, extent) = renderer.decode_jpeg_pixels(thumb, u32::MAX).ok()?;
    let (pixels, region, (width, height), orientation) = match main_dimensions(head) {
        Some((w, h)) => {
            let (w, h) = (w as usize, h as usize);
            // Without bars, fitted: the best guess there is for a first look.
            let (pixels, region, _) = preview_framing(pixels, extent, w, h);
            let longest = region.width.max(region.height).round().max(1.0) as u32;
            (
                pixels,
                region,
                fit(w, h, longest),
                meta.orientation_for(w, h),
            )
        }
        None => {
            let dims = (pixels.width, pixels.height);
            (pixels, extent, dims, meta.orientation)
        }
    };
    let resized = renderer.resize(&pixels, region, width, height).ok()?;
    let pixels = orient(resized.unwrap_or(pixels), orientation);
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
    let (w, h) = (p.width, p.height);
    let transposed = orientation >= 5;
    let (nw, nh) = if transposed { (h, w) } else { (w, h) };
    // Where source pixel (x, y) lands, in pixels of the output: d0 + x·sx + y·sy
    // (each orientation is an affine map of the pixel grid).
    let (wi, hi, nwi) = (w as isize, h as isize, nw as isize);
    let (d0, sx, sy) = match orientation {
        2 => (wi - 1, -1, nwi),
        3 => ((hi - 1) * nwi + wi - 1, -1, -nwi),
        4 => ((hi - 1) * nwi, 1, -nwi),
        5 => (0, nwi, 1),
        6 => (hi - 1, nwi, -1),
        7 => ((wi - 1) * nwi + hi - 1, -nwi, -1),
        _ => ((wi - 1) * nwi, -nwi, 1), // 8
    };
    // A copy per pixel of a size known here, not a call to memcpy per pixel (that was
    // most of a turned 1280 preview's orientation time).
    let data = match p.channels {
        1 => place::<1>(&p.data, w, d0, sx, sy),
        3 => place::<3>(&p.data, w, d0, sx, sy),
        4 => place::<4>(&p.data, w, d0, sx, sy),
        c => place_dyn(&p.data, w, c, d0, sx, sy),
    };
    Pixels {
        data,
        width: nw,
        height: nh,
        channels: p.channels,
    }
}

/// Calls `copy(source pixel, output pixel)` for every pixel of a `w`-pixel-wide image
/// of `pixels` pixels, where source pixel (x, y) goes to d0 + x·sx + y·sy, in square
/// tiles of [`ORIENT_TILE`] pixels: a turn (5–8) writes each source row down a column
/// of the output, and a tile's columns stay in cache while it is written (measured:
/// docs/benchmarks.md, "Previews at 1/4 from the low coefficients").
#[inline(always)]
fn for_each_tiled(
    pixels: usize,
    w: usize,
    (d0, sx, sy): (isize, isize, isize),
    mut copy: impl FnMut(usize, usize),
) {
    let h = pixels / w.max(1);
    for ty in (0..h).step_by(ORIENT_TILE) {
        for tx in (0..w).step_by(ORIENT_TILE) {
            for y in ty..(ty + ORIENT_TILE).min(h) {
                let mut d = d0 + y as isize * sy + tx as isize * sx;
                for x in tx..(tx + ORIENT_TILE).min(w) {
                    copy(y * w + x, d as usize);
                    d += sx;
                }
            }
        }
    }
}

/// The side of [`for_each_tiled`]'s tiles, in pixels: 32 rows of 32 three-byte pixels
/// are 3 KiB of output lines touched per tile, well inside L1.
const ORIENT_TILE: usize = 32;

/// Moves every `C`-byte pixel of `src` (rows of `w` pixels) to pixel d0 + x·sx + y·sy.
fn place<const C: usize>(src: &[u8], w: usize, d0: isize, sx: isize, sy: isize) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    for_each_tiled(src.len() / C, w, (d0, sx, sy), |from, to| {
        out[to * C..to * C + C].copy_from_slice(&src[from * C..from * C + C]);
    });
    out
}

/// [`place`] for a pixel size known only at run time.
fn place_dyn(src: &[u8], w: usize, c: usize, d0: isize, sx: isize, sy: isize) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    for_each_tiled(src.len() / c, w, (d0, sx, sy), |from, to| {
        out[to * c..to * c + c].copy_from_slice(&src[from * c..from * c + c]);
    });
    out
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
        assert_eq!(shrink_factor(2800, 1500, 1280), ScalingFactor::new(1, 2));
        // 1/8 for a thumb once the decode is 1.25 times the target (it was 1.5).
        assert_eq!(shrink_factor(3200, 2400, 320), ScalingFactor::new(1, 8));
        assert_eq!(shrink_factor(3192, 2400, 320), ScalingFactor::new(1, 4));
        // A decode within 5 % of a preview's target is too close: decoded larger.
        assert_eq!(
            shrink_factor(2576, 1932, 1280),
            ScalingFactor::ONE,
            "the Samsung portrait: 1288 px at 1/2 is within 5 % of 1280"
        );
        assert_eq!(shrink_factor(2688, 1512, 1280), ScalingFactor::new(1, 2));
        // 3/8 between 1/4 and 1/2: the corpus GoPro (4000 px: 1500 at 3/8) and a
        // 1280 px photo's thumb (480 at 3/8, 320 at 1/4).
        assert_eq!(shrink_factor(4000, 3000, 1280), ScalingFactor::new(3, 8));
        assert_eq!(shrink_factor(3584, 2688, 1280), ScalingFactor::new(3, 8));
        assert_eq!(shrink_factor(3576, 2682, 1280), ScalingFactor::new(1, 2));
        assert_eq!(shrink_factor(1280, 960, 320), ScalingFactor::new(3, 8));
        assert_eq!(shrink_factor(1064, 798, 320), ScalingFactor::new(1, 2));
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
    fn every_orientation_matches_the_exif_definition_for_every_pixel_size() {
        // Against the EXIF 2.32 definition of each orientation (where the stored
        // picture's 0th row and column go), pixel by pixel, on a 5×3 picture whose
        // every byte differs.
        for channels in 1..=4 {
            let (w, h) = (5usize, 3usize);
            let src = Pixels {
                data: (0..w * h * channels).map(|i| i as u8).collect(),
                width: w,
                height: h,
                channels,
            };
            for o in 2..=8u8 {
                let out = orient(src.clone(), o);
                let (nw, nh) = if o >= 5 { (h, w) } else { (w, h) };
                assert_eq!((out.width, out.height), (nw, nh), "orientation {o}");
                for y in 0..h {
                    for x in 0..w {
                        let (dx, dy) = match o {
                            2 => (w - 1 - x, y),
                            3 => (w - 1 - x, h - 1 - y),
                            4 => (x, h - 1 - y),
                            5 => (y, x),
                            6 => (h - 1 - y, x),
                            7 => (h - 1 - y, w - 1 - x),
                            _ => (y, w - 1 - x),
                        };
                        let s = (y * w + x) * channels;
                        let d = (dy * nw + dx) * channels;
                        assert_eq!(
                            out.data[d..d + channels],
                            src.data[s..s + channels],
                            "orientation {o}, {channels} channels, pixel ({x}, {y})"
                        );
                    }
                }
            }
        }
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

    // --- Exact geometry on every route (issue 17, item 1). ---

    /// The stored frame of the geometry tests: neither side a multiple of 8, both one
    /// more (the worst case: a DCT-scaled decode's last pixel then stands for 1/8 of
    /// one). Landscape, as cameras store it.
    const GRID: (usize, usize) = (2001, 1201);
    /// Black lines on white, each two one-pixel lines side by side: columns centred at
    /// 60 + 192 k, rows at 20 + 160 k, the last ones near the far edges (where a
    /// stretch is largest), placed so that no flip maps the grid onto itself (a flip
    /// moves the lines by 39 source pixels or more). Each is centred on its 8×8 JPEG
    /// block, which is also a boundary between the 4- and 2-pixel cells of a 1/4 and
    /// 1/2 decode: a DCT-scaled decode keeps little of where in its cell a detail lies
    /// (at 1/8 only the block's mean), so a single one-pixel line would land up to half
    /// a decoded pixel off by that alone (0.28 output pixels at 160), which is the
    /// decode's blur, not the geometry tested here.
    const COLUMNS: (usize, usize) = (59, 192);
    const ROWS: (usize, usize) = (19, 160);

    fn grid() -> Pixels {
        let (w, h) = GRID;
        let mut data = vec![255u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let on =
                    |v: usize, (first, step): (usize, usize)| v >= first && (v - first) % step <= 1;
                if on(x, COLUMNS) || on(y, ROWS) {
                    data[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(0);
                }
            }
        }
        Pixels {
            data,
            width: w,
            height: h,
            channels: 3,
        }
    }

    /// How many lines of the grid an upright output of orientation `o` shows as
    /// columns and as rows.
    fn line_counts(o: u8) -> (usize, usize) {
        let count = |len: usize, (first, step): (usize, usize)| (len - 2 - first) / step + 1;
        let (c, r) = (count(GRID.0, COLUMNS), count(GRID.1, ROWS));
        if o >= 5 {
            (r, c)
        } else {
            (c, r)
        }
    }

    fn encode(pixels: &Pixels, quality: u8) -> Vec<u8> {
        Renderer::new(DEFAULT_MAX_PIXELS)
            .unwrap()
            .encode(pixels, quality, &Tags::default())
            .unwrap()
    }

    fn decode(jpeg: &[u8]) -> Pixels {
        let image = turbojpeg::decompress(jpeg, PixelFormat::RGB).unwrap();
        Pixels {
            data: image.pixels,
            width: image.width,
            height: image.height,
            channels: 3,
        }
    }

    /// `pixels` resized whole to `width` × `height` (Lanczos3, as the renderer does).
    fn resized(pixels: &Pixels, width: usize, height: usize) -> Pixels {
        let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
        let whole = Region::whole(pixels.width, pixels.height);
        renderer
            .resize(pixels, whole, width, height)
            .unwrap()
            .unwrap_or_else(|| pixels.clone())
    }

    /// A camera-style letterboxed thumbnail: `main` squeezed into rows `band` of a
    /// black `width` × `height` frame.
    fn letterboxed(main: &Pixels, width: usize, height: usize, band: (usize, usize)) -> Pixels {
        let picture = resized(main, width, band.1 - band.0);
        let mut data = vec![0u8; width * height * 3];
        data[band.0 * width * 3..band.1 * width * 3].copy_from_slice(&picture.data);
        Pixels {
            data,
            width,
            height,
            channels: 3,
        }
    }

    /// `jpeg` with an EXIF block: orientation `o`, the stored frame's dimensions (so
    /// the tag is never stale), and `thumbnail` as its IFD1 JPEG.
    fn with_exif(jpeg: Vec<u8>, o: u8, thumbnail: Option<&[u8]>) -> Vec<u8> {
        let fields = [
            exif::Field {
                tag: exif::Tag::Orientation,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Short(vec![o as u16]),
            },
            exif::Field {
                tag: exif::Tag::PixelXDimension,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Long(vec![GRID.0 as u32]),
            },
            exif::Field {
                tag: exif::Tag::PixelYDimension,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Long(vec![GRID.1 as u32]),
            },
        ];
        let mut writer = exif::experimental::Writer::new();
        for f in &fields {
            writer.push_field(f);
        }
        if let Some(thumbnail) = thumbnail {
            writer.set_jpeg(thumbnail, exif::In::THUMBNAIL);
        }
        let mut tiff = std::io::Cursor::new(Vec::new());
        writer.write(&mut tiff, false).unwrap();
        super::super::jpeg::insert_exif(jpeg, &tiff.into_inner())
    }

    /// `jpeg` with an MPF APP2 segment whose second entry, a large preview (class 2),
    /// is `preview`, appended after the main image as cameras do.
    fn with_mpf(jpeg: Vec<u8>, preview: &[u8]) -> Vec<u8> {
        let mut tiff = b"II*\0".to_vec();
        tiff.extend_from_slice(&8u32.to_le_bytes()); // the IFD
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&0xB002u16.to_le_bytes()); // MP Entry, UNDEFINED × 32
        tiff.extend_from_slice(&7u16.to_le_bytes());
        tiff.extend_from_slice(&32u32.to_le_bytes());
        tiff.extend_from_slice(&26u32.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        for (attribute, size) in [(0x2003_0000u32, 0u32), (0x0001_0002, preview.len() as u32)] {
            tiff.extend_from_slice(&attribute.to_le_bytes());
            tiff.extend_from_slice(&size.to_le_bytes());
            tiff.extend_from_slice(&0u32.to_le_bytes()); // offset: set below
            tiff.extend_from_slice(&[0; 4]);
        }
        let mut segment = vec![0xFF, 0xE2];
        segment.extend_from_slice(&((2 + 4 + tiff.len()) as u16).to_be_bytes());
        segment.extend_from_slice(b"MPF\0");
        segment.extend_from_slice(&tiff);
        let mut out = super::super::jpeg::insert_segments(jpeg, &segment);
        let tiff_start = out.windows(4).position(|w| w == b"MPF\0").unwrap() + 4;
        let offset = (out.len() - tiff_start) as u32;
        let at = tiff_start + 26 + 16 + 8;
        out[at..at + 4].copy_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(preview);
        out
    }

    /// Darkness profiles of `p`: 255 minus the mean of each column, and of each row.
    fn profiles(p: &Pixels) -> (Vec<f64>, Vec<f64>) {
        let mut columns = vec![0f64; p.width];
        let mut rows = vec![0f64; p.height];
        for (y, line) in p.data.chunks_exact(p.width * p.channels).enumerate() {
            for (x, px) in line.chunks_exact(p.channels).enumerate() {
                let v = px.iter().map(|&v| v as f64).sum::<f64>() / p.channels as f64;
                columns[x] += (255.0 - v) / p.height as f64;
                rows[y] += (255.0 - v) / p.width as f64;
            }
        }
        (columns, rows)
    }

    /// The lines of a darkness profile: their centroids (in pixels, a pixel's centre at
    /// index + 0.5), around each peak of `reference` higher than a third of its
    /// highest, of the darkness above the profile's median (the lines running the
    /// other way add the same to every entry), signed, over ±6 pixels: all of a line's
    /// blur (Lanczos3 reaches 3 output pixels, a 1/8 decode's block 0.7 more) and none
    /// of the next line's (12.8 or more away), so the centroid is the line's, whatever
    /// the shape of the blur.
    fn lines(profile: &[f64], reference: &[f64]) -> Vec<f64> {
        let base = |p: &[f64]| {
            let mut v = p.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (rb, pb) = (base(reference), base(profile));
        let top = reference.iter().copied().fold(f64::MIN, f64::max) - rb;
        let n = reference.len();
        let mut found = Vec::new();
        for i in 0..n {
            let left = if i > 0 { reference[i - 1] } else { f64::MIN };
            let right = if i + 1 < n {
                reference[i + 1]
            } else {
                f64::MIN
            };
            if reference[i] - rb > top / 3.0 && reference[i] >= left && reference[i] > right {
                let (mut sum, mut moment) = (0.0, 0.0);
                let window = i.saturating_sub(6)..(i + 7).min(n);
                for (j, &v) in profile
                    .iter()
                    .enumerate()
                    .take(window.end)
                    .skip(window.start)
                {
                    let w = v - pb;
                    sum += w;
                    moment += w * (j as f64 + 0.5);
                }
                found.push(if sum > 0.0 { moment / sum } else { f64::NAN });
            }
        }
        found
    }

    /// How far the lines of `out` are from where they are in `reference` (output
    /// pixels, the largest over columns and rows), after checking both are upright
    /// `o` outputs of the same size showing every line; and each line's shift, for
    /// the failure message.
    fn largest_shift(out: &Pixels, reference: &Pixels, o: u8, what: &str) -> (f64, String) {
        assert_eq!(
            (out.width, out.height),
            (reference.width, reference.height),
            "{what}: dimensions"
        );
        let (oc, or) = profiles(out);
        let (rc, rr) = profiles(reference);
        let (columns, rows) = line_counts(o);
        let mut largest = 0f64;
        let mut detail = String::new();
        for (profile, reference, count, axis) in
            [(&oc, &rc, columns, "columns"), (&or, &rr, rows, "rows")]
        {
            let want = lines(reference, reference);
            let got = lines(profile, reference);
            assert_eq!(
                want.len(),
                count,
                "{what}: lines found in the reference {axis}"
            );
            for (g, w) in got.iter().zip(&want) {
                largest = largest.max((g - w).abs());
            }
            let shifts: Vec<String> = got
                .iter()
                .zip(&want)
                .map(|(g, w)| format!("{w:.1}{:+.2}", g - w))
                .collect();
            detail.push_str(&format!(" {axis}: {}", shifts.join(" ")));
            assert!(largest.is_finite(), "{what}: a line vanished ({axis})");
        }
        (largest, detail)
    }

    /// What an exact route must give: the main image decoded in full, resized whole to
    /// the output's size in the stored frame, turned upright.
    fn reference(main_jpeg: &[u8], out_w: usize, out_h: usize, o: u8) -> Pixels {
        let full = decode(main_jpeg);
        let (w, h) = if o >= 5 {
            (out_h, out_w)
        } else {
            (out_w, out_h)
        };
        orient(resized(&full, w, h), o)
    }

    /// A line may move this far (output pixels) through an exact route. JPEG's
    /// quantisation of the source and of the output, a DCT-domain reduction instead of
    /// Lanczos3 for part of the way, and a second resampling for an embedded preview
    /// reshape a line's blur, and its centroid a little with it. Measured over the 8
    /// orientations: at most 0.02 (1/8 decode), 0.15 (1/4), 0.11 (1/2), 0.00 (full),
    /// 0.11 (MPF preview at 1/4), 0.12 (letterboxed EXIF thumbnail). The old code
    /// moved the far lines by 0.62 (1/8) and 0.51 (MPF), and did not use a letterboxed
    /// thumbnail at all.
    const SHIFT_TOLERANCE: f64 = 0.25;

    /// The instant preview is encoded at quality 85 from a 160×120 thumbnail where a
    /// line of the 2001-pixel picture is a faint grey smudge: JPEG noise moves such a
    /// line by up to 0.36 pixels here (over the 8 orientations). The old centred cut
    /// moved them by up to 3.6 pixels.
    const INSTANT_TOLERANCE: f64 = 0.6;

    #[test]
    fn scaled_and_full_decodes_put_every_line_where_a_full_decode_does() {
        let main = encode(&grid(), 95);
        let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
        for o in 1..=8u8 {
            let jpeg = with_exif(main.clone(), o, None);
            // 1/8, 1/4, 3/8 and 1/2 (thumb margin 1.25: 160 → 200, 320 → 400, 480 →
            // 600, 640 → 800), then a full decode (1001 px at 1/2 is below 1280 × 1.05).
            for (size, route, num, denom) in [
                (160, Route::ScaledDecode, 1, 8),
                (320, Route::ScaledDecode, 1, 4),
                (480, Route::ScaledDecode, 3, 8),
                (640, Route::ScaledDecode, 1, 2),
                (1280, Route::FullDecode, 1, 1),
            ] {
                assert_eq!(
                    shrink_factor(GRID.0, GRID.1, size),
                    ScalingFactor::new(num, denom)
                );
                let out = renderer.render(&jpeg, size, 100).unwrap();
                assert_eq!(out.route, route);
                let out = decode(&out.bytes);
                let what = format!("orientation {o}, size {size}");
                let expected = reference(&main, out.width, out.height, o);
                let (shift, lines) = largest_shift(&out, &expected, o, &what);
                assert!(
                    shift <= SHIFT_TOLERANCE,
                    "{what}: lines moved by up to {shift:.3} px;{lines}"
                );
            }
        }
    }

    /// Renders `jpeg(o)` for every orientation at `size` and checks the route and
    /// that every line lands where a full decode puts it.
    fn check_route(size: u32, route: Route, main: &[u8], jpeg: impl Fn(u8) -> Vec<u8>) {
        let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
        for o in 1..=8u8 {
            let out = renderer.render(&jpeg(o), size, 100).unwrap();
            assert_eq!(out.route, route, "orientation {o}, size {size}");
            let out = decode(&out.bytes);
            let what = format!("{}, orientation {o}", route.as_str());
            let expected = reference(main, out.width, out.height, o);
            let (shift, lines) = largest_shift(&out, &expected, o, &what);
            assert!(
                shift <= SHIFT_TOLERANCE,
                "{what}: lines moved by up to {shift:.3} px;{lines}"
            );
        }
    }

    #[test]
    fn a_letterboxed_exif_thumbnail_puts_every_line_where_a_full_decode_does() {
        let grid = grid();
        let main = encode(&grid, 95);
        // A Nikon-like thumbnail: 320×240 with the picture in rows 26–213, where
        // fitting would put it at 23.98–216.02 (a camera rounds its own way).
        let thumb = encode(&letterboxed(&grid, 320, 240, (26, 214)), 95);
        check_route(160, Route::ExifThumbnail, &main, |o| {
            with_exif(main.clone(), o, Some(&thumb))
        });
    }

    #[test]
    fn a_scaled_mpf_preview_puts_every_line_where_a_full_decode_does() {
        let grid = grid();
        let main = encode(&grid, 95);
        // An MPF preview of the same framing whose sides are not multiples of 4 either,
        // decoded at 1/4 for a 120 derivative.
        let preview = encode(&resized(&grid, 1001, 601), 95);
        check_route(120, Route::MpfPreview, &main, |o| {
            with_mpf(with_exif(main.clone(), o, None), &preview)
        });
    }

    #[test]
    fn the_instant_preview_puts_every_line_where_a_full_decode_does() {
        let grid = grid();
        let main = encode(&grid, 95);
        // 160×120, the picture in rows 13–106 where fitting says 11.98–108.02.
        let thumb = encode(&letterboxed(&grid, 160, 120, (13, 107)), 95);
        for o in 1..=8u8 {
            let jpeg = with_exif(main.clone(), o, Some(&thumb));
            let out = decode(&instant_preview(&jpeg).expect("a preview"));
            let what = format!("instant preview, orientation {o}");
            let (w, h) = fit(GRID.0, GRID.1, 160);
            let (w, h) = if o >= 5 { (h, w) } else { (w, h) };
            assert_eq!((out.width, out.height), (w, h), "{what}");
            let expected = reference(&main, w, h, o);
            let (shift, lines) = largest_shift(&out, &expected, o, &what);
            assert!(
                shift <= INSTANT_TOLERANCE,
                "{what}: lines moved by up to {shift:.3} px;{lines}"
            );
        }
    }

    #[test]
    fn a_progressive_thumb_from_its_low_scans_looks_like_the_whole_files() {
        // 225×150, bands 6–63 of its luma refined on their own (tests/fixtures/README.md):
        // a 70 px thumb decodes at 1/2 (3/8 is 85 px, under 70 × 1.25), a 50 px one at
        // 3/8, both from the low scans only.
        let progressive = include_bytes!("../../tests/fixtures/progressive_spectral.jpg");
        let low_scans = super::super::jpeg::progressive_low_scans(progressive, LOW_SCANS_LIMIT)
            .expect("a band to leave out");
        // libjpeg-turbo takes them without an error or warning (it checks the scan
        // sequence whatever the scale), so the renders below use them and do not fall
        // back to the whole file.
        let (_, warning) = crate::media::jpeg_dc::libjpeg_turbo_reduced(&low_scans, 2).unwrap();
        assert_eq!(warning, None);
        // The same pixels as a baseline file, which is decoded whole.
        let baseline = encode(&decode(progressive), 100);
        let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
        let reduced = |jpeg: &[u8]| {
            let p = decode(jpeg);
            crate::media::jpeg_dc::Reduced {
                data: p.data,
                width: p.width,
                height: p.height,
                channels: p.channels,
            }
        };
        // At 1/2 (70 px) and at 3/8 (50 px: 85 px decoded).
        for (size, factor, dims) in [
            (70, ScalingFactor::new(1, 2), (70, 47)),
            (50, ScalingFactor::new(3, 8), (50, 33)),
        ] {
            assert_eq!(shrink_factor(225, 150, size), factor);
            let low = renderer.render(progressive, size, 95).unwrap();
            let whole = renderer.render(&baseline, size, 95).unwrap();
            assert_eq!((low.width, low.height), dims);
            assert_eq!((whole.width, whole.height), dims);
            let psnr = crate::media::jpeg_dc::test_support::psnr(
                &reduced(&low.bytes),
                &reduced(&whole.bytes),
            );
            eprintln!("progressive thumb at {size} px against the baseline one: PSNR {psnr:.1} dB");
            // Measured (2026-12-02): 34.8 dB at 70 px, 38.7 dB at 50 px.
            assert!(psnr >= 30.0, "{size} px: PSNR {psnr:.1} dB");
        }
    }

    #[test]
    fn a_scaled_decode_covers_a_fraction_of_its_last_pixel() {
        let region = Region::scaled(4128, 2322, ScalingFactor::new(1, 8));
        assert_eq!(region.width, 516.0);
        assert_eq!(region.height, 290.25);
        assert_eq!(ScalingFactor::new(1, 8).scale(2322), 291);
    }
}
