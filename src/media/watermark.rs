//! The visible watermark on previews of unpaid photos: a mark ("PREVIEW") tiled
//! diagonally over the whole picture, and a band along the bottom naming the event and
//! the creator.
//!
//! Text is drawn anti-aliased from the outlines of DejaVu Sans Bold (Bitstream Vera
//! licence, `assets/fonts/`), cut to Latin-1 and embedded in the binary (35 KB), with
//! [`ab_glyph`] for the outlines and [`ab_glyph_rasterizer`] for coverage. The mark is
//! rasterised once per (text, size): its outlines are rotated by 30° before they are
//! rasterised (no resampling of pixels), a soft dark halo is made from the coverage by
//! a blur, and the result is kept as a tile of per-pixel blend factors in a small
//! process-wide cache. Drawing a preview is then one multiply-add per covered sample.
//!
//! The mark is white at `opacity` over a dark halo at `opacity × 0.8`, so it shows on
//! bright and dark pictures alike. Blending is in straight (gamma-encoded) sRGB, like
//! CSS opacity: linear-light blending would cost two table look-ups per sample and
//! makes a thin white mark look heavier on dark pictures, not better.
//!
//! The layout protects the whole picture: rows of marks 30° from the horizontal, two
//! rows per 4.4 font sizes (a row every 2.2 font sizes, measured square to the rows),
//! each row's marks one font size apart and shifted by half a mark from the row above.
//! At 1280 px the font is 80 px: rows 176 px apart, where a square of 256 px spans
//! 350 px across the rows, so every 256 × 256 crop anywhere in the picture holds
//! strokes of the mark (a unit test checks every such crop on a 1280 × 853 picture).
//! Characters the font lacks are drawn as `?`.
//!
//! The creator's logo ([`crate::media::logo`], optional) sits at the right end of the
//! band, its height [`LOGO_SIZE`] of the longest edge (64 px at 1280, 16 at 320), at
//! most [`LOGO_WIDTH`] of it wide (a wide word mark is shrunk to fit), centred in the
//! band's height; the band is made as tall as the logo needs and the lines stop short
//! of it, so it never covers the subject above the band nor the names. Its own alpha
//! decides how it covers the band (drawn at full strength: a vendor who wants it
//! lighter exports it lighter). It is scaled once per logo and size (cached beside
//! the mark's tiles), so each preview pays only the blend of its few thousand pixels.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve};
use ab_glyph_rasterizer::{point, Point, Rasterizer};

use crate::media::logo::Logo;

/// DejaVu Sans Bold 2.37, Latin-1 subset (see `assets/fonts/README.md`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold-Latin1.ttf");

/// The mark's slant: rising to the right, in radians (30°).
const ANGLE: f32 = -std::f32::consts::PI / 6.0;
/// Font size of the mark per pixel of the picture's longest edge (80 px at 1280).
const MARK_SIZE: f32 = 1.0 / 16.0;
/// Distance between rows of marks, square to the rows, in font sizes.
const ROW_SPACING: f32 = 2.2;
/// Gap between two marks of a row, in font sizes.
const MARK_GAP: f32 = 1.0;
/// Strength of the dark halo relative to the mark's opacity.
const HALO: f32 = 0.8;
/// Font size of the band's lines per pixel of the longest edge (28 px at 1280).
const BAND_SIZE: f32 = 1.0 / 45.0;
/// How much the band darkens the picture under it.
const BAND_SHADE: f32 = 0.6;
/// Height of the logo per pixel of the longest edge (64 px at 1280, 16 at 320).
pub const LOGO_SIZE: f32 = 1.0 / 20.0;
/// Widest the logo is drawn, per pixel of the longest edge (256 px at 1280).
pub const LOGO_WIDTH: f32 = 1.0 / 5.0;

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    /// Tiled over the picture, e.g. "PREVIEW". Empty: no tiling.
    pub mark: String,
    /// Lines for the bottom band (event, creator). Empty: no band.
    pub lines: Vec<String>,
    /// Strength of the tiled mark, 0–1.
    pub opacity: f32,
    /// The creator's logo, drawn at the right end of the band. `None`: no logo.
    pub logo: Option<Arc<Logo>>,
}

