//! Private EXIF removed from a TIFF structure in place: the TIFF files themselves, and
//! the EXIF blocks inside JPEG, PNG, WebP and HEIF, which are TIFF structures too.
//!
//! Nothing moves, so no offset anywhere in the file needs fixing: a private entry is
//! taken out of its IFD by shifting the entries after it up (the count drops by one,
//! the next-IFD offset moves up with them, the freed bytes at the end become zeros),
//! and its value bytes, inline or not, are overwritten with zeros. The GPS IFD loses
//! its pointer and all its bytes. XMP stored in a TIFF tag is blanked when private.

use super::{blank_xmp, is_private_xmp, Edits, PrivacyError};

/// Tags whose entries are removed (see the parent module for why).
pub const PRIVATE: [u16; 7] = [
    0x8825, // GPSInfo (the GPS IFD pointer; the IFD itself is zeroed)
    0x927C, // MakerNote
    0xA430, // CameraOwnerName
    0xA431, // BodySerialNumber
    0xA435, // LensSerialNumber
    0xC62F, // CameraSerialNumber (DNG)
    0xC634, // DNGPrivateData (a copy of the maker note)
];
const XMP: u16 = 0x02BC;
/// IFD pointers followed: Exif, Interoperability, SubIFDs (DNG's raw and previews).
const POINTERS: [u16; 3] = [0x8769, 0xA005, 0x014A];
const GPS: u16 = 0x8825;
/// More IFDs than any camera writes: beyond this the structure is hostile.
const MAX_IFDS: usize = 64;
const MAX_ENTRIES: usize = 4096;

struct Reader<'a> {
    tiff: &'a [u8],
    le: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
}

/// Bytes per value of a TIFF field type (0 for types this code does not know).
fn type_size(typ: u16) -> usize {
    match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 => 8,
        _ => 0,
    }
}

/// One IFD entry, read.
struct Entry {
    tag: u16,
    /// Where its value bytes are, relative to the TIFF header.
    value: std::ops::Range<usize>,
    /// Are they in the entry itself (4 bytes or fewer, TIFF 6.0 section 2)? An
    /// out-of-line value is one even when its offset names the entry's own value
    /// field: it then runs on over the entries after it (found by fuzz target
    /// privacy_tiff, CI of stop 26).
    inline: bool,
}

/// Does `tiff` start with a TIFF header (classic TIFF, either byte order)?
pub fn is_tiff(tiff: &[u8]) -> bool {
    tiff.starts_with(b"II*\0") || tiff.starts_with(b"MM\0*")
}

