//! Privacy of what leaves the box: the "full" derivative (the original with its
//! private metadata removed) and the small EXIF block rendered derivatives carry.
//!
//! Private means: where the photo was taken and which camera or person it ties to.
//! Removed from the full derivative, in every format that carries them:
//! - the whole GPS IFD;
//! - serial numbers and owner names (`BodySerialNumber`, `LensSerialNumber`,
//!   `CameraOwnerName`, DNG's `CameraSerialNumber`);
//! - the maker note, and DNG's copy of it (Canon, Nikon and Sony write the body serial
//!   into it);
//! - XMP packets that mention a location, a serial or an owner (XMP is rewritten by
//!   no one here; blanking or dropping a whole packet is safer than editing XML);
//! - in JPEG, extended XMP, the MPF segment and the images appended after the main
//!   one (camera-made previews with their own EXIF, GPS included), and every APPn
//!   segment that is not JFIF, EXIF, XMP, ICC, Photoshop/IPTC or Adobe (vendor
//!   blocks such as GoPro's GPMF carry the body serial and a GPS track); in PNG, the
//!   hex-dumped EXIF/XMP text chunks some tools write; in every format, bytes after
//!   the end of the image.
//!
//! Everything else is kept byte for byte: the image data, the ICC profile, IPTC (what
//! the photographer typed), and every other EXIF field, Artist and Copyright included,
//! with the EXIF thumbnail (and ColorSpace and the Interoperability IFD, which say
//! what colour space a photo without a profile is in). EXIF is edited in place
//! ([`tiff::scrub`]): private entries leave their directories, their bytes become
//! zeros, nothing moves. A structure that cannot be walked is refused, never passed
//! on: a parse failure must not leak.
//!
//! One thing is added: a JPEG without an ICC profile whose EXIF says Adobe RGB (a
//! camera's DCF option file, [`crate::media::colour`]) gets an Adobe RGB-compatible
//! profile after its EXIF segment, so that browsers, which read only ICC profiles,
//! show its colours as shot; its image data stays the original's.
//!
//! Formats: JPEG, PNG, WebP, TIFF, DNG and HEIF/HEIC. Other camera RAW files are not
//! offered: the maker note raw converters need is where those cameras write their
//! serial number.
//!
//! Rendered derivatives carry only [`credit_exif`]: Artist, Copyright and
//! orientation 1 (their pixels are already upright).
//!
//! Pure functions on bytes, no I/O.

mod bmff;
mod jpeg;
mod png;
pub mod tiff;
mod webp;

use exif::{Field, In, Tag, Value};

/// Why the full derivative cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A format whose private metadata this module cannot remove.
    #[error("a full download is not offered for {0} photos")]
    Unsupported(&'static str),
    /// Camera RAW other than DNG.
    #[error("a full download is not offered for camera RAW originals: their maker note, which raw converters need, carries the camera's serial number")]
    Raw,
    /// The file's structure is broken where its metadata lives.
    #[error("the photo's metadata is damaged: {0}")]
    Damaged(&'static str),
}

/// Who made the photo and who owns it, as its EXIF says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credit {
    /// EXIF Artist.
    pub artist: Option<String>,
    /// EXIF Copyright.
    pub copyright: Option<String>,
}

/// Is this EXIF field private (location, serial, owner)? The same fields
/// [`tiff::scrub`] removes: the GPS IFD and [`tiff::PRIVATE`].
pub fn is_private(tag: Tag) -> bool {
    matches!(tag.context(), exif::Context::Gps) || tiff::PRIVATE.contains(&tag.number())
}

