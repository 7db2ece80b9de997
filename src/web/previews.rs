//! The preview endpoints: `GET /photos/{id}/{thumb,preview,watermarked,full}` (JPEG
//! or WebP by `Accept`, strong ETags, 304, Range on the full download),
//! `GET /uploads/{key}/preview` (the instant preview of an upload still arriving), and
//! the admin's render state and stats. What is rendered, cached and counted is
//! [`crate::derivatives`]'; who may see what is [`crate::delivery::policy`], asked by
//! every route here and by the attendee's copy of the photo route
//! (`/portal/photos/...`, `web::delivery`); this file speaks HTTP.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::db::StoreError;
use crate::delivery::memo;
use crate::delivery::policy::{self, Viewer};
use crate::derivatives::{Derivative, RenderState};
use crate::ingest::Photo;
use crate::media::privacy::Piece;
use crate::media::render::Format;
use crate::web::admin::AdminSession;
use crate::web::delivery::StaffViewer;
use crate::web::{AppError, AppState};

/// The preview routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/photos/{id}/{derivative}", get(serve))
        .route("/uploads/{key}/preview", get(serve_upload))
        .route("/api/admin/photos/{id}/render", get(render_state))
        .route("/api/admin/previews/stats", get(stats))
}

async fn photo_by_id(state: &AppState, id: i64) -> Result<Photo, AppError> {
    state
        .store
        .read(move |c| crate::ingest::photo_by_id(c, id).map_err(StoreError::from))
        .await?
        .ok_or(AppError::NotFound)
}

/// The format a request gets: WebP when its Accept names `image/webp` (with a
/// non-zero q), JPEG otherwise (`image/*` and `*/*` too: every client reads JPEG).
pub fn negotiate(accept: Option<&str>) -> Format {
    for range in accept.unwrap_or("").split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("image/webp") {
            continue;
        }
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if q > 0.0 {
            return Format::Webp;
        }
    }
    Format::Jpeg
}

/// A single byte range of a body of `len` bytes, from a Range header: `Ok(None)` to
/// send the whole body (no header, several ranges, or a unit other than bytes),
/// `Err(())` when it cannot be satisfied (416).
#[allow(clippy::result_unit_err)]
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multi-range is not offered: the whole body is a valid answer.
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or(())?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let n: u64 = last.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        len.saturating_sub(n)..len
    } else {
        let start: u64 = first.parse().map_err(|_| ())?;
        let end = if last.is_empty() {
            len
        } else {
            let last: u64 = last.parse().map_err(|_| ())?;
            if last < start {
                return Err(());
            }
            (last + 1).min(len)
        };
        start..end
    };
    if range.start >= len || range.is_empty() {
        return Err(());
    }
    Ok(Some(range))
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// Bytes shared with the derivative cache, as a response body's owner.
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// An image answer. The body refers to `bytes` (the cache's copy) instead of copying
/// them: a cached preview costs no allocation or copy per request.
fn image_response(bytes: Arc<Vec<u8>>, format: Format, cache: &'static str) -> Response {
    let body = axum::body::Body::from(bytes::Bytes::from_owner(Shared(bytes)));
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Cookie, Authorization"),
    );
    response
}

async fn serve(
    State(state): State<AppState>,
    UrlPath((id, derivative)): UrlPath<(i64, String)>,
    headers: HeaderMap,
    StaffViewer(viewer): StaffViewer,
) -> Result<Response, AppError> {
    serve_photo(&state, &viewer, id, &derivative, &headers).await
}

/// Serves `derivative` of photo `id` to `viewer`, as [`policy::may_view`] allows
/// (without a link: links are `web::delivery`'s). A refusal after lookup answers 404,
/// as for a photo that does not exist.
pub async fn serve_photo(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    derivative: &str,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    // Permission before lookup: the same answer whether the id exists or not.
    if let Some(d) = Derivative::parse(derivative) {
        if !policy::may_ask(viewer, d, false) {
            return Err(AppError::Unauthorized);
        }
    }
    let Some(derivative) = Derivative::parse(derivative) else {
        return Err(AppError::NotFound);
    };
    let viewer = viewer.clone();
    let found = look_up(state, move |_| Ok(viewer), id).await?;
    answer(state, found, derivative, headers).await
}

