//! Privacy of what leaves the box: the "full" derivative (the original JPEG with its
//! private metadata removed) and the small EXIF block rendered derivatives carry.
//!
//! Private means: where the photo was taken and which camera or person it ties to.
//! Removed from the full derivative:
//! - the whole GPS IFD;
//! - serial numbers and owner names (`BodySerialNumber`, `LensSerialNumber`,
//!   `CameraOwnerName`, DNG's `CameraSerialNumber`);
//! - the maker note (Canon, Nikon and Sony write the body serial into it);
//! - XMP packets that mention a location, a serial or an owner (XMP is rewritten by
//!   no one here; dropping a whole packet is safer than editing XML), and extended XMP;
//! - the MPF segment and the images appended after the main one (camera-made
//!   previews that carry their own EXIF, GPS included; the box renders its own).
//!
//! Everything else is kept byte for byte: the image data, the ICC profile, IPTC
//! (what the photographer typed), and every other EXIF field, Artist and Copyright
//! included, with the EXIF thumbnail. The EXIF block is re-serialised by
//! kamadak-exif's writer; if that fails the block is replaced by a minimal one
//! (orientation, Artist, Copyright) rather than kept: a parse failure must never leak.
//!
//! Rendered derivatives carry only [`credit_exif`]: Artist, Copyright and
//! orientation 1 (their pixels are already upright).
//!
//! Pure functions on bytes, no I/O.

use exif::{Field, In, Tag, Value};

/// Why the full derivative cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// Not a JPEG: the full derivative is made for camera JPEGs only.
    #[error("a full download is only offered for JPEG photos")]
    NotJpeg,
    /// The JPEG's structure is broken before its image data.
    #[error("the JPEG's metadata is damaged: {0}")]
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

/// Is this EXIF field private (location, serial, owner)?
pub fn is_private(tag: Tag) -> bool {
    matches!(tag.context(), exif::Context::Gps)
        || tag == Tag::GPSInfoIFDPointer
        || tag == Tag::BodySerialNumber
        || tag == Tag::LensSerialNumber
        || tag == Tag::CameraOwnerName
        || tag == Tag::MakerNote
        // DNG's CameraSerialNumber, which some JPEG writers copy.
        || tag == Tag(exif::Context::Tiff, 0xC62F)
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

/// A JPEG marker segment before the image data: its marker and whole byte range.
struct Segment {
    marker: u8,
    start: usize,
    end: usize,
}

/// The metadata segments before the first SOS, and where the SOS starts.
fn segments(data: &[u8]) -> Result<(Vec<Segment>, usize), PrivacyError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(PrivacyError::NotJpeg);
    }
    let mut out = Vec::new();
    let mut pos = 2;
    loop {
        if pos + 4 > data.len() {
            return Err(PrivacyError::Damaged("no image data"));
        }
        if data[pos] != 0xFF {
            return Err(PrivacyError::Damaged(
                "a segment does not start with a marker",
            ));
        }
        let marker = data[pos + 1];
        if marker == 0xFF {
            pos += 1;
            continue;
        }
        if marker == 0xDA {
            return Ok((out, pos));
        }
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        if len < 2 || pos + 2 + len > data.len() {
            return Err(PrivacyError::Damaged("a segment runs past the end"));
        }
        out.push(Segment {
            marker,
            start: pos,
            end: pos + 2 + len,
        });
        pos += 2 + len;
    }
}

/// Where the main image ends (just past its EOI), scanning from its first SOS through
/// entropy-coded data and the segments between progressive scans. `None` when the
/// file ends first (a truncated image: everything is the main image).
fn main_image_end(data: &[u8], sos: usize) -> Option<usize> {
    let mut pos = sos;
    loop {
        // A segment (SOS, DHT, DQT, DRI, COM, APPn between scans).
        let len = u16::from_be_bytes([*data.get(pos + 2)?, *data.get(pos + 3)?]) as usize;
        let marker = data[pos + 1];
        pos += 2 + len;
        if marker != 0xDA {
            // Not a scan: the next marker follows at once.
        } else {
            // Entropy-coded data until a marker that is not stuffing or a restart.
            loop {
                let at = pos + data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
                let next = *data.get(at + 1)?;
                match next {
                    0x00 | 0xD0..=0xD7 => pos = at + 2,
                    0xFF => pos = at + 1,
                    _ => {
                        pos = at;
                        break;
                    }
                }
            }
        }
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if data.get(pos) != Some(&0xFF) {
            return None;
        }
        if data.get(pos + 1) == Some(&0xD9) {
            return Some(pos + 2);
        }
    }
}

/// The TIFF bytes of the first EXIF APP1 segment.
fn exif_tiff(data: &[u8], segs: &[Segment]) -> Option<Vec<u8>> {
    segs.iter()
        .find(|s| s.marker == 0xE1 && data[s.start + 4..s.end].starts_with(b"Exif\0\0"))
        .map(|s| data[s.start + 10..s.end].to_vec())
}

