//! The reduced-scale baseline decoders of `media::jpeg_dc`, against libjpeg-turbo as
//! the oracle (`jpeg_dc::libjpeg_turbo_eighth`, `jpeg_dc::libjpeg_turbo_reduced`).
//! Invariants, otherwise a refusal (`None`) without a panic:
//! - `decode_eighth`: whenever it answers, libjpeg-turbo reads the same bytes' header
//!   and decodes them at 1/8 to the same dimensions and byte-identical pixels;
//! - `decode_quarter_low` (not exact by design): whenever it answers, libjpeg-turbo
//!   reads the header and decodes at 1/4 to the same dimensions, without a warning
//!   but of left-over bytes (which both ignore), unless the exact 1/8 decode shows
//!   that warning changes no pixel (so it never shows a picture of data
//!   libjpeg-turbo finds damaged);
//! - `decode_eighth_thumb` (exact but for 4:2:0 chroma): the same rule at 1/8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::media::jpeg_dc::{
    decode_eighth, decode_eighth_thumb, decode_quarter_low, libjpeg_turbo_eighth,
    libjpeg_turbo_reduced,
};

fuzz_target!(|data: &[u8]| {
    let eighth = decode_eighth(data);
    if let Some(ours) = &eighth {
        let (theirs, warning) = libjpeg_turbo_eighth(data)
            .unwrap_or_else(|e| panic!("decoded here, libjpeg-turbo: {e}"));
        assert_eq!(
            (ours.width, ours.height, ours.channels),
            (theirs.width, theirs.height, theirs.channels)
        );
        // A warning that changes no pixel is allowed (left-over bytes); one that
        // does, or a fatal error, shows as pixels that differ. (Warnings in the header,
        // which TurboJPEG's header read reports as errors, are refused by the parser.)
        assert!(
            ours.data == theirs.data,
            "pixels differ from libjpeg-turbo's (which warned {warning:?})"
        );
    }
    for (ours, denom) in [
        (decode_quarter_low(data), 4),
        (decode_eighth_thumb(data), 8),
    ] {
        let Some(ours) = ours else { continue };
        let (theirs, warning) = libjpeg_turbo_reduced(data, denom)
            .unwrap_or_else(|e| panic!("decoded at 1/{denom} here, libjpeg-turbo: {e}"));
        assert_eq!(
            (ours.width, ours.height, ours.channels),
            (theirs.width, theirs.height, theirs.channels)
        );
        // Left-over bytes, which both ignore (the same rule as the module's tests).
        if let Some(warning) = warning.filter(|w| !w.contains("extraneous bytes before marker")) {
            assert!(
                eighth.is_some(),
                "decoded at 1/{denom} here, libjpeg-turbo warned {warning}, and 1/8 refused"
            );
        }
    }
});