/// Where the logo goes in a `width × height` picture: its left and top edge in the
/// picture, its width and height, px (all within the picture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogoPlace {
    /// Left edge, px from the picture's left.
    pub left: usize,
    /// Top edge, px from the picture's top.
    pub top: usize,
    /// Width drawn, px.
    pub width: usize,
    /// Height drawn, px.
    pub height: usize,
}

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("the embedded font parses"))
}

/// The glyph for `c`, `?` where the font has none.
fn glyph_id(c: char) -> GlyphId {
    let font = font();
    match font.glyph_id(c) {
        GlyphId(0) => font.glyph_id('?'),
        id => id,
    }
}

/// An 8-bit coverage mask: `width × height`, row by row, 0 (none) to 255 (full).
#[derive(Debug, Clone, PartialEq)]
struct Mask {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

/// Rasterises `text` at `size` px (the em), its baseline turned by `angle` radians
/// (negative: rising to the right), with `pad` px of empty border. Also returns where
/// the text's origin (start of the baseline) and its end land in the mask, in px.
fn rasterise(text: &str, size: f32, angle: f32, pad: f32) -> (Mask, Point, Point) {
    let font = font();
    let scale = size / font.units_per_em().unwrap_or(2048.0);
    let (sin, cos) = angle.sin_cos();
    // Font units (y up) at pen position `pen` to unrotated px (y down), then turned.
    let place = |p: Point, pen: f32| {
        let (x, y) = (p.x * scale + pen, -p.y * scale);
        point(x * cos - y * sin, x * sin + y * cos)
    };
    let mut curves: Vec<OutlineCurve> = Vec::new();
    let mut pen = 0.0;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = glyph_id(c);
        if let Some(prev) = previous {
            pen += font.kern_unscaled(prev, id) * scale;
        }
        if let Some(outline) = font.outline(id) {
            for curve in outline.curves {
                curves.push(match curve {
                    OutlineCurve::Line(a, b) => OutlineCurve::Line(place(a, pen), place(b, pen)),
                    OutlineCurve::Quad(a, b, c) => {
                        OutlineCurve::Quad(place(a, pen), place(b, pen), place(c, pen))
                    }
                    OutlineCurve::Cubic(a, b, c, d) => OutlineCurve::Cubic(
                        place(a, pen),
                        place(b, pen),
                        place(c, pen),
                        place(d, pen),
                    ),
                });
            }
        }
        pen += font.h_advance_unscaled(id) * scale;
        previous = Some(id);
    }
    let end = place(point(0.0, 0.0), pen);
    // Bounds of every point (control points bound their curves).
    let (mut min, mut max) = (point(0.0, 0.0), point(0.0, 0.0));
    for curve in &curves {
        let points: &[Point] = match curve {
            OutlineCurve::Line(a, b) => &[*a, *b],
            OutlineCurve::Quad(a, b, c) => &[*a, *b, *c],
            OutlineCurve::Cubic(a, b, c, d) => &[*a, *b, *c, *d],
        };
        for p in points {
            min = point(min.x.min(p.x), min.y.min(p.y));
            max = point(max.x.max(p.x), max.y.max(p.y));
        }
    }
    let offset = point(pad - min.x.floor(), pad - min.y.floor());
    let width = (max.x.ceil() - min.x.floor() + 2.0 * pad) as usize + 1;
    let height = (max.y.ceil() - min.y.floor() + 2.0 * pad) as usize + 1;
    let mut raster = Rasterizer::new(width, height);
    let at = |p: &Point| *p + offset;
    for curve in &curves {
        match curve {
            OutlineCurve::Line(a, b) => raster.draw_line(at(a), at(b)),
            OutlineCurve::Quad(a, b, c) => raster.draw_quad(at(a), at(b), at(c)),
            OutlineCurve::Cubic(a, b, c, d) => raster.draw_cubic(at(a), at(b), at(c), at(d)),
        }
    }
    let mut data = vec![0u8; width * height];
    raster.for_each_pixel(|i, coverage| {
        data[i] = (coverage.clamp(0.0, 1.0) * 255.0).round() as u8;
    });
    (
        Mask {
            width,
            height,
            data,
        },
        offset,
        end + offset,
    )
}

