//! JPEG segments, read and written without decoding: orientation and the embedded
//! previews (EXIF thumbnail, MPF large preview) of [`jpeg_meta`], where the main image
//! ends (`EoiScan`), and inserting EXIF, ICC profiles or other segments after SOI.
//! Shared by rendering ([`super::render`]) and metadata scrubbing
//! ([`super::privacy`]), so neither imports the other for it. Pure functions on bytes;
//! nothing here panics on bad input.

/// What the JPEG's metadata segments say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JpegMeta {
    /// EXIF orientation 1–8 (1 if absent or invalid).
    pub orientation: u8,
    /// Byte range of the EXIF thumbnail (a JPEG) in the file.
    pub exif_thumbnail: Option<(usize, usize)>,
    /// Byte range of the MPF large preview (a JPEG) in the file.
    pub mpf_preview: Option<(usize, usize)>,
    /// EXIF PixelXDimension × PixelYDimension: the frame size the writer recorded.
    pub exif_dimensions: Option<(u32, u32)>,
}

impl JpegMeta {
    /// The orientation to apply to a frame of `width` × `height` pixels: the EXIF tag,
    /// unless it is stale, when the picture is rendered as stored (issue 13, item 20).
    /// A rotating tag (5–8) is stale when an editor rotated the pixels and left it:
    /// - the EXIF dimensions are the transpose of the frame's (they describe the frame
    ///   before the edit); or
    /// - the frame is portrait and the EXIF dimensions say so too (the editor updated
    ///   them): cameras and phones store the sensor's landscape frame and tag it, so a
    ///   portrait frame still tagged to turn is one turned already (the corpus's Canon
    ///   PowerShot A85 file). Every camera original of the corpus stores landscape.
    pub fn orientation_for(&self, width: usize, height: usize) -> u8 {
        let stale = self.exif_dimensions.is_some_and(|(w, h)| {
            let (w, h) = (w as usize, h as usize);
            ((w, h) == (height, width) && width != height)
                || ((w, h) == (width, height) && height > width)
        });
        if self.orientation >= 5 && stale {
            1
        } else {
            self.orientation
        }
    }
}

/// Reads orientation and embedded previews from a JPEG's segments before the image
/// data. Every offset is checked against `data`; anything malformed is ignored (the
/// main image is still there), never trusted.
pub fn jpeg_meta(data: &[u8]) -> JpegMeta {
    jpeg_meta_of(data, data.len())
}

