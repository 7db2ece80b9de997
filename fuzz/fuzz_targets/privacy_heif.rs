//! The HEIF/HEIC scrubber (media::privacy::bmff: ISO BMFF boxes, iinf/iloc, the Exif
//! item), with the invariants of fuzz/common/privacy.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/privacy.rs"]
mod privacy;

fuzz_target!(|data: &[u8]| privacy::check(data, "image/heic", true));