/// A box blur of `radius` px along rows then columns, in place.
fn box_blur(mask: &mut [f32], width: usize, height: usize, radius: usize) {
    let blur_line = |line: &mut [f32], scratch: &mut Vec<f32>| {
        let n = line.len();
        scratch.clear();
        scratch.push(0.0);
        for v in line.iter() {
            scratch.push(scratch.last().copied().unwrap_or(0.0) + v);
        }
        let window = (2 * radius + 1) as f32;
        for (i, v) in line.iter_mut().enumerate() {
            let lo = i.saturating_sub(radius);
            let hi = (i + radius + 1).min(n);
            *v = (scratch[hi] - scratch[lo]) / window;
        }
    };
    let mut scratch = Vec::new();
    for row in mask.chunks_mut(width) {
        blur_line(row, &mut scratch);
    }
    let mut column = vec![0.0; height];
    for x in 0..width {
        for (y, v) in column.iter_mut().enumerate() {
            *v = mask[y * width + x];
        }
        blur_line(&mut column, &mut scratch);
        for (y, v) in column.iter().enumerate() {
            mask[y * width + x] = *v;
        }
    }
}

/// A mark ready to blend: per pixel `out = (in × mul + add) >> 8`, with the covered
/// span of each row (pixels outside it are left alone).
#[derive(Debug)]
struct Tile {
    width: usize,
    height: usize,
    /// `mul` in the low 16 bits (0–256), `add` (with the rounding term) in the high 16.
    factors: Vec<u32>,
    /// First and one-past-last covered pixel of each row.
    spans: Vec<(usize, usize)>,
    /// Where the text starts and ends (baseline) in the tile, px.
    origin: Point,
    end: Point,
}

impl Tile {
    /// `text` at `size` px in white at `opacity` over a soft black halo of `halo` ×
    /// `opacity`, turned by `angle` radians.
    fn new(text: &str, size: f32, angle: f32, opacity: f32, halo: f32) -> Tile {
        let radius = (size * 0.06).round().max(1.0) as usize;
        let (mask, origin, end) = rasterise(text, size, angle, 3.0 * radius as f32);
        let (width, height) = (mask.width, mask.height);
        // The halo: the coverage spread twice by a box of `radius` (close to a
        // Gaussian), strengthened so that it is solid right at the strokes.
        let mut glow: Vec<f32> = mask.data.iter().map(|&c| c as f32 / 255.0).collect();
        box_blur(&mut glow, width, height, radius);
        box_blur(&mut glow, width, height, radius);
        let mut factors = Vec::with_capacity(width * height);
        let mut spans = Vec::with_capacity(height);
        for y in 0..height {
            let (mut first, mut last) = (usize::MAX, 0);
            for x in 0..width {
                let i = y * width + x;
                let light = mask.data[i] as f32 / 255.0 * opacity;
                let dark = (glow[i] * 2.5).min(1.0) * halo * opacity;
                let keep = (1.0 - dark) * (1.0 - light);
                let mul = (keep * 256.0).round() as u32;
                let add = (light * 255.0 * 256.0).round() as u32 + 128;
                if mul != 256 || add != 128 {
                    first = first.min(x);
                    last = x + 1;
                }
                factors.push(mul | add << 16);
            }
            spans.push(if first == usize::MAX {
                (0, 0)
            } else {
                (first, last)
            });
        }
        Tile {
            width,
            height,
            factors,
            spans,
            origin,
            end,
        }
    }

    /// Blends the tile with its top-left corner at (`left`, `top`), clipped.
    fn blend(&self, canvas: &mut Canvas<'_>, left: i64, top: i64) {
        let colour = match canvas.channels {
            2 => 1,
            4 => 3,
            n => n,
        };
        for (ty, &(first, last)) in self.spans.iter().enumerate() {
            let y = top + ty as i64;
            if y < 0 || y >= canvas.height as i64 || first >= last {
                continue;
            }
            let x0 = (left + first as i64).max(0);
            let x1 = (left + last as i64).min(canvas.width as i64);
            if x0 >= x1 {
                continue;
            }
            let row = &self.factors[ty * self.width..(ty + 1) * self.width];
            let from = (x0 - left) as usize;
            let factors = &row[from..from + (x1 - x0) as usize];
            let start = (y as usize * canvas.width + x0 as usize) * canvas.channels;
            let end = start + (x1 - x0) as usize * canvas.channels;
            let pixels = &mut canvas.data[start..end];
            for (px, &f) in pixels.chunks_exact_mut(canvas.channels).zip(factors) {
                let (mul, add) = (f & 0xffff, f >> 16);
                for v in &mut px[..colour] {
                    *v = ((*v as u32 * mul + add) >> 8) as u8;
                }
            }
        }
    }
}

