//! The full derivative of a HEIF/HEIC file (ISO base media format). Its metadata are
//! items: the `meta` box lists them (`iinf`) and says where their bytes are (`iloc`),
//! in `mdat` or `idat`. The `Exif` item (a 4-byte offset, then a TIFF structure) is
//! scrubbed in place and an XMP item (`mime`, application/rdf+xml) is blanked in place
//! when private, so no box size and no item location changes.

use super::{blank_xmp, is_private_xmp, tiff, Edits, FullPlan, PrivacyError};

type Range = std::ops::Range<usize>;

const DAMAGED: PrivacyError = PrivacyError::Damaged("the HEIF item structure is broken");

/// The boxes directly inside `range`: (type, content range).
fn boxes(data: &[u8], range: Range) -> Result<Vec<([u8; 4], Range)>, PrivacyError> {
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos + 8 <= range.end {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as u64;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
        let (header, size) = match size {
            0 => (8, (range.end - pos) as u64),
            1 => {
                let large = data.get(pos + 8..pos + 16).ok_or(DAMAGED)?;
                (16, u64::from_be_bytes(large.try_into().expect("8 bytes")))
            }
            n => (8, n),
        };
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| pos.checked_add(s))
            .filter(|&e| e <= range.end && e >= pos + header)
            .ok_or(DAMAGED)?;
        out.push((kind, pos + header..end));
        pos = end;
    }
    Ok(out)
}

/// A big-endian cursor over one box's content.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PrivacyError> {
        let to = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.end)
            .ok_or(DAMAGED)?;
        let out = &self.data[self.pos..to];
        self.pos = to;
        Ok(out)
    }

    /// An unsigned number of `n` bytes (0, 1, 2, 4 or 8).
    fn uint(&mut self, n: usize) -> Result<u64, PrivacyError> {
        Ok(self.take(n)?.iter().fold(0u64, |v, &b| v << 8 | b as u64))
    }

    fn cstring(&mut self) -> Result<&[u8], PrivacyError> {
        let rest = &self.data[self.pos..self.end];
        let nul = rest.iter().position(|&b| b == 0).ok_or(DAMAGED)?;
        let s = &rest[..nul];
        self.pos += nul + 1;
        Ok(s)
    }
}

/// What the metadata items of a file are, and where their bytes lie.
#[derive(Default)]
struct Items {
    /// Items of type `Exif`.
    exif: Vec<u32>,
    /// `mime` items of type application/rdf+xml.
    xmp: Vec<u32>,
    /// Item → its byte ranges in the file.
    locations: std::collections::HashMap<u32, Vec<Range>>,
    /// Where item data may lie: the contents of the top-level `mdat` boxes and of
    /// `meta`'s `idat` (ISO/IEC 14496-12 §8.11.3, construction methods 0 and 1).
    data_areas: Vec<Range>,
}

fn items(data: &[u8]) -> Result<Items, PrivacyError> {
    let top = boxes(data, 0..data.len())?;
    let Some((_, meta)) = top.iter().find(|(k, _)| k == b"meta") else {
        return Ok(Items::default()); // no items, no item metadata
    };
    // meta is a full box: version and flags first.
    if meta.len() < 4 {
        return Err(DAMAGED);
    }
    let children = boxes(data, meta.start + 4..meta.end)?;
    let mut items = Items::default();
    let idat = children
        .iter()
        .find(|(k, _)| k == b"idat")
        .map(|(_, r)| r.clone());
    items.data_areas = top
        .iter()
        .filter(|(k, _)| k == b"mdat")
        .map(|(_, r)| r.clone())
        .chain(idat.clone())
        .collect();
    for (kind, r) in &children {
        let mut c = Cursor {
            data,
            pos: r.start,
            end: r.end,
        };
        match kind {
            b"iinf" => {
                let version = c.uint(1)?;
                c.take(3)?;
                c.uint(if version == 0 { 2 } else { 4 })?; // entry count
                for (kind, infe) in boxes(data, c.pos..r.end)? {
                    if &kind != b"infe" {
                        continue;
                    }
                    let mut e = Cursor {
                        data,
                        pos: infe.start,
                        end: infe.end,
                    };
                    let version = e.uint(1)?;
                    e.take(3)?;
                    if version < 2 {
                        // Old item info: no item type; an XMP item says so by content type.
                        let id = e.uint(2)? as u32;
                        e.take(2)?;
                        e.cstring()?;
                        if e.cstring()? == b"application/rdf+xml" {
                            items.xmp.push(id);
                        }
                        continue;
                    }
                    let id = e.uint(if version == 2 { 2 } else { 4 })? as u32;
                    e.take(2)?; // protection index
                    let item_type = e.take(4)?.to_vec();
                    e.cstring()?; // name
                    match item_type.as_slice() {
                        b"Exif" => items.exif.push(id),
                        b"mime" if e.cstring()? == b"application/rdf+xml" => items.xmp.push(id),
                        _ => {}
                    }
                }
            }
            b"iloc" => {
                let version = c.uint(1)?;
                c.take(3)?;
                let sizes = c.uint(1)?;
                let (offset_size, length_size) = ((sizes >> 4) as usize, (sizes & 15) as usize);
                let sizes = c.uint(1)?;
                let base_size = (sizes >> 4) as usize;
                let index_size = if version >= 1 {
                    (sizes & 15) as usize
                } else {
                    0
                };
                for n in [offset_size, length_size, base_size, index_size] {
                    if ![0, 4, 8].contains(&n) {
                        return Err(DAMAGED);
                    }
                }
                let count = c.uint(if version < 2 { 2 } else { 4 })?;
                for _ in 0..count {
                    let id = c.uint(if version < 2 { 2 } else { 4 })? as u32;
                    let method = if version >= 1 { c.uint(2)? & 15 } else { 0 };
                    c.take(2)?; // data reference index
                    let base = c.uint(base_size)?;
                    let extents = c.uint(2)?;
                    let mut ranges = Vec::new();
                    for _ in 0..extents {
                        c.uint(index_size)?;
                        let offset = c.uint(offset_size)?;
                        let length = c.uint(length_size)?;
                        let origin = match (method, &idat) {
                            (0, _) => 0u64,
                            (1, Some(idat)) => idat.start as u64,
                            // From another item (2) or without an idat: not followed.
                            _ => u64::MAX,
                        };
                        let start = origin.checked_add(base).and_then(|s| s.checked_add(offset));
                        let end = start.and_then(|s| s.checked_add(length));
                        if let (Some(s), Some(e)) = (start, end) {
                            if length > 0 && e <= data.len() as u64 {
                                ranges.push(s as usize..e as usize);
                                continue;
                            }
                        }
                        ranges.push(0..0); // marks an extent that cannot be located
                    }
                    items.locations.insert(id, ranges);
                }
            }
            _ => {}
        }
    }
    // One item typed both Exif and XMP (two `infe` boxes with its ID) would be
    // scrubbed twice over the same bytes: blanking it as XMP overwrote its Exif TIFF
    // offset, and a second scrub refused the output (found by fuzzing,
    // docs/fuzzing.md). An item has one type (ISO/IEC 14496-12 §8.11.6); such a file
    // is refused as damaged. An ID listed twice with the same type is scrubbed once.
    items.exif.sort_unstable();
    items.exif.dedup();
    items.xmp.sort_unstable();
    items.xmp.dedup();
    if items
        .exif
        .iter()
        .any(|id| items.xmp.binary_search(id).is_ok())
    {
        return Err(PrivacyError::Damaged(
            "a HEIF metadata item is typed both Exif and XMP",
        ));
    }
    Ok(items)
}

