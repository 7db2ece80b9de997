//! Reduced-scale decodes of a baseline JPEG that skip what they do not need. At 1/8,
//! from its DC coefficients: the same pixels libjpeg-turbo's `tj3Decompress8` gives at
//! scaling factor 1/8, in less time.
//!
//! Why by hand: at 1/8 every output pixel is one 8×8 block's mean (its DC coefficient),
//! but every AC coefficient must still be entropy-decoded to find where the next block
//! starts. That Huffman walk is most of a thumbnail's cost (63 % of the CPU at 320 px,
//! issue 17, item 4; docs/benchmarks.md). libjpeg-turbo decodes one AC symbol per
//! table lookup; here, where the values are not needed, one lookup skips every symbol
//! whose code and extra bits fit in [`AC_LOOKUP_BITS`] bits (a "multi-symbol" table),
//! and the entropy-coded data is unstuffed once (`FF 00` → `FF`, restart markers
//! removed) so the bit reader refills without looking for markers. No JPEG library
//! offers a DC-only decode. (The same code extended to 1/4, where every value is
//! needed for a 2×2 IDCT, was exact but took 1.37× libjpeg-turbo's time: its Huffman
//! decoding and SIMD IDCTs win there; docs/decisions.md.)
//!
//! For rendering, [`decode_quarter_low`] gives a 1/4 decode with
//! libjpeg-turbo's geometry but not its exact pixels: each block's four lowest
//! coefficients, the rest skipped as at 1/8, which SSIMULACRA2 scores no lower than
//! libjpeg-turbo's 1/4 after the resize (measured: docs/decisions.md, "Thumbnails at
//! 1/4 from the four lowest coefficients"). [`decode_eighth_thumb`] is [`decode_eighth`] with
//! the same shortcut for 4:2:0 chroma, the one part of a 1/8 decode that needs AC
//! values.
//!
//! Exactness: the output is byte for byte what libjpeg-turbo 3.1 makes at 1/8
//! (`src/jidctred.c`, `jdmaster.c`, `jdsample.c`, `jdcolor.c`), which the tests check
//! on real photos and synthetic files of every subsampling:
//! - a block at 1/8 is `range_limit((DC × Q₀ + 4) >> 3)` (`jpeg_idct_1x1`);
//! - a chroma component subsampled 2×2 is decoded to 2×2 pixels per block by the
//!   reduced IDCT `jpeg_idct_2x2` (libjpeg-turbo "scales up the chroma components via
//!   IDCT scaling rather than upsampling", jdmaster.c), so its AC values are decoded;
//! - a component subsampled in one direction only is replicated ("fancy" upsampling is
//!   off at 1/8, jdsample.c: `_min_DCT_scaled_size > 1`);
//! - YCbCr → RGB with jdcolor.c's fixed-point tables.
//!
//! Scope: 8-bit baseline or extended-sequential Huffman JPEGs (SOF0/SOF1), grey or
//! YCbCr, one interleaved scan of every component in frame order, sampling factors 1
//! or 2 with the first component's the largest, restart intervals in sequence. Anything
//! else (progressive, arithmetic, CMYK, RGB-coded, 4:1:1), and any damage (a bad code,
//! data running out, a misnumbered restart marker, a chroma coefficient past
//! [`MAX_DEQUANTIZED`]) returns `None`: the caller then decodes with libjpeg-turbo,
//! which reports or conceals damage its own way. So this never shows a picture
//! libjpeg-turbo would not. Bytes left over at the end of a segment are ignored, as
//! libjpeg-turbo ignores them (with a warning of "extraneous bytes").

/// Index width of the AC table that skips several symbols per lookup: 2^12 four-byte
/// entries (16 KiB) per table stay in L1 cache beside the DC tables.
pub const AC_LOOKUP_BITS: u32 = 12;

/// Index width of the DC and AC-value tables (one symbol per lookup; longer codes take
/// the canonical slow path).
const LOOKUP_BITS: u32 = 9;

/// JPEG zig-zag order → natural (row-major) position, with 16 extra entries of 63 as in
/// libjpeg's `jpeg_natural_order` (jutils.c), so an overrunning run lands on the last
/// coefficient as it does there.
const NATURAL: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63,
];

/// A reduced-scale decode at 1/N (N = 8 or 4): `width` = ⌈image width / N⌉, `height` =
/// ⌈image height / N⌉, `channels` 1 (grey) or 3 (RGB), rows packed (`width ×
/// channels` bytes each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reduced {
    /// The pixels, row by row.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 1 or 3.
    pub channels: usize,
}

/// Decodes `data` (a whole JPEG file; bytes after its EOI are ignored) at 1/8 scale,
/// or `None` when it is outside this decoder's scope or damaged (see the module docs):
/// then libjpeg-turbo must decode it. Memory: the unstuffed entropy data (about the
/// file's size) and one byte per output pixel and component.
pub fn decode_eighth(data: &[u8]) -> Option<Reduced> {
    let frame = parse(data)?;
    let segments = unstuff(data, frame.scan_start, frame.restart_interval)?;
    decode(&frame, &segments, Scale::Eighth)
}

/// Decodes `data` at 1/8 scale for a thumbnail: luma and any chroma component
/// decoded at one sample per block are byte for byte [`decode_eighth`]'s, but a
/// chroma component subsampled 2×2 (4:2:0), which libjpeg-turbo decodes to 2×2
/// samples per block with `jpeg_idct_2x2` from its AC values, takes only those up to
/// zig-zag index [`LOW_LIMIT`] (the rest skipped), as [`decode_quarter_low`] does.
/// Same geometry (⌈w/8⌉ × ⌈h/8⌉), scope and `None` as [`decode_eighth`]. For
/// thumbnails, resized down by at least
/// [`crate::media::render::THUMB_SHRINK_MARGIN`] after it, where the chroma's higher
/// terms are averaged away (docs/benchmarks.md, "4:2:0 chroma at 1/8 from its low
/// coefficients").
pub fn decode_eighth_thumb(data: &[u8]) -> Option<Reduced> {
    let frame = parse(data)?;
    let segments = unstuff(data, frame.scan_start, frame.restart_interval)?;
    decode(&frame, &segments, Scale::EighthThumb)
}

/// Decodes `data` at 1/4 scale from each block's lowest coefficients, *not* byte for
/// byte as libjpeg-turbo does: `width` = ⌈image width / 4⌉, `height` = ⌈image height
/// / 4⌉, the same geometry as libjpeg-turbo's 1/4 (each output pixel the mean of a
/// 4×4 area), but every block's 2×2 reduced IDCT (`jpeg_idct_2x2`) takes only its AC
/// values up to zig-zag index [`LOW_LIMIT`] (the rest are skipped as at 1/8, which is
/// where the time goes), and chroma, decoded so at 2×2 per block, is replicated where
/// libjpeg uses a 4×4 IDCT or fancy upsampling. Scope and damage as for
/// [`decode_eighth`]: `None` leaves the file to libjpeg-turbo. Rendering uses it for
/// thumbnails and previews alike: the four lowest terms are what a 4×4 area's mean
/// keeps, where `jpeg_idct_2x2` adds the odd higher terms that alias, and SSIMULACRA2
/// measured no lower at 320 and higher at 1280 (docs/benchmarks.md, "Thumbnails at
/// 1/4 from the low coefficients" and "Previews at 1/4 from the low coefficients").
/// (It was `decode_quarter_thumb`, for thumbnails only.)
pub fn decode_quarter_low(data: &[u8]) -> Option<Reduced> {
    let frame = parse(data)?;
    let segments = unstuff(data, frame.scan_start, frame.restart_interval)?;
    decode(&frame, &segments, Scale::QuarterLow)
}

/// The output scale of [`decode`].
#[derive(Clone, Copy)]
enum Scale {
    /// libjpeg-turbo's 1/8, exactly.
    Eighth,
    /// [`decode_eighth_thumb`]'s 1/8: luma exact, 2×2 chroma from its low coefficients.
    EighthThumb,
    /// [`decode_quarter_low`]'s approximate 1/4.
    QuarterLow,
}

impl Scale {
    /// Output pixels per block and direction.
    fn out_per_block(self) -> usize {
        match self {
            Scale::Eighth | Scale::EighthThumb => 1,
            Scale::QuarterLow => 2,
        }
    }

    /// Samples per block and direction in component `c`'s plane: 1 or 2.
    fn plane_size(self, frame: &Frame, c: &Component) -> usize {
        match self {
            Scale::Eighth | Scale::EighthThumb => idct_size(frame, c),
            Scale::QuarterLow => 2,
        }
    }