/// What a tile is made from: text, size (px), whether turned, opacity and halo (in
/// 1/1000).
type Key = (String, u32, bool, [u32; 2]);

/// Tiles made so far (a mark per preview size and a band per creator, a few KB to a
/// few hundred KB each), at most 32.
fn tile(text: &str, size: f32, angle: f32, opacity: f32, halo: f32) -> Arc<Tile> {
    static TILES: OnceLock<Mutex<lru::LruCache<Key, Arc<Tile>>>> = OnceLock::new();
    let thousandths = |v: f32| (v * 1000.0).round() as u32;
    let key = (
        text.to_owned(),
        size.round() as u32,
        angle != 0.0,
        [thousandths(opacity), thousandths(halo)],
    );
    let cache = TILES
        .get_or_init(|| Mutex::new(lru::LruCache::new(NonZeroUsize::new(32).expect("non-zero"))));
    if let Some(tile) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return tile.clone();
    }
    let made = Arc::new(Tile::new(text, size.round(), angle, opacity, halo));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .put(key, made.clone());
    made
}

/// The width of `text` at `size` px, unturned.
fn text_width(text: &str, size: f32) -> f32 {
    let font = font();
    let scale = size / font.units_per_em().unwrap_or(2048.0);
    let mut width = 0.0;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = glyph_id(c);
        if let Some(prev) = previous {
            width += font.kern_unscaled(prev, id) * scale;
        }
        width += font.h_advance_unscaled(id) * scale;
        previous = Some(id);
    }
    width
}

struct Canvas<'a> {
    data: &'a mut [u8],
    width: usize,
    height: usize,
    channels: usize,
}

