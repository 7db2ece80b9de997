//! The 1/8-scale baseline decoder `media::jpeg_dc::decode_eighth`, against
//! libjpeg-turbo as the oracle. Invariant: whenever it answers, libjpeg-turbo reads
//! the same bytes' header and decodes them at 1/8 to the same dimensions and
//! byte-identical pixels; otherwise it refuses (`None`) without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::media::jpeg_dc::decode_eighth;

fuzz_target!(|data: &[u8]| {
    let Some(ours) = decode_eighth(data) else {
        return;
    };
    let mut d = turbojpeg::Decompressor::new().unwrap();
    let header = d
        .read_header(data)
        .unwrap_or_else(|e| panic!("decoded here, libjpeg-turbo: {e}"));
    let factor = turbojpeg::ScalingFactor::new(1, 8);
    d.set_scaling_factor(factor).unwrap();
    let scaled = header.scaled(factor);
    let gray = matches!(header.colorspace, turbojpeg::Colorspace::Gray);
    let (format, channels) = if gray {
        (turbojpeg::PixelFormat::GRAY, 1)
    } else {
        (turbojpeg::PixelFormat::RGB, 3)
    };
    assert_eq!(
        (ours.width, ours.height, ours.channels),
        (scaled.width, scaled.height, channels)
    );
    let mut buf = vec![0u8; scaled.width * scaled.height * channels];
    let image = turbojpeg::Image {
        pixels: buf.as_mut_slice(),
        width: scaled.width,
        pitch: scaled.width * channels,
        height: scaled.height,
        format,
    };
    // A warning that changes no pixel is allowed (left-over bytes, an unknown JFIF
    // version or Adobe transform); one that does, or a fatal error, shows as pixels
    // that differ.
    let result = d.decompress(data, image);
    assert!(
        ours.data == buf,
        "pixels differ from libjpeg-turbo's (which said {result:?})"
    );
});
