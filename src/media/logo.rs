//! A creator's logo on the watermark (issue 17, item 6): the PNG a vendor uploads,
//! checked and decoded here, drawn by [`crate::media::watermark`] in the bottom band.
//!
//! What is accepted: a PNG (signature checked) of at most [`MAX_LOGO_BYTES`] and at
//! most [`MAX_LOGO_SIDE`] px on each side, grey, grey + alpha, RGB, RGBA or palette
//! (with or without `tRNS`), 1 to 16 bits per sample, decoded whole (a truncated or
//! corrupt file is refused, not drawn in part). The size in the header is checked
//! before anything is decoded, and the decoder runs under [`image::Limits`] too, so a
//! small file that claims huge dimensions (a decompression bomb) costs nothing.
//!
//! The decoded logo is kept premultiplied RGBA8, shrunk (fast_image_resize, Lanczos3)
//! to at most [`WORK_HEIGHT`] × [`WORK_WIDTH`] px: the largest size a preview draws it
//! at is far smaller, and a 2048² logo would otherwise take 16 MiB in memory. Decoded
//! logos are kept in a small process-wide cache keyed by the SHA-256 of their PNG, so
//! a render never decodes the PNG again while the logo stays the same.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use fast_image_resize as fir;
use image::ImageDecoder;
use sha2::{Digest, Sha256};

/// Largest logo file accepted, in bytes (1 MiB).
pub const MAX_LOGO_BYTES: usize = 1 << 20;
/// Largest width and height accepted, in px.
pub const MAX_LOGO_SIDE: u32 = 2048;
/// Height the decoded logo is shrunk to (at most), px: four times what a 1280 px
/// preview draws.
pub const WORK_HEIGHT: usize = 256;
/// Width the decoded logo is shrunk to (at most), px.
pub const WORK_WIDTH: usize = 1024;
/// Decoded logos kept in memory (at most 1 MiB each).
const KEPT: usize = 16;

/// The eight bytes every PNG starts with.
const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Why an uploaded logo was refused. The messages are shown to the vendor as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    /// Empty upload.
    #[error("the logo is empty: choose a PNG file")]
    Empty,
    /// Longer than [`MAX_LOGO_BYTES`].
    #[error("the logo is {0} bytes; at most 1 MiB (1048576 bytes) is accepted")]
    TooLarge(usize),
    /// No PNG signature.
    #[error(
        "the logo is not a PNG image (only PNG is accepted, e.g. with a transparent background)"
    )]
    NotPng,
    /// Wider or taller than [`MAX_LOGO_SIDE`] (by its header; nothing was decoded).
    #[error("the logo is {0}×{1} px; at most 2048×2048 px is accepted")]
    TooManyPixels(u32, u32),
    /// The PNG could not be decoded whole (truncated, corrupt).
    #[error("the PNG could not be read whole (truncated or damaged?): {0}")]
    Broken(String),
}

/// A decoded logo: premultiplied RGBA8, row by row, shrunk to fit
/// [`WORK_WIDTH`] × [`WORK_HEIGHT`].
#[derive(Clone)]
pub struct Logo {
    /// The SHA-256 of the PNG it was decoded from: its identity in caches.
    pub sha256: [u8; 32],
    /// Width in px (after the shrink).
    pub width: usize,
    /// Height in px (after the shrink).
    pub height: usize,
    /// `width × height × 4` bytes, each colour multiplied by its alpha (0–255).
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("sha256", &hex::encode(&self.sha256[..8]))
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// Two logos are the same when their PNGs are.
impl PartialEq for Logo {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256
    }
}

impl Logo {
    /// A logo made from straight (not premultiplied) RGBA8 pixels, `width × height × 4`
    /// bytes, with `sha256` as its identity; shrunk as a decoded PNG is. `None` when
    /// the buffer does not match the size or a side is 0.
    pub fn from_rgba(sha256: [u8; 32], width: usize, height: usize, rgba: &[u8]) -> Option<Logo> {
        if width == 0 || height == 0 || rgba.len() != width * height * 4 {
            return None;
        }
        let mut data = rgba.to_vec();
        for px in data.chunks_exact_mut(4) {
            let a = px[3] as u32;
            for c in &mut px[..3] {
                *c = ((*c as u32 * a + 127) / 255) as u8;
            }
        }
        let (w, h) = fit_within(width, height, WORK_WIDTH, WORK_HEIGHT);
        let rgba = if (w, h) == (width, height) {
            data
        } else {
            resize_premultiplied(&data, width, height, w, h)?
        };
        Some(Logo {
            sha256,
            width: w,
            height: h,
            rgba,
        })
    }

