//! The full derivative of a PNG. Chunks carry their own CRC and nothing points at
//! them, so a private chunk is simply left out, and an `eXIf` chunk is scrubbed in
//! place and given a new CRC. Text chunks: XMP (`XML:com.adobe.xmp`) is dropped when
//! private or compressed (unreadable here, so unknown), and the hex-dumped EXIF/XMP
//! blocks ImageMagick and exiftool write (`Raw profile type exif|xmp|app1`) are
//! dropped, as are chunks named after a private field (ImageMagick's `exif:GPSInfo`,
//! `exif:MakerNote`...); other text (Author, Copyright, Comment...) stays. Nothing
//! after `IEND`.

use super::{is_private_xmp, tiff, Edits, FullPlan, PrivacyError};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// One chunk: its type, its data range and its whole range (length to CRC).
struct Chunk {
    kind: [u8; 4],
    data: std::ops::Range<usize>,
    whole: std::ops::Range<usize>,
}

/// The chunks through `IEND` (or to the end of a truncated file).
fn chunks(data: &[u8]) -> Result<Vec<Chunk>, PrivacyError> {
    if !data.starts_with(SIGNATURE) {
        return Err(PrivacyError::Damaged("not a PNG"));
    }
    let mut out = Vec::new();
    let mut pos = SIGNATURE.len();
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .filter(|&e| e <= data.len())
            .ok_or(PrivacyError::Damaged("a PNG chunk runs past the end"))?;
        out.push(Chunk {
            kind,
            data: pos + 8..end - 4,
            whole: pos..end,
        });
        pos = end;
        if &kind == b"IEND" {
            break;
        }
    }
    Ok(out)
}

/// The TIFF bytes of the `eXIf` chunk.
pub(super) fn exif_block(data: &[u8]) -> Option<&[u8]> {
    let c = chunks(data)
        .ok()?
        .into_iter()
        .find(|c| &c.kind == b"eXIf")?;
    let body = &data[c.data];
    Some(body.strip_prefix(b"Exif\0\0").unwrap_or(body))
}

/// Is this text chunk private? `kind` is tEXt, zTXt or iTXt.
fn private_text(kind: &[u8; 4], body: &[u8]) -> bool {
    let Some(nul) = body.iter().position(|&b| b == 0) else {
        return false;
    };
    let keyword = &body[..nul];
    let lower = keyword.to_ascii_lowercase();
    if lower.starts_with(b"raw profile type ") {
        let what = &lower[b"raw profile type ".len()..];
        return matches!(what, b"exif" | b"xmp" | b"app1" | b"8bim");
    }
    if keyword == b"XML:com.adobe.xmp" {
        // iTXt: keyword NUL, compression flag, method, language NUL, translated NUL, text.
        let compressed = kind != b"iTXt" || body.get(nul + 1) != Some(&0);
        return compressed || is_private_xmp(&body[nul..]);
    }
    // ImageMagick copies every EXIF field into a text chunk of its own
    // ("exif:GPSInfo", "exif:MakerNote"...): those are judged by name.
    is_private_xmp(keyword) || keyword.windows(9).any(|w| w == b"MakerNote")
}

/// Plans the full derivative of a PNG.
pub(super) fn plan(data: &[u8]) -> Result<FullPlan, PrivacyError> {
    let chunks = chunks(data)?;
    if chunks.first().map(|c| &c.kind) != Some(b"IHDR") {
        return Err(PrivacyError::Damaged("a PNG without its header chunk"));
    }
    let end = chunks.last().map_or(SIGNATURE.len(), |c| c.whole.end);
    let mut edits = Edits::default();
    for c in &chunks {
        let body = &data[c.data.clone()];
        match &c.kind {
            b"eXIf" => {
                let offset = if body.starts_with(b"Exif\0\0") { 6 } else { 0 };
                let mut scrubbed = Edits::default();
                tiff::scrub(&body[offset..], offset, &mut scrubbed)?;
                // The chunk rebuilt: its data scrubbed, then a new CRC over type + data.
                let mut chunk = data[c.whole.start..c.data.end].to_vec();
                let new_body = scrubbed.apply_to(body)?;
                chunk[8..].copy_from_slice(&new_body);
                let crc = crc32fast::hash(&chunk[4..]);
                chunk.extend_from_slice(&crc.to_be_bytes());
                edits.replace(c.whole.clone(), chunk);
            }
            kind @ (b"tEXt" | b"zTXt" | b"iTXt") if private_text(kind, body) => {
                edits.replace(c.whole.clone(), Vec::new());
            }
            _ => {}
        }
    }
    edits.plan(data, end, "image/png", "png")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = (body.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(body);
        let crc = crc32fast::hash(&c[4..]);
        c.extend_from_slice(&crc.to_be_bytes());
        c
    }

    #[test]
    fn private_text_leaves_other_text_stays() {
        let ihdr = chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        let author = chunk(b"tEXt", b"Author\0Ana");
        let raw = chunk(b"zTXt", b"Raw profile type exif\0\0xx");
        let gps = chunk(b"tEXt", b"exif:GPSLatitude\x0048/1");
        let xmp = chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<photoshop:City>Paris");
        let iend = chunk(b"IEND", b"");
        let mut png = SIGNATURE.to_vec();
        for c in [&ihdr, &author, &raw, &gps, &xmp, &iend] {
            png.extend_from_slice(c);
        }
        png.extend_from_slice(b"trailing");
        let out = plan(&png).unwrap().assemble(&png);
        let mut want = SIGNATURE.to_vec();
        for c in [&ihdr, &author, &iend] {
            want.extend_from_slice(c);
        }
        assert_eq!(out, want);
    }
}
