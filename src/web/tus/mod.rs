//! Resumable uploads: tus 1.0.0 at `/files/`, the protocol tus-js-client and Uppy speak.
//!
//! Core protocol (with `X-HTTP-Method-Override`) plus the creation,
//! creation-with-upload, creation-defer-length, expiration, checksum (sha1, sha256) and
//! termination extensions. Only paired devices
//! upload: every request but OPTIONS needs a creator's upload token
//! (`Authorization: Bearer vbu_...`), and a creator sees only their own uploads.
//!
//! State lives in SQLite (`uploads`: length, offset, metadata, expiry) and the bytes in
//! `<data>/uploads/<id>`, so offsets survive a restart. A PATCH streams its body to the
//! file as it arrives (never buffered whole), fsyncs, and only then records the new
//! offset; a power cut mid-PATCH leaves the old offset, and the next PATCH truncates
//! the file back to it. PATCHes to one upload cannot interleave: a second one while
//! the first runs is answered 423 (tus-js-client retries). A chunk whose checksum
//! does not match is answered 460 and its bytes are discarded. When the last byte
//! arrives the file is handed to the ingest core, which makes it a photo.
//!
//! Why not an existing crate: fileloft (fileloft-core/-axum 0.3, the most complete
//! tus crate found) implements the core protocol and extensions including checksums,
//! with pluggable stores and locks. It was not adopted because (1) its upload state
//! lives in its own store's files, while ours must sit in the same SQLite database as
//! the photo rows, so one power-cut-safe source of truth holds offsets and photos;
//! (2) the final PATCH here is answered only after the ingest core has committed the
//! photo (the "acknowledged means durable" rule), which needs our commit inside the
//! request, not after it through its hook events; (3) creator ownership of uploads and
//! the later instant preview need the bytes and rows in our own layout. The protocol
//! itself is small: its header parsing is kept pure and unit-tested in [`headers`],
//! its errors and their statuses are in `error.rs` ([`TusError`]) (as the tus server rustus splits
//! `protocol/`), and its SQL is `ingest::uploads`.

pub mod cors;
mod error;
pub mod headers;

pub use error::TusError;
pub use headers::{parse_checksum, parse_metadata, parse_u64, Checksum};

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path as UrlPath, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{options, post, MethodRouter};
use axum::Router;

use futures_util::StreamExt;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::creators::Creator;
use crate::db::StoreError;
use crate::ingest::uploads::{self, Upload};
use crate::ingest::{Incoming, Refusal, Source, SPACE_CHECK_BYTES};
use crate::{files, web::AppState};

/// The protocol version served.
pub const TUS_VERSION: &str = "1.0.0";
/// Extensions served.
pub const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";
/// A PATCH that receives no byte for this long is treated as interrupted.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, TusError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| TusError::BadRequest(format!("{name} is not text")))
        })
        .transpose()
}

fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64))
}

// --- State. ---

/// Per-upload locks, so PATCHes to one upload never interleave.
#[derive(Default)]
pub struct UploadLocks {
    held: Mutex<std::collections::HashSet<String>>,
}

/// Holds an upload's lock until dropped.
struct UploadGuard<'a> {
    locks: &'a UploadLocks,
    id: String,
}

impl UploadLocks {
    fn try_lock(&self, id: &str) -> Option<UploadGuard<'_>> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(id.to_string()).then(|| UploadGuard {
            locks: self,
            id: id.to_string(),
        })
    }
}