impl Watermark {
    /// Draws the watermark onto 8-bit pixels, row by row, `channels` per pixel (1: grey,
    /// 3: RGB; with 2 or 4 the last channel is alpha and left alone), in place. A
    /// buffer shorter than `width × height × channels` is left alone.
    pub fn apply(&self, data: &mut [u8], width: usize, height: usize, channels: usize) {
        if width == 0 || height == 0 || channels == 0 || data.len() < width * height * channels {
            return;
        }
        let opacity = self.opacity.clamp(0.0, 1.0);
        let longest = width.max(height) as f32;
        let lines: Vec<&str> = self
            .lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        // The band's geometry: the mark stops above it (its text stays legible).
        let band_size = (longest * BAND_SIZE).max(6.0).round();
        let line_h = (band_size * 1.35).round() as usize;
        let pad = (band_size * 0.5).round() as usize;
        let text_h = if lines.is_empty() {
            0
        } else {
            lines.len() * line_h + pad
        };
        // The logo's size, and the band tall enough for it.
        let logo = self
            .logo
            .as_ref()
            .map(|logo| (logo, logo_size(logo, longest)));
        let logo_h = logo.as_ref().map_or(0, |(_, (_, h))| h + pad);
        let band_h = text_h.max(logo_h).min(height);
        let top = height - band_h;
        let (above, band) = data[..width * height * channels].split_at_mut(top * width * channels);
        let mut canvas = Canvas {
            data: above,
            width,
            height: top,
            channels,
        };
        let mark = self.mark.trim();
        if !mark.is_empty() && opacity > 0.0 && top > 0 {
            let size = (longest * MARK_SIZE).max(6.0).round();
            let tile = tile(mark, size, ANGLE, opacity, HALO);
            // Along a row: the text's advance plus the gap; across: ROW_SPACING sizes.
            let (dx, dy) = (tile.end.x - tile.origin.x, tile.end.y - tile.origin.y);
            let length = (dx * dx + dy * dy).sqrt().max(1.0);
            let (ux, uy) = (dx / length, dy / length);
            let step = length + MARK_GAP * size;
            let along = point(ux * step, uy * step);
            // Square to the rows (down the picture), plus half a mark along the row.
            let spacing = ROW_SPACING * size;
            let across = point(-uy * spacing + along.x / 2.0, ux * spacing + along.y / 2.0);
            // Enough rows and marks to cover the picture from its centre, whatever
            // the angle.
            let reach = ((width * width + height * height) as f32).sqrt();
            let rows = (reach / spacing).ceil() as i64 / 2 + 2;
            let marks = (reach / step).ceil() as i64 / 2 + 2;
            let centre = point(width as f32 / 2.0, height as f32 / 2.0);
            for j in -rows..=rows {
                for i in -marks..=marks {
                    // The middle of each mark; the tile is placed around it.
                    let mid = point(
                        centre.x + i as f32 * along.x + j as f32 * across.x,
                        centre.y + i as f32 * along.y + j as f32 * across.y,
                    );
                    let left = (mid.x - (tile.origin.x + dx / 2.0)).round() as i64;
                    let top = (mid.y - (tile.origin.y + dy / 2.0)).round() as i64;
                    if left >= width as i64
                        || top >= height as i64
                        || left + (tile.width as i64) <= 0
                        || top + (tile.height as i64) <= 0
                    {
                        continue;
                    }
                    tile.blend(&mut canvas, left, top);
                }
            }
        }
        // The band: a darkened strip with the lines in white, and the logo.
        if band_h > 0 {
            let mut canvas = Canvas {
                data: band,
                width,
                height: band_h,
                channels,
            };
            let colour = match channels {
                2 => 1,
                4 => 3,
                n => n,
            };
            let keep = ((1.0 - BAND_SHADE) * 256.0).round() as u32;
            for px in canvas.data.chunks_exact_mut(channels) {
                for v in &mut px[..colour] {
                    *v = ((*v as u32 * keep + 128) >> 8) as u8;
                }
            }
            let logo_room = logo.as_ref().map_or(0, |(_, (w, _))| w + pad);
            let room = width as f32 - 2.0 * pad as f32 - logo_room as f32;
            for (i, line) in lines.iter().enumerate() {
                let text = fitted(line, band_size, room);
                if text.is_empty() {
                    continue;
                }
                let tile = tile(&text, band_size, 0.0, 1.0, 0.0);
                let baseline = (pad / 2 + i * line_h) as f32 + band_size * 0.95;
                let left = (pad as f32 - tile.origin.x).round() as i64;
                let y = (baseline - tile.origin.y).round() as i64;
                tile.blend(&mut canvas, left, y);
            }
            if let Some((logo, (w, h))) = logo {
                let place = logo_place(width, height, band_h, pad, w, h);
                blend_logo(&mut canvas, &logo.scaled(w, h), w, place, top);
            }
        }
    }

    /// Where [`Watermark::apply`] draws the logo on a `width × height` picture; `None`
    /// without a logo.
    pub fn logo_place(&self, width: usize, height: usize) -> Option<LogoPlace> {
        let logo = self.logo.as_ref()?;
        // The geometry of `apply`, without the pixels.
        let longest = width.max(height) as f32;
        let band_size = (longest * BAND_SIZE).max(6.0).round();
        let line_h = (band_size * 1.35).round() as usize;
        let pad = (band_size * 0.5).round() as usize;
        let lines = self.lines.iter().filter(|l| !l.trim().is_empty()).count();
        let text_h = if lines == 0 { 0 } else { lines * line_h + pad };
        let (w, h) = logo_size(logo, longest);
        let band_h = text_h.max(h + pad).min(height);
        Some(logo_place(width, height, band_h, pad, w, h))
    }
}

/// The size the logo is drawn at on a picture whose longest edge is `longest` px:
/// [`LOGO_SIZE`] of it high, or less where [`LOGO_WIDTH`] of it would be too narrow
/// for the logo's aspect; scaled up as well as down.
fn logo_size(logo: &Logo, longest: f32) -> (usize, usize) {
    let (max_w, max_h) = (
        (longest * LOGO_WIDTH).round(),
        (longest * LOGO_SIZE).round(),
    );
    let scale = (max_h / logo.height as f32).min(max_w / logo.width as f32);
    (
        ((logo.width as f32 * scale).round() as usize).clamp(1, max_w.max(1.0) as usize),
        ((logo.height as f32 * scale).round() as usize).clamp(1, max_h.max(1.0) as usize),
    )
}

