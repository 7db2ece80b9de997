//! The vendor API of tagging (issue 14, item 3; `delivery::tagging` does the work):
//!
//! - `POST /api/vendor/tagging/next` `{"code": "...", "via": "scan" | "typed"}`: a pass
//!   scanned (a keyboard-wedge scanner types into the vendor page) or typed at the
//!   stall; the creator's photos that arrive after it are tagged to its attendee.
//! - `POST /api/vendor/photos/{id}/tags` `{"code": "..."}`: tag an attendee on one of
//!   the creator's own photos by hand.
//! - `DELETE /api/vendor/photos/{id}/tags/{pseudonym}`: take a tag off by hand (it
//!   stays off however runs are recomputed).
//! - `GET /api/vendor/tags?before=&limit=`: the tags of the creator's photos, newest
//!   photo first (keyset paging on the photo id).
//!
//! A vendor is a creator, by their upload token (`Authorization: Bearer vbu_…`, as
//! tus): each sees and changes only their own photos; another creator's photo answers
//! 404, as a missing one does. Codes are never echoed or logged.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::delivery::reads::{self, TagRow};
use crate::delivery::tagging::{self, TagError, Via};
use crate::web::vendor::Vendor;
use crate::web::{AppError, AppJson, AppState};

/// The vendor API of tagging.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/vendor/tagging/next", post(api_next))
        .route("/api/vendor/photos/{id}/tags", post(api_tag))
        .route("/api/vendor/photos/{id}/tags/{attendee}", delete(api_untag))
        .route("/api/vendor/tags", get(api_list))
}

impl From<TagError> for AppError {
    fn from(e: TagError) -> Self {
        match e {
            TagError::UnknownPass => AppError::BadRequest(e.to_string()),
            TagError::NoSuchPhoto => AppError::NotFound,
            TagError::Db(e) => e.into(),
        }
    }
}

/// Body of `POST /api/vendor/tagging/next`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextRequest {
    code: String,
    via: Via,
}

/// `POST /api/vendor/tagging/next`: answers the attendee's pseudonym (what the tag
/// list shows), never the code.
async fn api_next(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    AppJson(req): AppJson<NextRequest>,
) -> Result<Json<serde_json::Value>, AppError> {
    let secret = state.portal.secret().clone();
    let gap = state.config.tagging.gap_secs as i64;
    let attendee = state
        .store
        .write(move |tx| -> Result<String, AppError> {
            Ok(tagging::scan_at_stall(
                tx, &secret, creator.id, &req.code, req.via, gap,
            )?)
        })
        .await?;
    Ok(Json(serde_json::json!({ "attendee": attendee })))
}

/// Body of `POST /api/vendor/photos/{id}/tags`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagRequest {
    code: String,
}

/// `POST /api/vendor/photos/{id}/tags`: 204.
async fn api_tag(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    UrlPath(id): UrlPath<i64>,
    AppJson(req): AppJson<TagRequest>,
) -> Result<StatusCode, AppError> {
    let secret = state.portal.secret().clone();
    state
        .store
        .write(move |tx| -> Result<bool, AppError> {
            Ok(tagging::tag_by_hand(
                tx, &secret, creator.id, id, &req.code,
            )?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/vendor/photos/{id}/tags/{pseudonym}`: 204.
async fn api_untag(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    UrlPath((id, attendee)): UrlPath<(i64, String)>,
) -> Result<StatusCode, AppError> {
    if attendee.len() != 32 || !attendee.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::BadRequest("not an attendee pseudonym".into()));
    }
    state
        .store
        .write(move |tx| -> Result<bool, AppError> {
            Ok(tagging::untag_by_hand(tx, creator.id, id, &attendee)?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/vendor/tags`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/vendor/tags`: `{"tags": [...], "next_before": id | null}`.
async fn api_list(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let before = q.before.unwrap_or(i64::MAX);
    let mut rows: Vec<TagRow> = state
        .store
        .read_sql(move |c| reads::tags_of_creator(c, creator.id, before, limit))
        .await?;
    // A full page may end inside a photo's tags: leave that photo to the next page
    // (`before` is exclusive), unless it is the page's only photo.
    let next = match rows.last().map(|r| r.photo_id) {
        Some(last) if rows.len() == limit as usize => {
            if rows.iter().any(|r| r.photo_id != last) {
                rows.retain(|r| r.photo_id != last);
                Some(last + 1)
            } else {
                Some(last)
            }
        }
        _ => None,
    };
    Ok(Json(
        serde_json::json!({ "tags": rows, "next_before": next }),
    ))
}
