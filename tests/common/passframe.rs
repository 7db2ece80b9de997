//! Photograph-like pass frames for the tagging tests: a pass QR, rendered by the same
//! `qrcode` crate the pass page uses, on a white "phone screen", blurred a little,
//! rotated, scaled to a small part of a real photo's width and composited into it,
//! then JPEG-compressed, as a photographer's frame of an attendee's phone would be.

use image::{GrayImage, Luma, Rgb, RgbImage};

/// How a pass frame is made.
pub struct Shot {
    /// The QR code's width (quiet zone included) as a share of the frame's width.
    pub width_share: f32,
    /// Rotation in degrees.
    pub angle: f32,
    /// Gaussian blur sigma, in pixels of the composited code.
    pub blur: f32,
}

impl Default for Shot {
    fn default() -> Self {
        Shot {
            width_share: 0.10,
            angle: 15.0,
            blur: 1.0,
        }
    }
}

/// A real photo, decoded and scaled to at most `max_width` pixels wide.
pub fn photo(path: &std::path::Path, max_width: u32) -> RgbImage {
    let img = image::open(path).expect("a corpus photo").to_rgb8();
    if img.width() <= max_width {
        return img;
    }
    let h = (img.height() as u64 * max_width as u64 / img.width() as u64) as u32;
    image::imageops::thumbnail(&img, max_width, h)
}

/// The QR code of `text` as the pass page draws it (level Q, quiet zone), one pixel
/// per module.
fn qr_modules(text: &str) -> GrayImage {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::Q).unwrap();
    let (n, colors) = (code.width() as u32, code.to_colors());
    GrayImage::from_fn(n + 8, n + 8, |x, y| {
        let inside = (4..n + 4).contains(&x) && (4..n + 4).contains(&y);
        let dark = inside && colors[((y - 4) * n + (x - 4)) as usize] == qrcode::Color::Dark;
        Luma([if dark { 0 } else { 255 }])
    })
}

/// `photo` with the QR code of `text` composited into it as `shot` says, at about
/// (0.6, 0.45) of the frame.
pub fn composite(mut photo: RgbImage, text: &str, shot: &Shot) -> RgbImage {
    let modules = qr_modules(text);
    let side = (photo.width() as f32 * shot.width_share).round().max(8.0) as u32;
    // Scale the code up (nearest: crisp modules, as on a screen), then blur it.
    let scaled =
        image::imageops::resize(&modules, side, side, image::imageops::FilterType::Nearest);
    let blurred = image::imageops::blur(&scaled, shot.blur);
    let (cx, cy) = (photo.width() as f32 * 0.6, photo.height() as f32 * 0.45);
    let (sin, cos) = shot.angle.to_radians().sin_cos();
    let half = side as f32 / 2.0;
    let reach = (half * std::f32::consts::SQRT_2).ceil() as i64 + 2;
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            let (x, y) = (cx as i64 + dx, cy as i64 + dy);
            if x < 0 || y < 0 || x >= photo.width() as i64 || y >= photo.height() as i64 {
                continue;
            }
            // Inverse rotation into the code's frame, then a bilinear sample.
            let (fx, fy) = (dx as f32, dy as f32);
            let u = cos * fx + sin * fy + half;
            let v = -sin * fx + cos * fy + half;
            if u < 0.0 || v < 0.0 || u >= side as f32 - 1.0 || v >= side as f32 - 1.0 {
                continue;
            }
            let (u0, v0) = (u.floor() as u32, v.floor() as u32);
            let (a, b) = (u - u0 as f32, v - v0 as f32);
            let p = |x: u32, y: u32| blurred.get_pixel(x, y)[0] as f32;
            let g = p(u0, v0) * (1.0 - a) * (1.0 - b)
                + p(u0 + 1, v0) * a * (1.0 - b)
                + p(u0, v0 + 1) * (1.0 - a) * b
                + p(u0 + 1, v0 + 1) * a * b;
            // A phone screen is not paper white: a slight blue cast and less contrast.
            let g = 18.0 + g * 0.88;
            photo.put_pixel(
                x as u32,
                y as u32,
                Rgb([g as u8, g as u8, (g + 6.0).min(255.0) as u8]),
            );
        }
    }
    photo
}

/// Encodes `img` as a JPEG at `quality`, with EXIF DateTimeOriginal `captured`
/// (`YYYY:MM:DD HH:MM:SS`) when given.
pub fn jpeg(img: &RgbImage, quality: u8, captured: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    match captured {
        None => out,
        Some(when) => {
            let field = exif::Field {
                tag: exif::Tag::DateTimeOriginal,
                ifd_num: exif::In::PRIMARY,
                value: exif::Value::Ascii(vec![when.as_bytes().to_vec()]),
            };
            let mut writer = exif::experimental::Writer::new();
            writer.push_field(&field);
            let mut tiff = std::io::Cursor::new(Vec::new());
            writer.write(&mut tiff, false).unwrap();
            venuebox::media::jpeg::insert_exif(out, &tiff.into_inner())
        }
    }
}