/// One read: the viewer `viewer` finds, the photo, and the policy's facts about it for
/// that viewer; `Err(viewer)` when there is no such photo.
pub async fn look_up<V>(
    state: &AppState,
    viewer: V,
    id: i64,
) -> Result<Result<Arc<memo::Found>, Viewer>, AppError>
where
    V: FnOnce(&rusqlite::Connection) -> rusqlite::Result<Viewer> + Send + 'static,
{
    Ok(state
        .store
        .read_sql(move |c| {
            let viewer = viewer(c)?;
            let Some(facts) = crate::delivery::reads::facts(c, &viewer, id)? else {
                return Ok(Err(viewer));
            };
            Ok(match crate::ingest::photo_by_id(c, id)? {
                Some(photo) => Ok(Arc::new(memo::Found {
                    viewer,
                    photo,
                    facts,
                })),
                None => Err(viewer),
            })
        })
        .await?)
}

/// Answers a photo request from what [`look_up`] found (or the memo kept), asking the
/// policy in the order that leaks nothing: [`policy::may_ask`] first, answered alike
/// whether the photo exists or not (401), then [`policy::may_view`] (404, as for a
/// missing photo).
pub async fn answer(
    state: &AppState,
    found: Result<Arc<memo::Found>, Viewer>,
    derivative: Derivative,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let viewer = match &found {
        Ok(found) => &found.viewer,
        Err(viewer) => viewer,
    };
    if !policy::may_ask(viewer, derivative, false) {
        return Err(AppError::Unauthorized);
    }
    let Ok(found) = found.as_ref() else {
        return Err(AppError::NotFound);
    };
    if !policy::may_view(viewer, &found.facts, derivative, false) {
        return Err(AppError::NotFound);
    }
    let mut response = serve_derivative(
        state,
        &found.photo,
        derivative,
        headers,
        policy::may_see_instant(viewer),
    )
    .await?;
    // An attendee's unwatermarked preview is theirs only while their order stands: not
    // kept in the phone's cache past a cancellation.
    if matches!(viewer, Viewer::Attendee(_)) && derivative == Derivative::Preview {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// Serves `derivative` of `photo`, already allowed: the full photo (Range) or a
/// rendered derivative (JPEG or WebP by `Accept`, ETag, cache), with the instant
/// preview standing in for one not rendered yet when `instant` allows.
pub async fn serve_derivative(
    state: &AppState,
    photo: &Photo,
    derivative: Derivative,
    headers: &HeaderMap,
    instant: bool,
) -> Result<Response, AppError> {
    if derivative == Derivative::Full {
        return serve_full(state, photo, headers).await;
    }
    let format = negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let previews = &state.previews;
    previews.count_format(format);
    let etag = format!(
        "\"{}-{}-v2.{}\"",
        photo.sha256,
        derivative.name(),
        format.ext()
    );
    // The watermarked preview changes under the same photo when its creator's logo
    // does (issue 17, item 6): its ETag names its bytes (CRC-32, tens of µs for a
    // preview), and browsers ask again each time they show it (a 304 while unchanged).
    let by_content = derivative == Derivative::Watermarked;
    let cache = if by_content {
        "private, no-cache"
    } else {
        "private, max-age=86400"
    };
    let respond = |status: StatusCode, body: Option<Arc<Vec<u8>>>| {
        let etag = match (&body, by_content) {
            (Some(bytes), true) => format!(
                "\"{}-{}-{:08x}.{}\"",
                photo.sha256,
                derivative.name(),
                crc32fast::hash(bytes),
                format.ext()
            ),
            _ => etag.clone(),
        };
        if status == StatusCode::OK && by_content && if_none_match(headers, &etag) {
            let mut response = image_response(Arc::new(Vec::new()), format, cache);
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            *response.body_mut() = axum::body::Body::empty();
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
            return response;
        }
        let mut response = match body {
            Some(bytes) => image_response(bytes, format, cache),
            None => image_response(Arc::new(Vec::new()), format, cache),
        };
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        if status == StatusCode::NOT_MODIFIED {
            *response.body_mut() = axum::body::Body::empty();
        }
        response
    };
    if !by_content && if_none_match(headers, &etag) {
        return Ok(respond(StatusCode::NOT_MODIFIED, None));
    }
    let key = (photo.id, derivative, format);
    if let Some(bytes) = previews.cached(key) {
        previews.count_lookup(derivative, true);
        return Ok(respond(StatusCode::OK, Some(bytes)));
    }
    previews.count_lookup(derivative, false);
    // Derivatives are written atomically: one that exists is servable while the rest
    // of its photo's render goes on. They are not flushed (they can be made again):
    // one a power cut left empty or short is removed and rendered again.
    let path = previews.path(&photo.sha256, derivative, format);
    let stored = tokio::fs::try_exists(&path).await.unwrap_or(false);
    if !stored && instant && derivative != Derivative::Watermarked {
        // Not rendered yet: the upload's instant preview, if it had one, at once (not
        // cached by the client: the render replaces it), while the render goes on.
        if let Some(instant) = previews.instant_of_photo(photo.id) {
            let (p, photo) = (previews.clone(), photo.clone());
            tokio::spawn(async move {
                let _ = p.ensure(&photo).await;
            });
            return Ok(image_response(instant, Format::Jpeg, "no-store"));
        }
    }
    let mut render = match stored {
        true => None,
        false => Some(previews.ensure_format(photo, format).await?),
    };
    let mut read = crate::derivatives::read_whole(&path, format).await;
    if matches!(read, Ok(None)) {
        tracing::warn!(photo = photo.id, path = %path.display(), "a stored preview was not whole (power cut?): rendering it again");
        render = Some(previews.ensure_format(photo, format).await?);
        read = crate::derivatives::read_whole(&path, format).await;
    }
    let bytes = match read {
        Ok(Some(bytes)) => Arc::new(bytes),
        Ok(None) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "the preview rendered again is not whole"
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match render {
                // The disk is full: 507, and the preview comes once space is freed.
                Some(r) if r.state == crate::derivatives::NO_SPACE => {
                    AppError::DiskFull(r.reason.unwrap_or_default())
                }
                render => AppError::Conflict(
                    render
                        .and_then(|r| r.reason)
                        .unwrap_or_else(|| "no preview".into()),
                ),
            });
        }
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    if bytes.len() <= crate::derivatives::CACHE_MAX_ITEM {
        previews.remember(key, bytes.clone());
    }
    Ok(respond(StatusCode::OK, Some(bytes)))
}

/// The full derivative: scrubbed metadata from memory, then the image data streamed
/// from the stored original; one byte range on request.
async fn serve_full(
    state: &AppState,
    photo: &Photo,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    state.previews.count_lookup(Derivative::Full, false);
    let plan = state.previews.full_plan(photo).await?;
    // v2: Adobe RGB photos without a profile gained one (issue 13, item 19).
    let etag = format!("\"{}-full-v2\"", photo.sha256);
    let len = plan.len();
    let mut response = StatusCode::OK.into_response();
    {
        let h = response.headers_mut();
        h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=86400"),
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(plan.media_type),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!(
                "attachment; filename=\"venuebox-{}.{}\"",
                photo.id, plan.ext
            ))
            .expect("ascii"),
        );
    }
    if if_none_match(headers, &etag) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    // If-Range with another validator: the client's part is stale, send it all.
    let range_header = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if v.trim() != etag => None,
        _ => headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
    };
    let range = match parse_range(range_header, len) {
        Ok(r) => r,
        Err(()) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok(response);
        }
    };
    let wanted = range.clone().unwrap_or(0..len);
    if let Some(r) = &range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", r.start, r.end - 1))
                .expect("ascii"),
        );
    }
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(wanted.end - wanted.start),
    );
    // Rewritten metadata from memory, the rest read from the original as it goes.
    let parts = plan.slice(wanted);
    let file = if parts.iter().any(|p| matches!(p, Piece::Original(_))) {
        Some(
            tokio::fs::File::open(state.previews.source(&photo.sha256))
                .await
                .map_err(|e| AppError::Internal(e.into()))?,
        )
    } else {
        None
    };
    let queue: std::collections::VecDeque<Piece> = parts.into();
    let body = futures_util::stream::unfold((file, queue), |(mut file, mut queue)| async move {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let read = match queue.pop_front()? {
            Piece::Bytes(b) => return Some((Ok(axum::body::Bytes::from(b)), (file, queue))),
            Piece::Original(r) => r,
        };
        let f = file.as_mut().expect("opened for original pieces");
        let n = (64u64 << 10).min(read.end - read.start) as usize;
        let mut buf = vec![0u8; n];
        let result = async {
            f.seek(std::io::SeekFrom::Start(read.start)).await?;
            f.read_exact(&mut buf).await
        }
        .await;
        match result {
            Ok(_) => {
                if read.start + (n as u64) < read.end {
                    queue.push_front(Piece::Original(read.start + n as u64..read.end));
                }
                Some((Ok(axum::body::Bytes::from(buf)), (file, queue)))
            }
            Err(e) => {
                queue.clear();
                Some((Err(e), (file, queue)))
            }
        }
    });
    *response.body_mut() = axum::body::Body::from_stream(body);
    Ok(response)
}