/// Records, in `edits`, the removal of every private field of the TIFF structure
/// `tiff`, which starts at `base` in the file. Fails (and the caller refuses the
/// download) when the structure cannot be walked: a leak must never pass for damage.
pub fn scrub(tiff: &[u8], base: usize, edits: &mut Edits) -> Result<(), PrivacyError> {
    let le = match tiff.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Err(PrivacyError::Damaged("no TIFF header in the EXIF block")),
    };
    let r = Reader { tiff, le };
    let damaged = || PrivacyError::Damaged("an EXIF directory runs past its block");
    // (offset, is a main-chain IFD whose next pointer is followed)
    let mut queue = vec![(r.u32(4).ok_or_else(damaged)? as usize, true)];
    let mut seen = std::collections::HashSet::new();
    // The directories walked, and the out-of-line bytes zeroed or blanked: a hostile
    // structure can lay one over the other, and the edits of one would then break the
    // other (the output could not be walked again), so overlaps are refused.
    // The 8-byte header counts as one: a private value laid over it would leave no
    // TIFF header to walk a second time (found by fuzz target privacy_tiff).
    let mut dirs: Vec<std::ops::Range<usize>> = Vec::new();
    dirs.push(0..8);
    let mut wiped: Vec<std::ops::Range<usize>> = Vec::new();
    while let Some((ifd, chain)) = queue.pop() {
        if ifd == 0 {
            continue;
        }
        if !seen.insert(ifd) {
            continue; // a loop, or two pointers to one IFD
        }
        if seen.len() > MAX_IFDS {
            return Err(PrivacyError::Damaged("too many EXIF directories"));
        }
        let count = r.u16(ifd).ok_or_else(damaged)? as usize;
        if count > MAX_ENTRIES {
            return Err(PrivacyError::Damaged(
                "an EXIF directory is implausibly long",
            ));
        }
        let end = ifd + 2 + count * 12 + 4;
        if end > tiff.len() {
            // Some writers omit the final next-IFD offset of the last directory.
            if ifd + 2 + count * 12 > tiff.len() {
                return Err(damaged());
            }
        }
        dirs.push(ifd..end.min(tiff.len()));
        let mut kept: Vec<usize> = Vec::with_capacity(count);
        let mut removed = false;
        for i in 0..count {
            let at = ifd + 2 + i * 12;
            let entry = read_entry(&r, at);
            let tag = r.u16(at).ok_or_else(damaged)?;
            if PRIVATE.contains(&tag) {
                removed = true;
                if let Some(e) = &entry {
                    edits.zero(base + e.value.start, e.value.len());
                    if !e.inline {
                        wiped.push(e.value.clone());
                    }
                }
                if tag == GPS {
                    if let Some(gps) = r.u32(at + 8) {
                        zero_ifd(&r, gps as usize, base, edits, &mut wiped)?;
                    }
                }
                continue;
            }
            kept.push(at);
            let Some(e) = entry else { continue };
            if tag == XMP {
                let xmp = &tiff[e.value.clone()];
                if is_private_xmp(xmp) {
                    edits.patch(base + e.value.start, blank_xmp(xmp.len()));
                    if !e.inline {
                        wiped.push(e.value.clone());
                    }
                }
            }
            if POINTERS.contains(&e.tag) {
                // Pointers kept out of line are structure too: a private value laid over
                // them would send a second walk elsewhere (found by fuzz target
                // privacy_tiff: pointers laid under a private value).
                if !e.inline {
                    dirs.push(e.value.clone());
                }
                for p in e.value.clone().step_by(4) {
                    if let Some(sub) = r.u32(p).filter(|_| p + 4 <= e.value.end) {
                        queue.push((sub as usize, false));
                    }
                }
            }
        }
        let next = r.u32(ifd + 2 + count * 12).unwrap_or(0);
        if removed {
            // The kept entries, packed, then the next-IFD offset, then zeros.
            let mut packed = Vec::with_capacity(end - ifd);
            let n = kept.len() as u16;
            packed.extend_from_slice(&if le { n.to_le_bytes() } else { n.to_be_bytes() });
            for at in &kept {
                packed.extend_from_slice(&tiff[*at..*at + 12]);
            }
            packed.extend_from_slice(&if le {
                next.to_le_bytes()
            } else {
                next.to_be_bytes()
            });
            let len = (end.min(tiff.len())) - ifd;
            packed.resize(len, 0);
            edits.patch(base + ifd, packed);
        }
        if chain {
            queue.push((next as usize, true));
        }
    }
    let overlap =
        |a: &std::ops::Range<usize>, b: &std::ops::Range<usize>| a.start < b.end && b.start < a.end;
    for (i, dir) in dirs.iter().enumerate() {
        if dirs[i + 1..].iter().any(|d| overlap(d, dir)) || wiped.iter().any(|w| overlap(w, dir)) {
            return Err(PrivacyError::Damaged(
                "an EXIF directory overlaps another or a private value",
            ));
        }
    }
    Ok(())
}

fn read_entry(r: &Reader, at: usize) -> Option<Entry> {
    let tag = r.u16(at)?;
    let size = type_size(r.u16(at + 2)?).checked_mul(r.u32(at + 4)? as usize)?;
    let inline = size <= 4;
    let start = if inline {
        at + 8
    } else {
        r.u32(at + 8)? as usize
    };
    let end = start.checked_add(size)?;
    (end <= r.tiff.len()).then_some(Entry {
        tag,
        value: start..end,
        inline,
    })
}

