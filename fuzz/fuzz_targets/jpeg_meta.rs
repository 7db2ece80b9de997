//! JPEG segment walkers (media::jpeg, media::render): `jpeg_meta` (EXIF orientation,
//! thumbnail and MPF preview ranges), `capture_time`, `icc_profile`, the end-of-image
//! scan `EoiScan`, and `instant_preview` (the EXIF thumbnail of an upload in
//! progress, decoded by libjpeg-turbo). Invariants: orientation is 1–8 and preview
//! ranges lie inside the file; an ICC profile is at least a header long and its
//! declared size; `EoiScan` fed the file in growing pieces ends where it ends fed
//! whole, and the end it finds is inside the file, just past an EOI marker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::media::jpeg::{capture_time, jpeg_meta, EoiScan};
use venuebox::media::render::{icc_profile, instant_preview};

fuzz_target!(|data: &[u8]| {
    let meta = jpeg_meta(data);
    assert!((1..=8).contains(&meta.orientation), "{meta:?}");
    for (start, end) in [meta.exif_thumbnail, meta.mpf_preview]
        .into_iter()
        .flatten()
    {
        assert!(start <= end && end <= data.len(), "{meta:?}");
    }
    let _ = capture_time(data);
    if let Some(icc) = icc_profile(data) {
        assert!(icc.len() >= 132);
        assert_eq!(
            u32::from_be_bytes(icc[..4].try_into().unwrap()) as usize,
            icc.len()
        );
    }
    if data.len() >= 2 {
        let whole = EoiScan::at(2).advance(data);
        if let Ok(Some(end)) = whole {
            assert!(end >= 4 && end <= data.len());
            assert_eq!(&data[end - 2..end], &[0xFF, 0xD9]);
        }
        // The same scan, as an upload's bytes arrive: pieces of 1 to 64 bytes.
        let step = usize::from(data[0] % 64) + 1;
        let mut scan = EoiScan::at(2);
        let mut seen = 2.min(data.len());
        let pieces = loop {
            seen = (seen + step).min(data.len());
            match scan.advance(&data[..seen]) {
                Ok(None) if seen < data.len() => continue,
                other => break other,
            }
        };
        assert_eq!(pieces, whole);
    }
    if data.len() <= 1 << 16 {
        let _ = instant_preview(data);
    }
});