/// The instant preview of an upload in progress, by its key (the tus upload id).
async fn serve_upload(
    State(state): State<AppState>,
    UrlPath(key): UrlPath<String>,
    StaffViewer(viewer): StaffViewer,
) -> Result<Response, AppError> {
    if !policy::may_ask(&viewer, Derivative::Preview, false) {
        return Err(AppError::Unauthorized);
    }
    let uploader = {
        let key = key.clone();
        state
            .store
            .read_sql(move |c| crate::ingest::uploads::get(c, &key))
            .await?
            .map(|u| u.creator_id)
    };
    // An unknown key and one not the viewer's answer alike.
    let allowed = match uploader {
        Some(creator) => policy::may_view_upload(&viewer, creator),
        None => viewer == Viewer::Admin,
    };
    if !allowed {
        return Err(AppError::NotFound);
    }
    let bytes = state.previews.instant(&key).ok_or(AppError::NotFound)?;
    Ok(image_response(bytes, Format::Jpeg, "no-store"))
}

async fn render_state(
    State(state): State<AppState>,
    _: AdminSession,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<RenderState>, AppError> {
    let photo = photo_by_id(&state, id).await?;
    Ok(Json(
        state
            .previews
            .current_state(photo.id)
            .await?
            .ok_or(AppError::NotFound)?,
    ))
}

async fn stats(
    State(state): State<AppState>,
    _: AdminSession,
) -> Result<Json<serde_json::Value>, AppError> {
    let pending = state.previews.pending().await?;
    Ok(Json(state.previews.stats(pending)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cached_image_is_sent_without_a_copy() {
        let cached = Arc::new(vec![7u8; 100_000]);
        let response = image_response(cached.clone(), Format::Jpeg, "no-store");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("a body in memory")
            .to_bytes();
        assert_eq!(body.len(), cached.len());
        // The very bytes of the cache, not a copy of them.
        assert_eq!(body.as_ptr(), cached.as_ptr());
    }

    #[test]
    fn accept_picks_webp_only_when_named() {
        assert_eq!(negotiate(None), Format::Jpeg);
        assert_eq!(negotiate(Some("*/*")), Format::Jpeg);
        assert_eq!(negotiate(Some("image/*,*/*;q=0.8")), Format::Jpeg);
        assert_eq!(
            negotiate(Some("image/avif,image/webp,image/apng,*/*;q=0.8")),
            Format::Webp
        );
        assert_eq!(negotiate(Some("image/webp;q=0, image/jpeg")), Format::Jpeg);
        assert_eq!(negotiate(Some("IMAGE/WEBP; q=0.5")), Format::Webp);
    }

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Ok(Some(0..100)));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some(50..100)));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=9-3"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=-0"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=x-"), 100), Err(()));
    }
}