/// Zeroes a GPS IFD: its entries, their values and its count.
fn zero_ifd(
    r: &Reader,
    ifd: usize,
    base: usize,
    edits: &mut Edits,
    wiped: &mut Vec<std::ops::Range<usize>>,
) -> Result<(), PrivacyError> {
    let Some(count) = r.u16(ifd).map(usize::from) else {
        return Ok(()); // a pointer out of the block: there is nothing to leak there
    };
    if count > MAX_ENTRIES {
        return Err(PrivacyError::Damaged(
            "the GPS directory is implausibly long",
        ));
    }
    let end = (ifd + 2 + count * 12 + 4).min(r.tiff.len());
    for i in 0..count {
        if let Some(e) = read_entry(r, ifd + 2 + i * 12) {
            edits.zero(base + e.value.start, e.value.len());
            wiped.push(e.value);
        }
    }
    edits.zero(base + ifd, end - ifd);
    wiped.push(ifd..end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF: IFD0 with Artist, a GPS pointer and an Exif pointer; the
    /// Exif IFD with a BodySerialNumber and an ExposureTime; the GPS IFD with latitude.
    fn sample() -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        let entry = |t: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: u32| {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&typ.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        };
        // IFD0 at 8: 3 entries → ends at 8 + 2 + 36 + 4 = 50.
        t.extend_from_slice(&3u16.to_le_bytes());
        entry(&mut t, 0x013B, 2, 4, u32::from_le_bytes(*b"Ana\0"));
        entry(&mut t, 0x8769, 4, 1, 50);
        entry(&mut t, 0x8825, 4, 1, 80);
        t.extend_from_slice(&0u32.to_le_bytes());
        // Exif IFD at 50: 2 entries → ends at 50 + 2 + 24 + 4 = 80.
        t.extend_from_slice(&2u16.to_le_bytes());
        entry(&mut t, 0x829A, 4, 1, 7);
        entry(&mut t, 0xA431, 2, 9, 98);
        t.extend_from_slice(&0u32.to_le_bytes());
        // GPS IFD at 80: 1 entry → ends at 98; its value would be out of line.
        t.extend_from_slice(&1u16.to_le_bytes());
        entry(&mut t, 0x0002, 2, 4, u32::from_le_bytes(*b"48N\0"));
        t.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(t.len(), 98);
        t.extend_from_slice(b"SN123456\0");
        t
    }

    #[test]
    fn private_entries_leave_and_the_rest_stays_where_it_was() {
        let t = sample();
        let mut edits = Edits::default();
        scrub(&t, 0, &mut edits).unwrap();
        let out = edits.apply_to(&t).unwrap();
        assert_eq!(out.len(), t.len(), "nothing moves");
        assert!(!out.windows(6).any(|w| w == b"SN1234"), "serial zeroed");
        assert!(!out.windows(3).any(|w| w == b"48N"), "GPS zeroed");
        let exif = exif::Reader::new().read_raw(out).unwrap();
        let tags: Vec<_> = exif.fields().map(|f| f.tag.number()).collect();
        assert!(
            tags.contains(&0x013B) && tags.contains(&0x829A),
            "{tags:x?}"
        );
        assert!(
            !tags.contains(&0xA431) && !tags.contains(&0x8825),
            "{tags:x?}"
        );
    }

    #[test]
    fn hostile_structures_are_refused_or_walked_safely() {
        let mut edits = Edits::default();
        assert!(scrub(b"XX*\0\x08\0\0\0", 0, &mut edits).is_err());
        // IFD0 pointing past the end.
        assert!(scrub(b"II*\0\xFF\0\0\0", 0, &mut edits).is_err());
        // A directory that points at itself as its next one.
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&8u32.to_le_bytes());
        assert!(scrub(&t, 0, &mut edits).is_ok());
    }

    #[test]
    fn a_private_value_laid_over_a_directory_is_refused() {
        // Found by fuzz/fuzz_targets/privacy_tiff.rs: a private XMP packet whose bytes
        // held the Exif IFD was blanked over it, and the output, with the Exif pointer
        // now leading to spaces, was refused by a second scrub.
        let original =
            include_bytes!("../../../fuzz/regressions/privacy_tiff/xmp_over_exif_ifd.tif");
        let mut edits = Edits::default();
        assert!(matches!(
            scrub(original, 0, &mut edits),
            Err(PrivacyError::Damaged(_))
        ));
        // A private value laid over the TIFF header itself: zeroing it left no header.
        let original = include_bytes!("../../../fuzz/regressions/privacy_tiff/header_zeroed.tif");
        assert!(matches!(
            scrub(original, 0, &mut Edits::default()),
            Err(PrivacyError::Damaged(_))
        ));
        // The same in the sample: the serial's out-of-line value moved onto IFD0.
        let mut t = sample();
        t[72..76].copy_from_slice(&8u32.to_le_bytes());
        assert!(scrub(&t, 0, &mut Edits::default()).is_err());
        // Its offset naming its own value field (72): the 9 bytes run on over the
        // Exif IFD's next pointer and into the GPS IFD, so they are out of line too,
        // and laid over the directory they are in. Taken for inline, they were zeroed
        // past the entry, unchecked, and a second walk met what that left.
        let mut t = sample();
        t[72..76].copy_from_slice(&72u32.to_le_bytes());
        assert!(matches!(
            scrub(&t, 0, &mut Edits::default()),
            Err(PrivacyError::Damaged(_))
        ));
        // The input the fuzzer found (CI, stop 26): a private XMP packet of 2805 bytes
        // whose offset, 246, is its own entry's value field, so the blank packet ran
        // over the three entries after it and IFD0's next pointer, which then led
        // past the end.
        let original = include_bytes!(
            "../../../fuzz/regressions/privacy_tiff/xmp_offset_is_its_own_entry.tif"
        );
        assert!(matches!(
            scrub(original, 0, &mut Edits::default()),
            Err(PrivacyError::Damaged(_))
        ));
        assert!(scrub(&sample(), 0, &mut Edits::default()).is_ok());
    }
}
