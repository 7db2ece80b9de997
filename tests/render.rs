//! Rendering on the real camera corpus: upright whatever the EXIF orientation, no
//! metadata in outputs, CMYK/grey/progressive/alpha inputs, embedded-preview routes,
//! and every hostile file failing cleanly with a reason.

mod common;

use std::path::Path;

use common::testdata;
use venuebox::media::jpeg::jpeg_meta;
use venuebox::media::render::{RenderError, Renderer, Route, DEFAULT_MAX_PIXELS};

fn render(path: &Path, size: u32) -> Result<venuebox::media::render::Rendered, RenderError> {
    Renderer::new(DEFAULT_MAX_PIXELS)
        .unwrap()
        .render(&std::fs::read(path).unwrap(), size, 90)
}

fn decode(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as u64)
        .sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn every_orientation_renders_upright() {
    // orientation_landscape_N.jpg store the same scene rotated/flipped so that EXIF
    // orientation N shows it upright.
    let photos = testdata().join("photos");
    let reference = decode(
        &render(&photos.join("orientation_landscape_1.jpg"), 320)
            .unwrap()
            .bytes,
    );
    assert_eq!(reference.dimensions(), (320, 213));
    for n in 0..=8 {
        let out = render(&photos.join(format!("orientation_landscape_{n}.jpg")), 320).unwrap();
        let img = decode(&out.bytes);
        assert_eq!(img.dimensions(), (320, 213), "orientation {n}");
        let diff = mean_abs_diff(&img, &reference);
        assert!(
            diff < 4.0,
            "orientation {n}: mean difference {diff:.2} from upright"
        );
    }
    // A wrong orientation would be far off: the test can tell.
    let wrong = image::imageops::flip_horizontal(&reference);
    assert!(mean_abs_diff(&wrong, &reference) > 10.0);
}

#[test]
fn derivatives_carry_no_metadata() {
    let photos = testdata().join("photos");
    for name in [
        "canon-eos-rp_MG_0631.JPG",
        "apple-iphone13pro_IMG_8568.JPG",
        "nikon-d90_DSC_0003.JPG",
    ] {
        let out = render(&photos.join(name), 1280).unwrap();
        assert!(out.bytes.starts_with(&[0xFF, 0xD8]));
        let meta = jpeg_meta(&out.bytes);
        assert_eq!(
            (meta.orientation, meta.exif_thumbnail, meta.mpf_preview),
            (1, None, None)
        );
        assert!(
            !out.bytes.windows(6).any(|w| w == b"Exif\0\0"),
            "{name}: EXIF in the output"
        );
        assert!(
            out.width.max(out.height) == 1280,
            "{name}: {}x{}",
            out.width,
            out.height
        );
    }
}

#[test]
fn embedded_previews_and_shrink_on_load_are_used_where_they_fit() {
    let photos = testdata().join("photos");
    // Sony: its 1616×1080 MPF preview is at least twice the thumbnail, so it serves
    // the 320 thumb; the 1280 preview comes from a 1/4-scale decode of the main image.
    // Both keep the main image's exact proportions (6000×4000).
    let sony = photos.join("sony-ilce6400_DSC00007.JPG");
    let thumb = render(&sony, 320).unwrap();
    assert_eq!(
        (thumb.route, thumb.width, thumb.height),
        (Route::MpfPreview, 320, 213)
    );
    let preview = render(&sony, 1280).unwrap();
    assert_eq!(
        (preview.route, preview.width, preview.height),
        (Route::ScaledDecode, 1280, 853)
    );
    // A 512×384 EXIF thumbnail is not used for a 320 thumb (too close in size).
    assert_ne!(
        render(&photos.join("samsung-sm-j327t1.jpg"), 320)
            .unwrap()
            .route,
        Route::ExifThumbnail
    );
    // Nikon D90 has no MPF preview: DCT-domain 1/2 decode.
    assert_eq!(
        render(&photos.join("nikon-d90_DSC_0003.JPG"), 1280)
            .unwrap()
            .route,
        Route::ScaledDecode
    );
    // iPhone's second MPF image is a gain map, never a preview.
    assert_ne!(
        render(&photos.join("apple-iphone13pro_IMG_8568.JPG"), 1280)
            .unwrap()
            .route,
        Route::MpfPreview
    );
    // Rendered from a preview or from the main image, the picture is the same.
    let file = photos.join("sony-ilce6400_DSC00007.JPG");
    let from_preview = decode(&render(&file, 320).unwrap().bytes);
    let reference = image::load_from_memory(&std::fs::read(&file).unwrap())
        .unwrap()
        .resize_exact(
            from_preview.width(),
            from_preview.height(),
            image::imageops::FilterType::Lanczos3,
        );
    let diff = mean_abs_diff(&from_preview, &reference.to_rgb8());
    assert!(
        diff < 6.0,
        "preview route differs from a full decode by {diff:.2}"
    );
}