    /// This logo at `width × height` (premultiplied RGBA8), made once per size and
    /// kept in a small process-wide cache.
    pub(crate) fn scaled(&self, width: usize, height: usize) -> Arc<Vec<u8>> {
        type Key = ([u8; 32], usize, usize);
        static SCALED: OnceLock<Mutex<lru::LruCache<Key, Arc<Vec<u8>>>>> = OnceLock::new();
        let key = (self.sha256, width, height);
        let cache = SCALED.get_or_init(|| {
            Mutex::new(lru::LruCache::new(NonZeroUsize::new(32).expect("non-zero")))
        });
        if let Some(made) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return made.clone();
        }
        let made = Arc::new(if (width, height) == (self.width, self.height) {
            self.rgba.clone()
        } else {
            resize_premultiplied(&self.rgba, self.width, self.height, width, height)
                .unwrap_or_else(|| vec![0; width * height * 4])
        });
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, made.clone());
        made
    }
}

/// The largest `w × h` of the aspect of `width × height` within `max_w × max_h`, no
/// larger than it is; each side at least 1.
pub(crate) fn fit_within(
    width: usize,
    height: usize,
    max_w: usize,
    max_h: usize,
) -> (usize, usize) {
    let scale = (max_w as f64 / width as f64)
        .min(max_h as f64 / height as f64)
        .min(1.0);
    (
        ((width as f64 * scale).round() as usize).max(1),
        ((height as f64 * scale).round() as usize).max(1),
    )
}

/// Resizes premultiplied RGBA8 (Lanczos3; the alpha is already multiplied in, so
/// fast_image_resize is told not to do it again). `None` if fast_image_resize refuses.
fn resize_premultiplied(
    data: &[u8],
    width: usize,
    height: usize,
    to_w: usize,
    to_h: usize,
) -> Option<Vec<u8>> {
    let src =
        fir::images::ImageRef::new(width as u32, height as u32, data, fir::PixelType::U8x4).ok()?;
    let mut dst = fir::images::Image::new(to_w as u32, to_h as u32, fir::PixelType::U8x4);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3))
        .use_alpha(false);
    fir::Resizer::new().resize(&src, &mut dst, &options).ok()?;
    let mut out = dst.into_vec();
    // Lanczos rings: keep every colour within its alpha (premultiplied stays valid).
    for px in out.chunks_exact_mut(4) {
        let a = px[3];
        for c in &mut px[..3] {
            *c = (*c).min(a);
        }
    }
    Some(out)
}

/// A logo upload that passed every check: its PNG bytes (stored as they came), their
/// SHA-256, its size as the header gives it, and the decoded logo.
#[derive(Debug, Clone)]
pub struct CheckedLogo {
    /// The PNG file as uploaded.
    pub png: Vec<u8>,
    /// SHA-256 of `png`.
    pub sha256: [u8; 32],
    /// Width of the PNG, px.
    pub width: u32,
    /// Height of the PNG, px.
    pub height: u32,
    /// The decoded logo, shrunk for drawing.
    pub logo: Arc<Logo>,
}

/// Checks and decodes an uploaded logo (see the module comment for what is accepted).
/// CPU-bound (tens of ms for a large PNG): call it off the async runtime.
///
/// # Errors
/// [`LogoError`], each with a message for the vendor.
pub fn check(png: Vec<u8>) -> Result<CheckedLogo, LogoError> {
    if png.is_empty() {
        return Err(LogoError::Empty);
    }
    if png.len() > MAX_LOGO_BYTES {
        return Err(LogoError::TooLarge(png.len()));
    }
    if !png.starts_with(SIGNATURE) {
        return Err(LogoError::NotPng);
    }
    // The first chunk must be IHDR (PNG §5.6): width and height, big-endian.
    if png.len() < 33 || &png[12..16] != b"IHDR" {
        return Err(LogoError::Broken("no image header".into()));
    }
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    let (width, height) = (be(16), be(20));
    if width > MAX_LOGO_SIDE || height > MAX_LOGO_SIDE {
        return Err(LogoError::TooManyPixels(width, height));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_LOGO_SIDE);
    limits.max_image_height = Some(MAX_LOGO_SIDE);
    // 16-bit RGBA at the largest size, and the RGBA8 copy.
    limits.max_alloc = Some(u64::from(MAX_LOGO_SIDE).pow(2) * 12);
    let broken = |e: image::ImageError| LogoError::Broken(e.to_string());
    let decoder =
        image::codecs::png::PngDecoder::with_limits(std::io::Cursor::new(&png[..]), limits)
            .map_err(broken)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(LogoError::Broken("the image has no pixels".into()));
    }
    let rgba = image::DynamicImage::from_decoder(decoder)
        .map_err(broken)?
        .into_rgba8();
    let sha256: [u8; 32] = Sha256::digest(&png).into();
    let logo = Logo::from_rgba(sha256, w as usize, h as usize, rgba.as_raw())
        .ok_or_else(|| LogoError::Broken("the image could not be shrunk".into()))?;
    Ok(CheckedLogo {
        png,
        sha256,
        width: w,
        height: h,
        logo: Arc::new(logo),
    })
}