    /// The last zig-zag index whose AC value a 2×2 block reads (the rest are skipped).
    fn ac_limit(self) -> usize {
        match self {
            Scale::Eighth => 63,
            Scale::EighthThumb | Scale::QuarterLow => LOW_LIMIT,
        }
    }

    /// A 2×2 block's pixels from its coefficients; `None` past [`MAX_DEQUANTIZED`].
    #[inline(always)]
    fn idct_2x2(self, coef: &[i16; 64], quant: &[u16; 64]) -> Option<[u8; 4]> {
        match self {
            Scale::Eighth => idct_2x2(coef, quant),
            Scale::EighthThumb | Scale::QuarterLow => idct_2x2_low(coef, quant),
        }
    }
}

/// The last zig-zag index whose AC value [`decode_quarter_low`] reads: 4, which
/// covers the four lowest-frequency coefficients (natural positions 0, 1, 8 and 9, the
/// first-order terms of `jpeg_idct_2x2`); the rest are skipped.
const LOW_LIMIT: usize = 4;

/// `jpeg_idct_2x2` (see [`idct_2x2`]) with every coefficient but the four lowest
/// (natural positions 0, 1, 8, 9) taken as zero; `None` past [`MAX_DEQUANTIZED`].
#[inline(always)]
fn idct_2x2_low(coef: &[i16; 64], quant: &[u16; 64]) -> Option<[u8; 4]> {
    const K0: i32 = 29692; // FIX(3.624509785)
    let dq = |i: usize| coef[i] as i32 * quant[i] as i32;
    let (q0, q1, q8, q9) = (dq(0), dq(1), dq(8), dq(9));
    if q0.abs().max(q1.abs()).max(q8.abs()).max(q9.abs()) as i64 > MAX_DEQUANTIZED {
        return None;
    }
    // Pass 1, columns 0 and 1 (the others are zero).
    let (e0, o0) = (q0 << 15, q8 * K0);
    let (e1, o1) = (q1 << 15, q9 * K0);
    let top = [(e0 + o0 + (1 << 12)) >> 13, (e1 + o1 + (1 << 12)) >> 13];
    let bottom = [(e0 - o0 + (1 << 12)) >> 13, (e1 - o1 + (1 << 12)) >> 13];
    let row = |w: [i32; 2]| {
        let (even, odd) = (w[0] << 15, w[1] * K0);
        [
            range_limit((even + odd + (1 << 19)) >> 20),
            range_limit((even - odd + (1 << 19)) >> 20),
        ]
    };
    let ([a, b], [c, d]) = (row(top), row(bottom));
    Some([a, b, c, d])
}

/// A derived Huffman table (ITU T.81 Annex C; libjpeg's `d_derived_tbl`, jdhuff.c).
#[derive(Clone)]
struct Huffman {
    /// Next `LOOKUP_BITS` bits → code length (high byte, 0: longer) and symbol.
    lookup: Box<[u16; 1 << LOOKUP_BITS]>,
    /// Largest code of each length 1–16, or -1; index 17 a sentinel.
    maxcode: [i32; 18],
    /// values index = code + valoffset[length].
    valoffset: [i32; 17],
    /// Symbols in code order.
    values: Vec<u8>,
    /// For AC tables: next `AC_LOOKUP_BITS` bits → symbols skipped at once (see
    /// [`skip_entry`]); empty for DC tables.
    skip: Box<[u32; 1 << AC_LOOKUP_BITS]>,
    /// For AC tables: next `VALUE_LOOKUP_BITS` bits → one symbol with its value (see
    /// [`value_entry`]); empty for DC tables.
    value: Box<[u32; 1 << VALUE_LOOKUP_BITS]>,
}

impl Huffman {
    /// Builds a table from a DHT's 16 counts and its symbols, refusing what libjpeg's
    /// `jpeg_make_d_derived_tbl` refuses (more than 256 symbols, a code that does not
    /// fit its length, a DC symbol over 15).
    fn new(counts: &[u8; 16], values: &[u8], dc: bool) -> Option<Huffman> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total > 256 || values.len() != total || (dc && values.iter().any(|&v| v > 15)) {
            return None;
        }
        let mut maxcode = [-1i32; 18];
        let mut valoffset = [0i32; 17];
        let mut lookup = Box::new([0u16; 1 << LOOKUP_BITS]);
        let mut code: i32 = 0;
        let mut p = 0usize;
        for len in 1..=16usize {
            let n = counts[len - 1] as usize;
            if n > 0 {
                valoffset[len] = p as i32 - code;
                for _ in 0..n {
                    // No code may be all ones (libjpeg: JERR_BAD_HUFF_TABLE), so none
                    // may reach it either.
                    if code >= (1 << len) - 1 {
                        return None;
                    }
                    if len as u32 <= LOOKUP_BITS {
                        let shift = LOOKUP_BITS - len as u32;
                        let first = (code as usize) << shift;
                        for slot in &mut lookup[first..first + (1 << shift)] {
                            *slot = ((len as u16) << 8) | values[p] as u16;
                        }
                    }
                    code += 1;
                    p += 1;
                }
                maxcode[len] = code - 1;
            }
            // No code may be all ones (libjpeg: JERR_BAD_HUFF_TABLE).
            if code >= 1 << len {
                return None;
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX;
        let mut table = Huffman {
            lookup,
            maxcode,
            valoffset,
            values: values.to_vec(),
            skip: Box::new([0; 1 << AC_LOOKUP_BITS]),
            value: Box::new([0; 1 << VALUE_LOOKUP_BITS]),
        };
        if !dc {
            let mut skip = Box::new([0; 1 << AC_LOOKUP_BITS]);
            for (i, e) in skip.iter_mut().enumerate() {
                *e = skip_entry(&table, i as u32);
            }
            table.skip = skip;
            let mut value = Box::new([0; 1 << VALUE_LOOKUP_BITS]);
            for (i, e) in value.iter_mut().enumerate() {
                *e = value_entry(&table, i as u32);
            }
            table.value = value;
        }
        Some(table)
    }

    /// The symbol whose code starts `bits` (left-aligned, at least 16 valid bits) and
    /// its code length, or `None` for a code no symbol has.
    #[inline]
    fn decode(&self, bits: u64) -> Option<(u32, u8)> {
        let e = self.lookup[(bits >> (64 - LOOKUP_BITS)) as usize];
        if e >> 8 != 0 {
            return Some(((e >> 8) as u32, e as u8));
        }
        self.decode_slow(bits)
    }

    #[cold]
    fn decode_slow(&self, bits: u64) -> Option<(u32, u8)> {
        let mut len = LOOKUP_BITS as usize + 1;
        loop {
            let code = (bits >> (64 - len)) as i32;
            if code <= self.maxcode[len] {
                let i = (code + self.valoffset[len]) as usize;
                return self.values.get(i).map(|&v| (len as u32, v));
            }
            len += 1;
            if len > 16 {
                return None;
            }
        }
    }
}

/// The skip-table entry for the `AC_LOOKUP_BITS`-bit prefix `index`: as many whole AC
/// symbols (code and extra bits) as fit, stopping after an end-of-block. Packed as
/// `bits | advance << 6 | prefix << 13 | first_bits << 20 | first_advance << 26`, where
/// `advance` is how far the zig-zag index moves (r + 1 per coefficient, 16 per ZRL,
/// 64 for EOB), `prefix` the advance of all but the last symbol, and `first_*` the
/// first symbol alone (used when the run would end the block before the last one).
/// 0 when the first code is longer than the index.
fn skip_entry(table: &Huffman, index: u32) -> u32 {
    let k = AC_LOOKUP_BITS;
    let bits_of = |used: u32| (index as u64) << (64 - k) << used;
    let step = |used: u32| -> Option<(u32, u32)> {
        let (len, sym) = table.decode(bits_of(used))?;
        if used + len > k {
            return None;
        }
        let (r, s) = ((sym >> 4) as u32, (sym & 15) as u32);
        let advance = match (r, s) {
            (15, 0) => 16,
            (_, 0) => 64,
            _ => r + 1,
        };
        Some((len + s, advance))
    };
    let Some((first_bits, first_advance)) = step(0) else {
        return 0;
    };
    let (mut bits, mut advance, mut prefix) = (first_bits, first_advance, 0);
    while advance < 64 && bits < k {
        match step(bits) {
            Some((b, a)) if bits + b <= k => {
                prefix = advance;
                bits += b;
                advance += a;
            }
            _ => break,
        }
    }
    bits | advance << SKIP_ADVANCE
        | prefix << SKIP_PREFIX
        | first_bits << SKIP_FIRST_BITS
        | first_advance << SKIP_FIRST_ADVANCE
}

/// Index width of the AC table that decodes one symbol with its value per lookup
/// (2^10 four-byte entries, 4 KiB; stb_image's `fast_ac` idea).
const VALUE_LOOKUP_BITS: u32 = 10;

/// The value-table entry for the `VALUE_LOOKUP_BITS`-bit prefix `index`: `bits |
/// advance << 8 | value << 16`, where `bits` is the code and extra bits together,
/// `advance` how far the zig-zag index moves (r + 1 for a coefficient, 16 for ZRL, 64
/// for EOB) and `value` the coefficient (i16, 0 for ZRL and EOB) that lands just
/// before the new index. 0 when the code and its extra bits do not fit the index.
fn value_entry(table: &Huffman, index: u32) -> u32 {
    let k = VALUE_LOOKUP_BITS;
    let buf = (index as u64) << (64 - k);
    let Some((len, sym)) = table.decode(buf) else {
        return 0;
    };
    let (r, s) = ((sym >> 4) as u32, (sym & 15) as u32);
    if len + s > k {
        return 0;
    }
    let (advance, value) = match (r, s) {
        (15, 0) => (16, 0),
        (_, 0) => (64, 0),
        _ => {
            let mut b = Bits {
                data: &[],
                pos: 0,
                buf: buf << len,
                count: 64,
            };
            (r + 1, b.receive_extend(s) as i16)
        }
    };
    (len + s) | advance << 8 | (value as u16 as u32) << 16
}

// Bit positions in a skip-table entry: bits consumed (5 bits: at most 16 + 15),
// zig-zag advance (7: under 64 + 64), the advance before the last symbol (6: under
// 64), and the first symbol's bits (5) and advance (7).
const SKIP_ADVANCE: u32 = 5;
const SKIP_PREFIX: u32 = 12;
const SKIP_FIRST_BITS: u32 = 18;
const SKIP_FIRST_ADVANCE: u32 = 23;

/// What the markers before the first scan say.
struct Frame {
    width: usize,
    height: usize,
    components: Vec<Component>,
    restart_interval: usize,
    /// Offset of the entropy-coded data.
    scan_start: usize,
    max_h: usize,
    max_v: usize,
}

struct Component {
    h: usize,
    v: usize,
    quant: [u16; 64],
    dc: Huffman,
    ac: Huffman,
}

fn be16(data: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]) as usize)
}

