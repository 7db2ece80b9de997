//! A creator's logo on the watermark (issue 17, item 6), set, replaced and removed by
//! the creator:
//!
//! - the vendor API (the upload token as a bearer token, `web::vendor::Vendor`):
//!   `PUT /api/vendor/logo` with the PNG as the body (answers the stored logo's SHA-256,
//!   size and how many stale watermarked previews were deleted), `GET /api/vendor/logo`
//!   (the PNG), `DELETE /api/vendor/logo` (404 when there is none);
//! - the vendor page (session cookie and CSRF field, `web::vendor_page`):
//!   `POST /vendor/logo` (a `multipart/form-data` form: `csrf`, then the file `logo`),
//!   `POST /vendor/logo/remove`, and `GET /vendor/logo.png` for the page's own preview.
//!
//! Every upload is checked whole (`media::logo::check`: PNG signature, at most 1 MiB and
//! 2048 × 2048 px by its header before decoding, decoded completely) off the async
//! runtime before anything is written; a refused one leaves the stored logo as it was.
//! The row is written in one transaction (`creators::set_logo`), then the creator's
//! watermarked previews already rendered are deleted (`Previews::forget_watermarked`)
//! so attendees get them again with the new logo. The body is bounded before any of
//! this by [`LOGO_BODY_LIMIT`], whatever the box's `http.body_limit_bytes`: a logo of
//! the full 1 MiB goes through the form too, whose framing adds a few hundred bytes.
//! A longer body is 413 on the API; on the page it is the form's "too large" message.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use crate::creators;
use crate::media::logo::{self, CheckedLogo, LogoError};
use crate::web::vendor::Vendor;
use crate::web::vendor_page::{checked, CsrfOnly, VendorSession};
use crate::web::{AppError, AppState};

/// Bytes a logo upload's body may have, in either route: the largest logo
/// ([`logo::MAX_LOGO_BYTES`]) and 64 KiB for the form's multipart framing and CSRF
/// field. Between the two, the logo check words the refusal.
pub const LOGO_BODY_LIMIT: usize = logo::MAX_LOGO_BYTES + (64 << 10);

/// The bytes the box reads of a request to `path` before anything else runs
/// (`web::read_whole_body`): [`LOGO_BODY_LIMIT`] for the logo uploads, whatever the
/// box's `http.body_limit_bytes` (`limit`, which every other path gets), so the
/// routes' own limit is never the one that refuses.
pub fn body_limit(path: &str, limit: usize) -> usize {
    if matches!(path, "/api/vendor/logo" | "/vendor/logo") {
        LOGO_BODY_LIMIT
    } else {
        limit
    }
}

/// What a logo upload longer than [`body_limit`] gets on the vendor page's form
/// (`POST /vendor/logo`): back to the page, which says the file is too large, as
/// for a logo the check refuses. `None` for every other path.
pub fn too_large(path: &str) -> Option<Response> {
    (path == "/vendor/logo").then(|| {
        Redirect::to(&format!(
            "/vendor?error={}#logo",
            error_key(&LogoError::TooLarge(LOGO_BODY_LIMIT))
        ))
        .into_response()
    })
}

/// The logo routes of the vendor API and the vendor page (merged with the staff routes).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/vendor/logo",
            get(api_get)
                .put(api_put)
                .delete(api_delete)
                .layer(DefaultBodyLimit::max(LOGO_BODY_LIMIT)),
        )
        .route(
            "/vendor/logo",
            post(page_set).layer(DefaultBodyLimit::max(LOGO_BODY_LIMIT)),
        )
        .route("/vendor/logo/remove", post(page_remove))
        .route("/vendor/logo.png", get(page_get))
}

/// Checks `png` off the runtime (tens of ms for a large one).
async fn check(png: Vec<u8>) -> Result<Result<CheckedLogo, LogoError>, AppError> {
    tokio::task::spawn_blocking(move || logo::check(png))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("logo check failed: {e}")))
}

