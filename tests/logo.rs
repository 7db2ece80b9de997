//! A creator's logo on the watermark (issue 17, item 6), end to end on a real box:
//! set through the vendor API and the vendor page, drawn into the watermarked preview
//! of a photo already rendered (its stale preview is deleted and rendered again),
//! refused with a clear 4xx for bad files while the stored logo stays, and removed.
//! A browser's copy of the preview is revalidated and replaced (its ETag names its
//! bytes).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{hidden, testdata, TestBox};
use venuebox::media::logo::Logo;
use venuebox::media::watermark::{LogoPlace, Watermark};

/// A `w × h` PNG, every pixel straight RGBA `px`.
fn png(w: u32, h: u32, px: [u8; 4]) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &px.repeat((w * h) as usize),
            w,
            h,
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
    out
}

/// Waits until photo `id`'s render state is "done" (at most 30 s).
async fn wait_rendered(b: &TestBox, admin: &str, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = reqwest::Client::new()
            .get(b.url(&format!("/api/admin/photos/{id}/render")))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            let state: serde_json::Value = r.json().await.unwrap();
            assert_eq!(state["state"], "done", "{state}");
            return;
        }
        assert!(Instant::now() < deadline, "no render after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Photo `id`'s watermarked preview (JPEG), decoded.
async fn watermarked(b: &TestBox, admin: &str, id: i64) -> image::RgbImage {
    let r = reqwest::Client::new()
        .get(b.url(&format!("/photos/{id}/watermarked")))
        .bearer_auth(admin)
        .header("Accept", "image/jpeg")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

/// Photo `id`'s watermarked preview asked for with `If-None-Match: etag`: its status,
/// ETag and Cache-Control.
async fn revalidated(b: &TestBox, admin: &str, id: i64, etag: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(b.url(&format!("/photos/{id}/watermarked")))
        .bearer_auth(admin)
        .header("Accept", "image/jpeg")
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    (r.status().as_u16(), header("etag"), header("cache-control"))
}

/// Where a 2:1 logo lands on a `w × h` preview with one band line.
fn place(w: u32, h: u32) -> LogoPlace {
    let logo = Logo::from_rgba([0; 32], 2, 1, &[0; 8]).unwrap();
    Watermark {
        mark: "PREVIEW".into(),
        lines: vec!["Ana".into()],
        opacity: 0.35,
        logo: Some(Arc::new(logo)),
    }
    .logo_place(w as usize, h as usize)
    .unwrap()
}

/// The share of the pixels in `place` that are plainly of `colour` (0 red, 2 blue).
fn share(img: &image::RgbImage, place: LogoPlace, colour: usize) -> f64 {
    let mut hits = 0;
    for y in place.top..place.top + place.height {
        for x in place.left..place.left + place.width {
            let p = img.get_pixel(x as u32, y as u32).0;
            let others = (0..3).filter(|&c| c != colour).map(|c| p[c]).max().unwrap();
            if p[colour] > 180 && others < 80 {
                hits += 1;
            }
        }
    }
    hits as f64 / (place.width * place.height) as f64
}

/// A `multipart/form-data` body with the field `csrf` and the file `logo`.
fn multipart(csrf: &str, logo: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----venuebox-logo-test-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(logo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_vendor_sets_replaces_and_removes_their_logo_on_watermarked_previews() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    let api = reqwest::Client::new();
    let photo = std::fs::read(testdata().join("photos/sony-ilce6400_DSC00007.JPG")).unwrap();
    let id = b.tus_upload(&token, &photo).await;
    wait_rendered(&b, &admin, id).await;

    // Without a logo: nothing red or blue where one would go.
    let before = watermarked(&b, &admin, id).await;
    let (w, h) = before.dimensions();
    let spot = place(w, h);
    assert_eq!((spot.width, spot.height), (128, 64), "at 1280 px");
    assert!(share(&before, spot, 0) < 0.05, "red without a logo");
    // A browser's copy: revalidated each time it is shown, 304 while unchanged.
    let (status, etag_before, cache) = revalidated(&b, &admin, id, "\"none\"").await;
    assert_eq!(status, 200);
    assert_eq!(cache, "private, no-cache");
    let (status, _, _) = revalidated(&b, &admin, id, &etag_before).await;
    assert_eq!(status, 304, "unchanged: {etag_before}");
    let none = api
        .get(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);

    // A solid red 2:1 logo through the API: the rendered preview is replaced.
    let red = png(200, 100, [255, 0, 0, 255]);
    let r = api
        .put(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .header("Content-Type", "image/png")
        .body(red.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set: serde_json::Value = r.json().await.unwrap();
    assert_eq!(set["logo"]["width"], 200, "{set}");
    assert_eq!(set["logo"]["bytes"], red.len(), "{set}");
    assert_eq!(set["stale_previews_removed"], 2, "JPEG and WebP: {set}");
    // The browser holding the preview without the logo gets the new one.
    let (status, etag_red, _) = revalidated(&b, &admin, id, &etag_before).await;
    assert_eq!(status, 200, "the old ETag no longer matches");
    assert_ne!(etag_red, etag_before);
    let with_red = watermarked(&b, &admin, id).await;
    assert!(
        share(&with_red, spot, 0) > 0.9,
        "the logo's place is not red: {}",
        share(&with_red, spot, 0)
    );
    // The rest of the picture is the same as without the logo (up to JPEG noise):
    // the top half is untouched.
    let top_diff = (0..h / 2)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let (a, b) = (before.get_pixel(x, y).0, with_red.get_pixel(x, y).0);
            (0..3).any(|c| a[c].abs_diff(b[c]) > 24)
        })
        .count();
    assert!(
        top_diff < (w * h / 2 / 1000) as usize,
        "{top_diff} pixels changed above"
    );

    // Bad files: a clear 4xx each, and the red logo stays.
    let mut cut = red.clone();
    cut.truncate(red.len() - 20);
    let mut bomb = png(16, 16, [0, 0, 0, 255]);
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let mut huge = png(8, 8, [0, 255, 0, 255]);
    huge.resize((1 << 20) + 1, 0);
    for (what, body, status, says) in [
        ("a JPEG", photo[..4096].to_vec(), 415, "not a PNG"),
        ("a truncated PNG", cut, 400, "could not be read whole"),
        ("a 100000² header", bomb, 422, "at most 2048×2048"),
        ("over 1 MiB", huge, 413, "1048576"),
        ("empty", Vec::new(), 400, "empty"),
    ] {
        let r = api
            .put(b.url("/api/vendor/logo"))
            .bearer_auth(&token)
            .header("Content-Type", "image/png")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{what}");
        let err: serde_json::Value = r.json().await.unwrap();
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {err}");
        let kept = api
            .get(b.url("/api/vendor/logo"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(kept.status(), 200, "{what}");
        assert_eq!(kept.bytes().await.unwrap().to_vec(), red, "{what}");
    }
    // Another creator sees and removes only their own (none), and no token is 401.
    let (_, bo) = b.creator("Bo").await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = api
            .request(method.clone(), b.url("/api/vendor/logo"))
            .bearer_auth(&bo)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} as Bo");
    }
    let kept = api
        .get(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        kept.bytes().await.unwrap().to_vec(),
        red,
        "Bo left Ana's logo alone"
    );
    let anonymous = api
        .put(b.url("/api/vendor/logo"))
        .body(png(2, 1, [0, 0, 255, 255]))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // The vendor page: replaced by a blue one through the form (CSRF checked).
    let (browser, page) = vendor_browser(&b, &token).await;
    assert!(page.contains("Your logo on previews") && page.contains("/vendor/logo.png"));
    let csrf = hidden(&page, "csrf");
    let blue = png(400, 200, [0, 0, 255, 255]);
    let (kind, body) = multipart("wrong", &blue);
    let forged = browser
        .post(b.url("/vendor/logo"))
        .header("Content-Type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (kind, body) = multipart(&csrf, b"GIF89a not a png");
    let refused = browser
        .post(b.url("/vendor/logo"))
        .header("Content-Type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 303);
    let to = refused.headers()["location"].to_str().unwrap().to_string();
    assert!(to.contains("error=logo-type"), "{to}");
    let said = text(&browser, &b.url(&to)).await;
    assert!(
        said.contains("only PNG is accepted"),
        "the page words the refusal"
    );
    let (kind, body) = multipart(&csrf, &blue);
    let saved = browser
        .post(b.url("/vendor/logo"))
        .header("Content-Type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    assert!(saved.headers()["location"]
        .to_str()
        .unwrap()
        .contains("done=logo"));
    let shown = browser.get(b.url("/vendor/logo.png")).send().await.unwrap();
    assert_eq!(shown.bytes().await.unwrap().to_vec(), blue);
    let with_blue = watermarked(&b, &admin, id).await;
    assert!(share(&with_blue, spot, 2) > 0.9, "the new logo is drawn");
    assert!(share(&with_blue, spot, 0) < 0.05, "not the old one");

    // Removed from the page: the preview is as before, and the API finds none.
    let removed = browser
        .post(b.url("/vendor/logo/remove"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    let after = watermarked(&b, &admin, id).await;
    assert!(share(&after, spot, 2) < 0.05 && share(&after, spot, 0) < 0.05);
    let gone = api
        .delete(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "nothing left to remove");
    // Set and removed through the API too, all in the creator's log.
    let r = api
        .put(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .body(red.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api
        .delete(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let log = text(&browser, &b.url("/vendor")).await;
    assert!(log.contains("creator.logo.remove") && log.contains("creator.logo"));
    b.stop().await;
}

/// The text of the page at `url`.
async fn text(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

/// A browser signed in to the vendor page with `token` (cookies kept, redirects not
/// followed), and the page's text.
async fn vendor_browser(b: &TestBox, token: &str) -> (reqwest::Client, String) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(b.vendor_login(&browser, token).await.status(), 303);
    let page = text(&browser, &b.url("/vendor")).await;
    (browser, page)
}

/// A `side × side` PNG of noise (it barely compresses: about `4 × side²` bytes).
fn noise_png(side: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let pixels: Vec<u8> = (0..side * side * 4)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, side, side, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// A noise PNG of exactly `len` bytes: a `tEXt` chunk before `IEND` makes up the rest.
fn padded_png(len: usize) -> Vec<u8> {
    let png = noise_png(256);
    let (head, iend) = png.split_at(png.len() - 12);
    let text_len = len - png.len() - 12;
    let mut chunk = b"tEXt".to_vec();
    chunk.extend_from_slice(b"Comment\0");
    chunk.resize(4 + text_len, b'x');
    let mut out = head.to_vec();
    out.extend_from_slice(&(text_len as u32).to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    out.extend_from_slice(iend);
    assert_eq!(out.len(), len);
    out
}

/// A logo of the full 1 MiB goes through the vendor page's form, whose
/// multipart framing makes the body longer than the box's 1 MiB `http.body_limit_bytes`
/// (it was refused with a bare 413); a longer file, or a much longer one, brings the
/// vendor back to the page with the "too large" message and the stored logo kept.
/// The full logo goes through even when `http.body_limit_bytes` is far smaller.
#[tokio::test]
async fn a_logo_of_the_full_mib_goes_through_the_form_and_a_larger_one_is_worded() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let (browser, page) = vendor_browser(&b, &token).await;
    let csrf = hidden(&page, "csrf");
    let post = |logo: Vec<u8>| {
        let (kind, body) = multipart(&csrf, &logo);
        browser
            .post(b.url("/vendor/logo"))
            .header("Content-Type", kind)
            .body(body)
            .send()
    };

    let full = padded_png(venuebox::media::logo::MAX_LOGO_BYTES);
    let saved = post(full.clone()).await.unwrap();
    assert_eq!(saved.status(), 303);
    let to = saved.headers()["location"].to_str().unwrap().to_string();
    assert!(to.contains("done=logo"), "{to}");
    let shown = browser.get(b.url("/vendor/logo.png")).send().await.unwrap();
    assert_eq!(shown.bytes().await.unwrap().to_vec(), full);

    // Just over 1 MiB (the check refuses it), and past the bytes the box reads of a
    // logo upload (the body is not read whole).
    let over = padded_png(venuebox::media::logo::MAX_LOGO_BYTES + 1);
    assert!(over.len() > venuebox::media::logo::MAX_LOGO_BYTES);
    let mut far_over = over.clone();
    far_over.resize(venuebox::web::vendor_logo::LOGO_BODY_LIMIT + (256 << 10), 0);
    for (what, logo) in [("just over", over), ("past the limit", far_over)] {
        let refused = post(logo).await.unwrap();
        assert_eq!(refused.status(), 303, "{what}");
        let to = refused.headers()["location"].to_str().unwrap().to_string();
        assert!(to.contains("error=logo-large"), "{what}: {to}");
        let said = text(&browser, &b.url(&to)).await;
        assert!(said.contains("1 MiB"), "{what}: the page words the refusal");
        let kept = browser.get(b.url("/vendor/logo.png")).send().await.unwrap();
        assert_eq!(kept.bytes().await.unwrap().to_vec(), full, "{what}");
    }

    // The logo uploads read their own limit whatever the box's: with 64 KiB for
    // every other request, the full logo still goes through the API.
    let b = b.restart_with(|c| c.http.body_limit_bytes = 64 << 10).await;
    let r = reqwest::Client::new()
        .put(b.url("/api/vendor/logo"))
        .bearer_auth(&token)
        .body(full.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    b.stop().await;
}