/// The logo's place: `pad` from the right edge, centred in the band's height, clipped
/// to the picture.
fn logo_place(
    width: usize,
    height: usize,
    band_h: usize,
    pad: usize,
    w: usize,
    h: usize,
) -> LogoPlace {
    let left = width.saturating_sub(pad + w);
    let top = height - band_h + band_h.saturating_sub(h) / 2;
    LogoPlace {
        left,
        top,
        width: w.min(width - left),
        height: h.min(height - top),
    }
}

/// Blends premultiplied RGBA8 `logo` (`stride` px a row) at `place` onto the band
/// canvas, whose first row is row `band_top` of the picture: `out = in × (1 − α) + c`.
fn blend_logo(
    canvas: &mut Canvas<'_>,
    logo: &[u8],
    stride: usize,
    place: LogoPlace,
    band_top: usize,
) {
    let channels = canvas.channels;
    for y in 0..place.height {
        let row = place.top + y - band_top;
        if row >= canvas.height {
            break;
        }
        let start = (row * canvas.width + place.left) * channels;
        let pixels = &mut canvas.data[start..start + place.width * channels];
        let source = &logo[y * stride * 4..(y * stride + place.width) * 4];
        for (px, s) in pixels
            .chunks_exact_mut(channels)
            .zip(source.chunks_exact(4))
        {
            let a = s[3] as u32;
            if a == 0 {
                continue;
            }
            // 0–255 to 0–256, so that α = 255 replaces the pixel exactly.
            let keep = 256 - (a + (a >> 7));
            let blend = |v: u8, c: u32| ((v as u32 * keep + c * 256 + 128) >> 8).min(255) as u8;
            if channels >= 3 {
                for (v, &c) in px[..3].iter_mut().zip(&s[..3]) {
                    *v = blend(*v, c as u32);
                }
            } else {
                // Grey pictures: the logo's luma (BT.601), premultiplied as its colours.
                let luma = (77 * s[0] as u32 + 150 * s[1] as u32 + 29 * s[2] as u32 + 128) >> 8;
                px[0] = blend(px[0], luma);
            }
        }
    }
}