#[test]
fn cmyk_grey_progressive_and_alpha_inputs_render() {
    let photos = testdata().join("photos");
    for name in [
        "cmyk-progressive-exif_its1cbb1bb3.jpg",
        "ycck-multiple-icc-segments.jpg",
        "hopper_gray.jpg",
        "panasonic-dmc-lc70_progressive.jpg",
        "canon-350d_progressive_issue116.jpg",
        "nintendo-3ds_frozenpond.mpo",
    ] {
        let out = render(&photos.join(name), 320).unwrap_or_else(|e| panic!("{name}: {e}"));
        let img = image::load_from_memory(&out.bytes).unwrap();
        assert!(img.width().max(img.height()) <= 320, "{name}");
        // Not blank: real content survived.
        let rgb = img.to_rgb8();
        let (min, max) = rgb
            .as_raw()
            .iter()
            .fold((255u8, 0u8), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        assert!(max - min > 50, "{name}: flat output");
    }
    // A PNG with alpha: transparent areas become white, opaque ones keep their colour.
    let mut rgba = image::RgbaImage::new(400, 200);
    for (x, _, px) in rgba.enumerate_pixels_mut() {
        *px = if x < 200 {
            image::Rgba([200, 0, 0, 255])
        } else {
            image::Rgba([0, 0, 200, 0])
        };
    }
    let mut png = Vec::new();
    rgba.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let out = Renderer::new(DEFAULT_MAX_PIXELS)
        .unwrap()
        .render(&png, 200, 90)
        .unwrap();
    let img = decode(&out.bytes);
    assert_eq!(img.dimensions(), (200, 100));
    let left = img.get_pixel(20, 50);
    let right = img.get_pixel(180, 50);
    assert!(left[0] > 180 && left[2] < 30, "{left:?}");
    assert!(
        right.0.iter().all(|c| *c > 240),
        "transparent over white: {right:?}"
    );
}

#[test]
fn hostile_files_fail_cleanly_with_a_reason() {
    let bad = testdata().join("bad");
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    let mut failed = 0;
    for entry in std::fs::read_dir(&bad).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let started = std::time::Instant::now();
        match renderer.render(&data, 320, 85) {
            Ok(out) => assert!(out.bytes.starts_with(&[0xFF, 0xD8]), "{}", path.display()),
            Err(e) => {
                failed += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        assert!(
            started.elapsed().as_secs() < 5,
            "{} took too long",
            path.display()
        );
    }
    assert!(failed > 0);
    // Bombs are refused from their headers, before any allocation.
    for name in [
        "gen_bomb_16384x16384_gray.jpg",
        "gen_huge_dims_65500x65500.jpg",
        "gen_png_bomb_20000x20000.png",
    ] {
        let err = renderer
            .render(&std::fs::read(bad.join(name)).unwrap(), 320, 85)
            .unwrap_err();
        assert!(matches!(err, RenderError::TooLarge { .. }), "{name}: {err}");
    }
    // One renderer goes on working after failures.
    let ok = renderer.render(
        &std::fs::read(testdata().join("photos/hopper_gray.jpg")).unwrap(),
        64,
        85,
    );
    assert!(ok.is_ok());
}

#[test]
fn the_render_command_writes_one_file_per_input_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let photos = testdata().join("photos");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_venuebox"))
        .arg("render")
        .arg(photos.join("canon-350d_MG_9381.JPG"))
        .arg(photos.join("hopper_gray.jpg"))
        .arg("--out")
        .arg(dir.path())
        .args(["--size", "320", "--size", "1280", "--quality", "80"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "canon-350d_MG_9381_1280.jpg",
            "canon-350d_MG_9381_320.jpg",
            "hopper_gray_1280.jpg",
            "hopper_gray_320.jpg"
        ]
    );
    let lines = String::from_utf8_lossy(&out.stdout);
    assert_eq!(lines.lines().count(), 4);
    for line in lines.lines() {
        assert_eq!(line.split('\t').count(), 6, "{line}");
    }
    // The portrait Canon (orientation 8) comes out portrait.
    let img = image::open(dir.path().join("canon-350d_MG_9381_1280.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (853, 1280));

    // --format webp: lossy WebP files, same sizes.
    let webp_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_venuebox"))
        .arg("render")
        .arg(photos.join("canon-350d_MG_9381.JPG"))
        .arg("--out")
        .arg(webp_dir.path())
        .args(["--size", "320", "--format", "webp"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let webp = std::fs::read(webp_dir.path().join("canon-350d_MG_9381_320.webp")).unwrap();
    assert_eq!((&webp[..4], &webp[8..12]), (&b"RIFF"[..], &b"WEBP"[..]));
    let img = image::load_from_memory(&webp).unwrap();
    assert_eq!((img.width(), img.height()), (213, 320));

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_venuebox"))
        .arg("render")
        .arg(testdata().join("bad/gen_random_bytes.jpg"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("gen_random_bytes.jpg"));
}

/// A staged render hands over every job in the first format before it encodes the
/// next one (the box stores and serves the JPEGs while the WebPs are made), and the
/// staged results match a one-shot render's.
#[test]
fn a_staged_render_hands_over_each_format_whole_and_in_order() {
    use venuebox::media::render::{Format, Job};
    let data = std::fs::read(testdata().join("photos/nikon-d90_DSC_0003.JPG")).unwrap();
    let jobs = [Job::plain(1280), Job::plain(320)];
    let formats = [Format::Jpeg, Format::Webp];
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    let mut batches: Vec<Vec<(Format, u32)>> = Vec::new();
    let staged = renderer
        .render_staged(&data, &jobs, &formats, 85, |batch| {
            batches.push(batch.iter().map(|r| (r.format, r.width)).collect());
            Ok(())
        })
        .unwrap();
    assert_eq!(
        batches,
        [
            vec![(Format::Jpeg, 1280), (Format::Jpeg, 320)],
            vec![(Format::Webp, 1280), (Format::Webp, 320)],
        ]
    );
    // A failing hand-over stops the render before the next format is encoded.
    let mut calls = 0;
    let err = renderer.render_staged(&data, &jobs, &formats, 85, |_| {
        calls += 1;
        Err(RenderError::Encode("disk full".into()))
    });
    assert!(err.is_err());
    assert_eq!(calls, 1);
    let oneshot = renderer.render_jobs(&data, &jobs, &formats, 85).unwrap();
    assert_eq!(
        oneshot[1].format,
        Format::Webp,
        "one-shot results are job by job"
    );
    assert_eq!(oneshot[0].bytes, staged[0].bytes);
    assert_eq!(oneshot[3].bytes, staged[3].bytes);
}

/// What the render queue reads of a stored photo: a JPEG up to its main image's EOI
/// and its MPF preview, never what is appended after (padding, a motion photo's
/// video); and it renders exactly as the whole file does.
#[test]
fn a_render_reads_the_image_not_what_is_appended_after_it() {
    use venuebox::media::render::read_source;
    let dir = tempfile::tempdir().unwrap();
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    for name in [
        "sony-ilce6400_DSC00007.JPG",         // MPF preview, then 14 KB of zeros
        "canon-eos-rp_MG_0631.JPG",           // MPF preview
        "panasonic-dmc-lc70_progressive.jpg", // several scans
        "nikon-d90_DSC_0003.JPG",
    ] {
        let photo = std::fs::read(testdata().join("photos").join(name)).unwrap();
        // The photo with 5 MB appended, as a motion photo's video would be.
        let mut padded = photo.clone();
        padded.extend((0..5_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
        let path = dir.path().join(name);
        std::fs::write(&path, &padded).unwrap();
        let read = read_source(&path).unwrap();
        assert!(photo.starts_with(&read), "{name}: a prefix of the photo");
        assert!(
            read.len() + 20_000 >= photo.len(),
            "{name}: all the photo's images"
        );
        for size in [320, 1280] {
            let a = renderer.render(&read, size, 85).unwrap();
            let b = renderer.render(&padded, size, 85).unwrap();
            assert_eq!((a.route, a.bytes), (b.route, b.bytes), "{name} at {size}");
        }
    }
    // Not JPEG, or a JPEG without its EOI: all of it.
    let png = std::fs::read(testdata().join("bad/pngsuite_xcsn0g01.png")).unwrap();
    let path = dir.path().join("x.png");
    std::fs::write(&path, &png).unwrap();
    assert_eq!(read_source(&path).unwrap(), png);
    let truncated = std::fs::read(testdata().join("bad/gen_trunc_no_eoi.jpg")).unwrap();
    let path = dir.path().join("t.jpg");
    std::fs::write(&path, &truncated).unwrap();
    assert_eq!(read_source(&path).unwrap(), truncated);
}

/// The corpus's stale-tag file (Canon PowerShot A85: pixels already upright, portrait
/// 1704×2272, orientation 8 left in place) renders as stored, portrait, not sideways
/// (issue 13, item 20); the camera originals tagged 5–8 still turn upright.
#[test]
fn a_stale_orientation_tag_is_not_obeyed() {
    let photos = testdata().join("photos");
    let stale = render(
        &photos.join("canon-powershot-a85_stale-orientation.jpg"),
        320,
    )
    .unwrap();
    assert!(
        stale.height > stale.width,
        "{}x{}",
        stale.width,
        stale.height
    );
    assert_eq!((stale.width, stale.height), (240, 320));
    for (name, portrait) in [
        ("canon-5dmk3_K6A7944.JPG", true),
        ("nikon-d3100_DSC_0008.JPG", true),
        ("apple-iphone13pro_IMG_8568.JPG", true),
    ] {
        let out = render(&photos.join(name), 320).unwrap();
        assert_eq!(
            out.height > out.width,
            portrait,
            "{name}: {}x{}",
            out.width,
            out.height
        );
    }
}
