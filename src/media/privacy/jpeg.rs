//! The full derivative of a JPEG: metadata segments edited, the image data kept, and
//! nothing after the main image's EOI.

use super::{credit, credit_exif, is_private_xmp, tiff, Edits, FullPlan, PrivacyError};
use crate::media::jpeg::app1_exif;

/// A JPEG marker segment before the image data: its marker and whole byte range.
struct Segment {
    marker: u8,
    start: usize,
    end: usize,
}

/// The metadata segments before the first SOS, and where the SOS starts.
fn segments(data: &[u8]) -> Result<(Vec<Segment>, usize), PrivacyError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(PrivacyError::Damaged("not a JPEG"));
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

/// The TIFF bytes of the first EXIF APP1 segment.
pub(super) fn exif_block(data: &[u8]) -> Option<&[u8]> {
    let (segs, _) = segments(data).ok()?;
    segs.iter()
        .find(|s| s.marker == 0xE1 && data[s.start + 4..s.end].starts_with(b"Exif\0\0"))
        .map(|s| &data[s.start + 10..s.end])
}

/// Plans the full derivative of a JPEG.
pub(super) fn plan(data: &[u8]) -> Result<FullPlan, PrivacyError> {
    let (segs, sos) = segments(data)?;
    let mut edits = Edits::default();
    let mut exif_done = false;
    for s in &segs {
        let body = &data[s.start + 4..s.end];
        let drop = match s.marker {
            0xE1 if body.starts_with(b"Exif\0\0") => {
                if exif_done {
                    true // a second EXIF block: no reader looks at it, no one needs it
                } else {
                    exif_done = true;
                    let mut scrubbed = Edits::default();
                    match tiff::scrub(&body[6..], s.start + 10, &mut scrubbed) {
                        Ok(()) => edits.extend(scrubbed),
                        Err(_) => {
                            // Unwalkable: only what the renderer would credit survives.
                            let orientation =
                                crate::media::jpeg::jpeg_meta(data).orientation as u16;
                            let minimal = credit_exif(&credit(data), orientation)
                                .and_then(|t| app1_exif(&t))
                                .unwrap_or_default();
                            edits.replace(s.start..s.end, minimal);
                        }
                    }
                    false
                }
            }
            0xE1 if body.starts_with(b"http://ns.adobe.com/xmp/extension/") => true,
            0xE1 if body.starts_with(b"http://ns.adobe.com/xap/1.0/") => is_private_xmp(body),
            0xE1 => true, // another APP1 (FLIR, Samsung, ...): unknown, so not passed on
            0xE2 => !body.starts_with(b"ICC_PROFILE\0"), // MPF, FlashPix, ...
            0xE0 | 0xED | 0xEE => false, // JFIF/JFXX, Photoshop IRB (IPTC), Adobe
            // Vendor blocks such as GoPro's APP6 (GPMF: body serial, GPS track):
            // nothing a viewer needs and nothing this module can read.
            0xE3..=0xEF => true,
            _ => false,
        };
        if drop {
            edits.replace(s.start..s.end, Vec::new());
        }
    }
    // Where the main image ends; a truncated or damaged one is kept whole.
    let end = match crate::media::jpeg::EoiScan::at(sos).advance(data) {
        Ok(Some(end)) => end,
        _ => data.len(),
    };
    edits.plan(data, end, "image/jpeg", "jpg")
}