/// [`jpeg_meta`] of the first bytes `data` of a file of `file_len` bytes (embedded
/// previews may lie beyond `data`).
pub(crate) fn jpeg_meta_of(data: &[u8], file_len: usize) -> JpegMeta {
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
                file_len,
                &mut meta,
            );
        } else if marker == 0xE2 && body.starts_with(b"MPF\0") {
            let tiff_start = body_start + 4;
            meta.mpf_preview = read_mpf(&data[tiff_start..pos + 2 + len], tiff_start, file_len);
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
    let dimension = |tag| {
        exif.get_field(tag, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .filter(|&v| v > 0)
    };
    if let (Some(w), Some(h)) = (
        dimension(exif::Tag::PixelXDimension),
        dimension(exif::Tag::PixelYDimension),
    ) {
        meta.exif_dimensions = Some((w, h));
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

/// Finds where a JPEG's main image ends (just past its EOI), a piece at a time: from
/// a marker, through segments (skipped by their lengths) and the entropy-coded data of
/// each scan (byte stuffing and restart markers passed over), as the bytes arrive.
/// Public for the fuzz target `fuzz/fuzz_targets/jpeg_meta.rs`.
#[derive(Debug, Clone)]
pub struct EoiScan {
    pos: usize,
    in_scan: bool,
}

impl EoiScan {
    /// A scan starting at the marker at `pos` (2: just after SOI).
    pub fn at(pos: usize) -> EoiScan {
        EoiScan {
            pos,
            in_scan: false,
        }
    }

    /// Scans `data` (the file's first bytes, growing between calls) on from where the
    /// last call stopped. `Ok(Some(end))`: the main image ends at `end`; `Ok(None)`:
    /// more bytes are needed; `Err(())`: not a marker where one must be (damaged).
    #[allow(clippy::result_unit_err)]
    pub fn advance(&mut self, data: &[u8]) -> Result<Option<usize>, ()> {
        loop {
            if self.in_scan {
                let Some(at) = data
                    .get(self.pos..)
                    .and_then(|d| d.iter().position(|&b| b == 0xFF))
                    .map(|i| self.pos + i)
                else {
                    self.pos = self.pos.max(data.len());
                    return Ok(None);
                };
                let Some(&next) = data.get(at + 1) else {
                    self.pos = at;
                    return Ok(None);
                };
                match next {
                    0x00 | 0xD0..=0xD7 => self.pos = at + 2,
                    0xFF => self.pos = at + 1,
                    _ => {
                        self.pos = at;
                        self.in_scan = false;
                    }
                }
                continue;
            }
            let (Some(&ff), Some(&marker)) = (data.get(self.pos), data.get(self.pos + 1)) else {
                return Ok(None);
            };
            if ff != 0xFF {
                return Err(());
            }
            match marker {
                0xFF => self.pos += 1, // fill byte
                0xD9 => return Ok(Some(self.pos + 2)),
                0x01 | 0xD0..=0xD8 => self.pos += 2, // no length
                _ => {
                    let Some(len) = data.get(self.pos + 2..self.pos + 4) else {
                        return Ok(None);
                    };
                    let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                    self.pos += 2 + len;
                    self.in_scan = marker == 0xDA;
                }
            }
        }
    }
}

/// A progressive JPEG (SOF2) with the scans a reduced-scale thumbnail can do without
/// left out. A component's coefficients are *wanted* if a DC scan or an AC first scan
/// whose band starts at zig-zag index `limit` or below (ITU T.81 G.1.1: Ss) carries
/// them, and so, until nothing changes, is every band of a scan (first or
/// refinement) that carries a wanted one; the scans carrying wanted coefficients are
/// kept, the others left out. So a band is left out only with every refinement of it,
/// and a kept coefficient keeps its full precision: a file whose refinement scans
/// span every band (as cjpeg's default script has) loses nothing, and gives `None`.
/// Every other segment (tables, restart intervals, metadata) is kept, and EOI ends
/// it. A decoder then shows what a browser shows of the file part-way through, with
/// the bands left out at zero. The result is checked as libjpeg checks a scan
/// sequence (jdphuff.c, `start_pass_phuff_decoder`, JWRN_BOGUS_PROGRESSION), so
/// libjpeg reads it without a warning.
///
/// Why: libjpeg-turbo entropy-decodes every scan of a progressive file whatever the
/// DCT scale, and the highest bands hold most of the bytes (issue 17, item 4: the
/// corpus's progressive Panasonic, whose bands 6–63 are 2/3 of its entropy data).
/// `None` when the file is not progressive Huffman, when nothing would be left out,
/// or when its markers are not where they must be (a damaged file is decoded whole,
/// as libjpeg-turbo reports it). Pure: never panics on bad input.
pub fn progressive_low_scans(data: &[u8], limit: u8) -> Option<Vec<u8>> {
    /// One scan: its bytes (SOS segment and entropy-coded data), components, band
    /// and successive-approximation bit positions.
    struct Scan {
        bytes: std::ops::Range<usize>,
        ids: Vec<u8>,
        band: std::ops::RangeInclusive<usize>,
        ah: u8,
        al: u8,
    }
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // The file as pieces: Ok(segment bytes) or Err(scan).
    let mut pieces: Vec<Result<std::ops::Range<usize>, Scan>> = Vec::new();
    let mut progressive = false;
    let mut pos = 2;
    loop {
        while data.get(pos..pos + 2) == Some(&[0xFF, 0xFF]) {
            pos += 1; // fill byte
        }
        if *data.get(pos)? != 0xFF {
            return None;
        }
        let marker = *data.get(pos + 1)?;
        if marker == 0xD9 {
            break;
        }
        if matches!(marker, 0x00 | 0x01 | 0xD0..=0xD8) {
            return None;
        }
        let len = u16::from_be_bytes([*data.get(pos + 2)?, *data.get(pos + 3)?]) as usize;
        let seg_end = pos + 2 + len;
        if len < 2 || seg_end > data.len() {
            return None;
        }
        match marker {
            0xC2 => progressive = true,
            0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            _ => {}
        }
        if marker != 0xDA {
            pieces.push(Ok(pos..seg_end));
            pos = seg_end;
            continue;
        }
        if !progressive {
            return None;
        }
        // SOS: Ns, Ns × (component id, tables), Ss, Se, Ah << 4 | Al.
        let ns = *data.get(pos + 4)? as usize;
        if ns == 0 || ns > 4 || len != 6 + 2 * ns {
            return None;
        }
        let ids: Vec<u8> = (0..ns).map(|i| data[pos + 5 + 2 * i]).collect();
        let at = pos + 5 + 2 * ns;
        let (ss, se, ah, al) = (data[at], data[at + 1], data[at + 2] >> 4, data[at + 2] & 15);
        if ss > se || se > 63 || (ss == 0 && se != 0) || (ss > 0 && ns != 1) {
            return None;
        }
        // The entropy-coded data runs to the next marker that is not a stuffed byte
        // or a restart marker.
        let mut end = seg_end;
        loop {
            let ff = end + memchr::memchr(0xFF, data.get(end..)?)?;
            match *data.get(ff + 1)? {
                0x00 | 0xD0..=0xD7 => end = ff + 2,
                _ => {
                    end = ff;
                    break;
                }
            }
        }
        pieces.push(Err(Scan {
            bytes: pos..end,
            ids,
            band: ss as usize..=se as usize,
            ah,
            al,
        }));
        pos = end;
    }
    // Wanted coefficients per component id, grown to a fixed point.
    let mut wanted: Vec<(u8, [bool; 64])> = Vec::new();
    let scans = || pieces.iter().filter_map(|p| p.as_ref().err());
    for scan in scans() {
        for id in &scan.ids {
            if !wanted.iter().any(|(c, _)| c == id) {
                wanted.push((*id, [false; 64]));
            }
        }
    }
    let of = |wanted: &[(u8, [bool; 64])], id: &u8| wanted.iter().position(|(c, _)| c == id);
    for scan in scans().filter(|s| s.ah == 0 && *s.band.start() <= limit as usize) {
        for id in &scan.ids {
            let i = of(&wanted, id)?;
            wanted[i].1[scan.band.clone()].fill(true);
        }
    }
    let carries = |wanted: &[(u8, [bool; 64])], scan: &Scan| {
        scan.ids.iter().any(|id| {
            of(wanted, id).is_some_and(|i| wanted[i].1[scan.band.clone()].contains(&true))
        })
    };
    loop {
        let mut changed = false;
        for scan in scans() {
            if carries(&wanted, scan) {
                for id in &scan.ids {
                    let i = of(&wanted, id)?;
                    for w in &mut wanted[i].1[scan.band.clone()] {
                        changed |= !*w;
                        *w = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    // The kept scans, checked as libjpeg checks them: per component and coefficient
    // the bit position its last scan left (None: none yet).
    let mut out = Vec::with_capacity(data.len() / 2);
    out.extend_from_slice(&data[..2]);
    let mut bits: Vec<(u8, [Option<u8>; 64])> =
        wanted.iter().map(|(c, _)| (*c, [None; 64])).collect();
    let mut dropped = false;
    for piece in &pieces {
        match piece {
            Ok(segment) => out.extend_from_slice(&data[segment.clone()]),
            Err(scan) if carries(&wanted, scan) => {
                for id in &scan.ids {
                    let i = of(&wanted, id)?;
                    for b in &mut bits[i].1[scan.band.clone()] {
                        if *b != (scan.ah > 0).then_some(scan.ah) {
                            return None;
                        }
                        *b = Some(scan.al);
                    }
                }
                out.extend_from_slice(&data[scan.bytes.clone()]);
            }
            Err(_) => dropped = true,
        }
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    dropped.then_some(out)
}

/// An EXIF APP1 segment holding `tiff`; `None` when it does not fit in one.
pub(crate) fn app1_exif(tiff: &[u8]) -> Option<Vec<u8>> {
    let len = tiff.len() + 8;
    if len > 0xFFFF {
        return None;
    }
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&(len as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(tiff);
    Some(seg)
}

/// An ICC profile as APP2 `ICC_PROFILE` segments (ICC.1, annex B.4: chunks of at most
/// 65 519 bytes, numbered from 1, each with the count). Empty for an empty profile;
/// a profile of over 255 chunks (16 MB) cannot be carried and gives nothing.
pub(crate) fn icc_segments(icc: &[u8]) -> Vec<u8> {
    const CHUNK: usize = 65_519;
    let parts: Vec<&[u8]> = icc.chunks(CHUNK).collect();
    if parts.len() > 255 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(icc.len() + parts.len() * 18);
    for (i, part) in parts.iter().enumerate() {
        out.extend_from_slice(&[0xFF, 0xE2]);
        out.extend_from_slice(&((part.len() + 16) as u16).to_be_bytes());
        out.extend_from_slice(b"ICC_PROFILE\0");
        out.push(i as u8 + 1);
        out.push(parts.len() as u8);
        out.extend_from_slice(part);
    }
    out
}

/// Inserts an EXIF APP1 (from TIFF bytes) into a JPEG just after SOI and JFIF APP0.
pub fn insert_exif(jpeg: Vec<u8>, tiff: &[u8]) -> Vec<u8> {
    match app1_exif(tiff) {
        Some(seg) => insert_segments(jpeg, &seg),
        None => jpeg,
    }
}

/// Inserts ready-made segments after SOI and a JFIF APP0 if there is one.
pub fn insert_segments(jpeg: Vec<u8>, segs: &[u8]) -> Vec<u8> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return jpeg;
    }
    let mut at = 2;
    if jpeg.get(2..4) == Some(&[0xFF, 0xE0]) && jpeg.len() > 6 {
        at = 4 + u16::from_be_bytes([jpeg[4], jpeg[5]]) as usize;
    }
    if at > jpeg.len() {
        return jpeg;
    }
    let mut out = Vec::with_capacity(jpeg.len() + segs.len());
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(segs);
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// The capture time in a photo's EXIF (DateTimeOriginal, else DateTime), as seconds
/// since the epoch *on the camera's clock*: EXIF stores no time zone (OffsetTimeOriginal
/// is rare), so the value is only good for ordering one camera's photos, which is all
/// tagging needs. `head` is the file's start (the EXIF block is in its first segments);
/// any container kamadak-exif reads works (JPEG, TIFF/DNG, HEIF, PNG, WebP).
pub fn capture_time(head: &[u8]) -> Option<i64> {
    let exif = exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(head))
        .ok()?;
    [exif::Tag::DateTimeOriginal, exif::Tag::DateTime]
        .into_iter()
        .find_map(|tag| {
            let field = exif.get_field(tag, exif::In::PRIMARY)?;
            let exif::Value::Ascii(ref v) = field.value else {
                return None;
            };
            let dt = exif::DateTime::from_ascii(v.first()?).ok()?;
            let date = time::Date::from_calendar_date(
                i32::from(dt.year),
                time::Month::try_from(dt.month).ok()?,
                dt.day,
            )
            .ok()?;
            let t = time::Time::from_hms(dt.hour, dt.minute, dt.second).ok()?;
            Some(
                time::PrimitiveDateTime::new(date, t)
                    .assume_utc()
                    .unix_timestamp(),
            )
        })
}

#[cfg(test)]
mod capture_time_tests {
    use super::*;

    #[test]
    fn reads_date_time_original_and_nothing_from_a_photo_without_exif() {
        let field = exif::Field {
            tag: exif::Tag::DateTimeOriginal,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Ascii(vec![b"2024:05:17 14:03:09".to_vec()]),
        };
        let mut writer = exif::experimental::Writer::new();
        writer.push_field(&field);
        let mut tiff = std::io::Cursor::new(Vec::new());
        writer.write(&mut tiff, false).unwrap();
        let tiff = tiff.into_inner();
        let jpeg = insert_exif(
            include_bytes!("../../tests/fixtures/gradient.jpg").to_vec(),
            &tiff,
        );
        assert_eq!(capture_time(&jpeg), Some(1_715_954_589));
        assert_eq!(
            capture_time(include_bytes!("../../tests/fixtures/gradient.jpg")),
            None
        );
        assert_eq!(capture_time(b"junk"), None);
    }
}

#[cfg(test)]
mod low_scans_tests {
    use super::*;
    use crate::media::jpeg_dc::test_support::{psnr, testdata};
    use crate::media::jpeg_dc::{libjpeg_turbo_reduced, Reduced};

    /// 225×150, 4:2:2, progressive by `jpegtran -scans` (tests/fixtures/README.md):
    /// DC (Al 1); luma 1–5 (Al 1); Cb, Cr 1–63; luma 6–63 (Al 1); then the
    /// refinements of DC, luma 1–5 and luma 6–63.
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/progressive_spectral.jpg");

    /// Each scan's (components, Ss, Se, Ah, Al), in order: from the first SOS (the
    /// segments before it skipped by their lengths, as an EXIF thumbnail holds an SOS
    /// of its own), every FF DA (which entropy-coded data never holds: FF is followed
    /// there by 00 or a restart marker).
    fn scans(data: &[u8]) -> Vec<(u8, u8, u8, u8, u8)> {
        let mut first = 2;
        while data[first + 1] != 0xDA {
            first += 2 + u16::from_be_bytes([data[first + 2], data[first + 3]]) as usize;
        }
        (first..data.len() - 1)
            .filter(|&i| data[i] == 0xFF && data[i + 1] == 0xDA)
            .map(|i| {
                let ns = data[i + 4];
                let at = i + 5 + 2 * ns as usize;
                (
                    ns,
                    data[at],
                    data[at + 1],
                    data[at + 2] >> 4,
                    data[at + 2] & 15,
                )
            })
            .collect()
    }

    /// libjpeg-turbo's decode at 1/`denom`; panics on an error or a warning.
    fn decode(data: &[u8], denom: usize, what: &str) -> Reduced {
        let (pixels, warning) = libjpeg_turbo_reduced(data, denom)
            .unwrap_or_else(|e| panic!("{what}: libjpeg-turbo: {e}"));
        assert_eq!(warning, None, "{what}");
        pixels
    }

    #[test]
    fn a_high_band_is_left_out_with_its_refinement_and_nothing_else() {
        let low = progressive_low_scans(FIXTURE, 5).expect("a band to leave out");
        assert_eq!(
            scans(&low),
            [
                (3, 0, 0, 0, 1),
                (1, 1, 5, 0, 1),
                (1, 1, 63, 0, 0),
                (1, 1, 63, 0, 0),
                (3, 0, 0, 1, 0),
                (1, 1, 5, 1, 0),
            ]
        );
        assert_eq!(scans(FIXTURE).len(), 8);
        assert!(low.len() < FIXTURE.len() * 2 / 3, "{} bytes", low.len());
        // At 1/8 every block is its DC coefficient (4:2:2: no chroma IDCT at 2×2),
        // so the pixels are exactly the whole file's; libjpeg reads it without a
        // warning (a bogus progression would be one).
        assert!(decode(&low, 8, "low, 1/8") == decode(FIXTURE, 8, "whole, 1/8"));
        // At 1/2 the luma's higher terms are missing: close, not equal. Measured
        // (2026-12-02): 29.2 dB (this small image is mostly edges).
        let p = psnr(
            &decode(&low, 2, "low, 1/2"),
            &decode(FIXTURE, 2, "whole, 1/2"),
        );
        eprintln!("fixture at 1/2: PSNR {p:.1} dB");
        assert!((25.0..60.0).contains(&p), "PSNR {p:.1} dB at 1/2");
        // A limit under the luma's first band leaves that band out too, with its
        // refinement; the chroma bands starting at 1 then go as well. (Not compared
        // at 1/8: with no AC band at all, libjpeg-turbo's block smoothing, on for
        // progressive files, smooths the DC values too, jdcoefct.c `change_dc`.)
        let dc = progressive_low_scans(FIXTURE, 0).expect("bands to leave out");
        assert_eq!(scans(&dc), [(3, 0, 0, 0, 1), (3, 0, 0, 1, 0)]);
        decode(&dc, 8, "DC only, 1/8");
    }

    #[test]
    fn files_with_nothing_to_leave_out_or_out_of_order_are_left_whole() {
        let raw: Vec<u8> = (0..96 * 64 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let image = turbojpeg::Image {
            pixels: raw.as_slice(),
            width: 96,
            pitch: 96 * 3,
            height: 64,
            format: turbojpeg::PixelFormat::RGB,
        };
        let mut c = turbojpeg::Compressor::new().unwrap();
        let baseline = c.compress_to_vec(image.as_deref()).unwrap();
        assert_eq!(progressive_low_scans(&baseline, 5), None, "baseline");
        // libjpeg's own progressive script refines bands 1–63 in one scan, which
        // carries the first band's coefficients: every band is wanted.
        c.set_progressive(true).unwrap();
        let simple = c.compress_to_vec(image).unwrap();
        assert!(scans(&simple).len() > 6);
        assert_eq!(progressive_low_scans(&simple, 5), None, "cjpeg's script");
        // A refinement expecting another bit position (Ah 2 where 1 was left):
        // libjpeg would warn, so the file is left whole.
        let mut bogus = FIXTURE.to_vec();
        let sos: Vec<usize> = (0..bogus.len() - 1)
            .filter(|&i| bogus[i] == 0xFF && bogus[i + 1] == 0xDA)
            .collect();
        bogus[sos[6] + 9] = 0x21;
        assert_eq!(scans(&bogus)[6], (1, 1, 5, 2, 1));
        assert_eq!(progressive_low_scans(&bogus, 5), None, "bogus progression");
        // Truncated or damaged anywhere: an answer or none, never a panic; an answer
        // only with every kept scan whole and EOI after it.
        for cut in 0..FIXTURE.len() {
            if let Some(low) = progressive_low_scans(&FIXTURE[..cut], 5) {
                panic!("cut at {cut}: {} bytes", low.len());
            }
        }
        for at in (0..FIXTURE.len()).step_by(3) {
            let mut damaged = FIXTURE.to_vec();
            damaged[at] ^= 0x5A;
            let _ = progressive_low_scans(&damaged, 5);
        }
        assert_eq!(progressive_low_scans(b"", 5), None);
        assert_eq!(progressive_low_scans(b"\xFF\xD8\xFF", 5), None);
    }

    #[test]
    fn the_corpus_progressive_files() {
        let dir = testdata().join("photos");
        // A camera's script without successive approximation: bands 6–63 of every
        // component are left out, 2/3 of the bytes; 4:4:4, so exact at 1/8.
        let panasonic = std::fs::read(dir.join("panasonic-dmc-lc70_progressive.jpg")).unwrap();
        let low = progressive_low_scans(&panasonic, 5).expect("bands 6-63 to leave out");
        assert_eq!(scans(&low).len(), 4);
        assert!(low.len() < panasonic.len() / 2, "{} bytes", low.len());
        assert!(decode(&low, 8, "low, 1/8") == decode(&panasonic, 8, "whole, 1/8"));
        let p = psnr(
            &decode(&low, 2, "low, 1/2"),
            &decode(&panasonic, 2, "whole, 1/2"),
        );
        eprintln!("panasonic at 1/2: PSNR {p:.1} dB");
        // Measured (2026-12-02): 37.5 dB.
        assert!(p >= 33.0, "PSNR {p:.1} dB at 1/2");
        // cjpeg's script (refinements over 1–63): nothing to leave out.
        let canon = std::fs::read(dir.join("canon-350d_progressive_issue116.jpg")).unwrap();
        assert_eq!(progressive_low_scans(&canon, 5), None);
    }
}
