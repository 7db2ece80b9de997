//! JPEG segment walkers (media::jpeg, media::render): `jpeg_meta` (EXIF orientation,
//! thumbnail and MPF preview ranges), `capture_time`, `icc_profile`, the end-of-image
//! scan `EoiScan`, and `instant_preview` (the EXIF thumbnail of an upload in
//! progress, decoded by libjpeg-turbo). Invariants: orientation is 1–8 and preview
//! ranges lie inside the file; an ICC profile is at least a header long and its
//! declared size; `EoiScan` fed the file in growing pieces ends where it ends fed
//! whole, and the end it finds is inside the file, just past an EOI marker;
//! `progressive_low_scans` answers only with a shorter JPEG (SOI … EOI) that
//! libjpeg-turbo decodes without a warning wherever it decodes the whole file so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::media::jpeg::{capture_time, jpeg_meta, progressive_low_scans, EoiScan};
use venuebox::media::jpeg_dc::libjpeg_turbo_reduced;
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
    if let Some(low) = progressive_low_scans(data, 5) {
        assert!(low.starts_with(&[0xFF, 0xD8]) && low.ends_with(&[0xFF, 0xD9]));
        assert!(low.len() < data.len());
        // Decoded only where the frame is at most 4 MP, so that a huge declared
        // frame costs neither the memory nor the time limit: every FF C0–CF byte
        // pair that could start a SOF (DHT, JPG and DAC aside) must declare that
        // little, the real one among them.
        let small = data
            .windows(9)
            .filter(|w| w[0] == 0xFF && (0xC0..=0xCF).contains(&w[1]))
            .filter(|w| !matches!(w[1], 0xC4 | 0xC8 | 0xCC))
            .all(|w| {
                let (h, w) = (
                    u16::from_be_bytes([w[5], w[6]]),
                    u16::from_be_bytes([w[7], w[8]]),
                );
                h as u64 * w as u64 <= 4 << 20
            });
        if !small {
            return;
        }
        if let Ok((_, None)) = libjpeg_turbo_reduced(data, 2) {
            let (_, warning) = libjpeg_turbo_reduced(&low, 2)
                .unwrap_or_else(|e| panic!("the whole file decodes, its low scans: {e}"));
            assert_eq!(warning, None, "the whole file decodes without a warning");
        }
    }
});