/// Words that make an XMP packet private (GPS, IPTC location, serials, owners).
const PRIVATE_XMP: [&[u8]; 6] = [
    b"GPS",
    b"Location",
    b"City",
    b"SerialNumber",
    b"OwnerName",
    b"exif:Sub",
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Does this XMP packet say anything private?
pub(crate) fn is_private_xmp(xmp: &[u8]) -> bool {
    PRIVATE_XMP.iter().any(|w| contains(xmp, w))
}

/// An empty XMP packet of exactly `len` bytes, to overwrite a private one in place
/// (spaces alone when `len` is too short for a packet).
pub(crate) fn blank_xmp(len: usize) -> Vec<u8> {
    const HEAD: &[u8] =
        b"<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/>";
    const TAIL: &[u8] = b"<?xpacket end=\"w\"?>";
    if len < HEAD.len() + TAIL.len() {
        return vec![b' '; len];
    }
    let mut out = HEAD.to_vec();
    out.resize(len - TAIL.len(), b' ');
    out.extend_from_slice(TAIL);
    out
}

/// The EXIF block (TIFF bytes) of a JPEG, PNG, WebP, TIFF or HEIF file, if it has one.
pub fn exif_block(data: &[u8]) -> Option<&[u8]> {
    match data {
        [0xFF, 0xD8, ..] => jpeg::exif_block(data),
        [0x89, b'P', b'N', b'G', ..] => png::exif_block(data),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => webp::exif_block(data),
        _ if tiff::is_tiff(data) => Some(data),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => bmff::exif_block(data),
        _ => None,
    }
}

/// Reads Artist and Copyright from a photo's EXIF.
pub fn credit(data: &[u8]) -> Credit {
    let Some(exif) = exif_block(data).and_then(|t| exif::Reader::new().read_raw(t.to_vec()).ok())
    else {
        return Credit::default();
    };
    let text = |tag: Tag| {
        exif.get_field(tag, In::PRIMARY)
            .and_then(|f| match &f.value {
                Value::Ascii(parts) => {
                    let s: String = parts
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join(" / ");
                    (!s.is_empty()).then_some(s)
                }
                _ => None,
            })
    };
    Credit {
        artist: text(Tag::Artist),
        copyright: text(Tag::Copyright),
    }
}

fn write_tiff(fields: &[&Field], thumbnail: Option<&[u8]>, le: bool) -> Option<Vec<u8>> {
    let mut writer = exif::experimental::Writer::new();
    for f in fields {
        writer.push_field(f);
    }
    if let Some(t) = thumbnail {
        writer.set_jpeg(t, In::THUMBNAIL);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    writer.write(&mut out, le).ok()?;
    Some(out.into_inner())
}

/// A minimal EXIF (TIFF bytes): orientation, Artist and Copyright. `None` when there
/// is nothing to say (orientation 1 and no credit).
pub fn credit_exif(credit: &Credit, orientation: u16) -> Option<Vec<u8>> {
    if credit.artist.is_none() && credit.copyright.is_none() && orientation == 1 {
        return None;
    }
    let mut fields = vec![Field {
        tag: Tag::Orientation,
        ifd_num: In::PRIMARY,
        value: Value::Short(vec![orientation]),
    }];
    for (tag, text) in [
        (Tag::Artist, &credit.artist),
        (Tag::Copyright, &credit.copyright),
    ] {
        if let Some(text) = text {
            fields.push(Field {
                tag,
                ifd_num: In::PRIMARY,
                value: Value::Ascii(vec![text.as_bytes().to_vec()]),
            });
        }
    }
    let refs: Vec<&Field> = fields.iter().collect();
    write_tiff(&refs, None, false)
}

/// One part of the full derivative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes made here (rewritten metadata).
    Bytes(Vec<u8>),
    /// A byte range of the stored original, sent as it is.
    Original(std::ops::Range<u64>),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Original(r) => r.end - r.start,
        }
    }
}

/// The full derivative, as pieces: rewritten metadata from memory and ranges of the
/// original, so the image data is never copied into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullPlan {
    /// The pieces, in order.
    pub pieces: Vec<Piece>,
    /// Its media type (the original's).
    pub media_type: &'static str,
    /// The file name extension for a download.
    pub ext: &'static str,
}

impl FullPlan {
    /// Length of the full derivative.
    pub fn len(&self) -> u64 {
        self.pieces.iter().map(Piece::len).sum()
    }

    /// True when there is nothing to send (never for a real image).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces that make up bytes `range` of the derivative.
    pub fn slice(&self, range: std::ops::Range<u64>) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for p in &self.pieces {
            let (start, end) = (at, at + p.len());
            at = end;
            let (from, to) = (range.start.max(start), range.end.min(end));
            if from >= to {
                continue;
            }
            let (a, b) = (from - start, to - start);
            out.push(match p {
                Piece::Bytes(bytes) => Piece::Bytes(bytes[a as usize..b as usize].to_vec()),
                Piece::Original(r) => Piece::Original(r.start + a..r.start + b),
            });
        }
        out
    }

    /// Assembles the whole derivative from the original's bytes (tests, small files).
    pub fn assemble(&self, original: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for p in &self.pieces {
            match p {
                Piece::Bytes(b) => out.extend_from_slice(b),
                Piece::Original(r) => {
                    out.extend_from_slice(&original[r.start as usize..r.end as usize])
                }
            }
        }
        out
    }
}

