//! The PNG scrubber (media::privacy::png: chunks, eXIf, text chunks with EXIF/XMP),
//! with the invariants of fuzz/common/privacy.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/privacy.rs"]
mod privacy;

fuzz_target!(|data: &[u8]| privacy::check(data, "image/png", true));