impl Drop for UploadGuard<'_> {
    fn drop(&mut self) {
        self.locks
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

fn uploads_dir(state: &AppState) -> PathBuf {
    crate::files::layout::uploads(&state.config.storage.data_dir)
}

fn part_path(state: &AppState, id: &str) -> PathBuf {
    crate::files::layout::upload_part(&state.config.storage.data_dir, id)
}

/// Upload ids are 32 lowercase hex digits; anything else is not an upload of ours
/// (and can never name a file outside `uploads/`).
fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

async fn load(state: &AppState, id: &str, creator: &Creator) -> Result<Upload, TusError> {
    if !valid_id(id) {
        return Err(TusError::NotFound);
    }
    let id = id.to_string();
    let upload = state
        .store
        .read(move |c| uploads::get(c, &id).map_err(StoreError::from))
        .await?;
    match upload {
        Some(u) if u.creator_id == creator.id => {
            if u.expires_at <= crate::clock::now() && u.photo_id.is_none() {
                Err(TusError::Gone)
            } else {
                Ok(u)
            }
        }
        // Another creator's upload is indistinguishable from none.
        _ => Err(TusError::NotFound),
    }
}

/// The creator an upload request authenticates as: by the upload token
/// (`Authorization: Bearer vbu_…`, cameras' apps, tus clients, other origins' pages
/// under CORS), or by the vendor session cookie (`vb_vendor`) for the box's own
/// uploader page. The cookie counts only on a same-origin request
/// ([`headers::same_origin_request`]): besides its `SameSite=Strict`, the request's
/// `Origin` must be the box's own as the request addressed it, so no other page, not
/// even one on another port of the same host (same site, other origin), can make the
/// creator's browser upload or delete. A bearer token, when present, decides alone.
pub struct Uploader(pub Creator);

impl FromRequestParts<AppState> for Uploader {
    type Rejection = TusError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.get("tus-resumable").map(|v| v.as_bytes()) != Some(TUS_VERSION.as_bytes())
        {
            return Err(TusError::Version);
        }
        if let Some(token) = crate::web::vendor::bearer(parts) {
            let creator = crate::web::vendor::creator_by_token(state, token)
                .await?
                .ok_or(TusError::Unauthorized)?;
            return Ok(Uploader(creator));
        }
        // The uploader page (`web::uploader`): the vendor session cookie, from the
        // box's own pages only.
        let has_cookie = axum_extra::extract::cookie::CookieJar::from_headers(&parts.headers)
            .get(crate::web::vendor_page::SESSION_COOKIE)
            .is_some();
        if !has_cookie {
            return Err(TusError::Unauthorized);
        }
        let tls = parts
            .extensions
            .get::<axum::extract::ConnectInfo<crate::web::ClientAddr>>()
            .is_some_and(|c| c.0.tls);
        let header =
            |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let fetch_site = parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok());
        if !headers::same_origin_request(
            &parts.method,
            header(header::ORIGIN),
            header(header::HOST),
            fetch_site,
            tls,
        ) {
            return Err(TusError::CrossOrigin);
        }
        let session = crate::web::vendor_page::session_of(parts, state)
            .await?
            .ok_or(TusError::Unauthorized)?;
        Ok(Uploader(session.creator))
    }
}

/// The tus routes. Uploads are exempt from the app's body limit and request timeout:
/// they are streamed, bounded by `ingest.max_file_bytes`, and cut off when idle.
/// With `tus.cors_allowed_origins` set, pages on those origins may use them from a
/// browser ([`cors`]); the CORS scope is outermost, so a preflight it answers carries
/// no tus header. Every refused upload is recorded ([`note_refusal`]).
pub fn router(state: &AppState) -> Router<AppState> {
    let config = &state.config.tus;
    let routes = Router::new()
        .route("/files", post(create).options(describe))
        .route("/files/", post(create).options(describe))
        .route("/files/{id}", upload_methods().post(method_override))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            note_refusal,
        ))
        .layer(DefaultBodyLimit::disable())
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("tus-resumable"),
            HeaderValue::from_static(TUS_VERSION),
        ));
    match cors::UploadCors::new(&config.cors_allowed_origins) {
        Some(policy) => routes.layer(axum::middleware::from_fn_with_state(policy, cors::scope)),
        None => routes,
    }
}

