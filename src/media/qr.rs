//! Finding QR codes in a photo: a photographer photographs an attendee's pass on their
//! phone screen, and the box reads the code back from the photo's rendered preview
//! (issue 14, QR-card tagging). Pure: JPEG bytes in, decoded texts out.
//!
//! Decoding is rqrr's (a Rust port of quirc: adaptive threshold, finder-pattern
//! search, perspective grid, Reed–Solomon correction; <https://docs.rs/rqrr>), on a
//! greyscale decode of the 1280 px preview made by libjpeg-turbo straight into one
//! channel. The preview, not the original: a 24 MP frame costs ~20× the pixels, and a
//! pass shot at arm's length (8–12 % of the frame width, QR version 2) still has 4–6 px
//! per module at 1280 px (docs/benchmarks.md, "QR detection").

use std::time::{Duration, Instant};

/// The most QR codes read from one photo (a frame full of codes is not a pass frame).
pub const MAX_CODES: usize = 8;

/// What a search found, and what it cost.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The decoded texts of the QR codes found (at most [`MAX_CODES`]); codes that do
    /// not decode (damaged, not QR) are left out.
    pub texts: Vec<String>,
    /// Time to decode the JPEG to greyscale.
    pub decode: Duration,
    /// Time to find and read the codes.
    pub detect: Duration,
}

/// Why a photo could not be searched.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The bytes are not a JPEG libjpeg-turbo reads.
    #[error("cannot decode the preview: {0}")]
    Decode(String),
}

/// Finds the QR codes in a JPEG (in practice the 1280 px preview; see the module
/// comment).
pub fn find_in_jpeg(jpeg: &[u8]) -> Result<Found, QrError> {
    let started = Instant::now();
    let image = turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::GRAY)
        .map_err(|e| QrError::Decode(e.to_string()))?;
    let decode = started.elapsed();
    let started = Instant::now();
    let texts = find_in_grey(&image.pixels, image.width, image.height, image.pitch);
    Ok(Found {
        texts,
        decode,
        detect: started.elapsed(),
    })
}

/// Finds the QR codes in a greyscale image (`pitch` bytes per row, one byte per pixel).
pub fn find_in_grey(grey: &[u8], width: usize, height: usize, pitch: usize) -> Vec<String> {
    if width == 0 || height == 0 || grey.len() < pitch * (height - 1) + width {
        return Vec::new();
    }
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| grey[y * pitch + x]);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .take(MAX_CODES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey image with a QR code of `text` drawn at `module` px per module.
    fn drawn(text: &str, module: usize) -> (Vec<u8>, usize) {
        let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::Q).unwrap();
        let n = code.width();
        let side = (n + 8) * module + 40;
        let mut grey = vec![180u8; side * side];
        let colors = code.to_colors();
        for y in 0..(n + 8) * module {
            for x in 0..(n + 8) * module {
                let (mx, my) = (x / module, y / module);
                let dark = (4..n + 4).contains(&mx)
                    && (4..n + 4).contains(&my)
                    && colors[(my - 4) * n + (mx - 4)] == qrcode::Color::Dark;
                grey[(y + 20) * side + x + 20] = if dark { 20 } else { 240 };
            }
        }
        (grey, side)
    }

    #[test]
    fn reads_a_drawn_code_and_nothing_from_a_blank_image() {
        let (grey, side) = drawn("VB1ABCDEFGHJKMNPQRS", 4);
        assert_eq!(
            find_in_grey(&grey, side, side, side),
            vec!["VB1ABCDEFGHJKMNPQRS"]
        );
        let blank = vec![128u8; 200 * 100];
        assert!(find_in_grey(&blank, 200, 100, 200).is_empty());
        assert!(
            find_in_grey(&blank, 200, 100, 50).is_empty(),
            "short buffer"
        );
        assert!(find_in_jpeg(b"not a jpeg").is_err());
    }
}