/// Reads Artist and Copyright from a JPEG's EXIF.
pub fn credit(data: &[u8]) -> Credit {
    let Ok((segs, _)) = segments(data) else {
        return Credit::default();
    };
    let Some(exif) = exif_tiff(data, &segs).and_then(|t| exif::Reader::new().read_raw(t).ok())
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

/// Rewrites an EXIF block without its private fields; `None` if it cannot be parsed
/// or written.
fn scrub_exif(tiff: Vec<u8>) -> Option<Vec<u8>> {
    let exif = exif::Reader::new().read_raw(tiff).ok()?;
    let kept: Vec<&Field> = exif
        .fields()
        .filter(|f| !is_private(f.tag) && !matches!(f.value, Value::Unknown(..)))
        .collect();
    let thumbnail = {
        let get = |tag| {
            exif.get_field(tag, In::THUMBNAIL)
                .and_then(|f| f.value.get_uint(0))
        };
        match (
            get(Tag::JPEGInterchangeFormat),
            get(Tag::JPEGInterchangeFormatLength),
        ) {
            (Some(offset), Some(len)) => exif
                .buf()
                .get(offset as usize..(offset as usize).checked_add(len as usize)?),
            _ => None,
        }
    };
    write_tiff(&kept, thumbnail, exif.little_endian())
}

fn app1_exif(tiff: &[u8]) -> Option<Vec<u8>> {
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

/// The full derivative, as a prefix to write and the byte range of the original that
/// follows it: the image data is never copied into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullPlan {
    /// SOI and the kept (or rewritten) metadata segments.
    pub prefix: Vec<u8>,
    /// The original's bytes from the first SOS through the main image's EOI.
    pub body: std::ops::Range<u64>,
}

impl FullPlan {
    /// Length of the full derivative.
    pub fn len(&self) -> u64 {
        self.prefix.len() as u64 + (self.body.end - self.body.start)
    }

    /// Never empty (a JPEG has at least SOI); here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Assembles the whole derivative from the original's bytes (tests, small files).
    pub fn assemble(&self, original: &[u8]) -> Vec<u8> {
        let mut out = self.prefix.clone();
        out.extend_from_slice(&original[self.body.start as usize..self.body.end as usize]);
        out
    }
}

/// Plans the full derivative of a JPEG (see the module docs for what is removed).
pub fn full_plan(data: &[u8]) -> Result<FullPlan, PrivacyError> {
    let (segs, sos) = segments(data)?;
    let mut prefix = vec![0xFF, 0xD8];
    let mut exif_done = false;
    for s in &segs {
        let body = &data[s.start + 4..s.end];
        let keep = match s.marker {
            0xE1 if body.starts_with(b"Exif\0\0") => {
                if !exif_done {
                    exif_done = true;
                    let tiff = body[6..].to_vec();
                    let orientation = crate::render::jpeg_meta(data).orientation as u16;
                    let rewritten = scrub_exif(tiff)
                        .or_else(|| credit_exif(&credit(data), orientation))
                        .and_then(|t| app1_exif(&t));
                    if let Some(seg) = rewritten {
                        prefix.extend_from_slice(&seg);
                    }
                }
                false
            }
            0xE1 if body.starts_with(b"http://ns.adobe.com/xmp/extension/") => false,
            0xE1 if body.starts_with(b"http://ns.adobe.com/xap/1.0/") => {
                !PRIVATE_XMP.iter().any(|w| contains(body, w))
            }
            0xE2 if body.starts_with(b"MPF\0") => false,
            _ => true,
        };
        if keep {
            prefix.extend_from_slice(&data[s.start..s.end]);
        }
    }
    let end = main_image_end(data, sos).unwrap_or(data.len());
    Ok(FullPlan {
        prefix,
        body: sos as u64..end as u64,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_not_trusted() {
        assert!(matches!(full_plan(b"GIF89a"), Err(PrivacyError::NotJpeg)));
        assert!(matches!(
            full_plan(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0]),
            Err(PrivacyError::Damaged(_))
        ));
        assert_eq!(credit(b"nonsense"), Credit::default());
    }

    #[test]
    fn entropy_data_is_scanned_to_the_main_eoi() {
        // SOI, SOS (len 2), entropy bytes with a stuffed FF00 and a restart marker,
        // EOI, then an appended "image".
        let data = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 1, 0xFF, 0x00, 2, 0xFF, 0xD0, 3, 0xFF, 0xD9, 0xFF,
            0xD8, 9, 9,
        ];
        let plan = full_plan(&data).unwrap();
        assert_eq!(plan.body, 2..15);
        assert_eq!(plan.assemble(&data).len(), 15);
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
        let full = full_plan(&data).unwrap().assemble(&data);
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