/// Records a refused upload (a response carrying an `ingest::Refusal`, put there by
/// [`TusError::Refused`]) for the dashboard's refusals by reason, after the answer is
/// made; the answer itself is unchanged.
async fn note_refusal(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(&refusal) = response.extensions().get::<Refusal>() {
        state.ingest.note_refusal(Source::Tus, refusal).await;
    }
    response
}

/// The methods a tus request may name in `X-HTTP-Method-Override`.
const OVERRIDABLE: [Method; 4] = [Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS];

/// What an upload's URL answers, by method.
fn upload_methods() -> MethodRouter<AppState> {
    options(describe).head(head).patch(patch).delete(terminate)
}

/// tus 1.0.0 core protocol, "X-HTTP-Method-Override": the header "MUST be interpreted
/// as the request's method by the Server, if the header is presented". Clients behind
/// proxies that block PATCH or DELETE send POST with it (tus-js-client's
/// `overridePatchMethod`): such a POST to an upload's URL is handed to the handler of
/// the method it names. A value that is not a tus method is a 400; a POST without it
/// is a 405, as before.
async fn method_override(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
) -> Response {
    let Some(value) = request.headers().get("x-http-method-override") else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let method = value
        .to_str()
        .ok()
        .and_then(|v| Method::from_bytes(v.trim().to_ascii_uppercase().as_bytes()).ok())
        .filter(|m| OVERRIDABLE.contains(m));
    let Some(method) = method else {
        return TusError::BadRequest(
            "X-HTTP-Method-Override must be PATCH, DELETE, HEAD or OPTIONS".into(),
        )
        .into_response();
    };
    *request.method_mut() = method;
    // The route's path parameters travel in the request's extensions.
    match upload_methods().with_state(state).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn describe(State(state): State<AppState>) -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            ("tus-version", TUS_VERSION.to_string()),
            ("tus-extension", TUS_EXTENSIONS.to_string()),
            (
                "tus-max-size",
                state.config.ingest.max_file_bytes.to_string(),
            ),
            ("tus-checksum-algorithm", "sha1,sha256".to_string()),
        ],
    )
        .into_response()
}

fn expires_header(expires_at: i64) -> (&'static str, String) {
    ("upload-expires", http_date(expires_at))
}

