//! The phone and laptop uploader (issue 16, item 4): a page for the logged-in creator
//! that sends photos to the box's tus server with tus-js-client, served by the box
//! itself (no CDN: the box works offline, ../shared/MISSION.md).
//!
//! - `GET /vendor/upload`: the page (English and German, chosen like the portal's:
//!   `?lang=`, then `Accept-Language`, then `event.locale`). Without a live vendor
//!   session it redirects to the login page, like `/vendor`.
//! - `GET /vendor/upload/{key}`: what the page polls for one upload (`key` is the last
//!   segment of the tus upload URL): bytes received, the photo it became, and the
//!   preview to show ([`Status`]). Only the upload's own creator gets an answer; any
//!   other key answers 404.
//! - `GET /assets/{name}`: the page's scripts, vendored tus-js-client
//!   (`assets/tus-js-client/`, version [`TUS_JS_VERSION`]) and the page's own
//!   `assets/uploader/uploader.js`, embedded in the binary. Their names carry a hash
//!   of their bytes, so they are served `immutable` for a year and a new build is a
//!   new name.
//!
//! How the page authenticates to tus: with the vendor session cookie itself, on
//! same-origin requests only (`web::tus::Uploader` checks `Origin` against `Host`).
//! The upload token never reaches the page's script, logging out stops the uploads,
//! and no second credential has to be minted, refreshed or revoked
//! (docs/decisions.md, "The uploader page sends the session cookie to tus").

use std::sync::LazyLock;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::StoreError;
use crate::web::vendor_page::{session_of, VendorSession};
use crate::web::{AppError, AppState};

/// The version of tus-js-client vendored in `assets/tus-js-client/tus.min.js`
/// (npm package `tus-js-client`, its `dist/tus.min.js`, MIT licence).
pub const TUS_JS_VERSION: &str = "4.3.1";

/// How long a browser may keep an asset: a year (RFC 9111 §5.2.2.1; `immutable`,
/// RFC 8246). Safe because an asset's name changes with its bytes.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// The page's Content-Security-Policy: scripts and requests to the box only.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; \
style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// One embedded script, named by a hash of its bytes.
struct Asset {
    name: String,
    bytes: &'static [u8],
}

impl Asset {
    fn new(stem: &str, bytes: &'static [u8]) -> Asset {
        let hash = hex::encode(&Sha256::digest(bytes)[..6]);
        Asset {
            name: format!("{stem}.{hash}.js"),
            bytes,
        }
    }
}

static TUS_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        &format!("tus-js-client-{TUS_JS_VERSION}.min"),
        include_bytes!("../../assets/tus-js-client/tus.min.js"),
    )
});

static PAGE_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "uploader",
        include_bytes!("../../assets/uploader/uploader.js"),
    )
});

/// The uploader's routes (merged with the staff routes: not on the attendee network).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vendor/upload", get(page))
        .route("/vendor/upload/{key}", get(status))
        .route("/assets/{name}", get(asset))
}

/// The path the page loads tus-js-client from (`/assets/tus-js-client-<version>.min.<hash>.js`).
pub fn tus_js_path() -> String {
    format!("/assets/{}", TUS_JS.name)
}

/// The path the page loads its own script from (`/assets/uploader.<hash>.js`).
pub fn page_js_path() -> String {
    format!("/assets/{}", PAGE_JS.name)
}

async fn asset(UrlPath(name): UrlPath<String>, headers: HeaderMap) -> Response {
    let Some(asset) = [&*TUS_JS, &*PAGE_JS].into_iter().find(|a| a.name == name) else {
        return AppError::NotFound.into_response();
    };
    let etag = format!("\"{}\"", asset.name);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    response
}

/// Every string the uploader page shows, in one language; `script` is what its
/// script shows (handed over as JSON in a `data-texts` attribute).
struct Texts {
    lang: &'static str,
    name: &'static str,
    title: &'static str,
    lead: &'static str,
    resume_hint: &'static str,
    choose: &'static str,
    unfinished: &'static str,
    unfinished_hint: &'static str,
    no_script: &'static str,
    back: &'static str,
    script: ScriptTexts,
}

/// The words the page's script puts on the page.
#[derive(Serialize)]
struct ScriptTexts {
    waiting: &'static str,
    sending: &'static str,
    resumed: &'static str,
    retrying: &'static str,
    offline: &'static str,
    stored: &'static str,
    rendering: &'static str,
    ready: &'static str,
    failed: &'static str,
    retry: &'static str,
    of: &'static str,
}