/// The single byte range of a metadata item; an item that cannot be located, or whose
/// bytes are spread over extents, cannot be scrubbed in place. Nor can one whose bytes
/// are not inside an `mdat` or the `idat`, or overlap another item's (found by fuzzing,
/// docs/fuzzing.md): scrubbing it would rewrite box headers, the item tables or another
/// item (an Exif item's offset inside a blanked XMP item), and the output would no
/// longer parse the same. Camera and phone files keep items apart.
fn location(items: &Items, id: u32) -> Result<Range, PrivacyError> {
    match items.locations.get(&id).map(Vec::as_slice) {
        Some([r]) if !r.is_empty() => {
            let inside = items
                .data_areas
                .iter()
                .any(|a| a.start <= r.start && r.end <= a.end);
            let overlaps = items.locations.iter().any(|(other, ranges)| {
                *other != id && ranges.iter().any(|o| o.start < r.end && r.start < o.end)
            });
            if !inside {
                Err(PrivacyError::Damaged(
                    "a HEIF metadata item lies outside the file's media data",
                ))
            } else if overlaps {
                Err(PrivacyError::Damaged(
                    "a HEIF metadata item overlaps another item",
                ))
            } else {
                Ok(r.clone())
            }
        }
        _ => Err(PrivacyError::Damaged(
            "a HEIF metadata item cannot be located in one piece",
        )),
    }
}

/// The TIFF structure in an Exif item: after a 4-byte offset to the TIFF header.
fn exif_tiff(data: &[u8], r: Range) -> Result<Range, PrivacyError> {
    let skip = u32::from_be_bytes(
        data.get(r.start..r.start + 4)
            .ok_or(DAMAGED)?
            .try_into()
            .expect("4 bytes"),
    );
    let start = (r.start + 4)
        .checked_add(skip as usize)
        .filter(|&s| s < r.end)
        .ok_or(DAMAGED)?;
    Ok(start..r.end)
}

/// The TIFF bytes of the first Exif item.
pub(super) fn exif_block(data: &[u8]) -> Option<&[u8]> {
    let items = items(data).ok()?;
    let r = location(&items, *items.exif.first()?).ok()?;
    Some(&data[exif_tiff(data, r).ok()?])
}

/// Plans the full derivative of a HEIF file.
pub(super) fn plan(
    data: &[u8],
    media_type: &'static str,
    ext: &'static str,
) -> Result<FullPlan, PrivacyError> {
    let items = items(data)?;
    let mut edits = Edits::default();
    for id in &items.exif {
        let t = exif_tiff(data, location(&items, *id)?)?;
        tiff::scrub(&data[t.clone()], t.start, &mut edits)?;
    }
    for id in &items.xmp {
        let r = location(&items, *id)?;
        if is_private_xmp(&data[r.clone()]) {
            edits.patch(r.start, blank_xmp(r.len()));
        }
    }
    edits.plan(data, data.len(), media_type, ext)
}
