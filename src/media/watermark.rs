//! The visible watermark on previews of unpaid photos: a mark ("PREVIEW") tiled over
//! the whole picture, and a band along the bottom naming the event and the creator.
//!
//! Text is drawn with the public-domain 8×8 bitmap font of the `font8x8` crate,
//! scaled up by whole pixels: no font file at run time, nothing to fetch, and the
//! blocky look survives JPEG and WebP compression. Each mark pixel moves toward black
//! on light pictures and toward white on dark ones, so it shows on any background.
//! Characters outside ASCII and Latin-1 are drawn as `?`.

use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    /// Tiled over the picture, e.g. "PREVIEW". Empty: no tiling.
    pub mark: String,
    /// Lines for the bottom band (event, creator). Empty: no band.
    pub lines: Vec<String>,
    /// Strength of the tiled mark, 0–1.
    pub opacity: f32,
}

fn glyph(c: char) -> [u8; 8] {
    let code = c as u32;
    match code {
        0..=127 => BASIC_LEGACY[code as usize],
        0xA0..=0xFF => LATIN_LEGACY[(code - 0xA0) as usize],
        _ => BASIC_LEGACY[b'?' as usize],
    }
}

/// Blends pixel `i` (of `channels`) toward `target` by `alpha`.
fn blend(px: &mut [u8], target: u8, alpha: f32) {
    for v in px {
        *v = (*v as f32 + (target as f32 - *v as f32) * alpha).round() as u8;
    }
}

fn luma(px: &[u8]) -> u32 {
    match px.len() {
        1 | 2 => px[0] as u32,
        _ => (px[0] as u32 * 3 + px[1] as u32 * 6 + px[2] as u32) / 10,
    }
}

struct Canvas<'a> {
    data: &'a mut [u8],
    width: usize,
    height: usize,
    channels: usize,
}

impl Canvas<'_> {
    /// Draws `text` at (x, y) with glyphs scaled by `scale`; `paint` gets each covered
    /// pixel.
    fn text(&mut self, text: &str, x: i64, y: i64, scale: usize, paint: &dyn Fn(&mut [u8])) {
        for (i, c) in text.chars().enumerate() {
            let g = glyph(c);
            let gx = x + (i * 8 * scale) as i64;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..8 {
                    // Bit 0 is the leftmost pixel.
                    if bits & (1 << col) == 0 {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = gx + (col * scale + dx) as i64;
                            let py = y + (row * scale + dy) as i64;
                            if px < 0 || py < 0 {
                                continue;
                            }
                            let (px, py) = (px as usize, py as usize);
                            if px >= self.width || py >= self.height {
                                continue;
                            }
                            let at = (py * self.width + px) * self.channels;
                            paint(&mut self.data[at..at + self.channels]);
                        }
                    }
                }
            }
        }
    }
}

impl Watermark {
    /// Draws the watermark onto 8-bit pixels (`channels` 1 or 3), in place.
    pub fn apply(&self, data: &mut [u8], width: usize, height: usize, channels: usize) {
        if width == 0 || height == 0 || data.len() < width * height * channels {
            return;
        }
        let mut canvas = Canvas {
            data,
            width,
            height,
            channels,
        };
        let opacity = self.opacity.clamp(0.0, 1.0);
        let longest = width.max(height);
        // The tiled mark: glyphs of about 1/20 of the longest edge, in staggered rows.
        if !self.mark.trim().is_empty() && opacity > 0.0 {
            let scale = (longest / 160).max(1);
            let mark_w = self.mark.chars().count() * 8 * scale;
            let step_x = (mark_w + 8 * scale * 3) as i64;
            let step_y = (8 * scale * 4) as i64;
            let paint = move |px: &mut [u8]| {
                let target = if luma(px) > 128 { 0 } else { 255 };
                blend(px, target, opacity);
            };
            let mut row = 0i64;
            let mut y = step_y / 3;
            while y < height as i64 {
                let mut x = if row % 2 == 0 { 0 } else { -step_x / 2 };
                while x < width as i64 {
                    canvas.text(&self.mark, x, y, scale, &paint);
                    x += step_x;
                }
                y += step_y;
                row += 1;
            }
        }
        // The band: a darkened strip with the lines in white.
        let lines: Vec<&str> = self
            .lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if !lines.is_empty() {
            let scale = (longest / 400).max(1);
            let line_h = 10 * scale;
            let band_h = (lines.len() * line_h + 4 * scale).min(height);
            let top = height - band_h;
            for y in top..height {
                for x in 0..width {
                    let at = (y * width + x) * channels;
                    blend(&mut canvas.data[at..at + channels], 0, 0.6);
                }
            }
            let fits = (width.saturating_sub(8 * scale)) / (8 * scale);
            for (i, line) in lines.iter().enumerate() {
                let text: String = line.chars().take(fits).collect();
                let y = (top + 2 * scale + i * line_h + scale) as i64;
                canvas.text(&text, (4 * scale) as i64, y, scale, &|px| px.fill(255));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_shows_on_light_and_dark_pictures() {
        for background in [0u8, 255] {
            let (w, h) = (640, 480);
            let mut data = vec![background; w * h * 3];
            Watermark {
                mark: "PREVIEW".into(),
                lines: vec!["Night Market — Ana".into()],
                opacity: 0.4,
            }
            .apply(&mut data, w, h, 3);
            let changed = data.iter().filter(|&&v| v != background).count();
            assert!(changed > w * h * 3 / 20, "{changed} samples changed");
        }
    }

    #[test]
    fn tiny_and_grey_pictures_are_fine() {
        let mut one = vec![10u8; 1];
        Watermark {
            mark: "PREVIEW".into(),
            lines: vec!["x".into()],
            opacity: 1.0,
        }
        .apply(&mut one, 1, 1, 1);
        let mut short = vec![0u8; 2];
        Watermark {
            mark: "P".into(),
            lines: vec![],
            opacity: 1.0,
        }
        .apply(&mut short, 4, 4, 3);
        assert_eq!(short, vec![0, 0], "a too-short buffer is left alone");
    }
}