/// A frame header's component: its id, sampling factors across and down, and
/// quantization table.
type SofComponent = (u8, usize, usize, usize);

/// Reads the markers up to the first SOS; `None` outside the scope (module docs).
fn parse(data: &[u8]) -> Option<Frame> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut quant: [Option<[u16; 64]>; 4] = [None; 4];
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    let mut sof: Option<(usize, usize, Vec<SofComponent>)> = None;
    let (mut restart_interval, mut jfif, mut adobe) = (0, false, None);
    let mut pos = 2;
    loop {
        if *data.get(pos)? != 0xFF {
            return None;
        }
        while *data.get(pos + 1)? == 0xFF {
            pos += 1;
        }
        let marker = data[pos + 1];
        // A second SOI, EOI before a scan, a restart marker out of a scan, TEM, DNL.
        if matches!(marker, 0x01 | 0xD0..=0xD9 | 0xDC) {
            return None;
        }
        let len = be16(data, pos + 2)?;
        if len < 2 {
            return None;
        }
        let body = data.get(pos + 4..pos + 2 + len)?;
        match marker {
            // Baseline and extended sequential, Huffman-coded.
            0xC0 | 0xC1 => {
                if sof.is_some() || body.len() < 6 || body[0] != 8 {
                    return None;
                }
                let height = be16(body, 1)?;
                let width = be16(body, 3)?;
                let n = body[5] as usize;
                if width == 0 || height == 0 || !(n == 1 || n == 3) || body.len() != 6 + 3 * n {
                    return None;
                }
                let comps: Vec<SofComponent> = (0..n)
                    .map(|i| {
                        let c = &body[6 + 3 * i..9 + 3 * i];
                        (
                            c[0],
                            (c[1] >> 4) as usize,
                            (c[1] & 15) as usize,
                            c[2] as usize,
                        )
                    })
                    .collect();
                // A repeated component id is left to libjpeg-turbo, which matches a
                // scan's components to the frame's by id in a way not copied here.
                if (1..n).any(|i| comps[..i].iter().any(|c| c.0 == comps[i].0)) {
                    return None;
                }
                sof = Some((width, height, comps));
            }
            // Every other frame type (progressive, lossless, arithmetic, hierarchical).
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => {
                let mut at = 0;
                while at < body.len() {
                    let class_id = body[at];
                    let counts: [u8; 16] = body.get(at + 1..at + 17)?.try_into().ok()?;
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = body.get(at + 17..at + 17 + n)?;
                    let (class, id) = (class_id >> 4, (class_id & 15) as usize);
                    if id > 3 || class > 1 {
                        return None;
                    }
                    let table = Some(Huffman::new(&counts, values, class == 0)?);
                    if class == 0 {
                        dc[id] = table;
                    } else {
                        ac[id] = table;
                    }
                    at += 17 + n;
                }
            }
            0xDB => {
                let mut at = 0;
                while at < body.len() {
                    let (precision, id) = (body[at] >> 4, (body[at] & 15) as usize);
                    let size = if precision == 0 { 1 } else { 2 };
                    if id > 3 || precision > 1 {
                        return None;
                    }
                    let values = body.get(at + 1..at + 1 + 64 * size)?;
                    let mut table = [0u16; 64];
                    for (i, &natural) in NATURAL[..64].iter().enumerate() {
                        table[natural] = if size == 1 {
                            values[i] as u16
                        } else {
                            u16::from_be_bytes([values[2 * i], values[2 * i + 1]])
                        };
                    }
                    quant[id] = Some(table);
                    at += 1 + 64 * size;
                }
            }
            // libjpeg refuses a DRI of another length (JERR_BAD_LENGTH).
            0xDD if body.len() == 2 => restart_interval = be16(body, 0)?,
            // libjpeg reads APP0 as JFIF only when 14 bytes long (jdmarker.c,
            // `APP0_DATA_LEN`), and warns of a major version other than 1
            // (JWRN_JFIF_MAJOR), which TurboJPEG's header read reports as an error:
            // such a file is left to it.
            0xE0 if body.len() >= 14 && body.starts_with(b"JFIF\0") => {
                if body[5] != 1 {
                    return None;
                }
                jfif = true;
            }
            0xEE if body.len() >= 12 && body.starts_with(b"Adobe") => adobe = Some(body[11]),
            0xDA => {
                let (width, height, comps) = sof?;
                let n = *body.first()? as usize;
                if n != comps.len() || body.len() != 4 + 2 * n {
                    return None;
                }
                // Baseline: the whole spectrum, no successive approximation.
                if body[1 + 2 * n..] != [0, 63, 0] {
                    return None;
                }
                if n == 3 {
                    // Without a JFIF marker, libjpeg warns of an Adobe transform other
                    // than 0 or 1 (JWRN_ADOBE_XFORM, jdapimin.c), which TurboJPEG's
                    // header read reports as an error: such a file is left to it.
                    if !jfif && matches!(adobe, Some(t) if t > 1) {
                        return None;
                    }
                    let ids = [comps[0].0, comps[1].0, comps[2].0];
                    // libjpeg's colour-space guess (jdapimin.c): RGB-coded files are
                    // left to it.
                    let rgb = !jfif
                        && match adobe {
                            Some(t) => t == 0,
                            None => ids == [b'R', b'G', b'B'],
                        };
                    if rgb {
                        return None;
                    }
                }
                let (max_h, max_v) = (comps[0].1, comps[0].2);
                let mut components = Vec::with_capacity(n);
                for (i, &(id, h, v, tq)) in comps.iter().enumerate() {
                    let sel = body[2 + 2 * i];
                    if body[1 + 2 * i] != id || tq > 3 || sel >> 4 > 3 || sel & 15 > 3 {
                        return None;
                    }
                    if !(1..=2).contains(&h) || !(1..=2).contains(&v) || h > max_h || v > max_v {
                        return None;
                    }
                    // A grey file's one component is a single block per MCU whatever
                    // factors it declares (non-interleaved scan, T.81 A.2.2).
                    let (h, v) = if n == 1 { (1, 1) } else { (h, v) };
                    components.push(Component {
                        h,
                        v,
                        quant: quant[tq]?,
                        dc: dc[(sel >> 4) as usize].clone()?,
                        ac: ac[(sel & 15) as usize].clone()?,
                    });
                }
                let (max_h, max_v) = if n == 1 { (1, 1) } else { (max_h, max_v) };
                return Some(Frame {
                    width,
                    height,
                    components,
                    restart_interval,
                    scan_start: pos + 2 + len,
                    max_h,
                    max_v,
                });
            }
            // APPn and COM are skipped, as libjpeg skips them (an Adobe APP14 is
            // read above); every other marker libjpeg refuses (JERR_UNKNOWN_MARKER,
            // jdmarker.c) or handles in ways not copied here.
            0xE0..=0xEF | 0xFE => {}
            _ => return None,
        }
        pos += 2 + len;
    }
}

