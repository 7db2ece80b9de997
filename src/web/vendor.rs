//! A vendor's (creator's) credentials at the HTTP edge: the upload token the creator
//! got from `venuebox creator add` (`vbu_…`), sent as `Authorization: Bearer <token>`
//! (RFC 6750 §2.1) by the phone uploader (tus), the tagging API and the delivery API.
//! One place reads it, so every vendor route authenticates the same way.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::creators::{self, Creator};
use crate::db::StoreError;
use crate::web::{AppError, AppState};

/// Longest bearer token looked up (upload tokens and admin session tokens are far
/// shorter); a longer one is no credential of this box.
pub const MAX_BEARER_BYTES: usize = 256;

/// The bearer token of a request (`Authorization: Bearer <token>`), trimmed; `None`
/// without one, or when it is empty or longer than [`MAX_BEARER_BYTES`].
pub fn bearer(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= MAX_BEARER_BYTES)
}

/// The creator whose upload token `token` is, if any.
///
/// # Errors
/// The database could not be read.
pub async fn creator_by_token(
    state: &AppState,
    token: String,
) -> Result<Option<Creator>, StoreError> {
    state
        .store
        .read(move |c| creators::by_upload_token(c, &token).map_err(StoreError::from))
        .await
}

/// A vendor API request: the creator whose upload token it carries as a bearer token.
/// No token, or one that is no creator's, is 401.
#[derive(Debug, Clone)]
pub struct Vendor(pub Creator);

impl FromRequestParts<AppState> for Vendor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(parts).ok_or(AppError::Unauthorized)?;
        creator_by_token(state, token)
            .await?
            .map(Vendor)
            .ok_or(AppError::Unauthorized)
    }
}
