//! The full derivative of a JPEG: metadata segments edited, the image data kept, and
//! nothing after the main image's EOI; an Adobe RGB photo without a profile gets one.

use super::{credit, credit_exif, is_private_xmp, tiff, Edits, FullPlan, PrivacyError};
use crate::media::jpeg::{app1_exif, icc_segments};

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
    // The EXIF block readers use (the first) as it leaves (scrubbed), and where its
    // segment ends.
    let mut exif: Option<(Vec<u8>, usize)> = None;
    let mut has_icc = false;
    // Colour components of the frame (SOF's Nf): 3 for YCbCr or RGB.
    let mut components = None;
    for s in &segs {
        let body = &data[s.start + 4..s.end];
        if matches!(s.marker, 0xC0..=0xCF) && !matches!(s.marker, 0xC4 | 0xC8 | 0xCC) {
            components = body.get(5).copied();
        }
        let drop = match s.marker {
            0xE1 if body.starts_with(b"Exif\0\0") => {
                if exif.is_some() {
                    true // a second EXIF block: no reader looks at it, no one needs it
                } else {
                    let mut scrubbed = Edits::default();
                    match tiff::scrub(&body[6..], s.start + 10, &mut scrubbed) {
                        Ok(()) => {
                            // The colour space is read from the EXIF that is sent: a
                            // hostile block can overlap what scrubbing zeroes with its
                            // ColorSpace, and a profile implied by bytes that no longer
                            // say so would be added again by a second scrub.
                            let segment = scrubbed.plan(data, s.end, "", "")?.assemble(data);
                            exif = Some((segment[s.start + 10..].to_vec(), s.end));
                            edits.extend(scrubbed);
                        }
                        Err(_) => {
                            exif = Some((body[6..].to_vec(), s.end));
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
            0xE2 if body.starts_with(b"ICC_PROFILE\0") => {
                has_icc = true;
                false
            }
            0xE2 => true,                // MPF, FlashPix, ...
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
    // An Adobe RGB camera JPEG says so only in EXIF, which browsers do not read: its
    // profile goes after the EXIF segment, where cameras put one. Never on a profile
    // of its own (that wins), nor on CMYK data (an RGB profile does not describe it).
    if let Some((tiff, exif_end)) = exif.filter(|_| !has_icc && components == Some(3)) {
        if let Some(icc) = crate::media::colour::implied_profile(Some(&tiff)) {
            edits.insert(exif_end, icc_segments(icc));
        }
    }
    // Where the main image ends; a truncated or damaged one is kept whole.
    let end = match crate::media::jpeg::EoiScan::at(sos).advance(data) {
        Ok(Some(end)) => end,
        _ => data.len(),
    };
    edits.plan(data, end, "image/jpeg", "jpg")
}