/// The entropy-coded data of the scan from `start`, unstuffed, split at its restart
/// markers: each segment followed by 8 zero bytes of padding. `None` when the markers
/// are out of sequence or the scan is not followed by EOI.
fn unstuff(data: &[u8], start: usize, restart_interval: usize) -> Option<Vec<Vec<u8>>> {
    let mut segments = Vec::new();
    let mut current = Vec::with_capacity(data.len().saturating_sub(start) + 8);
    let mut pos = start;
    loop {
        let rest = data.get(pos..)?;
        let Some(ff) = memchr::memchr(0xFF, rest) else {
            return None; // no EOI
        };
        current.extend_from_slice(&rest[..ff]);
        pos += ff + 1;
        // Fill bytes (FF FF): libjpeg-turbo's fast Huffman path reads the second FF
        // as a marker and decodes zeros from there, its slow path skips it, so what
        // it shows depends on where its buffer stands. No encoder writes them inside
        // a scan; such a file is left to libjpeg-turbo.
        match *data.get(pos)? {
            0x00 => {
                current.push(0xFF);
                pos += 1;
            }
            m @ 0xD0..=0xD7 => {
                if restart_interval == 0 || (m - 0xD0) as usize != segments.len() % 8 {
                    return None;
                }
                current.extend_from_slice(&[0; 8]);
                segments.push(std::mem::take(&mut current));
                pos += 1;
            }
            0xD9 => {
                current.extend_from_slice(&[0; 8]);
                segments.push(current);
                return Some(segments);
            }
            _ => return None,
        }
    }
}

/// Reads bits MSB first from an unstuffed segment (its 8 padding bytes let a refill
/// read a whole word anywhere in it). `Copy`, so hot loops work on a copy held in
/// registers and write it back.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Left-aligned; the top `count` bits are valid.
    buf: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            buf: 0,
            count: 0,
        }
    }

    /// Tops up to at least 56 valid bits (F. Giesen, "Reading bits in far too many
    /// ways", part 2, variant 4). Past the data it reads padding zeros; [`Self::used`]
    /// tells.
    #[inline(always)]
    fn refill(&mut self) {
        let at = self.pos.min(self.data.len() - 8);
        let word = u64::from_be_bytes(self.data[at..at + 8].try_into().expect("8 bytes"));
        self.buf |= word >> self.count;
        self.pos += (63 - self.count as usize) >> 3;
        self.count |= 56;
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// Reads `s` (≤ 16) bits as a signed coefficient (T.81 F.2.2.1, EXTEND).
    #[inline(always)]
    fn receive_extend(&mut self, s: u32) -> i32 {
        // Branch-free: which way the sign goes is data, not a pattern to predict.
        let v = self.buf.checked_shr(64 - s).unwrap_or(0) as i32;
        self.buf = self.buf.checked_shl(s).unwrap_or(0);
        self.count -= s;
        let negative = ((v as u32) < (1u32 << s) >> 1) as i32;
        v - negative * ((1 << s) - 1)
    }

    /// Bits consumed so far (each refill moves whole bytes from the data into the
    /// buffer, so this stays exact).
    fn used(&self) -> usize {
        self.pos * 8 - self.count as usize
    }

    /// Whether every bit used was data, not padding: the data did not run out (where
    /// libjpeg-turbo would decode zeros after a warning, and stop predicting DC).
    /// Bytes left over are ignored, as libjpeg-turbo ignores them (some cameras pad a
    /// segment; it warns of "extraneous bytes" once they outgrow its bit buffer).
    fn within_data(&self) -> bool {
        self.used().div_ceil(8) <= self.data.len() - 8
    }
}

/// libjpeg's post-IDCT range limit (jdmaster.c `prepare_range_limit_table`): a value
/// centred on 0 → 0–255, masked to 10 bits first as `RANGE_MASK` does.
#[inline(always)]
fn range_limit(x: i32) -> u8 {
    match (x & 1023) as usize {
        i @ 0..=127 => (i + 128) as u8,
        128..=511 => 255,
        512..=895 => 0,
        i => (i - 896) as u8,
    }
}

/// DESCALE (jdct.h): divide by 2^n, rounding.
#[inline(always)]
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// The largest dequantized coefficient (coefficient × quantizer, either sign) the
/// reduced IDCT takes. libjpeg-turbo's SSE2 `jsimd_idct_2x2` dequantizes in 16 bits
/// (`pmullw`) and saturates between passes (`packssdw`), so it parts from the C
/// arithmetic copied here on larger values; within ±1280 neither pass can overflow
/// (pass 1 stays under 10.5 × 1280 < 2^15, pass 2 under 2^31). The DCT of 8-bit
/// samples stays within about ±1024 (DC: 8 × (mean − 128)), so only made-up data goes
/// past it, and is left to libjpeg-turbo.
const MAX_DEQUANTIZED: i64 = 1280;

/// The block's coefficients dequantized (natural order), or `None` when one passes
/// [`MAX_DEQUANTIZED`].
#[inline(always)]
fn dequantize(coef: &[i16; 64], quant: &[u16; 64]) -> Option<[i32; 64]> {
    let mut q = [0i32; 64];
    let mut max = 0;
    for ((q, &c), &k) in q.iter_mut().zip(coef).zip(quant) {
        *q = c as i32 * k as i32;
        max = max.max(q.abs());
    }
    (max as i64 <= MAX_DEQUANTIZED).then_some(q)
}

/// libjpeg-turbo's `jpeg_idct_2x2` (jidctred.c): a block's 2×2 reduced inverse DCT
/// from rows and columns 0, 1, 3, 5 and 7 of its dequantized coefficients; `None` past
/// [`MAX_DEQUANTIZED`]. Its zero-AC shortcuts give what the full formulas give, so
/// this computes the formulas alone, in `i32` (within the bound nothing overflows),
/// straight-line for the compiler to vectorise.
fn idct_2x2(coef: &[i16; 64], quant: &[u16; 64]) -> Option<[u8; 4]> {
    // CONST_BITS 13, PASS1_BITS 2; FIX(3.624509785), FIX(1.272758580),
    // FIX(0.850430095), FIX(0.720959822) for coefficients 1, 3, 5, 7.
    const K: [i32; 4] = [29692, -10426, 6967, -5906];
    let q = dequantize(coef, quant)?;
    let (mut ws0, mut ws1) = ([0i32; 8], [0i32; 8]);
    for c in 0..8 {
        let even = q[c] << 15;
        let odd = q[8 + c] * K[0] + q[24 + c] * K[1] + q[40 + c] * K[2] + q[56 + c] * K[3];
        ws0[c] = (even + odd + (1 << 12)) >> 13;
        ws1[c] = (even - odd + (1 << 12)) >> 13;
    }
    let row = |w: &[i32; 8]| {
        let even = w[0] << 15;
        let odd = w[1] * K[0] + w[3] * K[1] + w[5] * K[2] + w[7] * K[3];
        [
            range_limit((even + odd + (1 << 19)) >> 20),
            range_limit((even - odd + (1 << 19)) >> 20),
        ]
    };
    let ([a, b], [c, d]) = (row(&ws0), row(&ws1));
    Some([a, b, c, d])
}

/// One component's samples at 1/8 (`size` per block and direction), padded to whole
/// MCUs.
struct Plane {
    data: Vec<u8>,
    stride: usize,
    /// Samples per block and direction: 1, or 2 for a 2×2-subsampled chroma component.
    size: usize,
}

/// libjpeg-turbo's per-component IDCT size at 1/8 (jdmaster.c,
/// `jpeg_core_output_dimensions`): 1 sample per block, doubled while the component
/// stays at least as subsampled as that needs, so that a 2×2-subsampled chroma
/// component is scaled up by the IDCT rather than by upsampling.
fn idct_size(frame: &Frame, c: &Component) -> usize {
    if frame.max_h % (c.h * 2) == 0 && frame.max_v % (c.v * 2) == 0 {
        2
    } else {
        1
    }
}

