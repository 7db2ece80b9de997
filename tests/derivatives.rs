//! What leaves the box: derivatives carry no GPS, serial or owner (read back with an
//! EXIF parser) but keep Artist and Copyright; the full download is the original
//! minus its private metadata, with Range, a strong ETag and 304; the format follows
//! Accept (with `Vary: Accept`); the watermarked preview is visibly marked; an
//! upload still arriving already has an instant preview.

mod common;

use std::time::{Duration, Instant};

use common::{testdata, TestBox};
use exif::{In, Tag};

/// Canon 5D Mark III, orientation 1: GPS, Artist, Copyright, body serial and owner.
const PRIVATE: &str = "photos/canon-5dmk3_K6A7942.JPG";

async fn upload(b: &TestBox, token: &str, bytes: &[u8]) -> i64 {
    let id = b.tus_upload(token, bytes).await;
    // Until the queue has rendered it, the instant preview (JPEG) stands in: wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = b.state.previews.state(id).await.unwrap() {
            assert_eq!(s.state, "done", "{s:?}");
            return id;
        }
        assert!(Instant::now() < deadline, "no render after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(b: &TestBox, admin: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(b.url(path)).bearer_auth(admin);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// Every rendered derivative of photo `id` in each format, as (derivative, media
/// type, bytes); each answered 200 in the media type asked for.
async fn every_derivative(
    b: &TestBox,
    admin: &str,
    id: i64,
) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for derivative in ["thumb", "preview", "watermarked"] {
        for accept in ["image/jpeg", "image/webp"] {
            let path = format!("/photos/{id}/{derivative}");
            let r = get(b, admin, &path, &[("Accept", accept)]).await;
            assert_eq!(r.status(), 200, "{derivative} {accept}");
            assert_eq!(r.headers()["content-type"], accept);
            out.push((derivative, accept, r.bytes().await.unwrap().to_vec()));
        }
    }
    out
}

fn exif_of(bytes: &[u8]) -> exif::Exif {
    exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(bytes))
        .expect("an EXIF block")
}

fn text(exif: &exif::Exif, tag: Tag) -> Option<String> {
    exif.get_field(tag, In::PRIMARY)
        .map(|f| f.display_value().to_string())
}

fn private_fields(exif: &exif::Exif) -> Vec<String> {
    exif.fields()
        .filter(|f| venuebox::media::privacy::is_private(f.tag))
        .map(|f| f.tag.to_string())
        .collect()
}