/// A byte range of the original and what it becomes.
type Replacement = (std::ops::Range<usize>, Vec<u8>);

/// Changes to an original, gathered while its metadata is walked, then turned into a
/// [`FullPlan`]. Patches overwrite bytes in place (applied in the order recorded when
/// they overlap); replacements swap a whole range (a JPEG segment, a PNG chunk) for
/// other bytes, maybe none. Replacements never overlap one another.
#[derive(Debug, Default)]
pub struct Edits {
    patches: Vec<(usize, Vec<u8>)>,
    replacements: Vec<Replacement>,
    patched: usize,
}

impl Edits {
    /// Overwrites `len` bytes at `at` with zeros.
    pub fn zero(&mut self, at: usize, len: usize) {
        if len > 0 {
            self.patch(at, vec![0; len]);
        }
    }

    /// Overwrites bytes at `at` with `bytes`.
    pub fn patch(&mut self, at: usize, bytes: Vec<u8>) {
        self.patched = self.patched.saturating_add(bytes.len());
        self.patches.push((at, bytes));
    }

    /// Replaces `range` with `bytes`.
    pub fn replace(&mut self, range: std::ops::Range<usize>, bytes: Vec<u8>) {
        self.replacements.push((range, bytes));
    }

    /// Inserts `bytes` before the byte at `at` (at a segment or chunk boundary: bytes
    /// inserted inside a patched range would split it).
    pub fn insert(&mut self, at: usize, bytes: Vec<u8>) {
        self.replacements.push((at..at, bytes));
    }

    /// Takes over `other`'s edits (a scrub that succeeded on a part of the file).
    pub fn extend(&mut self, other: Edits) {
        self.patched = self.patched.saturating_add(other.patched);
        self.patches.extend(other.patches);
        self.replacements.extend(other.replacements);
    }

    /// The edits as disjoint (range, new bytes) pairs in file order, patches merged.
    fn resolve(&self, data: &[u8], end: usize) -> Result<Vec<Replacement>, PrivacyError> {
        // A hostile file can make directories point at the same huge value many times
        // over; real metadata never needs more than the file's own size in patches.
        if self.patched > data.len().saturating_mul(2).saturating_add(1 << 20) {
            return Err(PrivacyError::Damaged("implausibly large metadata"));
        }
        let mut order: Vec<usize> = (0..self.patches.len()).collect();
        order.sort_by_key(|&i| self.patches[i].0);
        let mut runs: Vec<(std::ops::Range<usize>, Vec<usize>)> = Vec::new();
        for i in order {
            let (at, bytes) = &self.patches[i];
            let (at, to) = (*at, (*at + bytes.len()).min(end));
            if at >= to {
                continue;
            }
            match runs.last_mut() {
                Some((r, members)) if at <= r.end => {
                    r.end = r.end.max(to);
                    members.push(i);
                }
                _ => runs.push((at..to, vec![i])),
            }
        }
        let mut out: Vec<Replacement> = Vec::new();
        for (r, mut members) in runs {
            members.sort_unstable(); // the order they were recorded in
            let mut buf = data[r.clone()].to_vec();
            for i in members {
                let (at, bytes) = &self.patches[i];
                let from = at - r.start;
                let n = bytes.len().min(buf.len() - from);
                buf[from..from + n].copy_from_slice(&bytes[..n]);
            }
            // A patch inside a replaced range is moot: the replacement wins (an
            // insertion replaces nothing).
            if !self
                .replacements
                .iter()
                .any(|(c, _)| !c.is_empty() && c.start < r.end && r.start < c.end)
            {
                out.push((r, buf));
            }
        }
        out.extend(self.replacements.iter().cloned());
        out.sort_by_key(|(r, _)| r.start);
        Ok(out)
    }