fn decode(frame: &Frame, segments: &[Vec<u8>], scale: Scale) -> Option<Reduced> {
    let (mcu_w, mcu_h) = (8 * frame.max_h, 8 * frame.max_v);
    let mcus_x = frame.width.div_ceil(mcu_w);
    let mcus_y = frame.height.div_ceil(mcu_h);
    let total = mcus_x * mcus_y;
    let per_segment = if frame.restart_interval == 0 {
        total
    } else {
        frame.restart_interval
    };
    if segments.len() != total.div_ceil(per_segment) {
        return None;
    }
    let mut planes: Vec<Plane> = frame
        .components
        .iter()
        .map(|c| {
            let size = scale.plane_size(frame, c);
            let stride = mcus_x * c.h * size;
            Plane {
                data: vec![0; stride * mcus_y * c.v * size],
                stride,
                size,
            }
        })
        .collect();
    // Each block of an MCU, in scan order: its component and where its pixels go
    // relative to the MCU's corner in that component's plane.
    let schedule: Vec<(usize, usize)> = frame
        .components
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| {
            let (stride, size) = (planes[ci].stride, planes[ci].size);
            (0..c.v).flat_map(move |by| (0..c.h).map(move |bx| (ci, (by * stride + bx) * size)))
        })
        .collect();
    let (mut mx, mut my) = (0usize, 0usize);
    for (n, segment) in segments.iter().enumerate() {
        let mut bits = Bits::new(segment);
        let mut pred = [0i32; 3];
        for _ in n * per_segment..((n + 1) * per_segment).min(total) {
            for &(ci, offset) in &schedule {
                let c = &frame.components[ci];
                bits.refill();
                let (len, s) = c.dc.decode(bits.buf)?;
                bits.consume(len);
                pred[ci] += bits.receive_extend(s as u32);
                let dc = i16::try_from(pred[ci]).ok()?;
                let plane = &mut planes[ci];
                let (stride, size) = (plane.stride, plane.size);
                let at = (my * c.v * stride + mx * c.h) * size + offset;
                if size == 1 {
                    bits = skip_ac(bits, &c.ac, 1)?;
                    // jpeg_idct_1x1 is C: `ISLOW_MULT_TYPE` is `short` in a SIMD build
                    // (jmorecfg.h), so a 16-bit quantizer over 32767 is negative there.
                    let v = descale(dc as i64 * c.quant[0] as i16 as i64, 3) as i32;
                    plane.data[at] = range_limit(v);
                    continue;
                }
                let mut coef = [0i16; 64];
                coef[0] = dc;
                let (any_ac, k);
                (bits, any_ac, k) = read_ac(bits, &c.ac, &mut coef, scale.ac_limit())?;
                if k < 64 {
                    bits = skip_ac(bits, &c.ac, k as u32)?;
                }
                if !any_ac {
                    // What the IDCTs' all-zero-AC shortcuts give.
                    let q = dc as i64 * c.quant[0] as i64;
                    if q.abs() > MAX_DEQUANTIZED {
                        return None;
                    }
                    let v = range_limit(descale(q, 3) as i32);
                    for row in 0..size {
                        let at = at + row * stride;
                        plane.data[at..at + size].fill(v);
                    }
                } else {
                    let px = scale.idct_2x2(&coef, &c.quant)?;
                    plane.data[at..at + 2].copy_from_slice(&px[..2]);
                    plane.data[at + stride..at + stride + 2].copy_from_slice(&px[2..]);
                }
            }
            mx += 1;
            if mx == mcus_x {
                mx = 0;
                my += 1;
            }
        }
        if !bits.within_data() {
            return None;
        }
    }
    Some(assemble(frame, &planes, scale.out_per_block()))
}

/// Walks one block's AC symbols from zig-zag index `k` without keeping their values.
///
/// The loop is bound by latency, not throughput: lookup → bits used → shift → next
/// lookup. So the next index is taken from the buffer shifted but not yet refilled
/// (after a refill at least 56 bits are valid and one step uses at most 31, so its top
/// `AC_LOOKUP_BITS` bits are already there), and the refill's load runs beside the
/// next lookup instead of before it (F. Giesen, "Reading bits in far too many ways",
/// part 2: the lookahead variant).
#[inline(always)]
fn skip_ac<'a>(mut b: Bits<'a>, table: &Huffman, mut k: u32) -> Option<Bits<'a>> {
    loop {
        b.refill();
        let e = table.skip[(b.buf >> (64 - AC_LOOKUP_BITS)) as usize];
        let (used, advance) = if e == 0 {
            skip_one(b.buf, table)?
        } else if k + ((e >> SKIP_PREFIX) & 63) < 64 {
            (e & 31, (e >> SKIP_ADVANCE) & 127)
        } else {
            ((e >> SKIP_FIRST_BITS) & 31, e >> SKIP_FIRST_ADVANCE)
        };
        b.consume(used);
        k += advance;
        if k >= 64 {
            return Some(b);
        }
    }
}

/// One AC symbol whose code is longer than the skip table's index, at the start of
/// `buf`: the bits it takes and how far it moves the zig-zag index (64: end of block).
#[cold]
fn skip_one(buf: u64, table: &Huffman) -> Option<(u32, u32)> {
    let (len, sym) = table.decode(buf)?;
    let (r, s) = ((sym >> 4) as u32, (sym & 15) as u32);
    Some((
        len + s,
        match (r, s) {
            (15, 0) => 16,
            (_, 0) => 64,
            _ => r + 1,
        },
    ))
}

/// Reads one block's AC coefficients into `coef` (natural order), as libjpeg's
/// `decode_mcu` does: a run past the end lands on the last coefficient. Stops early
/// once the zig-zag index passes `limit` (63: never). Returns whether any AC symbol
/// came before the end of block, and the next zig-zag index (64 or more: the block is
/// done; less: the rest is still to be skipped).
#[inline(always)]
fn read_ac<'a>(
    mut bits: Bits<'a>,
    table: &Huffman,
    coef: &mut [i16; 64],
    limit: usize,
) -> Option<(Bits<'a>, bool, usize)> {
    let mut k = 1usize;
    'block: while k < 64 {
        if k > limit {
            return Some((bits, true, k));
        }
        bits.refill();
        // A refill leaves at least 56 bits: room for five symbols of the value table
        // (at most VALUE_LOOKUP_BITS each) before the next.
        for _ in 0..5 {
            let e = table.value[(bits.buf >> (64 - VALUE_LOOKUP_BITS)) as usize];
            if e == 0 {
                break;
            }
            bits.consume(e & 31);
            let advance = ((e >> 8) & 127) as usize;
            if advance == 64 {
                return Some((bits, k > 1, 64));
            }
            k += advance;
            coef[NATURAL[k - 1]] = (e >> 16) as i16;
            if k >= 64 {
                break 'block;
            }
            if k > limit {
                return Some((bits, true, k));
            }
        }
        if table.value[(bits.buf >> (64 - VALUE_LOOKUP_BITS)) as usize] != 0 {
            continue;
        }
        bits.refill();
        let (len, sym) = table.decode(bits.buf)?;
        bits.consume(len);
        let (r, s) = ((sym >> 4) as usize, (sym & 15) as u32);
        if s == 0 {
            if r != 15 {
                break;
            }
            k += 16;
        } else {
            k += r;
            coef[NATURAL[k]] = bits.receive_extend(s) as i16;
            k += 1;
        }
    }
    Some((bits, k > 1, k.max(64)))
}