async fn create(
    State(state): State<AppState>,
    Uploader(creator): Uploader,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, TusError> {
    let length = parse_u64("Upload-Length", header(&headers, "upload-length")?)
        .map_err(TusError::BadRequest)?;
    let defer = header(&headers, "upload-defer-length")?;
    match (length, defer) {
        (Some(_), Some(_)) => {
            return Err(TusError::BadRequest(
                "send Upload-Length or Upload-Defer-Length, not both".into(),
            ))
        }
        (None, None) => {
            return Err(TusError::BadRequest(
                "Upload-Length or Upload-Defer-Length: 1 is required".into(),
            ))
        }
        (None, Some(d)) if d != "1" => {
            return Err(TusError::BadRequest("Upload-Defer-Length must be 1".into()))
        }
        _ => {}
    }
    let max = state.config.ingest.max_file_bytes;
    if length == Some(0) {
        return Err(TusError::Refused(
            Refusal::NotAPhoto,
            "an empty file is not a photo".into(),
        ));
    }
    if let Some(length) = length {
        if length > max {
            return Err(TusError::Refused(
                Refusal::TooLarge,
                format!("Upload-Length exceeds the limit of {max} bytes"),
            ));
        }
        state.ingest.check_space(length)?;
        // Against everything the creator holds: photos and unfinished uploads.
        state.ingest.room(creator.id, 0, length).await?;
    }
    let limit = state.config.previews.backpressure_queue;
    if limit > 0 {
        let pending = state.previews.pending().await?;
        if pending >= limit {
            return Err(TusError::Busy(format!(
                "{pending} photos are waiting for previews; retry in a few seconds"
            )));
        }
    }
    let metadata = header(&headers, "upload-metadata")?
        .unwrap_or_default()
        .to_string();
    parse_metadata(&metadata).map_err(TusError::BadRequest)?;
    if metadata.len() > 4096 {
        return Err(TusError::BadRequest(
            "Upload-Metadata is longer than 4096 bytes".into(),
        ));
    }
    let id = hex::encode(rand::random::<[u8; 16]>());
    let expires_at = crate::clock::now().saturating_add(state.config.tus.expire_after_secs as i64);
    {
        let (id, metadata, creator_id) = (id.clone(), metadata.clone(), creator.id);
        let max_open = state.config.tus.max_open_uploads_per_creator;
        let created = state
            .store
            .write(move |tx| {
                uploads::create(tx, &id, creator_id, length, &metadata, expires_at, max_open)
                    .map_err(StoreError::from)
            })
            .await?;
        if !created {
            return Err(TusError::TooManyOpen(format!(
                "{max_open} uploads are unfinished; finish or terminate one first"
            )));
        }
    }
    // The row first, then the file: a crash in between leaves a row whose file the
    // first PATCH creates, never a file no row knows. The file's name is made durable
    // with the directory (fsync(2): a file's fsync does not flush its directory
    // entry), before any byte of it is acknowledged: a power cut must not take a
    // file whose row says bytes were received (found by the power-loss soak).
    let dir = uploads_dir(&state);
    files::create_dir(&dir, 0o700)?;
    tokio::fs::File::create(part_path(&state, &id))
        .await?
        .sync_all()
        .await?;
    files::sync_dir(&dir)?;
    state.previews.upload_started(&id);
    tracing::info!(upload = %id, creator = creator.id, length, "tus upload created");
    let location = format!("/files/{id}");
    let mut response_headers = vec![("location", location), expires_header(expires_at)];
    // creation-with-upload: the POST may carry the first chunk.
    let has_body = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes())
        == Some(b"application/offset+octet-stream");
    if has_body {
        let offset = write_chunk(&state, &id, &creator, 0, &headers, body).await?;
        response_headers.push(("upload-offset", offset.to_string()));
    }
    let mut response = StatusCode::CREATED.into_response();
    for (name, value) in response_headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).expect("ascii"));
    }
    Ok(response)
}

