//! The render queue and preview serving: an uploaded photo gets its thumb and preview
//! on its own; they are served to admins only, with a strong ETag and 304s; two
//! requests for an unrendered photo share one render; failures carry a reason.

mod common;

use std::time::{Duration, Instant};

use common::{testdata, TestBox};
use venuebox::ingest::{Incoming, Source};

/// Waits until photo `id`'s render state is "done" (at most 20 s).
async fn wait_rendered(b: &TestBox, c: &reqwest::Client, admin: &str, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c
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
        assert!(Instant::now() < deadline, "no render after 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn uploaded_photos_get_previews_served_to_admins_with_etags() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    let bytes = std::fs::read(testdata().join("photos/sony-ilce6400_DSC00007.JPG")).unwrap();
    let id = b.tus_upload(&token, &bytes).await;
    let c = reqwest::Client::new();

    // The queue renders it on its own: wait for the render state, not for a request.
    wait_rendered(&b, &c, &admin, id).await;
    assert_eq!(b.state.previews.renders(), 1);

    let anonymous = c
        .get(b.url(&format!("/photos/{id}/thumb")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "attendees cannot fetch previews yet"
    );
    let thumb = c
        .get(b.url(&format!("/photos/{id}/thumb")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    assert!(thumb.headers()["vary"].to_str().unwrap().contains("Accept"));
    assert!(thumb.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("private"));
    let etag = thumb.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong ETag: {etag}"
    );
    let img = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (320, 213));

    let not_modified = c
        .get(b.url(&format!("/photos/{id}/thumb")))
        .bearer_auth(&admin)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let preview = c
        .get(b.url(&format!("/photos/{id}/preview")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let img = image::load_from_memory(&preview.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 853));
    assert_ne!(
        c.get(b.url(&format!("/photos/{id}/preview")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .headers()["etag"],
        etag.as_str()
    );
    // Served again from memory: a hit.
    c.get(b.url(&format!("/photos/{id}/thumb")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let stats: serde_json::Value = c
        .get(b.url("/api/admin/previews/stats"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The render pre-warmed the thumb (and the preview) into memory: every request
    // was a hit.
    assert_eq!(stats["thumb"]["hits"], 2, "{stats}");
    assert_eq!(stats["thumb"]["misses"], 0, "{stats}");
    assert_eq!(stats["preview"]["hits"], 2, "{stats}");
    assert_eq!(
        stats["renders"], 1,
        "rendering on request reused the queue's work: {stats}"
    );
    assert_eq!(
        c.get(b.url("/photos/999/thumb"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(b.url(&format!("/photos/{id}/huge")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    b.stop().await;
}

#[tokio::test]
async fn concurrent_requests_for_an_unrendered_photo_share_one_render() {
    // A prepared box with no queue running: nothing renders unless asked.
    let (_dir, state) = common::prepared_state().await;
    let made = state
        .store
        .write(|tx| venuebox::creators::add(tx, "Ana", "test"))
        .await
        .unwrap();
    let file = tokio::fs::File::open(testdata().join("photos/canon-5dmk3_K6A7942.JPG"))
        .await
        .unwrap();
    let incoming = Incoming {
        creator_id: made.creator.id,
        original_name: "a.jpg".into(),
        source: Source::Import,
    };
    let photo = state
        .ingest
        .receive(incoming, file)
        .await
        .unwrap()
        .photo()
        .clone();
    let (a, b) = tokio::join!(state.previews.ensure(&photo), state.previews.ensure(&photo));
    assert_eq!(a.unwrap().state, "done");
    assert_eq!(b.unwrap().state, "done");
    assert_eq!(state.previews.renders(), 1);
    // Once done, asking again renders nothing.
    state.previews.ensure(&photo).await.unwrap();
    assert_eq!(state.previews.renders(), 1);
}

#[tokio::test]
async fn photos_that_cannot_be_rendered_are_marked_with_a_reason() {
    let (_dir, state) = common::prepared_state().await;
    let made = state
        .store
        .write(|tx| venuebox::creators::add(tx, "Ana", "test"))
        .await
        .unwrap();
    let receive = |name: &'static str, bytes: Vec<u8>| {
        let ingest = state.ingest.clone();
        async move {
            let incoming = Incoming {
                creator_id: made.creator.id,
                original_name: name.into(),
                source: Source::Import,
            };
            ingest
                .receive(incoming, std::io::Cursor::new(bytes))
                .await
                .unwrap()
                .photo()
                .clone()
        }
    };
    // Starts like a JPEG (so it is stored) but cannot be decoded.
    let broken = receive(
        "broken.jpg",
        std::fs::read(testdata().join("bad/gen_sof_zero_width.jpg")).unwrap(),
    )
    .await;
    let failed = state.previews.ensure(&broken).await.unwrap();
    assert_eq!(failed.state, "failed");
    assert!(!failed.reason.unwrap().is_empty());
    // A camera RAW is stored and listed as "raw, no preview".
    let mut cr2 = b"II*\0\x10\0\0\0CR\x02\0".to_vec();
    cr2.resize(4096, 0);
    let raw = receive("IMG_0001.CR2", cr2).await;
    assert!(raw.raw);
    let state_raw = state.previews.ensure(&raw).await.unwrap();
    assert_eq!(state_raw.state, "raw");
}

#[tokio::test]
async fn new_tus_uploads_are_asked_to_wait_while_previews_are_behind() {
    use tower::ServiceExt;
    // A prepared box with no queue running: what is stored stays unrendered.
    let (_dir, state) = common::prepared_state_with(|c| c.previews.backpressure_queue = 2).await;
    let made = state
        .store
        .write(|tx| venuebox::creators::add(tx, "Ana", "test"))
        .await
        .unwrap();
    let create = || {
        axum::http::Request::post("/files/")
            .header("Authorization", format!("Bearer {}", made.upload_token))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "1000")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let app = venuebox::web::app(state.clone());
    for (i, name) in ["nikon-d90_DSC_0003.JPG", "canon-350d_MG_9381.JPG"]
        .iter()
        .enumerate()
    {
        let r = app.clone().oneshot(create()).await.unwrap();
        assert_eq!(r.status(), 201, "{i} photos waiting: accepted");
        let file = tokio::fs::File::open(testdata().join("photos").join(name))
            .await
            .unwrap();
        let incoming = Incoming {
            creator_id: made.creator.id,
            original_name: name.to_string(),
            source: Source::Import,
        };
        state.ingest.receive(incoming, file).await.unwrap();
    }
    assert_eq!(state.previews.pending().await.unwrap(), 2);
    let r = app.clone().oneshot(create()).await.unwrap();
    assert_eq!(r.status(), 503, "two photos waiting: come back later");
    assert_eq!(r.headers()["retry-after"], "10");
    // Once one is rendered, uploads are welcome again.
    let photo = state
        .store
        .read(|c| venuebox::ingest::photo_by_id(c, 1).map_err(venuebox::db::StoreError::from))
        .await
        .unwrap()
        .unwrap();
    state.previews.ensure(&photo).await.unwrap();
    let r = app.clone().oneshot(create()).await.unwrap();
    assert_eq!(r.status(), 201);
}

/// Previews are not flushed to disk (they can be made again), so a power cut can leave
/// one empty, short or zero-filled: such a file is never served, but rendered again.
#[tokio::test]
async fn a_preview_a_power_cut_left_torn_is_rendered_again_not_served() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let admin = b.admin_token().await;
    let source = testdata().join("photos/sony-ilce6400_DSC00007.JPG");
    let bytes = std::fs::read(&source).unwrap();
    let sha = common::sha256_file(&source);
    let id = b.tus_upload(&token, &bytes).await;
    let c = reqwest::Client::new();
    wait_rendered(&b, &c, &admin, id).await;
    let dir = b.data_dir().join("derivatives").join(&sha[..2]);
    let thumb = dir.join(format!("{sha}-thumb.jpg"));
    let preview = dir.join(format!("{sha}-preview.webp"));
    let whole_len = std::fs::metadata(&preview).unwrap().len() as usize;
    // What a power cut can leave: an empty file; one cut short; one of zeros.
    for (path, torn) in [
        (&thumb, Vec::new()),
        (
            &preview,
            std::fs::read(&preview).unwrap()[..whole_len / 2].to_vec(),
        ),
    ] {
        std::fs::write(path, torn).unwrap();
    }
    let watermarked = dir.join(format!("{sha}-watermarked.jpg"));
    let len = std::fs::metadata(&watermarked).unwrap().len() as usize;
    std::fs::write(&watermarked, vec![0u8; len]).unwrap();

    for (path, accept, size) in [
        ("thumb", "image/jpeg", 320),
        ("preview", "image/webp", 1280),
        ("watermarked", "image/jpeg", 1280),
    ] {
        let r = c
            .get(b.url(&format!("/photos/{id}/{path}")))
            .bearer_auth(&admin)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], accept, "{path}");
        let img = image::load_from_memory(&r.bytes().await.unwrap())
            .unwrap_or_else(|e| panic!("{path} served torn: {e}"));
        assert_eq!(img.width().max(img.height()), size, "{path}");
    }
    // Rendered again, and whole on disk.
    let again = std::fs::read(&thumb).unwrap();
    assert!(again.starts_with(&[0xFF, 0xD8]) && again.ends_with(&[0xFF, 0xD9]));
    assert!(std::fs::metadata(&preview).unwrap().len() as usize > whole_len / 2);
}

/// Permission is decided before the photo is looked up: an anonymous client gets the
/// same answer (status and body) for a photo that exists and one that does not, for
/// every derivative, so sequential ids cannot be counted (issue 13, item 4).
#[tokio::test]
async fn anonymous_clients_cannot_tell_which_photo_ids_exist() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let bytes = std::fs::read(testdata().join("photos/sony-ilce6400_DSC00007.JPG")).unwrap();
    let id = b.tus_upload(&token, &bytes).await;
    let c = reqwest::Client::new();
    for derivative in ["thumb", "preview", "watermarked", "full"] {
        let mut answers = Vec::new();
        for photo in [id, id + 1, 999_999] {
            let r = c
                .get(b.url(&format!("/photos/{photo}/{derivative}")))
                .send()
                .await
                .unwrap();
            answers.push((r.status().as_u16(), r.text().await.unwrap()));
        }
        assert_eq!(answers[0].0, 401, "{derivative}: {answers:?}");
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{derivative}: an existing and a missing photo answer alike: {answers:?}"
        );
    }
    b.stop().await;
}