/// Upsamples (by replication: "fancy" upsampling is off at 1/8, jdsample.c) and
/// colour-converts the planes into the output (jdcolor.c).
fn assemble(frame: &Frame, planes: &[Plane], out_per_block: usize) -> Reduced {
    let scale = 8 / out_per_block;
    let (width, height) = (frame.width.div_ceil(scale), frame.height.div_ceil(scale));
    if frame.components.len() == 1 {
        let p = &planes[0];
        let mut data = Vec::with_capacity(width * height);
        for y in 0..height {
            data.extend_from_slice(&p.data[y * p.stride..y * p.stride + width]);
        }
        return Reduced {
            data,
            width,
            height,
            channels: 1,
        };
    }
    let tables = ycc_tables();
    // Output pixels per sample, across and down.
    let expand: Vec<(usize, usize)> = frame
        .components
        .iter()
        .zip(planes)
        .map(|(c, p)| {
            (
                frame.max_h * out_per_block / (c.h * p.size),
                frame.max_v * out_per_block / (c.v * p.size),
            )
        })
        .collect();
    // Every factor is 1, 2 or 4 (sampling factors 1 or 2, sizes 1 or 2): shifts.
    let shift: Vec<(u32, u32)> = expand
        .iter()
        .map(|&(ex, ey)| {
            debug_assert!(ex.is_power_of_two() && ey.is_power_of_two());
            (ex.trailing_zeros(), ey.trailing_zeros())
        })
        .collect();
    let mut data = vec![0u8; width * height * 3];
    for (y, row) in data.chunks_exact_mut(width * 3).enumerate() {
        let line = |i: usize| {
            let p = &planes[i];
            &p.data[(y >> shift[i].1) * p.stride..]
        };
        let (luma, cbs, crs) = (line(0), line(1), line(2));
        let (sx1, sx2) = (shift[1].0, shift[2].0);
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let luma = luma[x] as i32;
            let cb = cbs[x >> sx1] as usize;
            let cr = crs[x >> sx2] as usize;
            px[0] = clamp(luma + tables.cr_r[cr]);
            px[1] = clamp(luma + ((tables.cb_g[cb] + tables.cr_g[cr]) >> 16) as i32);
            px[2] = clamp(luma + tables.cb_b[cb]);
        }
    }
    Reduced {
        data,
        width,
        height,
        channels: 3,
    }
}

#[inline(always)]
fn clamp(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

/// jdcolor.c's `build_ycc_rgb_table` (SCALEBITS 16).
struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i64; 256],
    cb_g: [i64; 256],
}

fn ycc_tables() -> YccTables {
    let fix = |x: f64| (x * 65536.0 + 0.5) as i64;
    let half = 1i64 << 15;
    let mut t = YccTables {
        cr_r: [0; 256],
        cb_b: [0; 256],
        cr_g: [0; 256],
        cb_g: [0; 256],
    };
    for i in 0..256 {
        let x = i as i64 - 128;
        t.cr_r[i] = ((fix(1.40200) * x + half) >> 16) as i32;
        t.cb_b[i] = ((fix(1.77200) * x + half) >> 16) as i32;
        t.cr_g[i] = -fix(0.71414) * x;
        t.cb_g[i] = -fix(0.34414) * x + half;
    }
    t
}

/// libjpeg-turbo's own 1/8 decode of `data`, as the renderer asks for it (RGB, or grey
/// for a grey file): the oracle of this module's tests and of the `jpeg_eighth` fuzz
/// target. Returns the pixels and the warning libjpeg-turbo gave, if any (it decodes
/// damaged data with a warning, concealing what it lost); errors when it cannot read
/// the header. After a fatal error in decoding, the pixels are what it had written.
#[doc(hidden)]
pub fn libjpeg_turbo_eighth(data: &[u8]) -> Result<(Reduced, Option<String>), turbojpeg::Error> {
    libjpeg_turbo_reduced(data, 8)
}

/// libjpeg-turbo's decode of `data` at 1/`denom` (8, 4 or 2), as
/// [`libjpeg_turbo_eighth`] gives it at 1/8: the reference [`decode_quarter_low`] is
/// compared with (at 1/4) in the tests and the `jpeg_eighth` fuzz target.
#[doc(hidden)]
pub fn libjpeg_turbo_reduced(
    data: &[u8],
    denom: usize,
) -> Result<(Reduced, Option<String>), turbojpeg::Error> {
    let mut d = turbojpeg::Decompressor::new()?;
    let header = d.read_header(data)?;
    let factor = turbojpeg::ScalingFactor::new(1, denom);
    d.set_scaling_factor(factor)?;
    let scaled = header.scaled(factor);
    let gray = matches!(header.colorspace, turbojpeg::Colorspace::Gray);
    let (format, channels) = if gray {
        (turbojpeg::PixelFormat::GRAY, 1)
    } else {
        (turbojpeg::PixelFormat::RGB, 3)
    };
    let mut buf = vec![0u8; scaled.width * scaled.height * channels];
    let image = turbojpeg::Image {
        pixels: buf.as_mut_slice(),
        width: scaled.width,
        pitch: scaled.width * channels,
        height: scaled.height,
        format,
    };
    let warning = d.decompress(data, image).err().map(|e| e.to_string());
    let pixels = Reduced {
        data: buf,
        width: scaled.width,
        height: scaled.height,
        channels,
    };
    Ok((pixels, warning))
}