async fn head(
    State(state): State<AppState>,
    Uploader(creator): Uploader,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, TusError> {
    let upload = load(&state, &id, &creator).await?;
    let mut h = vec![
        ("upload-offset", upload.offset.to_string()),
        ("cache-control", "no-store".to_string()),
        expires_header(upload.expires_at),
    ];
    match upload.length {
        Some(length) => h.push(("upload-length", length.to_string())),
        None => h.push(("upload-defer-length", "1".to_string())),
    }
    if !upload.metadata.is_empty() {
        h.push(("upload-metadata", upload.metadata.clone()));
    }
    let mut response = StatusCode::OK.into_response();
    for (name, value) in h {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

async fn patch(
    State(state): State<AppState>,
    Uploader(creator): Uploader,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, TusError> {
    if headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes())
        != Some(b"application/offset+octet-stream")
    {
        return Err(TusError::UnsupportedMedia(
            "PATCH needs Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let given = parse_u64("Upload-Offset", header(&headers, "upload-offset")?)
        .map_err(TusError::BadRequest)?
        .ok_or_else(|| TusError::BadRequest("Upload-Offset is required".into()))?;
    let offset = write_chunk(&state, &id, &creator, given, &headers, body).await?;
    let expires_at = crate::clock::now().saturating_add(state.config.tus.expire_after_secs as i64);
    Ok((
        StatusCode::NO_CONTENT,
        [
            ("upload-offset", offset.to_string()),
            expires_header(expires_at),
        ],
    )
        .into_response())
}

/// Writes one chunk at `given` and returns the new offset. Finishes the upload (hands
/// it to ingest) when the last byte has arrived.
async fn write_chunk(
    state: &AppState,
    id: &str,
    creator: &Creator,
    given: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, TusError> {
    let _guard = state.upload_locks.try_lock(id).ok_or(TusError::Locked)?;
    // Read under the lock: a PATCH that just finished may have moved it.
    let mut upload = load(state, id, creator).await?;
    if given != upload.offset {
        return Err(TusError::OffsetMismatch {
            given,
            expected: upload.offset,
        });
    }
    let max = state.config.ingest.max_file_bytes;
    if let Some(declared) = parse_u64("Upload-Length", header(headers, "upload-length")?)
        .map_err(TusError::BadRequest)?
    {
        match upload.length {
            Some(length) if length != declared => {
                return Err(TusError::BadRequest("Upload-Length cannot change".into()))
            }
            None if declared < upload.offset => {
                return Err(TusError::BadRequest(
                    "Upload-Length is below the bytes already received".into(),
                ))
            }
            None if declared > max => {
                return Err(TusError::Refused(
                    Refusal::TooLarge,
                    format!("Upload-Length exceeds the limit of {max} bytes"),
                ))
            }
            _ => upload.length = Some(declared),
        }
    }
    let checksum = header(headers, "upload-checksum")?
        .map(parse_checksum)
        .transpose()
        .map_err(TusError::BadRequest)?;
    if upload.photo_id.is_some() {
        // Already complete: nothing more may be written.
        return Err(TusError::TooLarge("the upload is already complete".into()));
    }
    let limit = upload.length.unwrap_or(max);
    // What the creator's quota leaves for this PATCH: their photos and every unfinished
    // upload's bytes (this one's so far included) count, so a deferred length or many
    // uploads at once cannot hold more than the quota.
    let room = state.ingest.room(upload.creator_id, 0, 0).await?;

    let path = part_path(state, id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .await?;
    // Bytes past the recorded offset are from a PATCH a crash interrupted: drop them.
    file.set_len(upload.offset).await?;
    file.seek(SeekFrom::Start(upload.offset)).await?;

    enum Hasher {
        Sha1(Sha1),
        Sha256(Sha256),
    }
    let mut hasher = checksum.as_ref().map(|c| match c {
        Checksum::Sha1(_) => Hasher::Sha1(Sha1::new()),
        Checksum::Sha256(_) => Hasher::Sha256(Sha256::new()),
    });
    let mut written = 0u64;
    let mut since_space_check = u64::MAX / 2;
    let mut stream = body.into_data_stream();
    let outcome: Result<bool, TusError> = loop {
        let next = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
            Ok(next) => next,
            Err(_) => break Ok(false),
        };
        let chunk = match next {
            None => break Ok(true),
            Some(Ok(chunk)) => chunk,
            // The client went away mid-chunk.
            Some(Err(_)) => break Ok(false),
        };
        if upload.offset + written + chunk.len() as u64 > limit {
            break Err(TusError::TooLarge(format!(
                "more bytes than {} allows",
                if upload.length.is_some() {
                    "Upload-Length"
                } else {
                    "ingest.max_file_bytes"
                }
            )));
        }
        if written + chunk.len() as u64 > room {
            // `room` is below the quota: without one it is `u64::MAX`.
            let quota = state.config.ingest.creator_quota_bytes;
            break Err(crate::ingest::IngestError::Quota {
                used: quota.saturating_sub(room),
                quota,
            }
            .into());
        }
        since_space_check += chunk.len() as u64;
        if since_space_check >= SPACE_CHECK_BYTES {
            if let Err(e) = state.ingest.check_space(SPACE_CHECK_BYTES) {
                break Err(e.into());
            }
            since_space_check = 0;
        }
        match &mut hasher {
            Some(Hasher::Sha1(h)) => h.update(&chunk),
            Some(Hasher::Sha256(h)) => h.update(&chunk),
            None => {}
        }
        if let Err(e) = file.write_all(&chunk).await {
            break Err(e.into());
        }
        written += chunk.len() as u64;
    };
    let complete_body = match outcome {
        Ok(complete) => complete,
        Err(e) => {
            file.set_len(upload.offset).await?;
            return Err(e);
        }
    };
    if let Some(expected) = &checksum {
        let matches = match (hasher, expected) {
            (Some(Hasher::Sha1(h)), Checksum::Sha1(d)) => h.finalize().as_slice() == d.as_slice(),
            (Some(Hasher::Sha256(h)), Checksum::Sha256(d)) => {
                h.finalize().as_slice() == d.as_slice()
            }
            _ => false,
        };
        // An interrupted chunk cannot be verified: discard it like a mismatch.
        if !complete_body || !matches {
            file.set_len(upload.offset).await?;
            file.sync_all().await?;
            return Err(if complete_body {
                TusError::ChecksumMismatch
            } else {
                TusError::BadRequest("chunk interrupted".into())
            });
        }
    }
    // Durable before recorded: fsync the bytes, then store the offset.
    file.sync_all().await?;
    drop(file);
    let new_offset = upload.offset + written;
    let expires_at = crate::clock::now().saturating_add(state.config.tus.expire_after_secs as i64);
    {
        let (id, length) = (id.to_string(), upload.length);
        let recorded = state
            .store
            .write(move |tx| {
                uploads::set_progress(tx, &id, new_offset, length, expires_at)
                    .map_err(StoreError::from)
            })
            .await?;
        // The row went while the bytes streamed (terminated, or expired by a sweep that
        // ran before this PATCH took the lock): never acknowledge bytes nothing holds.
        if !recorded {
            return Err(TusError::Gone);
        }
    }
    if upload.offset < crate::derivatives::INSTANT_HEAD_BYTES
        && written > 0
        && state.previews.wants_instant(id)
    {
        let complete = upload.length == Some(new_offset);
        offer_head(state, id, new_offset, complete).await;
    }
    if upload.length == Some(new_offset) {
        finish(state, id, creator, &upload.metadata).await?;
    }
    Ok(new_offset)
}

/// Hands the first bytes of an upload to the previews for an instant preview (the
/// EXIF thumbnail) when the feed's rule says they are ready
/// ([`crate::derivatives::Previews::head_ready`]) or the upload is `complete`. Best
/// effort: a read error only means no instant preview, and the decode runs off this
/// request.
async fn offer_head(state: &AppState, id: &str, received: u64, complete: bool) {
    use tokio::io::AsyncReadExt;
    let want = received.min(crate::derivatives::INSTANT_HEAD_BYTES) as usize;
    let mut head = vec![0u8; want];
    let read = async {
        let mut file = tokio::fs::File::open(part_path(state, id)).await?;
        file.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(())
    };
    match read.await {
        Ok(()) if complete || crate::derivatives::Previews::head_ready(&head) => {
            state.previews.offer_head(id, head)
        }
        Ok(()) => {}
        Err(e) => tracing::debug!(upload = %id, error = %e, "no head for an instant preview"),
    }
}

/// Hands a complete upload to the ingest core and links the photo to the upload.
async fn finish(
    state: &AppState,
    id: &str,
    creator: &Creator,
    metadata: &str,
) -> Result<(), TusError> {
    let meta = parse_metadata(metadata).unwrap_or_default();
    let name = meta
        .get("filename")
        .or_else(|| meta.get("name"))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| format!("{id}.upload"));
    // Link, not move: until the photo is committed the bytes stay in uploads/, so a
    // crash here leaves an upload that the next sweep (or a retried PATCH) finishes.
    let temp = state.ingest.temp_path();
    tokio::fs::hard_link(part_path(state, id), &temp).await?;
    let incoming = Incoming {
        creator_id: creator.id,
        original_name: name,
        source: Source::Tus,
    };
    let result = state.ingest.receive_file(incoming, temp).await;
    let id = id.to_string();
    match result {
        Ok(outcome) => {
            let photo_id = outcome.photo().id;
            let row = id.clone();
            state
                .store
                .write(move |tx| uploads::set_photo(tx, &row, photo_id).map_err(StoreError::from))
                .await?;
            state.previews.upload_committed(&id, outcome.photo());
            remove_part(state, &id).await?;
            Ok(())
        }
        Err(e) => {
            // Refused (not a photo) or failed: the upload and its bytes go.
            delete_upload(state, &id).await?;
            Err(e.into())
        }
    }
}

/// Forgets an upload: its row, then its bytes.
async fn delete_upload(state: &AppState, id: &str) -> Result<(), TusError> {
    let row = id.to_string();
    state
        .store
        .write(move |tx| uploads::delete(tx, &row).map_err(StoreError::from))
        .await?;
    remove_part(state, id).await
}

async fn remove_part(state: &AppState, id: &str) -> Result<(), TusError> {
    match tokio::fs::remove_file(part_path(state, id)).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn terminate(
    State(state): State<AppState>,
    Uploader(creator): Uploader,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, TusError> {
    load(&state, &id, &creator).await?;
    let _guard = state.upload_locks.try_lock(&id).ok_or(TusError::Locked)?;
    delete_upload(&state, &id).await?;
    tracing::info!(upload = %id, "tus upload terminated");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes expired unfinished uploads (rows and bytes), and files no row knows (left
/// by a crash). Returns how many uploads were removed.
pub async fn sweep(state: &AppState) -> Result<usize, TusError> {
    let dir = uploads_dir(state);
    files::create_dir(&dir, 0o700)?;
    let now = crate::clock::now();
    let expired = state
        .store
        .read(move |c| uploads::expired(c, now).map_err(StoreError::from))
        .await?;
    let mut removed = 0;
    for id in expired {
        // A PATCH holding the lock is streaming into this upload: it is not expired,
        // whatever its row says; its end pushes the expiry on.
        let Some(_guard) = state.upload_locks.try_lock(&id) else {
            continue;
        };
        let row = id.clone();
        let deleted = state
            .store
            .write(move |tx| uploads::delete_expired(tx, &row, now).map_err(StoreError::from))
            .await?;
        if deleted {
            remove_part(state, &id).await?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(uploads = removed, "expired unfinished uploads removed");
    }
    // Files no row knows (left by a crash between a row's removal and its file's).
    // The row of an upload is made before its file, so a file found here whose row
    // exists when looked at again under its lock belongs to a live upload.
    let known = state
        .store
        .read(|c| uploads::ids(c).map_err(StoreError::from))
        .await?;
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if known.contains(&name) {
            continue;
        }
        let Some(_guard) = state.upload_locks.try_lock(&name) else {
            continue;
        };
        let row = name.clone();
        let exists = state
            .store
            .read(move |c| uploads::get(c, &row).map_err(StoreError::from))
            .await?
            .is_some();
        if !exists {
            remove_part(state, &name).await?;
        }
    }
    // Uploads whose last byte arrived but whose commit a crash interrupted: finish
    // them now (the client may never come back: it was told nothing, or it saw the
    // full offset and thinks it is done).
    let pending: Vec<(String, i64, String)> = state
        .store
        .read(|c| uploads::interrupted(c).map_err(StoreError::from))
        .await?;
    for (id, creator_id, metadata) in pending {
        let Some(_guard) = state.upload_locks.try_lock(&id) else {
            continue;
        };
        let creator = Creator {
            id: creator_id,
            name: String::new(),
            created_at: 0,
        };
        match finish(state, &id, &creator, &metadata).await {
            Ok(()) => tracing::info!(upload = %id, "finished an upload a crash interrupted"),
            Err(e) => {
                tracing::warn!(upload = %id, error = %e, "could not finish an interrupted upload")
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_name_other_files() {
        assert!(valid_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_id("../../venuebox.db"));
        assert!(!valid_id("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!valid_id(""));
    }
}