fn decoded() -> &'static Mutex<lru::LruCache<[u8; 32], Arc<Logo>>> {
    static DECODED: OnceLock<Mutex<lru::LruCache<[u8; 32], Arc<Logo>>>> = OnceLock::new();
    DECODED.get_or_init(|| {
        Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(KEPT).expect("non-zero"),
        ))
    })
}

/// The decoded logo of the PNG whose SHA-256 is `sha256`, if it is in memory.
pub fn remembered(sha256: &[u8; 32]) -> Option<Arc<Logo>> {
    decoded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(sha256)
        .cloned()
}

/// Keeps a decoded logo in memory (the last [`KEPT`] are kept).
pub fn remember(logo: Arc<Logo>) {
    decoded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .put(logo.sha256, logo);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `w × h` in `colour` (`image`'s encoder).
    fn png(w: u32, h: u32, colour: image::ExtendedColorType, px: &[u8]) -> Vec<u8> {
        use image::ImageEncoder;
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(px, w, h, colour)
            .unwrap();
        out
    }

    #[test]
    fn every_kind_of_png_is_accepted() {
        use image::ExtendedColorType as C;
        let cases: Vec<(C, Vec<u8>)> = vec![
            (C::L8, vec![200; 4]),
            (C::La8, [200, 128].repeat(4)),
            (C::Rgb8, [255, 0, 0].repeat(4)),
            (C::Rgba8, [255, 0, 0, 128].repeat(4)),
            (C::L16, [0xff, 0x00].repeat(4)),
            (C::Rgba16, [0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff].repeat(4)),
        ];
        for (colour, px) in cases {
            let checked =
                check(png(2, 2, colour, &px)).unwrap_or_else(|e| panic!("{colour:?}: {e}"));
            assert_eq!((checked.width, checked.height), (2, 2));
            assert_eq!(checked.logo.rgba.len(), 16);
        }
        // Half-transparent red, premultiplied.
        let checked = check(png(1, 1, C::Rgba8, &[255, 0, 0, 128])).unwrap();
        assert_eq!(checked.logo.rgba, vec![128, 0, 0, 128]);
        // A palette PNG with tRNS (the png crate's encoder).
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 2, 1);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(vec![255, 0, 0, 0, 0, 255]);
            enc.set_trns(vec![255, 0]);
            enc.write_header()
                .unwrap()
                .write_image_data(&[0, 1])
                .unwrap();
        }
        let checked = check(out).unwrap();
        assert_eq!(checked.logo.rgba, vec![255, 0, 0, 255, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_logos_are_refused_with_their_reason() {
        assert_eq!(check(vec![]).unwrap_err(), LogoError::Empty);
        assert_eq!(
            check(b"GIF89a....".to_vec()).unwrap_err(),
            LogoError::NotPng
        );
        let good = png(64, 64, image::ExtendedColorType::Rgb8, &[7; 64 * 64 * 3]);
        let cut = good[..good.len() - 30].to_vec();
        assert!(matches!(check(cut).unwrap_err(), LogoError::Broken(_)));
        assert!(matches!(
            check(vec![0; MAX_LOGO_BYTES + 1]).unwrap_err(),
            LogoError::TooLarge(_)
        ));
        // A header claiming 60000 × 60000 px: refused from the header alone.
        let mut bomb = good.clone();
        bomb[16..20].copy_from_slice(&60000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&60000u32.to_be_bytes());
        assert_eq!(
            check(bomb).unwrap_err(),
            LogoError::TooManyPixels(60000, 60000)
        );
    }

    #[test]
    fn a_large_logo_is_shrunk_for_drawing() {
        let checked = check(png(
            2048,
            1024,
            image::ExtendedColorType::Rgba8,
            &[0, 0, 255, 255].repeat(2048 * 1024),
        ))
        .unwrap();
        assert_eq!((checked.logo.width, checked.logo.height), (512, 256));
        assert_eq!(&checked.logo.rgba[..4], &[0, 0, 255, 255]);
    }
}