/// Stores a checked logo as creator `id`'s and forgets their stale watermarked
/// previews. Returns the stored logo and how many files were deleted.
async fn set(
    state: &AppState,
    id: i64,
    checked: CheckedLogo,
) -> Result<(creators::LogoInfo, usize), AppError> {
    logo::remember(checked.logo.clone());
    let actor = format!("creator:{id}");
    let info = state
        .store
        .write(move |tx| {
            if !creators::set_logo(tx, id, &checked, &actor)? {
                return Ok(None);
            }
            Ok::<_, crate::db::StoreError>(creators::logo_info(tx, id)?)
        })
        .await?
        .ok_or(AppError::NotFound)?;
    let removed = state.previews.forget_watermarked(id).await?;
    tracing::info!(creator = id, sha256 = %info.sha256, stale_previews = removed, "creator logo set");
    Ok((info, removed))
}

/// Removes creator `id`'s logo (`false`: they had none) and forgets their stale
/// watermarked previews.
async fn remove(state: &AppState, id: i64) -> Result<bool, AppError> {
    let actor = format!("creator:{id}");
    let removed = state
        .store
        .write_sql(move |tx| creators::remove_logo(tx, id, &actor))
        .await?;
    if removed {
        let files = state.previews.forget_watermarked(id).await?;
        tracing::info!(creator = id, stale_previews = files, "creator logo removed");
    }
    Ok(removed)
}

/// Creator `id`'s logo PNG as a response, or 404.
async fn png_of(state: &AppState, id: i64) -> Result<Response, AppError> {
    let png = state
        .store
        .read_sql(move |c| creators::logo_png(c, id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

async fn api_put(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    body: Bytes,
) -> Result<Response, AppError> {
    let checked = check(body.to_vec()).await??;
    let (info, removed) = set(&state, creator.id, checked).await?;
    Ok(Json(json!({ "logo": info, "stale_previews_removed": removed })).into_response())
}

async fn api_get(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
) -> Result<Response, AppError> {
    png_of(&state, creator.id).await
}

async fn api_delete(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
) -> Result<Response, AppError> {
    if remove(&state, creator.id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::NotFound)
    }
}

async fn page_get(
    State(state): State<AppState>,
    session: VendorSession,
) -> Result<Response, AppError> {
    png_of(&state, session.creator.id).await
}

/// The page's error key for a refused logo (`web::vendor_page` words it).
fn error_key(e: &LogoError) -> &'static str {
    match e {
        LogoError::Empty => "logo-empty",
        LogoError::TooLarge(_) => "logo-large",
        LogoError::NotPng => "logo-type",
        LogoError::TooManyPixels(..) => "logo-pixels",
        LogoError::Broken(_) => "logo-broken",
    }
}

async fn page_set(
    State(state): State<AppState>,
    session: VendorSession,
    mut form: Multipart,
) -> Result<Response, AppError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        AppError::InvalidBody(e.status(), e.body_text())
    };
    let (mut csrf, mut png) = (None, None);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().map(str::to_owned);
        match name.as_deref() {
            Some("csrf") => csrf = Some(field.text().await.map_err(bad)?),
            Some("logo") => png = Some(field.bytes().await.map_err(bad)?),
            _ => {}
        }
    }
    checked(&session, csrf.as_deref().unwrap_or(""))?;
    let png = png.map(|b| b.to_vec()).unwrap_or_default();
    match check(png).await? {
        Ok(logo) => {
            set(&state, session.creator.id, logo).await?;
            Ok(Redirect::to("/vendor?done=logo#logo").into_response())
        }
        Err(e) => {
            Ok(Redirect::to(&format!("/vendor?error={}#logo", error_key(&e))).into_response())
        }
    }
}

async fn page_remove(
    State(state): State<AppState>,
    session: VendorSession,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    remove(&state, session.creator.id).await?;
    Ok(Redirect::to("/vendor?done=logo-removed#logo").into_response())
}