/// `line`, cut and ended with "…" where it is wider than `room` px at `size`.
fn fitted(line: &str, size: f32, room: f32) -> String {
    if text_width(line, size) <= room {
        return line.to_owned();
    }
    let mut chars: Vec<char> = line.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>().trim_end().to_owned() + "…";
        if text_width(&cut, size) <= room {
            return cut;
        }
    }
    String::new()
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
                logo: None,
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
            logo: None,
        }
        .apply(&mut one, 1, 1, 1);
        let mut short = vec![0u8; 2];
        Watermark {
            mark: "P".into(),
            lines: vec![],
            opacity: 1.0,
            logo: None,
        }
        .apply(&mut short, 4, 4, 3);
        assert_eq!(short, vec![0, 0], "a too-short buffer is left alone");
        let mut grey = vec![128u8; 300 * 200];
        Watermark {
            mark: "PREVIEW".into(),
            lines: vec!["Jürgen".into()],
            opacity: 0.35,
            logo: None,
        }
        .apply(&mut grey, 300, 200, 1);
        assert!(grey.iter().any(|&v| v != 128));
    }

    /// Pixels of `w × h` grey 128 (RGB) with `mark` tiled at opacity 0.35, and for each
    /// pixel whether it moved by at least 16 levels in some channel.
    fn marked(mark: &str, w: usize, h: usize) -> Vec<bool> {
        let mut data = vec![128u8; w * h * 3];
        Watermark {
            mark: mark.into(),
            lines: vec![],
            opacity: 0.35,
            logo: None,
        }
        .apply(&mut data, w, h, 3);
        data.chunks_exact(3)
            .map(|px| px.iter().any(|&v| v.abs_diff(128) >= 16))
            .collect()
    }

    #[test]
    fn every_crop_of_256_px_holds_part_of_the_mark() {
        let (w, h) = (1280, 853);
        for (w, h) in [(w, h), (h, w)] {
            let changed = marked("PREVIEW", w, h);
            // Summed-area table of changed pixels.
            let mut sum = vec![0u32; (w + 1) * (h + 1)];
            for y in 0..h {
                for x in 0..w {
                    sum[(y + 1) * (w + 1) + x + 1] = changed[y * w + x] as u32
                        + sum[y * (w + 1) + x + 1]
                        + sum[(y + 1) * (w + 1) + x]
                        - sum[y * (w + 1) + x];
                }
            }
            let side = 256;
            let mut fewest = u32::MAX;
            for y in (0..=h - side).step_by(8) {
                for x in (0..=w - side).step_by(8) {
                    let (x1, y1) = (x + side, y + side);
                    let n = sum[y1 * (w + 1) + x1] + sum[y * (w + 1) + x]
                        - sum[y * (w + 1) + x1]
                        - sum[y1 * (w + 1) + x];
                    fewest = fewest.min(n);
                }
            }
            // At least 3 % of any crop's pixels are visibly marked.
            assert!(
                fewest >= (side * side * 3 / 100) as u32,
                "{w}x{h}: a 256 px crop with only {fewest} marked pixels"
            );
        }
    }

    #[test]
    fn the_mark_is_anti_aliased() {
        let (mask, _, _) = rasterise("PREVIEW", 80.0, ANGLE, 0.0);
        let full = mask.data.iter().filter(|&&c| c == 255).count();
        let partial = mask.data.iter().filter(|&&c| c > 0 && c < 255).count();
        assert!(full > 1000, "{full} fully covered pixels");
        // Edges of rotated strokes: many pixels partly covered, at many levels.
        assert!(partial > full / 10, "{partial} partly covered, {full} full");
        let mut levels = [false; 256];
        for &c in &mask.data {
            levels[c as usize] = true;
        }
        assert!(levels.iter().filter(|&&l| l).count() > 200);
    }

    #[test]
    fn latin_1_names_render() {
        for c in (0x20u8..0x7f).chain(0xa0..=0xff).map(char::from) {
            assert_ne!(font().glyph_id(c), GlyphId(0), "no glyph for {c:?}");
        }
        let ink = |text: &str| rasterise(text, 40.0, 0.0, 0.0).0;
        let (plain, umlaut) = (ink("Jurgen"), ink("Jürgen"));
        assert_eq!(plain.width, umlaut.width);
        assert!(umlaut.data.iter().map(|&c| c as u64).sum::<u64>() > 0);
        // The dots of the ü are drawn: more ink, above the "u".
        let sum = |m: &Mask| m.data.iter().map(|&c| c as u64).sum::<u64>();
        assert!(
            sum(&umlaut) > sum(&plain) + 255 * 20,
            "the umlaut is missing"
        );
        assert!(umlaut.height > plain.height);
        // And not as a "?".
        assert_ne!(ink("Jürgen"), ink("J?rgen"));
    }

    /// A logo of `w × h` px, every pixel straight RGBA `px`.
    fn solid_logo(w: usize, h: usize, px: [u8; 4]) -> Arc<Logo> {
        let mut sha = [0u8; 32];
        sha[..4].copy_from_slice(&px);
        sha[4..12].copy_from_slice(&(w as u32).to_be_bytes().repeat(2));
        sha[12..16].copy_from_slice(&(h as u32).to_be_bytes());
        Arc::new(Logo::from_rgba(sha, w, h, &px.repeat(w * h)).unwrap())
    }

    /// `w × h` grey 100 (RGB), watermarked with a band line and `logo`, no mark.
    fn with_logo(w: usize, h: usize, logo: Option<Arc<Logo>>) -> (Vec<u8>, Option<LogoPlace>) {
        let mark = Watermark {
            mark: String::new(),
            lines: vec!["Night Market · Ana".into()],
            opacity: 0.35,
            logo,
        };
        let mut data = vec![100u8; w * h * 3];
        mark.apply(&mut data, w, h, 3);
        (data, mark.logo_place(w, h))
    }

    #[test]
    fn an_opaque_logo_replaces_the_pixels_where_it_lands() {
        for (w, h) in [(1280, 853), (853, 1280), (320, 213)] {
            let longest = w.max(h);
            let red = solid_logo(200, 100, [255, 0, 0, 255]);
            let (data, place) = with_logo(w, h, Some(red));
            let place = place.unwrap();
            // 1/20 of the longest edge high (2:1, so twice as wide), at the bottom
            // right, inside the picture.
            assert_eq!(place.height, longest / 20, "{w}x{h}");
            assert_eq!(place.width, longest / 10, "{w}x{h}");
            assert!(place.left + place.width < w && place.top + place.height < h);
            assert!(place.top > h - longest / 10, "{w}x{h}: {place:?}");
            let px = |x: usize, y: usize| &data[(y * w + x) * 3..(y * w + x) * 3 + 3];
            for y in place.top..place.top + place.height {
                for x in place.left..place.left + place.width {
                    assert_eq!(px(x, y), [255, 0, 0], "{w}x{h}: ({x}, {y})");
                }
            }
            // Nothing red outside it, and the picture above the band untouched.
            let red_outside = (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    !(place.left..place.left + place.width).contains(&x)
                        || !(place.top..place.top + place.height).contains(&y)
                })
                .filter(|&(x, y)| px(x, y)[0] as i32 > px(x, y)[1] as i32 + 20)
                .count();
            assert_eq!(red_outside, 0, "{w}x{h}");
            assert!(data[..w * (place.top - 10) * 3].iter().all(|&v| v == 100));
        }
    }

    #[test]
    fn a_transparent_logo_leaves_the_picture_as_without_one() {
        for (w, h) in [(1280, 853), (320, 213)] {
            let (without, none) = with_logo(w, h, None);
            assert_eq!(none, None);
            // A wide logo, drawn lower than a line: the band is as tall as without it.
            let clear = solid_logo(1000, 40, [255, 0, 0, 0]);
            let (with, place) = with_logo(w, h, Some(clear));
            assert!(place.is_some());
            assert_eq!(without, with, "{w}x{h}: alpha 0 changed something");
        }
    }

    #[test]
    fn a_half_transparent_logo_blends_and_stays_put_on_grey_pictures() {
        let (w, h) = (1280, 853);
        let logo = solid_logo(64, 64, [255, 255, 255, 128]);
        let mark = Watermark {
            mark: "PREVIEW".into(),
            lines: vec![],
            opacity: 0.35,
            logo: Some(logo),
        };
        let place = mark.logo_place(w, h).unwrap();
        assert_eq!((place.width, place.height), (64, 64));
        let mut grey = vec![0u8; w * h];
        mark.apply(&mut grey, w, h, 1);
        // The band darkens 0 to 0; half of white on it is 128.
        let v = grey[(place.top + 32) * w + place.left + 32];
        assert!((126..=130).contains(&v), "{v}");
        // And beside the logo, the band stays dark.
        assert_eq!(grey[(place.top + 32) * w + place.left - 4], 0);
    }

    /// The test corpus ($VENUEBOX_TESTDATA or ../shared/testdata).
    fn corpus_photo(name: &str) -> std::path::PathBuf {
        let dir = std::env::var_os("VENUEBOX_TESTDATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata")
            });
        let path = dir.join("photos").join(name);
        assert!(path.is_file(), "test data not found at {}", path.display());
        path
    }

    /// Two corpus photos (a bright and a dark one) at 1280 px, watermarked, kept in
    /// target/test-artifacts/watermark/ to look at.
    #[test]
    fn a_corpus_photo_watermarked_is_kept_to_look_at() {
        let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-artifacts/watermark");
        std::fs::create_dir_all(&out).unwrap();
        for name in ["sony-ilce6400_DSC00007.JPG", "canon-5dmk3_K6A7942.JPG"] {
            let path = corpus_photo(name);
            let photo = image::open(&path).unwrap().to_rgb8();
            let (w, h) =
                crate::media::render::fit(photo.width() as usize, photo.height() as usize, 1280);
            let mut small = image::imageops::resize(
                &photo,
                w as u32,
                h as u32,
                image::imageops::FilterType::Triangle,
            );
            let before = small.clone();
            Watermark {
                mark: "PREVIEW".into(),
                lines: vec!["Night Market · Jürgen Weiß".into()],
                opacity: 0.35,
                logo: None,
            }
            .apply(&mut small, w, h, 3);
            assert_ne!(before, small);
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            small.save(out.join(format!("{stem}.png"))).unwrap();
        }
    }
}