static EN: Texts = Texts {
    lang: "en",
    name: "English",
    title: "Upload photos",
    lead: "Choose photos on this phone or laptop; several at once is fine. Each one goes \
        to the box in pieces and its preview appears here as soon as the box has made it.",
    resume_hint: "If the Wi-Fi drops, the uploads wait and carry on by themselves. If you \
        close or reload this page, choose the same photos again: they continue where they \
        stopped.",
    choose: "Choose photos",
    unfinished: "Unfinished in this browser",
    unfinished_hint: "Choose these files again to finish them:",
    no_script: "This page needs JavaScript to send photos in resumable pieces. Without it, \
        use a camera's FTP upload (see the vendor page).",
    back: "Back to the vendor page",
    script: ScriptTexts {
        waiting: "waiting",
        sending: "sending",
        resumed: "continuing from",
        retrying: "connection lost, trying again",
        offline: "offline, waiting for the network",
        stored: "stored, making the preview",
        rendering: "preview on its way",
        ready: "done",
        failed: "not stored",
        retry: "Try again",
        of: "of",
    },
};

static DE: Texts = Texts {
    lang: "de",
    name: "Deutsch",
    title: "Fotos hochladen",
    lead: "Wähle Fotos auf diesem Handy oder Laptop aus, gern mehrere auf einmal. Jedes \
        geht in Stücken an die Box, und seine Vorschau erscheint hier, sobald die Box sie \
        erstellt hat.",
    resume_hint: "Bricht das WLAN ab, warten die Uploads und machen von selbst weiter. \
        Schließt du die Seite oder lädst sie neu, wähle dieselben Fotos noch einmal: Sie \
        machen dort weiter, wo sie aufgehört haben.",
    choose: "Fotos auswählen",
    unfinished: "Unfertig in diesem Browser",
    unfinished_hint: "Wähle diese Dateien noch einmal aus, um sie fertig zu senden:",
    no_script: "Diese Seite braucht JavaScript, um Fotos in fortsetzbaren Stücken zu senden. \
        Ohne JavaScript nutze den FTP-Upload der Kamera (siehe Verkaufsseite).",
    back: "Zurück zur Verkaufsseite",
    script: ScriptTexts {
        waiting: "wartet",
        sending: "wird gesendet",
        resumed: "geht weiter ab",
        retrying: "Verbindung verloren, neuer Versuch",
        offline: "offline, wartet auf das Netz",
        stored: "gespeichert, Vorschau wird erstellt",
        rendering: "Vorschau kommt",
        ready: "fertig",
        failed: "nicht gespeichert",
        retry: "Noch einmal",
        of: "von",
    },
};

/// Every language of the page, the default first.
static ALL: [&Texts; 2] = [&EN, &DE];

/// The page's language, chosen as the portal chooses its own.
fn texts(lang: Option<&str>, headers: &HeaderMap, default: &str) -> &'static Texts {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let chosen = crate::web::portal::text::choose(lang, accept, default).lang;
    ALL.iter()
        .copied()
        .find(|t| t.lang == chosen)
        .unwrap_or(&EN)
}

const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1a1a1a}\
main{max-width:52rem;margin:0 auto;padding:.8rem}h1{font-size:1.35rem;margin:.4rem 0}h2{font-size:1.05rem}\
p{margin:.5rem 0}nav{display:flex;justify-content:space-between;flex-wrap:wrap;gap:.5rem;font-size:.95rem}\
a{color:#1a4d8f}.pick{display:block;text-align:center;background:#1a4d8f;color:#fff;border-radius:.4rem;\
padding:1rem;font-weight:700;font-size:1.1rem;cursor:pointer;margin:1rem 0}\
.pick input{position:absolute;width:1px;height:1px;opacity:0}.pick:focus-within{outline:3px solid #f0b400}\
.hint{color:#555;font-size:.92rem}ul{list-style:none;padding:0;margin:0}\
#files li{display:flex;gap:.7rem;align-items:center;background:#fff;border:1px solid #ddd;\
border-radius:.4rem;padding:.5rem;margin:.5rem 0}\
#files img{flex:none;width:96px;height:72px;object-fit:cover;background:#e4e4df;border-radius:.2rem}\
#files .meta{flex:1;min-width:0}#files .name{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
progress{width:100%;height:.8rem}.state{font-size:.9rem;color:#444}.state.bad{color:#a00000;font-weight:700}\
.state.good{color:#17602a;font-weight:700}button{font:inherit;padding:.3rem .7rem;border:0;border-radius:.25rem;\
background:#e8e8e4;cursor:pointer}#unfinished{background:#fff6d6;padding:.5rem;border-radius:.4rem}\
@media (min-width:48rem){#files{display:grid;grid-template-columns:1fr 1fr;gap:0 .8rem}}";

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    session: VendorSession,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let t = texts(q.lang.as_deref(), &headers, &state.config.event.locale);
    let script_texts = serde_json::to_string(&t.script).expect("serialisable");
    let body = html! {
        nav {
            a href="/vendor" { "← " (t.back) }
            span {
                @for other in ALL.iter().filter(|o| o.lang != t.lang) {
                    a href={ "/vendor/upload?lang=" (other.lang) } lang=(other.lang) hreflang=(other.lang) { (other.name) }
                }
            }
        }
        h1 { (t.title) " · " (session.creator.name) }
        p { (t.lead) }
        p.hint { (t.resume_hint) }
        noscript { p.state.bad { (t.no_script) } }
        label.pick for="pick" {
            (t.choose)
            input #pick type="file" multiple accept="image/*" disabled;
        }
        section #unfinished hidden {
            h2 { (t.unfinished) }
            p.hint { (t.unfinished_hint) }
            ul {}
        }
        ul #files aria-live="polite" {}
        div #uploader hidden data-endpoint="/files/" data-status="/vendor/upload/" data-texts=(script_texts) {}
        script src=(tus_js_path()) {}
        script src=(page_js_path()) {}
    };
    let markup: Markup = html! {
        (DOCTYPE)
        html lang=(t.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t.title) " · venuebox" }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    };
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::VARY, "Accept-Language, Cookie"),
        ],
        Html(markup.into_string()),
    )
        .into_response()
}