/// Test helpers, shared with `media::jpeg`'s tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Reduced;

    /// The shared test data: `$VENUEBOX_TESTDATA`, else `../shared/testdata` beside
    /// the repository.
    pub(crate) fn testdata() -> std::path::PathBuf {
        std::env::var_os("VENUEBOX_TESTDATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata")
            })
    }

    /// Every JPEG of the corpus (`photos/`, by its SOI), as (path shown, bytes).
    pub(crate) fn corpus_jpegs() -> Vec<(String, Vec<u8>)> {
        let dir = testdata().join("photos");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("test photos") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            if data.starts_with(&[0xFF, 0xD8]) {
                files.push((path.display().to_string(), data));
            }
        }
        files
    }

    /// PSNR (dB) of `a` against `b`, which have the same shape.
    pub(crate) fn psnr(a: &Reduced, b: &Reduced) -> f64 {
        assert_eq!(
            (a.width, a.height, a.channels),
            (b.width, b.height, b.channels)
        );
        let sq: f64 = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum();
        10.0 * (255.0f64.powi(2) / (sq / a.data.len() as f64).max(1e-9)).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{corpus_jpegs, psnr};
    use super::*;

    /// libjpeg-turbo's decode of `data` at 1/`denom`, where ours answered: panics
    /// unless it reads the header, decodes without a warning (but of left-over bytes,
    /// which both ignore) and has `ours`'s dimensions.
    fn turbo_reference(data: &[u8], denom: usize, ours: &Reduced, what: &str) -> Reduced {
        let (theirs, warning) = libjpeg_turbo_reduced(data, denom)
            .unwrap_or_else(|e| panic!("{what}: decoded here, but libjpeg-turbo says {e}"));
        match warning {
            None => {}
            Some(e) if e.contains("extraneous bytes before marker") => {}
            Some(e) => panic!("{what}: decoded here, but libjpeg-turbo warns: {e}"),
        }
        assert_eq!(
            (ours.width, ours.height, ours.channels),
            (theirs.width, theirs.height, theirs.channels),
            "{what}"
        );
        theirs
    }

    /// The contract: when this decoder answers, libjpeg-turbo decodes the same bytes
    /// without a warning to the same pixels.
    fn assert_same_as_turbo(data: &[u8], what: &str) -> bool {
        let Some(ours) = decode_eighth(data) else {
            return false;
        };
        let theirs = turbo_reference(data, 8, &ours, what);
        let diff = ours
            .data
            .iter()
            .zip(&theirs.data)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diff, 0, "{what}: {diff} bytes differ");
        true
    }

    /// How far [`decode_quarter_low`] is from libjpeg-turbo's 1/4 decode of `data`:
    /// `None` when it does not answer; else the PSNR (dB) of its pixels against
    /// libjpeg-turbo's, and the largest difference of a 2×2 mean (the scale a thumb is
    /// resized to after it). Panics where the contract breaks: an answer where
    /// libjpeg-turbo fails or warns, or other dimensions.
    fn quarter_vs_turbo(data: &[u8], what: &str) -> Option<(f64, f64)> {
        let ours = decode_quarter_low(data)?;
        let theirs = turbo_reference(data, 4, &ours, what);
        let psnr = psnr(&ours, &theirs);
        let (w, c) = (ours.width, ours.channels);
        let mut worst = 0.0f64;
        for y in (0..ours.height - 1).step_by(2) {
            for x in (0..w - 1).step_by(2) {
                for ch in 0..c {
                    let mean = |img: &Reduced| {
                        [(0, 0), (1, 0), (0, 1), (1, 1)]
                            .iter()
                            .map(|(dx, dy)| img.data[((y + dy) * w + x + dx) * c + ch] as f64)
                            .sum::<f64>()
                            / 4.0
                    };
                    worst = worst.max((mean(&ours) - mean(&theirs)).abs());
                }
            }
        }
        Some((psnr, worst))
    }

    /// A synthetic photo-like RGB image: gradients, a fine checker and hard edges, so
    /// every block has AC energy and chroma varies.
    fn synthetic(width: usize, height: usize) -> Vec<u8> {
        let mut px = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let checker = if (x / 3 + y / 2) % 2 == 0 { 40 } else { 0 };
                let edge = if x * 3 > width * 2 { 90 } else { 0 };
                px.push(((x * 255 / width) as u8).wrapping_add(checker));
                px.push(((y * 255 / height) as u8).wrapping_add(edge));
                px.push((((x * y) / 7) % 256) as u8);
            }
        }
        px
    }

    fn encode(
        width: usize,
        height: usize,
        configure: impl Fn(&mut turbojpeg::Compressor),
    ) -> Vec<u8> {
        let mut c = turbojpeg::Compressor::new().unwrap();
        c.set_quality(92).unwrap();
        configure(&mut c);
        let px = synthetic(width, height);
        let image = turbojpeg::Image {
            pixels: px.as_slice(),
            width,
            pitch: width * 3,
            height,
            format: turbojpeg::PixelFormat::RGB,
        };
        c.compress_to_vec(image).unwrap()
    }

    const SUBSAMPLINGS: [turbojpeg::Subsamp; 5] = [
        turbojpeg::Subsamp::None,
        turbojpeg::Subsamp::Sub2x1,
        turbojpeg::Subsamp::Sub1x2,
        turbojpeg::Subsamp::Sub2x2,
        turbojpeg::Subsamp::Gray,
    ];

    #[test]
    fn synthetic_baseline_files_decode_as_libjpeg_turbo_does() {
        // Dimensions that are, and are not, multiples of the MCU; one below a block.
        for (w, h) in [(203, 117), (64, 48), (17, 33), (5, 3), (130, 9), (21, 130)] {
            for subsamp in SUBSAMPLINGS {
                for optimize in [false, true] {
                    let data = encode(w, h, |c| {
                        c.set_subsamp(subsamp).unwrap();
                        c.set_optimize(optimize).unwrap();
                    });
                    let what = format!("{w}x{h} {subsamp:?} optimize={optimize}");
                    assert!(
                        assert_same_as_turbo(&data, &what),
                        "{what}: left to libjpeg-turbo"
                    );
                }
            }
        }
    }

    #[test]
    fn out_of_scope_files_are_left_to_libjpeg_turbo() {
        let progressive = encode(96, 64, |c| c.set_progressive(true).unwrap());
        assert!(decode_eighth(&progressive).is_none(), "progressive");
        let arithmetic = encode(96, 64, |c| c.set_arithmetic(true).unwrap());
        assert!(decode_eighth(&arithmetic).is_none(), "arithmetic");
        let sub411 = encode(96, 64, |c| {
            c.set_subsamp(turbojpeg::Subsamp::Sub4x1).unwrap()
        });
        assert!(decode_eighth(&sub411).is_none(), "4:1:1");
        let gray = encode(96, 64, |c| c.set_subsamp(turbojpeg::Subsamp::Gray).unwrap());
        assert!(
            decode_eighth(&gray).is_some(),
            "the control: a grey baseline file"
        );
        // Quantizers so large that dequantized coefficients pass MAX_DEQUANTIZED: the
        // chroma's 2×2 IDCT refuses (libjpeg-turbo's SIMD one computes in 16 bits
        // there); luma, DC only (C arithmetic in libjpeg-turbo too), still matches.
        // libjpeg writes one DQT per table: luma's first, then chroma's.
        let coarse = |table: usize| {
            let mut data = encode(96, 64, |c| {
                c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap()
            });
            let dqt = (0..data.len() - 1)
                .filter(|&i| data[i..i + 2] == [0xFF, 0xDB])
                .nth(table)
                .unwrap();
            data[dqt + 5..dqt + 5 + 64].fill(255);
            data
        };
        assert!(assert_same_as_turbo(&coarse(0), "coarse luma quantizers"));
        assert!(
            decode_eighth(&coarse(1)).is_none(),
            "chroma coefficients past the bound"
        );
        // A component id twice (in the frame and the scan), left to libjpeg-turbo; a
        // DRI of the wrong length, which libjpeg refuses.
        let plain = encode(96, 64, |c| {
            c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap()
        });
        let at = |m: u8| plain.windows(2).position(|w| w == [0xFF, m]).unwrap();
        let mut twice = plain.clone();
        let (sof, sos) = (at(0xC0), at(0xDA));
        twice[sof + 13] = twice[sof + 10];
        twice[sos + 7] = twice[sos + 5];
        assert!(decode_eighth(&twice).is_none(), "a component id twice");
        let mut dri = plain[..sof].to_vec();
        dri.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x05, 0x00, 0x00, 0x00]);
        dri.extend_from_slice(&plain[sof..]);
        assert!(decode_eighth(&dri).is_none(), "a DRI 5 bytes long");
        // Not a JPEG; an empty file; the SOI alone.
        for data in [&b"GIF89a"[..], b"", b"\xFF\xD8"] {
            assert!(decode_eighth(data).is_none());
        }
    }

    #[test]
    fn damaged_files_are_left_to_libjpeg_turbo() {
        let data = encode(203, 117, |c| {
            c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap()
        });
        let scan = data.len()
            - 2
            - data
                .windows(2)
                .rev()
                .position(|w| w == [0xFF, 0xDA])
                .unwrap();
        // Truncated anywhere (no EOI, or data running out): never an answer.
        for cut in (0..data.len() - 2).step_by(7) {
            assert!(decode_eighth(&data[..cut]).is_none(), "cut at {cut}");
        }
        // Cut inside the scan but closed with an EOI: the data runs out.
        let mut short = data[..(scan + data.len()) / 2].to_vec();
        if short.last() == Some(&0xFF) {
            short.pop();
        }
        short.extend_from_slice(&[0xFF, 0xD9]);
        assert!(decode_eighth(&short).is_none(), "short scan");
        // Bytes left over before the EOI: ignored by both (libjpeg-turbo warns).
        let mut long = data[..data.len() - 2].to_vec();
        long.extend_from_slice(&[
            0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x12, 0xFF, 0xD9,
        ]);
        assert!(assert_same_as_turbo(&long, "extra bytes"), "extra bytes");
        // A restart marker where none was declared.
        let mut rst = data[..data.len() - 2].to_vec();
        rst.extend_from_slice(&[0xFF, 0xD0, 0xFF, 0xD9]);
        assert!(decode_eighth(&rst).is_none(), "stray RST0");
        // Every byte of the scan flipped in turn: a flip may still be valid data, but
        // then libjpeg-turbo must agree without a warning.
        let mut answered = 0;
        for at in scan + 14..data.len() - 2 {
            let mut bad = data.clone();
            bad[at] ^= 0x5A;
            answered += assert_same_as_turbo(&bad, &format!("byte {at} flipped")) as usize;
        }
        assert!(
            answered < data.len() - scan - 16,
            "every flip went unnoticed"
        );
    }

    /// Inputs of the `jpeg_eighth` fuzz target that crashed it (docs/fuzzing.md).
    #[test]
    fn fuzz_regressions() {
        // A DHT with more codes of one length than it holds: the table's lookup was
        // filled past its end.
        let data =
            include_bytes!("../../fuzz/regressions/jpeg_eighth/huffman_code_past_its_length.jpg");
        assert!(decode_eighth(data).is_none());
        // Fill bytes inside the scan (FF FF before a stuffed FF 00): libjpeg-turbo's
        // fast path took the second FF for a marker and decoded zeros from there.
        let data = include_bytes!("../../fuzz/regressions/jpeg_eighth/fill_bytes_in_scan.jpg");
        assert!(decode_eighth(data).is_none());
        // A marker libjpeg does not know (0x91, where JFIF's APP0 was): it refuses
        // the file ("Unsupported marker type"), so this must not answer.
        let data = include_bytes!("../../fuzz/regressions/jpeg_eighth/unknown_marker.jpg");
        assert!(decode_eighth(data).is_none());
        let mut fixed = data.to_vec();
        fixed[3] = 0xE0;
        assert!(assert_same_as_turbo(
            &fixed,
            "the same file with its APP0 back"
        ));
        // A JFIF APP0 of major version 44: libjpeg warns (JWRN_JFIF_MAJOR) and
        // TurboJPEG's header read fails, so this must not answer.
        let data = include_bytes!("../../fuzz/regressions/jpeg_eighth/jfif_major_version.jpg");
        assert!(decode_eighth(data).is_none());
        let app0 = data
            .windows(7)
            .position(|w| w == b"\xFF\xE0\x00\x10JFI")
            .unwrap();
        let mut fixed = data.to_vec();
        fixed[app0 + 9] = 1;
        assert!(assert_same_as_turbo(&fixed, "the same file as JFIF 1.x"));
        // Bytes left over after the last MCU, where the exact 1/8 decode refuses (a
        // chroma coefficient past MAX_DEQUANTIZED): the 1/4 thumb decode answers, as
        // libjpeg-turbo does with a warning of "extraneous bytes", at its dimensions.
        // (The fuzz target had taken that warning for damage.)
        let data =
            include_bytes!("../../fuzz/regressions/jpeg_eighth/quarter_extraneous_bytes.jpg");
        assert!(decode_eighth(data).is_none());
        assert!(quarter_vs_turbo(data, "quarter_extraneous_bytes.jpg").is_some());
        // The same kind of header warning (a header TurboJPEG will not read): an
        // Adobe APP14 transform other than 0 or 1 without a JFIF marker
        // (JWRN_ADOBE_XFORM). Transform 1 (YCbCr) is read as usual.
        let plain = encode(48, 40, |c| {
            c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap()
        });
        let app0_end = 4 + be16(&plain, 4).unwrap();
        assert_eq!(&plain[6..11], b"JFIF\0", "libjpeg writes JFIF's APP0 first");
        let adobe = |transform: u8| {
            let mut data = vec![0xFF, 0xD8, 0xFF, 0xEE, 0x00, 0x0E];
            data.extend_from_slice(b"Adobe\x00\x64\x00\x00\x00\x00");
            data.push(transform);
            data.extend_from_slice(&plain[app0_end..]);
            data
        };
        assert!(decode_eighth(&adobe(2)).is_none(), "Adobe transform 2");
        assert!(
            decode_quarter_low(&adobe(2)).is_none(),
            "Adobe transform 2, 1/4"
        );
        assert!(
            libjpeg_turbo_eighth(&adobe(2)).is_err(),
            "TurboJPEG reads it"
        );
        assert!(assert_same_as_turbo(&adobe(1), "Adobe transform 1"));
        let mut counts = [0u8; 16];
        counts[1] = 5; // five 2-bit codes
        assert!(Huffman::new(&counts, &[0, 1, 2, 3, 4], true).is_none());
        counts[1] = 3; // 00, 01, 10: all but the all-ones code
        assert!(Huffman::new(&counts, &[0, 1, 2], true).is_some());
        counts[1] = 4; // 11 too
        assert!(Huffman::new(&counts, &[0, 1, 2, 3], true).is_none());
    }

    #[test]
    fn quarter_low_decodes_have_libjpeg_turbos_geometry_and_stay_close() {
        for (w, h) in [(203, 117), (64, 48), (17, 33), (5, 3), (130, 9), (21, 130)] {
            for subsamp in SUBSAMPLINGS {
                let data = encode(w, h, |c| c.set_subsamp(subsamp).unwrap());
                let what = format!("{w}x{h} {subsamp:?}");
                let (psnr, worst) = quarter_vs_turbo(&data, &what)
                    .unwrap_or_else(|| panic!("{what}: left to libjpeg-turbo"));
                eprintln!("{what}: PSNR {psnr:.1} dB, worst 2x2 mean {worst:.1}");
                // Measured (2026-12-02): grey and 4:4:4, where only luma's higher
                // terms are left out, 27.6–44.3 dB; subsampled, where chroma's hard
                // edges of this image are replicated rather than interpolated,
                // 17.2–38.3 dB. A misplaced block or plane falls far below either.
                let floor = match subsamp {
                    turbojpeg::Subsamp::Gray | turbojpeg::Subsamp::None => 25.0,
                    _ => 15.0,
                };
                assert!(psnr >= floor, "{what}: PSNR {psnr:.1} dB");
                if matches!(subsamp, turbojpeg::Subsamp::Gray) {
                    assert!(worst <= 2.0, "{what}: a 2x2 mean {worst:.1} away");
                }
            }
        }
        // Out of scope and damaged files are left to libjpeg-turbo, as at 1/8.
        let progressive = encode(96, 64, |c| c.set_progressive(true).unwrap());
        assert!(decode_quarter_low(&progressive).is_none(), "progressive");
        let data = encode(203, 117, |c| {
            c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap()
        });
        for cut in (0..data.len() - 2).step_by(7) {
            assert!(decode_quarter_low(&data[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn quarter_low_decodes_of_photos_stay_close_to_libjpeg_turbo() {
        let mut psnrs = Vec::new();
        for (what, data) in corpus_jpegs() {
            let Some((psnr, worst)) = quarter_vs_turbo(&data, &what) else {
                assert!(decode_eighth(&data).is_none(), "{what}: 1/8 but not 1/4");
                continue;
            };
            eprintln!("{what}: PSNR {psnr:.1} dB, worst 2x2 mean {worst:.1}");
            // Measured on the corpus (2026-12-02): 33.9–52.6 dB, median 43.
            assert!(psnr >= 32.0, "{what}: PSNR {psnr:.1} dB");
            psnrs.push(psnr);
        }
        assert!(
            psnrs.len() >= 32,
            "only {} photos decoded here",
            psnrs.len()
        );
        psnrs.sort_by(f64::total_cmp);
        let median = psnrs[psnrs.len() / 2];
        assert!(median >= 40.0, "median PSNR {median:.1} dB");
    }

    /// [`decode_eighth_thumb`] against the exact [`decode_eighth`]: both answer or
    /// neither; the same bytes unless 4:2:0, else the PSNR (dB) between them.
    fn eighth_thumb_vs_exact(data: &[u8], what: &str) -> Option<f64> {
        let (thumb, exact) = (decode_eighth_thumb(data), decode_eighth(data));
        assert_eq!(thumb.is_some(), exact.is_some(), "{what}");
        let (thumb, exact) = (thumb?, exact?);
        let frame = parse(data).expect("parsed");
        if frame.components.iter().all(|c| idct_size(&frame, c) == 1) {
            assert!(thumb == exact, "{what}: not 4:2:0, yet other pixels");
        }
        Some(psnr(&thumb, &exact))
    }

    #[test]
    fn eighth_thumbs_keep_the_fuzz_targets_rule_on_its_regressions() {
        // The fuzz target's rule for the approximate decoders: an answer only where
        // libjpeg-turbo decodes the same dimensions without a warning (but of
        // left-over bytes), or where the exact 1/8 decode answered too.
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/jpeg_eighth");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("regressions") {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let what = path.display().to_string();
            if let Some(ours) = decode_eighth_thumb(&data) {
                if decode_eighth(&data).is_none() {
                    turbo_reference(&data, 8, &ours, &what);
                }
            }
            files += 1;
        }
        assert!(files >= 5, "only {files} regression files");
    }

    #[test]
    fn eighth_thumbs_differ_from_the_exact_decode_only_in_4_2_0_chroma() {
        for (w, h) in [(203, 117), (64, 48), (17, 33), (130, 9)] {
            for subsamp in SUBSAMPLINGS {
                let data = encode(w, h, |c| c.set_subsamp(subsamp).unwrap());
                let what = format!("{w}x{h} {subsamp:?}");
                let psnr = eighth_thumb_vs_exact(&data, &what)
                    .unwrap_or_else(|| panic!("{what}: left to libjpeg-turbo"));
                eprintln!("{what}: PSNR {psnr:.1} dB");
                // Measured (2026-12-02): 4:2:0 33.8–40.3 dB (this image's hard
                // chroma edges); the others are identical.
                assert!(psnr >= 30.0, "{what}: PSNR {psnr:.1} dB");
            }
        }
        let progressive = encode(96, 64, |c| c.set_progressive(true).unwrap());
        assert!(decode_eighth_thumb(&progressive).is_none(), "progressive");
        let mut subsampled = 0;
        for (what, data) in corpus_jpegs() {
            let Some(psnr) = eighth_thumb_vs_exact(&data, &what) else {
                continue;
            };
            if psnr < 90.0 {
                eprintln!("{what}: PSNR {psnr:.1} dB");
                // Measured on the corpus (2026-12-02): 48.7–65.4 dB, 15 photos.
                assert!(psnr >= 45.0, "{what}: PSNR {psnr:.1} dB");
                subsampled += 1;
            }
        }
        // The corpus's 4:2:0 photos (phones, compacts, the orientation set).
        assert!(subsampled >= 10, "only {subsampled} 4:2:0 photos differ");
    }

    #[test]
    fn every_photo_decodes_as_libjpeg_turbo_does() {
        let mut decoded = 0;
        for (what, data) in corpus_jpegs() {
            if assert_same_as_turbo(&data, &what) {
                decoded += 1;
            } else {
                eprintln!("{what}: left to libjpeg-turbo");
            }
        }
        assert!(decoded >= 32, "only {decoded} photos decoded here");
    }
}