    /// The full derivative: the original's bytes up to `end`, edited.
    pub fn plan(
        &self,
        data: &[u8],
        end: usize,
        media_type: &'static str,
        ext: &'static str,
    ) -> Result<FullPlan, PrivacyError> {
        let mut pieces = Vec::new();
        let mut at = 0;
        for (r, bytes) in self.resolve(data, end)? {
            if r.start > at {
                pieces.push(Piece::Original(at as u64..r.start as u64));
            }
            if !bytes.is_empty() {
                pieces.push(Piece::Bytes(bytes));
            }
            at = at.max(r.end);
        }
        if end > at {
            pieces.push(Piece::Original(at as u64..end as u64));
        }
        Ok(FullPlan {
            pieces,
            media_type,
            ext,
        })
    }

    /// The edited bytes, whole (a small block such as a PNG chunk).
    pub fn apply_to(&self, data: &[u8]) -> Result<Vec<u8>, PrivacyError> {
        Ok(self.plan(data, data.len(), "", "")?.assemble(data))
    }
}

/// Is a full derivative offered for photos stored as `media_type`? (Asked before the
/// original is read.)
pub fn offered(media_type: &str) -> Result<(), PrivacyError> {
    match media_type {
        "image/jpeg" | "image/png" | "image/webp" | "image/tiff" | "image/x-adobe-dng"
        | "image/heic" | "image/heif" => Ok(()),
        t if t.starts_with("image/x-") => Err(PrivacyError::Raw),
        _ => Err(PrivacyError::Unsupported("this kind of")),
    }
}

