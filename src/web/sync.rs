//! The admin API of sync: `GET /api/admin/sync` (worker status and the outbox),
//! `POST /api/admin/sync/now`, `PUT /api/admin/photos/{id}/attendees` (who is on a
//! photo, by scanned pass codes) and `PUT /api/admin/creators/{id}/sync`. The worker
//! and the outbox are [`crate::sync`]'s; the tables written here belong to `consent`
//! (`photo_attendees`) and `creators`, through their functions.

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::db::{self, StoreError};
use crate::sync::{self, OutboxView, Status};
use crate::web::admin::AdminSession;
use crate::web::{AppError, AppJson, AppState};

/// The admin API of sync.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/sync", get(api_status))
        .route("/api/admin/sync/now", axum::routing::post(api_sync_now))
        .route("/api/admin/photos/{id}/attendees", put(api_tag_photo))
        .route("/api/admin/creators/{id}/sync", put(api_creator_sync))
}

/// The dashboard's view of sync: worker status and the outbox's state.
#[derive(Debug, Serialize)]
struct SyncView {
    #[serde(flatten)]
    status: Status,
    enabled: bool,
    #[serde(flatten)]
    outbox: OutboxView,
}

/// `GET /api/admin/sync`
async fn api_status(
    State(state): State<AppState>,
    _: AdminSession,
) -> Result<Json<SyncView>, AppError> {
    let outbox = state
        .store
        .read(|c| sync::outbox_view(c).map_err(StoreError::from))
        .await?;
    Ok(Json(SyncView {
        status: state.sync.status(),
        enabled: state.config.sync.enabled,
        outbox,
    }))
}

/// `POST /api/admin/sync/now`: cut a bundle of whatever may leave, now.
async fn api_sync_now(State(state): State<AppState>, _: AdminSession) -> StatusCode {
    state.sync.cut_now();
    StatusCode::ACCEPTED
}

#[derive(Deserialize)]
struct TagRequest {
    /// The scanned pass codes (`VBX1:...`) of the attendees on the photo (replaces the
    /// photo's tags).
    passes: Vec<String>,
}

/// `PUT /api/admin/photos/{id}/attendees`: who is on a photo, by the pass codes a
/// vendor scans. Codes are checked (keyed tag, then the attendees table) and never
/// echoed or logged.
async fn api_tag_photo(
    State(state): State<AppState>,
    _admin: AdminSession,
    UrlPath(id): UrlPath<i64>,
    AppJson(req): AppJson<TagRequest>,
) -> Result<StatusCode, AppError> {
    if req.passes.len() > 1000 {
        return Err(AppError::BadRequest("at most 1000 passes per photo".into()));
    }
    let mut passes = Vec::with_capacity(req.passes.len());
    for (i, code) in req.passes.iter().enumerate() {
        match crate::consent::verify_pass_code(state.portal.secret(), code) {
            Some(p) => passes.push(p),
            None => {
                return Err(AppError::BadRequest(format!(
                    "passes[{i}] is not a pass of this event"
                )))
            }
        }
    }
    let count = passes.len();
    state
        .store
        .write(move |tx| -> Result<(), AppError> {
            if crate::ingest::photo_by_id(tx, id)?.is_none() {
                return Err(AppError::NotFound);
            }
            let mut attendees = Vec::with_capacity(passes.len());
            for (i, pass) in passes.iter().enumerate() {
                match crate::consent::attendee_by_pass(tx, pass)? {
                    Some(a) => attendees.push(a.id),
                    None => {
                        return Err(AppError::BadRequest(format!(
                            "passes[{i}] is not a known pass"
                        )))
                    }
                }
            }
            crate::consent::tag_photo(tx, id, &attendees)?;
            db::audit(
                tx,
                "admin",
                "photo.tag",
                &format!("photo {id}: {count} attendee(s)"),
            )?;
            Ok(())
        })
        .await?;
    state.sync.wake();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct CreatorSyncRequest {
    enabled: bool,
}

/// `PUT /api/admin/creators/{id}/sync`: a creator's untagged photos sync (default) or
/// not. Turning it off after an upload tombstones what was published.
async fn api_creator_sync(
    State(state): State<AppState>,
    _: AdminSession,
    UrlPath(id): UrlPath<i64>,
    AppJson(req): AppJson<CreatorSyncRequest>,
) -> Result<StatusCode, AppError> {
    state
        .store
        .write(move |tx| -> Result<(), AppError> {
            if !crate::creators::set_sync(tx, id, req.enabled)? {
                return Err(AppError::NotFound);
            }
            db::audit(
                tx,
                "admin",
                "creator.sync",
                &format!("creator {id}: {}", if req.enabled { "on" } else { "off" }),
            )?;
            Ok(())
        })
        .await?;
    state.sync.wake();
    Ok(StatusCode::NO_CONTENT)
}
