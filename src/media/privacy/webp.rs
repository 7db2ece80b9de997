//! The full derivative of a WebP: its `EXIF` chunk scrubbed in place, a private `XMP `
//! chunk blanked in place (so no size or VP8X flag changes), nothing after the RIFF.

use super::{blank_xmp, is_private_xmp, tiff, Edits, FullPlan, PrivacyError};

/// A chunk: its fourcc and data range.
type Chunk = ([u8; 4], std::ops::Range<usize>);

/// The chunks of a WebP, and where the RIFF ends.
fn chunks(data: &[u8]) -> Result<(Vec<Chunk>, usize), PrivacyError> {
    if data.len() < 12 || &data[..4] != b"RIFF" || &data[8..12] != b"WEBP" {
        return Err(PrivacyError::Damaged("not a WebP"));
    }
    let riff = u32::from_le_bytes(data[4..8].try_into().expect("4 bytes")) as usize;
    // The RIFF size counts the `WEBP` fourcc: a smaller one would cut the file short of
    // its own header.
    if riff < 4 {
        return Err(PrivacyError::Damaged("the RIFF size is too small"));
    }
    let end = riff.saturating_add(8).min(data.len());
    let mut out = Vec::new();
    let mut pos = 12;
    while pos + 8 <= end {
        let kind: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
        let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let body_end = pos
            .checked_add(8)
            .and_then(|p| p.checked_add(len))
            .filter(|&e| e <= end)
            .ok_or(PrivacyError::Damaged("a WebP chunk runs past the end"))?;
        out.push((kind, pos + 8..body_end));
        pos = body_end + (len & 1);
    }
    Ok((out, end))
}

/// Where the TIFF structure starts in an `EXIF` chunk (some writers put JPEG's
/// "Exif\0\0" before it).
fn tiff_start(body: &[u8]) -> usize {
    if body.starts_with(b"Exif\0\0") {
        6
    } else {
        0
    }
}

/// The TIFF bytes of the `EXIF` chunk.
pub(super) fn exif_block(data: &[u8]) -> Option<&[u8]> {
    let (chunks, _) = chunks(data).ok()?;
    let (_, r) = chunks.into_iter().find(|(k, _)| k == b"EXIF")?;
    let body = &data[r];
    Some(&body[tiff_start(body)..])
}

/// Plans the full derivative of a WebP.
pub(super) fn plan(data: &[u8]) -> Result<FullPlan, PrivacyError> {
    let (chunks, end) = chunks(data)?;
    let mut edits = Edits::default();
    for (kind, r) in chunks {
        let body = &data[r.clone()];
        match &kind {
            b"EXIF" => {
                let at = tiff_start(body);
                tiff::scrub(&body[at..], r.start + at, &mut edits)?;
            }
            b"XMP " if is_private_xmp(body) => edits.patch(r.start, blank_xmp(body.len())),
            _ => {}
        }
    }
    edits.plan(data, end, "image/webp", "webp")
}