#[tokio::test]
async fn derivatives_and_the_full_download_carry_no_gps_serial_or_owner() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    // iPhone 5: GPS coordinates (latitude, longitude, altitude, direction).
    let phone = std::fs::read(testdata().join("photos/apple-iphone5.jpg")).unwrap();
    let before = private_fields(&exif_of(&phone));
    for tag in ["GPSLatitude", "GPSLongitude", "GPSAltitude"] {
        assert!(before.iter().any(|t| t == tag), "{tag} not in {before:?}");
    }
    let id = upload(&b, &token, &phone).await;
    for (derivative, accept, bytes) in every_derivative(&b, &admin, id).await {
        // No credit to keep: no EXIF at all.
        assert!(
            exif::Reader::new()
                .read_from_container(&mut std::io::Cursor::new(&bytes))
                .is_err(),
            "{derivative} {accept} has EXIF"
        );
    }
    let full = get(&b, &admin, &format!("/photos/{id}/full"), &[])
        .await
        .bytes()
        .await
        .unwrap();
    let scrubbed = exif_of(&full);
    assert_eq!(private_fields(&scrubbed), Vec::<String>::new());
    assert_eq!(text(&scrubbed, Tag::Model).as_deref(), Some("\"iPhone 5\""));
    assert_eq!(
        scrubbed
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0)),
        Some(3),
        "the full download keeps its orientation tag (its pixels are the original's)"
    );

    // Canon 5D Mark III: GPS IFD, Artist, Copyright, body serial, owner, maker note.
    let original = std::fs::read(testdata().join(PRIVATE)).unwrap();
    let source = exif_of(&original);
    let before = private_fields(&source);
    for tag in [
        "GPSVersionID",
        "BodySerialNumber",
        "CameraOwnerName",
        "MakerNote",
    ] {
        assert!(before.iter().any(|t| t == tag), "{tag} not in {before:?}");
    }
    let artist = text(&source, Tag::Artist).unwrap();
    let copyright = text(&source, Tag::Copyright).unwrap();
    let id = upload(&b, &token, &original).await;

    for (derivative, accept, bytes) in every_derivative(&b, &admin, id).await {
        let exif = exif_of(&bytes);
        assert_eq!(
            exif.fields().count(),
            3,
            "{derivative} {accept}: only orientation, Artist, Copyright"
        );
        assert_eq!(private_fields(&exif), Vec::<String>::new());
        assert_eq!(text(&exif, Tag::Artist).as_ref(), Some(&artist));
        assert_eq!(text(&exif, Tag::Copyright).as_ref(), Some(&copyright));
        assert_eq!(
            exif.get_field(Tag::Orientation, In::PRIMARY)
                .and_then(|f| f.value.get_uint(0)),
            Some(1)
        );
    }

    // The full download: everything but the private fields.
    let r = get(&b, &admin, &format!("/photos/{id}/full"), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("private"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"'), "strong ETag: {etag}");
    let full = r.bytes().await.unwrap().to_vec();
    let scrubbed = exif_of(&full);
    assert_eq!(private_fields(&scrubbed), Vec::<String>::new());
    assert!(scrubbed
        .get_field(Tag::GPSInfoIFDPointer, In::PRIMARY)
        .is_none());
    assert_eq!(text(&scrubbed, Tag::Artist), Some(artist));
    assert_eq!(text(&scrubbed, Tag::Copyright), Some(copyright));
    for tag in [
        Tag::Model,
        Tag::DateTimeOriginal,
        Tag::ExposureTime,
        Tag::FNumber,
    ] {
        assert_eq!(
            text(&scrubbed, tag),
            text(&source, tag),
            "{tag} is kept as it was"
        );
    }
    assert!(
        scrubbed
            .get_field(Tag::JPEGInterchangeFormat, In::THUMBNAIL)
            .is_some(),
        "the EXIF thumbnail is kept"
    );
    // The image data is the original's, byte for byte.
    let mut sos = 2;
    while original[sos + 1] != 0xDA {
        sos += 2 + u16::from_be_bytes([original[sos + 2], original[sos + 3]]) as usize;
    }
    assert!(full.ends_with(&original[sos..]), "from the first scan on");
    let a = image::load_from_memory(&full).unwrap();
    assert_eq!((a.width(), a.height()), (5760, 3840));
    assert!(!full.windows(4).any(|w| w == b"MPF\0"), "no MPF segment");

    // Range: one part, open-ended and suffix forms, and 416 past the end.
    let len = full.len();
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("Range", "bytes=0-99")],
    )
    .await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-99/{len}").as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[..100]);
    let from = len - 1000;
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("Range", &format!("bytes={from}-"))],
    )
    .await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[from..]);
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("Range", "bytes=-500")],
    )
    .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[len - 500..]);
    let mid = format!("bytes=1000-{}", len / 2);
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("Range", &mid)],
    )
    .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &full[1000..=len / 2]);
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("Range", &format!("bytes={len}-"))],
    )
    .await;
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(r.status(), 304);
    let r = get(
        &b,
        &admin,
        &format!("/photos/{id}/full"),
        &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!(r.status(), 200, "a stale If-Range gets the whole file");
    // Through the same permission as every derivative.
    let anonymous = reqwest::Client::new()
        .get(b.url(&format!("/photos/{id}/full")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    b.stop().await;
}

#[tokio::test]
async fn the_format_follows_accept_and_varies_on_it() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    let bytes = std::fs::read(testdata().join("photos/nikon-d90_DSC_0003.JPG")).unwrap();
    let id = upload(&b, &token, &bytes).await;
    let path = format!("/photos/{id}/preview");
    let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    let webp = get(&b, &admin, &path, &[("Accept", chrome)]).await;
    assert_eq!(webp.headers()["content-type"], "image/webp");
    assert!(webp.headers()["vary"].to_str().unwrap().contains("Accept"));
    let webp_etag = webp.headers()["etag"].clone();
    let webp_bytes = webp.bytes().await.unwrap();
    assert_eq!(&webp_bytes[..4], b"RIFF");
    assert_eq!(&webp_bytes[8..12], b"WEBP");
    let img = image::load_from_memory(&webp_bytes).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 850));

    for accept in [None, Some("*/*"), Some("image/webp;q=0, image/jpeg")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let jpeg = get(&b, &admin, &path, &headers).await;
        assert_eq!(jpeg.headers()["content-type"], "image/jpeg", "{accept:?}");
        assert!(jpeg.headers()["vary"].to_str().unwrap().contains("Accept"));
        assert_ne!(
            jpeg.headers()["etag"],
            webp_etag,
            "one ETag per representation"
        );
        let body = jpeg.bytes().await.unwrap();
        assert_eq!(&body[..2], &[0xFF, 0xD8]);
        assert!(
            webp_bytes.len() < body.len(),
            "WebP is smaller at matched quality ({} vs {})",
            webp_bytes.len(),
            body.len()
        );
    }
    // A 304 only for the representation the validator names.
    let r = get(
        &b,
        &admin,
        &path,
        &[
            ("Accept", chrome),
            ("If-None-Match", webp_etag.to_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(r.status(), 304);
    let r = get(
        &b,
        &admin,
        &path,
        &[("If-None-Match", webp_etag.to_str().unwrap())],
    )
    .await;
    assert_eq!(r.status(), 200);
    b.stop().await;
}

#[tokio::test]
async fn the_watermarked_preview_is_visibly_marked() {
    let b = TestBox::start_with(common::Options {
        configure: Box::new(|c| {
            c.event.name = "Night Market".into();
            c.watermark.opacity = 0.4;
        }),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    let bytes = std::fs::read(testdata().join("photos/sony-ilce6400_DSC00007.JPG")).unwrap();
    let id = upload(&b, &token, &bytes).await;
    let load = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8();
    let plain = load(
        &get(&b, &admin, &format!("/photos/{id}/preview"), &[])
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let marked = load(
        &get(&b, &admin, &format!("/photos/{id}/watermarked"), &[])
            .await
            .bytes()
            .await
            .unwrap(),
    );
    assert_eq!(plain.dimensions(), marked.dimensions());
    let (w, h) = plain.dimensions();
    let differs = |y0: u32, y1: u32| {
        let mut changed = 0u64;
        for y in y0..y1 {
            for x in 0..w {
                let (p, m) = (plain.get_pixel(x, y), marked.get_pixel(x, y));
                let d: i32 = (0..3).map(|c| (p[c] as i32 - m[c] as i32).abs()).sum();
                if d > 60 {
                    changed += 1;
                }
            }
        }
        changed as f64 / ((y1 - y0) * w) as f64
    };
    // The tiled mark covers a good part of the picture.
    let body = differs(0, h - 50);
    assert!(
        body > 0.05,
        "only {:.1}% of the picture is marked",
        body * 100.0
    );
    // The band darkens the bottom rows (below its text) to 40 %.
    let luma = |img: &image::RgbImage| -> f64 {
        let mut sum = 0u64;
        for y in h - 8..h {
            for x in 0..w {
                sum += img.get_pixel(x, y).0.iter().map(|&v| v as u64).sum::<u64>();
            }
        }
        sum as f64 / (8 * w * 3) as f64
    };
    let (p, m) = (luma(&plain), luma(&marked));
    assert!(m < 0.5 * p + 2.0, "band: {m:.1} vs {p:.1}");
    b.stop().await;
}

#[tokio::test]
async fn an_upload_still_arriving_has_an_instant_preview() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    // Orientation 6: the instant preview must be upright (portrait).
    let bytes = std::fs::read(testdata().join("photos/canon-5dmk3_K6A7944.JPG")).unwrap();
    let c = reqwest::Client::new();
    let location = b.tus_create(&token, bytes.len()).await;
    let key = location.rsplit('/').next().unwrap().to_string();
    let started = Instant::now();
    // A slow client: 64 KiB chunks, 100 ms apart (the whole file would take ~1.7 s).
    let chunk = 64 << 10;
    let mut offset = 0usize;
    let mut instant_seen_at = None;
    while offset < bytes.len() {
        let end = (offset + chunk).min(bytes.len());
        let r = c
            .patch(b.url(&location))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset)
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes[offset..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        offset = end;
        if instant_seen_at.is_none() && offset < bytes.len() {
            let r = get(&b, &admin, &format!("/uploads/{key}/preview"), &[]).await;
            if r.status() == 200 {
                assert_eq!(r.headers()["content-type"], "image/jpeg");
                assert_eq!(r.headers()["cache-control"], "no-store");
                let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
                assert!(
                    img.height() > img.width(),
                    "upright: {}×{}",
                    img.width(),
                    img.height()
                );
                // Cropped to the photo's 3:2 framing (Canon letterboxes into 160×120).
                let ratio = img.height() as f64 / img.width() as f64;
                assert!((ratio - 1.5).abs() < 0.05, "framing {ratio}");
                instant_seen_at = Some((offset, started.elapsed()));
            } else {
                assert_eq!(r.status(), 404);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (at_offset, after) =
        instant_seen_at.expect("an instant preview before the upload completed");
    assert!(
        at_offset <= 3 * chunk,
        "seen after {at_offset} of {} bytes",
        bytes.len()
    );
    eprintln!("instant preview after {at_offset} bytes, {after:?}");
    // Anonymous requests never see it.
    let anon = c
        .get(b.url(&format!("/uploads/{key}/preview")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);

    // After the upload the render replaces it, and its figures count the instant one.
    let id = b
        .photo_id(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let r = get(&b, &admin, &format!("/api/admin/photos/{id}/render"), &[]).await;
        if r.status() == 200 {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state["state"], "done");
    let from_start = state["ttfp_start_ms"].as_f64().unwrap();
    assert!(
        from_start < after.as_secs_f64() * 1000.0 + 50.0,
        "time to first preview counts the instant preview: {from_start} ms"
    );
    assert!(state["ttfp_end_ms"].as_f64().is_some(), "{state}");
    let preview = get(&b, &admin, &format!("/photos/{id}/preview"), &[]).await;
    assert_ne!(preview.headers()["cache-control"], "no-store");
    let img = image::load_from_memory(&preview.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (853, 1280));
    let stats: serde_json::Value = get(&b, &admin, "/api/admin/previews/stats", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["instant_previews"], 1, "{stats}");
    assert_eq!(stats["ttfp_ms"]["from_upload_start"]["count"], 1, "{stats}");
    assert_eq!(stats["ttfp_ms"]["from_upload_end"]["count"], 1, "{stats}");
    assert_eq!(stats["queue_depth"], 0, "{stats}");
    assert!(stats["routes"].as_object().unwrap().len() == 1, "{stats}");
    b.stop().await;
}

/// A photo without an EXIF thumbnail gets a first look at its commit (issue 17, item
/// 5): rendered small from the stored file on the ingest path, upright, and served
/// until the render replaces it.
#[tokio::test]
async fn an_upload_without_a_thumbnail_has_a_first_look_at_its_end() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    // 1200×1800 stored, orientation 6: upright it is 1800×1200. No EXIF thumbnail.
    let bytes = std::fs::read(testdata().join("photos/orientation_landscape_6.jpg")).unwrap();
    assert!(venuebox::media::jpeg::jpeg_meta(&bytes)
        .exif_thumbnail
        .is_none());
    let location = b.tus_create(&token, bytes.len()).await;
    let key = location.rsplit('/').next().unwrap().to_string();
    let r = reqwest::Client::new()
        .patch(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(10);
    let look = loop {
        let r = get(&b, &admin, &format!("/uploads/{key}/preview"), &[]).await;
        if r.status() == 200 {
            assert_eq!(r.headers()["content-type"], "image/jpeg");
            break r.bytes().await.unwrap();
        }
        assert_eq!(r.status(), 404);
        assert!(Instant::now() < deadline, "no first look within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let img = image::load_from_memory(&look).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (320, 213),
        "upright, thumb-sized"
    );
    let stats: serde_json::Value = get(&b, &admin, "/api/admin/previews/stats", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["first_looks"], 1, "{stats}");
    assert_eq!(stats["instant_previews"], 0, "{stats}");
    b.stop().await;
}

/// An APP2 ICC_PROFILE segment (one chunk) after SOI.
fn with_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&((icc.len() + 16) as u16).to_be_bytes());
    out.extend_from_slice(b"ICC_PROFILE\0\x01\x01");
    out.extend_from_slice(icc);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn wide_gamut_sources_keep_their_profile_and_srgb_stays_untagged() {
    use venuebox::media::render::{icc_profile, Format, Job, Renderer, DEFAULT_MAX_PIXELS};
    let photo = std::fs::read(testdata().join("photos/nikon-d90_DSC_0003.JPG")).unwrap();
    assert_eq!(icc_profile(&photo), None);
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    let jobs = [Job::plain(320)];
    let formats = [Format::Jpeg, Format::Webp];
    for (name, profile, tagged) in [
        ("Adobe RGB", moxcms::ColorProfile::new_adobe_rgb(), true),
        ("Display P3", moxcms::ColorProfile::new_display_p3(), true),
        ("sRGB", moxcms::ColorProfile::new_srgb(), false),
    ] {
        let icc = profile.encode().unwrap();
        let source = with_icc(&photo, &icc);
        assert_eq!(icc_profile(&source).as_ref(), Some(&icc), "{name}");
        let out = renderer.render_jobs(&source, &jobs, &formats, 85).unwrap();
        let (jpeg, webp) = (&out[0].bytes, &out[1].bytes);
        // The pixels are the source's (not converted), tagged with its profile so a
        // colour-managed viewer (every phone browser) shows them as shot.
        assert_eq!(icc_profile(jpeg).is_some(), tagged, "{name} JPEG");
        if tagged {
            assert_eq!(icc_profile(jpeg).unwrap(), icc, "{name}: byte for byte");
        }
        let iccp = webp.windows(4).position(|w| w == b"ICCP");
        assert_eq!(iccp.is_some(), tagged, "{name} WebP");
        if let Some(at) = iccp {
            let len = u32::from_le_bytes(webp[at + 4..at + 8].try_into().unwrap()) as usize;
            assert_eq!(&webp[at + 8..at + 8 + len], icc.as_slice());
            assert_eq!(webp[20] & 0x20, 0x20, "VP8X says ICC");
        }
        for bytes in [jpeg, webp] {
            let img = image::load_from_memory(bytes).unwrap();
            assert_eq!((img.width(), img.height()), (320, 213), "{name}");
        }
    }
    // A CMYK source's profile describes CMYK, not the RGB the box makes: dropped.
    let cmyk = std::fs::read(testdata().join("photos/ycck-multiple-icc-segments.jpg")).unwrap();
    assert!(icc_profile(&cmyk).is_some());
    let out = renderer.render_jobs(&cmyk, &jobs, &formats, 85).unwrap();
    assert_eq!(icc_profile(&out[0].bytes), None);
    assert!(!out[1].bytes.windows(4).any(|w| w == b"ICCP"));
}

// --- Adobe RGB photos without an ICC profile (issue 13, item 19) ---

/// The repo's own small photo (96×64, colour, JFIF, no EXIF): the colour tests below
/// run on it without the corpus.
const GRADIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gradient.jpg");

/// An EXIF block (TIFF bytes) with what cameras write about colour: ColorSpace in the
/// Exif IFD and InteroperabilityIndex in the Interoperability IFD, each when given.
fn colour_exif(color_space: Option<u16>, interop_index: Option<&str>) -> Vec<u8> {
    use exif::{Field, Value};
    let mut fields = vec![Field {
        tag: Tag::Orientation,
        ifd_num: In::PRIMARY,
        value: Value::Short(vec![1]),
    }];
    if let Some(value) = color_space {
        fields.push(Field {
            tag: Tag::ColorSpace,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![value]),
        });
    }
    if let Some(index) = interop_index {
        fields.push(Field {
            tag: Tag::InteroperabilityIndex,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![index.as_bytes().to_vec()]),
        });
    }
    let mut writer = exif::experimental::Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    tiff.into_inner()
}

/// The ICC profile of a WebP (its `ICCP` chunk), if any.
fn webp_icc(webp: &[u8]) -> Option<Vec<u8>> {
    let at = webp.windows(4).position(|w| w == b"ICCP")?;
    let len = u32::from_le_bytes(webp[at + 4..at + 8].try_into().unwrap()) as usize;
    Some(webp[at + 8..at + 8 + len].to_vec())
}

/// Asserts that `icc` describes Adobe RGB (1998): a valid profile (moxcms parses it)
/// naming it, with its primaries (within 1/2000 of moxcms's own Adobe RGB, which
/// adapts the spec's chromaticities to D50 as ICC requires) and gamma 563/256, and
/// converting saturated colours to sRGB as that reference does (within 1 of 255).
fn assert_adobe_rgb(icc: &[u8], what: &str) {
    use moxcms::{ColorProfile, Layout, ProfileText, ToneReprCurve, TransformOptions};
    let ours = ColorProfile::new_from_slice(icc)
        .unwrap_or_else(|e| panic!("{what}: not a valid ICC profile: {e:?}"));
    let reference = ColorProfile::new_adobe_rgb();
    for (name, a, b) in [
        ("red", ours.red_colorant, reference.red_colorant),
        ("green", ours.green_colorant, reference.green_colorant),
        ("blue", ours.blue_colorant, reference.blue_colorant),
    ] {
        let off = (a.x - b.x)
            .abs()
            .max((a.y - b.y).abs())
            .max((a.z - b.z).abs());
        assert!(
            off < 0.0005,
            "{what}: {name} colorant {a:?}, Adobe RGB's {b:?}"
        );
    }
    for trc in [&ours.red_trc, &ours.green_trc, &ours.blue_trc] {
        assert!(
            matches!(trc, Some(ToneReprCurve::Lut(v)) if v == &[0x0233]),
            "{what}: gamma 563/256: {trc:?}"
        );
    }
    let description = match &ours.description {
        Some(ProfileText::Description(d)) => d.ascii_string.clone(),
        Some(ProfileText::PlainString(s)) => s.clone(),
        Some(ProfileText::Localizable(v)) => v.iter().map(|l| l.value.clone()).collect(),
        None => String::new(),
    };
    assert!(
        description.contains("Adobe RGB (1998)"),
        "{what}: described as {description:?}"
    );
    // Saturated green, red, blue, a sea green and a mid grey, Adobe RGB → sRGB.
    let adobe = [0, 255, 0, 255, 0, 0, 0, 0, 255, 40, 200, 180, 128, 128, 128];
    let srgb = ColorProfile::new_srgb();
    let convert = |from: &ColorProfile| {
        let t = from
            .create_transform_8bit(Layout::Rgb, &srgb, Layout::Rgb, TransformOptions::default())
            .unwrap();
        let mut out = [0u8; 15];
        t.transform(&adobe, &mut out).unwrap();
        out
    };
    let (got, want) = (convert(&ours), convert(&reference));
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g.abs_diff(*w) <= 1,
            "{what}: sRGB {got:?}, reference {want:?}"
        );
    }
}

/// Every output's ICC profile: JPEG's APP2, WebP's ICCP.
fn output_profiles(out: &[venuebox::media::render::Rendered]) -> Vec<Option<Vec<u8>>> {
    use venuebox::media::render::{icc_profile, Format};
    out.iter()
        .map(|r| match r.format {
            Format::Jpeg => icc_profile(&r.bytes),
            Format::Webp => webp_icc(&r.bytes),
        })
        .collect()
}

/// Issue 13, item 19: a camera set to Adobe RGB writes no ICC profile, only EXIF:
/// ColorSpace 0xFFFF (uncalibrated) and InteroperabilityIndex "R03" (a DCF option
/// file). Its derivatives are tagged Adobe RGB (not converted; an embedded profile,
/// sRGB or not, wins over EXIF; ColorSpace = 1 means sRGB whatever the index says).
/// Runs on the repo's fixture with EXIF written here, without the corpus.
#[test]
fn exif_says_adobe_rgb_and_the_derivatives_carry_the_profile() {
    use venuebox::media::render::{Format, Job, Renderer, DEFAULT_MAX_PIXELS};
    let gradient = std::fs::read(GRADIENT).unwrap();
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    let jobs = [Job::plain(64)];
    let formats = [Format::Jpeg, Format::Webp];
    for (color_space, index, adobe) in [
        (Some(0xFFFF), Some("R03"), true),
        (None, Some("R03"), true),
        (Some(2), None, true), // not in Exif, but written for Adobe RGB by some software
        (Some(1), Some("R03"), false), // ColorSpace sRGB wins
        (Some(1), Some("R98"), false),
        (Some(0xFFFF), Some("R98"), false), // a DCF basic file is sRGB
        (Some(0xFFFF), None, false),        // uncalibrated alone: could be anything
        (Some(0xFFFD), None, false),        // Sony's "Wide Gamut RGB"
        (None, None, false),
    ] {
        let what = format!("ColorSpace {color_space:?}, InteroperabilityIndex {index:?}");
        let source =
            venuebox::media::jpeg::insert_exif(gradient.clone(), &colour_exif(color_space, index));
        let out = renderer.render_jobs(&source, &jobs, &formats, 85).unwrap();
        for (icc, r) in output_profiles(&out).into_iter().zip(&out) {
            let what = format!("{what}, {:?}", r.format);
            match icc {
                Some(icc) if adobe => assert_adobe_rgb(&icc, &what),
                None if !adobe => {}
                icc => panic!("{what}: profile {:?}", icc.map(|i| i.len())),
            }
        }
    }
    // An embedded profile wins over the EXIF hint: Display P3 is kept byte for byte,
    // and an sRGB profile means sRGB (untagged), R03 or not.
    let r03 = venuebox::media::jpeg::insert_exif(gradient, &colour_exif(Some(0xFFFF), Some("R03")));
    for (name, profile, kept) in [
        ("Display P3", moxcms::ColorProfile::new_display_p3(), true),
        ("sRGB", moxcms::ColorProfile::new_srgb(), false),
    ] {
        let icc = profile.encode().unwrap();
        let out = renderer
            .render_jobs(&with_icc(&r03, &icc), &jobs, &formats, 85)
            .unwrap();
        for got in output_profiles(&out) {
            assert_eq!(got, kept.then(|| icc.clone()), "{name} with R03");
        }
    }
}

/// Issue 13, item 19, on the corpus: the Canon 5D Mark III and the Sony SLT-A57, both
/// set to Adobe RGB (R03, ColorSpace uncalibrated, no ICC profile), get Adobe
/// RGB-tagged thumbs and previews by every route (the Sony's 320 thumb comes from its
/// MPF preview, which the camera encodes in Adobe RGB too); the sRGB cameras
/// (ColorSpace 1) stay untagged, and the iPhone's own Display P3 profile (ColorSpace
/// uncalibrated) is kept.
#[test]
fn adobe_rgb_camera_photos_get_an_adobe_rgb_profile() {
    use venuebox::media::render::{icc_profile, Format, Job, Renderer, Route, DEFAULT_MAX_PIXELS};
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    let formats = [Format::Jpeg, Format::Webp];
    let photos = testdata().join("photos");
    let mut routes = Vec::new();
    for name in ["canon-5dmk3_K6A7942.JPG", "sony-slt-a57_DSC8831.JPG"] {
        let source = std::fs::read(photos.join(name)).unwrap();
        assert_eq!(
            icc_profile(&source),
            None,
            "{name} has no profile of its own"
        );
        // One size at a time: a set is decoded for its largest size, which no
        // embedded preview serves.
        for size in [320, 1280] {
            let out = renderer
                .render_jobs(&source, &[Job::plain(size)], &formats, 85)
                .unwrap();
            for (icc, r) in output_profiles(&out).into_iter().zip(&out) {
                let what = format!("{name} {size} {:?} ({})", r.format, r.route.as_str());
                assert_adobe_rgb(&icc.unwrap_or_else(|| panic!("{what}: untagged")), &what);
                routes.push(r.route);
            }
        }
    }
    assert!(routes.contains(&Route::MpfPreview) && routes.contains(&Route::ScaledDecode));
    let jobs = [Job::plain(320), Job::plain(1280)];
    for (name, own) in [
        ("nikon-d90_DSC_0003.JPG", false),
        ("sony-ilce6400_DSC00007.JPG", false),
        ("gopro-hero7_GOPR8509.JPG", false),
        ("apple-iphone13pro_IMG_8568.JPG", true),
    ] {
        let source = std::fs::read(photos.join(name)).unwrap();
        let out = renderer.render_jobs(&source, &jobs, &formats, 85).unwrap();
        for got in output_profiles(&out) {
            assert_eq!(got, icc_profile(&source).filter(|_| own), "{name}");
        }
    }
}

/// Issue 13, item 19, the full download: an Adobe RGB camera JPEG without a profile
/// gets the Adobe RGB-compatible one (one APP2 segment after its EXIF), keeps
/// ColorSpace and InteroperabilityIndex, and its image data byte for byte; a photo
/// with its own profile, or an sRGB one, gets none added.
#[test]
fn the_full_download_of_an_adobe_rgb_photo_carries_the_profile() {
    use venuebox::media::render::icc_profile;
    let photos = testdata().join("photos");
    /// Where the first scan starts.
    fn sos(jpeg: &[u8]) -> usize {
        let mut at = 2;
        while jpeg[at + 1] != 0xDA {
            at += 2 + u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        }
        at
    }
    for name in ["canon-5dmk3_K6A7942.JPG", "sony-slt-a57_DSC8831.JPG"] {
        let original = std::fs::read(photos.join(name)).unwrap();
        let full = venuebox::media::privacy::full_plan(&original, "image/jpeg")
            .unwrap()
            .assemble(&original);
        let icc = icc_profile(&full).unwrap_or_else(|| panic!("{name}: no profile"));
        assert_adobe_rgb(&icc, name);
        let exif = exif_of(&full);
        let field = |tag| {
            exif.get_field(tag, In::PRIMARY)
                .map(|f| f.display_value().to_string())
        };
        assert_eq!(
            field(Tag::ColorSpace).as_deref(),
            Some("uncalibrated"),
            "{name}"
        );
        assert_eq!(
            field(Tag::InteroperabilityIndex).as_deref(),
            Some("\"R03\""),
            "{name}"
        );
        let (a, b) = (sos(&original), sos(&full));
        assert_eq!(
            &full[b..],
            &original[a..a + full.len() - b],
            "{name}: the image data is the original's"
        );
    }
    for name in ["nikon-d90_DSC_0003.JPG", "apple-iphone13pro_IMG_8568.JPG"] {
        let original = std::fs::read(photos.join(name)).unwrap();
        let full = venuebox::media::privacy::full_plan(&original, "image/jpeg")
            .unwrap()
            .assemble(&original);
        assert_eq!(icc_profile(&full), icc_profile(&original), "{name}");
        let count = |d: &[u8]| d.windows(12).filter(|w| w == b"ICC_PROFILE\0").count();
        assert_eq!(count(&full), count(&original), "{name}: no profile added");
    }
}

/// Runs one of the external tools the format test needs (tests/run.sh installs them);
/// its standard output.
fn run_tool(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} cannot run ({e}): tests/run.sh installs it"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `photo.{png,tif,webp,heic}` in `dir`, made by ImageMagick, cwebp and heif-enc from
/// a Nikon JPEG (whose maker note holds the body serial), its metadata carried along
/// when `keep_metadata`, else stripped first.
fn make_formats(dir: &std::path::Path, keep_metadata: bool) {
    let at = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let camera = testdata().join("photos/nikon-d90_DSC_0003.JPG");
    let mut args = vec![camera.to_str().unwrap().to_string()];
    if !keep_metadata {
        args.push("-strip".into());
    }
    args.extend(["-resize".into(), "480x480".into(), at("small.jpg")]);
    run_tool(
        "convert",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    run_tool("convert", &[&at("small.jpg"), &at("photo.png")]);
    run_tool("convert", &[&at("small.jpg"), &at("photo.tif")]);
    let metadata = if keep_metadata { "all" } else { "none" };
    run_tool(
        "cwebp",
        &[
            "-quiet",
            "-metadata",
            metadata,
            &at("small.jpg"),
            "-o",
            &at("photo.webp"),
        ],
    );
    run_tool(
        "heif-enc",
        &["-q", "60", &at("small.jpg"), "-o", &at("photo.heic")],
    );
}

/// Every tag exiftool reads, as "Group:Name" → value.
fn exiftool(path: &std::path::Path) -> serde_json::Map<String, serde_json::Value> {
    let out = run_tool(
        "exiftool",
        &["-j", "-a", "-G1", "-n", path.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v[0].as_object().unwrap().clone()
}

/// Tags that tie a photo to a place, a camera body or a person.
fn private_tags(tags: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    tags.keys()
        .filter(|k| {
            let (group, name) = k.split_once(':').unwrap_or(("", k));
            name.contains("GPS")
                || name.contains("SerialNumber")
                || name.contains("OwnerName")
                || name == "City"
                || group == "Nikon"
                || group == "MakerNotes"
        })
        .cloned()
        .collect()
}

/// Decoded pixels (8-bit RGB) of any format, through ImageMagick, or libheif first.
fn pixels(path: &std::path::Path) -> Vec<u8> {
    let path = if path.extension().is_some_and(|e| e == "heic") {
        let png = path.with_extension("decoded.png");
        run_tool(
            "heif-convert",
            &[path.to_str().unwrap(), png.to_str().unwrap()],
        );
        png
    } else {
        path.to_path_buf()
    };
    run_tool("convert", &[path.to_str().unwrap(), "-depth", "8", "rgb:-"])
}

/// PNG, WebP, TIFF and HEIC made by the usual tools from a Nikon JPEG (whose maker
/// note carries the body serial), then tagged by exiftool with GPS, serials, an owner,
/// a city in XMP, Artist and Copyright. The full download of each keeps the picture
/// and the credit, and exiftool finds nothing private in it.
#[tokio::test]
async fn every_format_s_full_download_keeps_the_picture_and_loses_the_private_metadata() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    make_formats(dir.path(), true);

    for (ext, media_type) in [
        ("png", "image/png"),
        ("webp", "image/webp"),
        ("tif", "image/tiff"),
        ("heic", "image/heic"),
    ] {
        let original = dir.path().join(format!("photo.{ext}"));
        run_tool(
            "exiftool",
            &[
                "-q",
                "-overwrite_original",
                "-GPSLatitude=48.8566",
                "-GPSLatitudeRef=N",
                "-GPSLongitude=2.3522",
                "-GPSLongitudeRef=E",
                "-SerialNumber=SN-4242",
                "-LensSerialNumber=LS-4242",
                "-OwnerName=Jo Owner",
                "-Artist=Ana Artist",
                "-Copyright=(c) Ana 2026",
                "-XMP-photoshop:City=Paris",
                "-XMP-dc:Creator=Ana Artist",
                original.to_str().unwrap(),
            ],
        );
        let before = exiftool(&original);
        let private_before = private_tags(&before);
        for tag in [
            "GPS:GPSLatitude",
            "ExifIFD:SerialNumber",
            "ExifIFD:OwnerName",
        ] {
            assert!(before.contains_key(tag), "{ext}: the fixture has {tag}");
        }

        let bytes = std::fs::read(&original).unwrap();
        let id = b.tus_upload(&token, &bytes).await;
        let r = get(&b, &admin, &format!("/photos/{id}/full"), &[]).await;
        assert_eq!(r.status(), 200, "{ext}");
        // Rendered like any photo, except HEIC, which says why it has no preview.
        let deadline = Instant::now() + Duration::from_secs(30);
        let render = loop {
            if let Some(s) = b.state.previews.state(id).await.unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{ext}: no render after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if ext == "heic" {
            assert_eq!(render.state, "failed");
            assert!(render
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("no HEVC decoder"));
        } else {
            assert_eq!(render.state, "done", "{ext}: {render:?}");
        }
        assert_eq!(r.headers()["content-type"], media_type);
        let disposition = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(disposition.ends_with(&format!(".{ext}\"")), "{disposition}");
        let full = r.bytes().await.unwrap().to_vec();
        let downloaded = dir.path().join(format!("full.{ext}"));
        std::fs::write(&downloaded, &full).unwrap();

        let after = exiftool(&downloaded);
        assert_eq!(
            private_tags(&after),
            Vec::<String>::new(),
            "{ext}: nothing private left of {private_before:?}"
        );
        assert!(
            !after
                .keys()
                .any(|k| k.ends_with(":Warning") || k.ends_with(":Error")),
            "{ext}: exiftool reads the download cleanly: {after:?}"
        );
        for tag in ["Artist", "Copyright", "Make", "Model"] {
            let value = |tags: &serde_json::Map<String, serde_json::Value>| {
                tags.iter()
                    .find(|(k, _)| k.ends_with(&format!(":{tag}")) && k.starts_with("IFD0"))
                    .map(|(_, v)| v.clone())
            };
            // Every tool keeps the credit; not every one copies the camera's Make.
            if tag.starts_with('A') || tag.starts_with('C') {
                assert!(value(&before).is_some(), "{ext}: the fixture has {tag}");
            }
            assert_eq!(value(&after), value(&before), "{ext}: {tag} is kept");
        }
        assert_eq!(
            pixels(&downloaded),
            pixels(&original),
            "{ext}: the same picture"
        );

        // One range of it, as for JPEG.
        let r = get(
            &b,
            &admin,
            &format!("/photos/{id}/full"),
            &[("Range", "bytes=100-2099")],
        )
        .await;
        assert_eq!(r.status(), 206);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &full[100..2100]);
    }

    // Camera RAW is refused with the reason, before anything is sent.
    let mut nef = b"MM\0*\0\0\0\x08".to_vec();
    nef.extend_from_slice(&[0; 64]);
    let r = reqwest::Client::new()
        .post(b.url("/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", nef.len())
        .header(
            "Upload-Metadata",
            format!("filename {}", base64_of("DSC_0001.NEF")),
        )
        .header("Content-Type", "application/offset+octet-stream")
        .body(nef.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = b
        .photo_id(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&nef)))
        .await;
    let r = get(&b, &admin, &format!("/photos/{id}/full"), &[]).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("serial number"));
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every photo of the corpus: its full derivative decodes to the same picture and
/// exiftool finds nothing private in it; every hostile file is planned or refused
/// without a panic.
#[test]
fn the_corpus_full_downloads_leave_nothing_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(testdata().join("photos")).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().unwrap().to_ascii_lowercase();
        if ext != "jpg" && ext != "mpo" {
            continue;
        }
        let original = std::fs::read(&path).unwrap();
        let plan = venuebox::media::privacy::full_plan(&original, "image/jpeg")
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let full = plan.assemble(&original);
        let out = dir.path().join("full.jpg");
        std::fs::write(&out, &full).unwrap();
        let tags = exiftool(&out);
        assert_eq!(
            private_tags(&tags),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        let (a, b) = (
            image::load_from_memory(&original),
            image::load_from_memory(&full),
        );
        if let Ok(a) = a {
            assert_eq!(a.to_rgb8(), b.unwrap().to_rgb8(), "{}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 30, "the corpus is there ({checked} photos)");
    for entry in std::fs::read_dir(testdata().join("bad")).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        for media_type in [
            "image/jpeg",
            "image/png",
            "image/tiff",
            "image/webp",
            "image/heic",
        ] {
            if let Ok(plan) = venuebox::media::privacy::full_plan(&data, media_type) {
                assert!(
                    plan.len() <= data.len() as u64 + 65536,
                    "{}",
                    path.display()
                );
            }
        }
    }
}

/// PNG, WebP and TIFF sources (made by ImageMagick, cwebp, tagged by exiftool) render
/// upright by their EXIF orientation, keep a wide-gamut ICC profile and carry their
/// credit, as JPEG sources do.
#[test]
fn other_formats_render_upright_with_their_profile_and_credit() {
    use venuebox::media::render::{icc_profile, Format, Job, Renderer, DEFAULT_MAX_PIXELS};
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    make_formats(dir.path(), false);
    let icc = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    std::fs::write(at("p3.icc"), &icc).unwrap();
    let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).unwrap();
    for ext in ["png", "webp", "tif"] {
        let path = at(&format!("photo.{ext}"));
        run_tool(
            "exiftool",
            &[
                "-q",
                "-overwrite_original",
                "-Orientation#=6",
                "-Artist=Ana Artist",
                &format!("-ICC_Profile<={}", at("p3.icc")),
                &path,
            ],
        );
        let source = std::fs::read(&path).unwrap();
        let out = renderer
            .render_jobs(
                &source,
                &[Job::plain(320)],
                &[Format::Jpeg, Format::Webp],
                85,
            )
            .unwrap();
        let (jpeg, webp) = (&out[0].bytes, &out[1].bytes);
        for bytes in [jpeg, webp] {
            let img = image::load_from_memory(bytes).unwrap();
            assert_eq!(
                (img.width(), img.height()),
                (213, 320),
                "{ext}: turned upright"
            );
        }
        assert_eq!(
            icc_profile(jpeg).as_ref(),
            Some(&icc),
            "{ext}: JPEG tagged P3"
        );
        assert!(webp.windows(4).any(|w| w == b"ICCP"), "{ext}: WebP tagged");
        let exif = exif_of(jpeg);
        assert_eq!(
            text(&exif, Tag::Artist).as_deref(),
            Some("\"Ana Artist\""),
            "{ext}"
        );
    }
}