/// What `GET /vendor/upload/{key}` answers: one upload as its creator's page sees it.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Bytes the box holds (received and fsynced).
    pub received: u64,
    /// The declared length in bytes; `null` while deferred.
    pub length: Option<u64>,
    /// The photo the upload became, once stored.
    pub photo: Option<i64>,
    /// The image to show now: the rendered thumbnail (`/photos/{id}/thumb`), else the
    /// camera's embedded preview (`/uploads/{key}/preview`) while the upload arrives or
    /// renders, else `null`.
    pub preview: Option<String>,
    /// `uploading`, `stored` (a photo, no preview rendered yet), `done` (rendered),
    /// `failed` or `raw` (stored, but no preview will come: `reason` says why).
    pub state: &'static str,
    /// Why there is no preview, in words a creator can read.
    pub reason: Option<String>,
}

async fn status(
    State(state): State<AppState>,
    UrlPath(key): UrlPath<String>,
    parts: axum::http::request::Parts,
) -> Result<Response, AppError> {
    let session = session_of(&parts, &state)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AppError::NotFound);
    }
    let upload = {
        let key = key.clone();
        state
            .store
            .read(move |c| crate::ingest::uploads::get(c, &key).map_err(StoreError::from))
            .await?
    };
    // Another creator's upload answers like one that does not exist.
    let upload = upload
        .filter(|u| u.creator_id == session.creator.id)
        .ok_or(AppError::NotFound)?;
    let instant = state
        .previews
        .instant(&key)
        .map(|_| format!("/uploads/{key}/preview"));
    let render = match upload.photo_id {
        Some(id) => state.previews.state(id).await?,
        None => None,
    };
    let (state_name, preview, reason) = match (upload.photo_id, render) {
        (None, _) => ("uploading", instant, None),
        (Some(id), Some(r)) if r.state == "done" => {
            ("done", Some(format!("/photos/{id}/thumb")), None)
        }
        (Some(id), Some(r)) => (
            if r.state == "raw" { "raw" } else { "failed" },
            instant,
            Some(
                crate::derivatives::explain(
                    Some(&r.state),
                    r.reason.as_deref(),
                    state.previews.is_waiting_for_space(id),
                )
                .words
                .to_string(),
            ),
        ),
        (Some(_), None) => ("stored", instant, None),
    };
    let body = Status {
        received: upload.offset,
        length: upload.length,
        photo: upload.photo_id,
        preview,
        state: state_name,
        reason,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::VARY, "Cookie"),
        ],
        Json(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_carry_a_hash_of_their_bytes() {
        let a = Asset::new("x", b"one");
        let b = Asset::new("x", b"two");
        assert_ne!(a.name, b.name);
        assert!(
            a.name.starts_with("x.") && a.name.ends_with(".js"),
            "{}",
            a.name
        );
        assert!(tus_js_path().starts_with("/assets/tus-js-client-4.3.1.min."));
    }

    #[test]
    fn the_page_speaks_english_and_german() {
        let mut h = HeaderMap::new();
        assert_eq!(texts(None, &h, "en").lang, "en");
        assert_eq!(texts(None, &h, "de-DE").lang, "de");
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("de-AT,de;q=0.9"),
        );
        assert_eq!(texts(None, &h, "en").lang, "de");
        assert_eq!(texts(Some("en"), &h, "en").lang, "en");
    }
}