/// Plans the full derivative of a photo stored as `media_type` (see the module docs
/// for what is removed).
pub fn full_plan(data: &[u8], media_type: &str) -> Result<FullPlan, PrivacyError> {
    offered(media_type)?;
    match media_type {
        "image/jpeg" => jpeg::plan(data),
        "image/png" => png::plan(data),
        "image/webp" => webp::plan(data),
        "image/tiff" | "image/x-adobe-dng" => {
            let mut edits = Edits::default();
            tiff::scrub(data, 0, &mut edits)?;
            let (media_type, ext) = if media_type == "image/tiff" {
                ("image/tiff", "tif")
            } else {
                ("image/x-adobe-dng", "dng")
            };
            edits.plan(data, data.len(), media_type, ext)
        }
        "image/heic" => bmff::plan(data, "image/heic", "heic"),
        _ => bmff::plan(data, "image/heif", "heif"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_not_trusted() {
        assert!(matches!(
            full_plan(b"GIF89a", "image/gif"),
            Err(PrivacyError::Unsupported(_))
        ));
        assert!(matches!(
            full_plan(b"II*\0", "image/x-nikon-nef"),
            Err(PrivacyError::Raw)
        ));
        for (bytes, media_type) in [
            (&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0][..], "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n\0\0\xFF\xFFIDATxxxxxxxxxx", "image/png"),
            (b"RIFF\xFF\0\0\0WEBPEXIF\xFF\xFF\0\0", "image/webp"),
            (b"MM\0*\0\0\xFF\xFF", "image/tiff"),
            (b"\0\0\0\x10ftypheic\0\0\0\0\0\0\0\x09meta", "image/heic"),
        ] {
            assert!(
                matches!(full_plan(bytes, media_type), Err(PrivacyError::Damaged(_))),
                "{media_type}"
            );
        }
        assert_eq!(credit(b"nonsense"), Credit::default());
    }

    #[test]
    fn scrubbing_a_jpeg_twice_changes_nothing_when_its_exif_overlaps_itself() {
        // Found by fuzz/fuzz_targets/privacy_jpeg.rs: scrubbing zeroed bytes the EXIF's
        // colour space was read from, so the first scrub added no Adobe RGB profile
        // (the original said sRGB) and a second scrub of its output did.
        let original =
            include_bytes!("../../../fuzz/regressions/privacy_jpeg/exif_colour_space_overlap.jpg");
        let once = full_plan(original, "image/jpeg")
            .unwrap()
            .assemble(original);
        let twice = full_plan(&once, "image/jpeg").unwrap().assemble(&once);
        assert!(once == twice, "{} bytes, then {}", once.len(), twice.len());
    }

    #[test]
    fn a_webp_whose_riff_size_cuts_its_header_is_refused() {
        // Found by fuzz/fuzz_targets/privacy_webp.rs: RIFF size 1 made a 9-byte "WebP".
        let mut webp = b"RIFF\x01\0\0\0WEBPVP8 \x04\0\0\0\0\0\0\0".to_vec();
        assert!(matches!(
            full_plan(&webp, "image/webp"),
            Err(PrivacyError::Damaged(_))
        ));
        webp[4] = 16;
        let plan = full_plan(&webp, "image/webp").unwrap();
        assert_eq!(plan.assemble(&webp), webp);
    }

    #[test]
    fn entropy_data_is_scanned_to_the_main_eoi() {
        // SOI, SOS (len 2), entropy bytes with a stuffed FF00 and a restart marker,
        // EOI, then an appended "image".
        let data = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 1, 0xFF, 0x00, 2, 0xFF, 0xD0, 3, 0xFF, 0xD9, 0xFF,
            0xD8, 9, 9,
        ];
        let plan = full_plan(&data, "image/jpeg").unwrap();
        assert_eq!(plan.pieces, [Piece::Original(0..15)]);
        assert_eq!(plan.assemble(&data).len(), 15);
        assert_eq!(
            plan.slice(3..5),
            [Piece::Original(3..5)],
            "a range of the derivative maps onto the original"
        );
    }

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut seg = vec![0xFF, marker];
        seg.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        seg.extend_from_slice(body);
        seg
    }

    #[test]
    fn location_xmp_and_mpf_are_dropped_other_segments_kept() {
        let xmp = |text: &str| {
            let mut b = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
            b.extend_from_slice(text.as_bytes());
            segment(0xE1, &b)
        };
        let located = xmp("<exif:GPSLatitude>48,51.4N</exif:GPSLatitude>");
        let rights = xmp("<dc:rights>Ana</dc:rights>");
        let comment = segment(0xFE, b"a comment");
        let mpf = segment(0xE2, b"MPF\0MM\0*\0\0\0\x08");
        let mut data = vec![0xFF, 0xD8];
        for s in [&located, &rights, &comment, &mpf] {
            data.extend_from_slice(s);
        }
        data.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 7, 0xFF, 0xD9]);
        data.extend_from_slice(b"appended preview");
        let full = full_plan(&data, "image/jpeg").unwrap().assemble(&data);
        let has = |seg: &[u8]| full.windows(seg.len()).any(|w| w == seg);
        assert!(!has(&located), "XMP with GPS dropped");
        assert!(has(&rights), "other XMP kept");
        assert!(has(&comment), "COM kept");
        assert!(!has(&mpf), "MPF dropped");
        assert!(full.ends_with(&[0xFF, 0xD9]), "nothing after the main EOI");
    }

    #[test]
    fn credit_exif_round_trips() {
        let credit = Credit {
            artist: Some("Ana".into()),
            copyright: Some("© Ana 2026".into()),
        };
        let tiff = credit_exif(&credit, 1).unwrap();
        let exif = exif::Reader::new().read_raw(tiff).unwrap();
        assert!(exif.get_field(Tag::Artist, In::PRIMARY).is_some());
        assert_eq!(
            exif.get_field(Tag::Orientation, In::PRIMARY)
                .and_then(|f| f.value.get_uint(0)),
            Some(1)
        );
        assert_eq!(credit_exif(&Credit::default(), 1), None);
    }
}

#[cfg(test)]
mod fuzz_regressions {
    /// Found by fuzz targets privacy_png and privacy_webp: an EXIF block whose private
    /// value lies over its own TIFF header. Zeroing it left EXIF no second scrub could
    /// walk; the header now counts as a directory no private value may overlap, so the
    /// photo is refused as damaged, as the TIFF case is.
    #[test]
    fn exif_whose_private_value_covers_its_header_is_refused_in_png_and_webp() {
        for (data, media_type) in [
            (
                &include_bytes!("../../../fuzz/regressions/privacy_png/exif_header_zeroed.png")[..],
                "image/png",
            ),
            (
                &include_bytes!("../../../fuzz/regressions/privacy_webp/exif_header_zeroed.webp")[..],
                "image/webp",
            ),
        ] {
            assert!(
                matches!(
                    super::full_plan(data, media_type),
                    Err(super::PrivacyError::Damaged(_))
                ),
                "{media_type}"
            );
        }
    }

