//! EXIF readers on untrusted TIFF bytes and containers: the EXIF block of any offered
//! format (`privacy::exif_block`), Artist/Copyright (`privacy::credit`), the colour
//! space EXIF implies (`colour::ExifColourSpace::of_exif`), the tags a rendered
//! derivative carries (`render::Tags::of`, whose ICC check reads the profile's tag
//! table), and the magic-byte sniffer (`ingest::sniff`). Invariants: the EXIF block
//! lies inside the file; the credit EXIF made from a credit reads back to it; a kept
//! ICC profile is at least a header long.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::ingest::sniff;
use venuebox::media::colour::ExifColourSpace;
use venuebox::media::privacy::{credit, credit_exif, exif_block};
use venuebox::media::render::{icc_profile, Tags};

fuzz_target!(|data: &[u8]| {
    if let Some(block) = exif_block(data) {
        let range = data.as_ptr_range();
        assert!(block.is_empty() || range.contains(&block.as_ptr()));
        let _ = ExifColourSpace::of_exif(block);
    }
    let _ = ExifColourSpace::of_exif(data);
    let c = credit(data);
    if let Some(tiff) = credit_exif(&c, 1) {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg = venuebox::media::jpeg::insert_exif(jpeg, &tiff);
        if jpeg.len() > 2 {
            // An empty scan: privacy::exif_block reads the segments before an SOS.
            jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]);
            assert_eq!(credit(&jpeg), c, "credit EXIF reads back");
        }
    }
    for channels in [1, 3] {
        let tags = Tags::of(data, icc_profile(data), channels, true);
        if let Some(icc) = tags.icc {
            assert!(icc.len() >= 132);
        }
    }
    let _ = sniff(data, "x.dng");
});
