//! The 1/8-scale baseline decoder `media::jpeg_dc::decode_eighth`, against
//! libjpeg-turbo as the oracle (`jpeg_dc::libjpeg_turbo_eighth`). Invariant: whenever
//! it answers, libjpeg-turbo reads the same bytes' header and decodes them at 1/8 to
//! the same dimensions and byte-identical pixels; otherwise it refuses (`None`)
//! without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::media::jpeg_dc::{decode_eighth, libjpeg_turbo_eighth};

fuzz_target!(|data: &[u8]| {
    let Some(ours) = decode_eighth(data) else {
        return;
    };
    let (theirs, warning) =
        libjpeg_turbo_eighth(data).unwrap_or_else(|e| panic!("decoded here, libjpeg-turbo: {e}"));
    assert_eq!(
        (ours.width, ours.height, ours.channels),
        (theirs.width, theirs.height, theirs.channels)
    );
    // A warning that changes no pixel is allowed (left-over bytes, an unknown JFIF
    // version or Adobe transform); one that does, or a fatal error, shows as pixels
    // that differ.
    assert!(
        ours.data == theirs.data,
        "pixels differ from libjpeg-turbo's (which warned {warning:?})"
    );
});