    /// Found by fuzz target privacy_heif: a HEIF whose private XMP item (588..36161)
    /// holds the Exif item's first bytes (3701..): blanking the XMP overwrote the Exif
    /// item's TIFF offset, and a second scrub refused the output ("the HEIF item
    /// structure is broken"). A metadata item overlapping another item is now refused
    /// as damaged.
    #[test]
    fn a_heif_whose_metadata_items_overlap_is_refused() {
        let data = include_bytes!("../../../fuzz/regressions/privacy_heif/rescrub_refused.heic");
        match super::full_plan(data, "image/heic") {
            Err(super::PrivacyError::Damaged(why)) => assert!(why.contains("overlaps"), "{why}"),
            other => panic!("{:?}", other.map(|p| p.len())),
        }
    }

    /// Found by fuzz target privacy_heif (CI, 2026-12-02): a HEIF whose item 3 has two
    /// `infe` boxes, one typed Exif and one an XMP `mime` item, over 3701..51823:
    /// blanking it as private XMP overwrote the Exif item's TIFF offset, and a second
    /// scrub refused the output ("the HEIF item structure is broken"). An item typed
    /// both ways is now refused as damaged.
    #[test]
    fn a_heif_item_typed_both_exif_and_xmp_is_refused() {
        let data =
            include_bytes!("../../../fuzz/regressions/privacy_heif/item_both_exif_and_xmp.heic");
        match super::full_plan(data, "image/heic") {
            Err(super::PrivacyError::Damaged(why)) => {
                assert!(why.contains("both Exif and XMP"), "{why}")
            }
            other => panic!("{:?}", other.map(|p| p.len())),
        }
    }

    /// Two more of that kind, made from the same file: its second `infe` for item 3
    /// renumbered to item 4 (the XMP packet at 588..3393: one Exif and one XMP item,
    /// apart), and retyped Exif (item 3 typed Exif twice, scrubbed once). Neither is
    /// refused for its types, and scrubbing the output again changes nothing.
    #[test]
    fn heif_items_typed_once_or_twice_alike_scrub_to_a_fixed_point() {
        let original =
            include_bytes!("../../../fuzz/regressions/privacy_heif/item_both_exif_and_xmp.heic");
        // The second infe of item 3: ID at 0x11c..0x11e, item type at 0x120..0x124.
        assert_eq!(&original[0x114..0x118], b"infe");
        assert_eq!(&original[0x120..0x124], b"mime");
        let mut renumbered = original.to_vec();
        renumbered[0x11d] = 4;
        let mut retyped = original.to_vec();
        retyped[0x120..0x124].copy_from_slice(b"Exif");
        for (what, data) in [("renumbered", renumbered), ("retyped", retyped)] {
            let once = super::full_plan(&data, "image/heic")
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .assemble(&data);
            let twice = super::full_plan(&once, "image/heic")
                .unwrap_or_else(|e| panic!("{what}, scrubbed: {e}"))
                .assemble(&once);
            assert!(once == twice, "{what}: a second scrub changed the output");
        }
    }

    /// Found by fuzz target privacy_jpeg: a Qualcomm JPEG with an APP4 block and an EXIF
    /// block whose IFD0 sits near its end, which a second scrub changed again (fixed by
    /// deciding the implied Adobe RGB profile from the scrubbed EXIF). Scrubbing the
    /// output again changes nothing.
    #[test]
    fn scrubbing_the_qualcomm_jpeg_twice_changes_nothing() {
        let data = include_bytes!("../../../fuzz/regressions/privacy_jpeg/rescrub_differs.jpg");
        let once = super::full_plan(data, "image/jpeg").unwrap().assemble(data);
        let twice = super::full_plan(&once, "image/jpeg")
            .unwrap()
            .assemble(&once);
        assert!(once == twice, "a second scrub changed the output");
    }

    /// Found by fuzz target privacy_tiff: a TIFF whose out-of-line SubIFDs pointers lie
    /// under a private value; the scrubbed output sent a second walk past the block ("an
    /// EXIF directory runs past its block"). Such pointers now count as structure no
    /// private value may overlap, and the file is refused as damaged.
    #[test]
    fn a_tiff_whose_pointers_lie_under_a_private_value_is_refused() {
        let data = include_bytes!("../../../fuzz/regressions/privacy_tiff/pointers_under_xmp.tif");
        match super::full_plan(data, "image/tiff") {
            Err(super::PrivacyError::Damaged(why)) => assert!(why.contains("overlaps"), "{why}"),
            other => panic!("{:?}", other.map(|p| p.len())),
        }
    }
}
