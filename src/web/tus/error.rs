//! The errors of the tus protocol and the status each answers (tus 1.0.0: 412 for a
//! wrong `Tus-Resumable`, 409 for a wrong offset, 460 for a checksum mismatch, 423 while
//! another PATCH runs, 410 for an expired upload), as plain-text bodies the way tus
//! clients expect.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::TUS_VERSION;
use crate::db::StoreError;
use crate::ingest::{IngestError, Refusal};

/// The status tus defines for a checksum mismatch.
const CHECKSUM_MISMATCH: u16 = 460;

/// Everything that can go wrong with a tus request, each with its status.
#[derive(Debug, thiserror::Error)]
pub enum TusError {
    /// 412: a Tus-Resumable other than 1.0.0, or none.
    #[error("Tus-Resumable: 1.0.0 is required")]
    Version,
    /// 400: a malformed or missing header.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid upload token.
    #[error("an upload token is required (Authorization: Bearer vbu_...)")]
    Unauthorized,
    /// 403: the session cookie on a request that is not from the box's own page
    /// (`Origin` missing or not the box's).
    #[error("the session cookie is accepted from the box's own pages only")]
    CrossOrigin,
    /// 404: no such upload (or another creator's).
    #[error("no such upload")]
    NotFound,
    /// 409: Upload-Offset does not match the stored offset.
    #[error("Upload-Offset {given} does not match the upload's offset {expected}")]
    OffsetMismatch {
        /// What the client sent.
        given: u64,
        /// What is stored.
        expected: u64,
    },
    /// 410: the upload expired.
    #[error("the upload expired")]
    Gone,
    /// 413: larger than allowed, or more bytes than Upload-Length.
    #[error("{0}")]
    TooLarge(String),
    /// 415: PATCH without `application/offset+octet-stream`, or not a photo.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// 423: another PATCH to this upload is running.
    #[error("another request is writing this upload; retry")]
    Locked,
    /// 460: the chunk's checksum does not match.
    #[error("checksum mismatch; the chunk was discarded")]
    ChecksumMismatch,
    /// The box refused the upload itself (`ingest::Refusal`): 415 not a photo, 413
    /// over `ingest.max_file_bytes`, 507 over quota or out of disk (the reserve, or the
    /// disk filled while writing). The response carries the refusal as an extension,
    /// which the tus router's layer records for the dashboard.
    #[error("{1}")]
    Refused(Refusal, String),
    /// 503: the box is behind on previews; retry after the given seconds.
    #[error("{0}")]
    Busy(String),
    /// 429: the creator already has `tus.max_open_uploads_per_creator` unfinished
    /// uploads; finish or terminate one first.
    #[error("{0}")]
    TooManyOpen(String),
    /// 500.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The 507 answer when the disk filled while a request wrote (the bytes of a chunk,
/// or the database): the chunk is discarded, the upload keeps its last offset and
/// resumes once space is freed.
fn disk_full(cause: impl std::fmt::Display) -> TusError {
    tracing::warn!(error = %cause, "tus upload stopped: the disk is full");
    TusError::Refused(
        Refusal::DiskFull,
        "the box's disk is full; the upload keeps its offset and can resume once space is freed"
            .into(),
    )
}

impl From<StoreError> for TusError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            return disk_full(e);
        }
        TusError::Internal(e.into())
    }
}
impl From<rusqlite::Error> for TusError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::from(e).into()
    }
}
impl From<std::io::Error> for TusError {
    fn from(e: std::io::Error) -> Self {
        if crate::files::is_disk_full(&e) {
            return disk_full(e);
        }
        TusError::Internal(e.into())
    }
}
impl From<IngestError> for TusError {
    fn from(e: IngestError) -> Self {
        if e.is_disk_full() && !matches!(e, IngestError::DiskFull) {
            return disk_full(e);
        }
        match e.refusal() {
            Some(refusal) => TusError::Refused(refusal, e.to_string()),
            None => match e {
                IngestError::Store(e) => TusError::Internal(e.into()),
                e => TusError::Internal(e.into()),
            },
        }
    }
}

impl IntoResponse for TusError {
    fn into_response(self) -> Response {
        let status = match &self {
            TusError::Version => StatusCode::PRECONDITION_FAILED,
            TusError::BadRequest(_) => StatusCode::BAD_REQUEST,
            TusError::Unauthorized => StatusCode::UNAUTHORIZED,
            TusError::CrossOrigin => StatusCode::FORBIDDEN,
            TusError::NotFound => StatusCode::NOT_FOUND,
            TusError::OffsetMismatch { .. } => StatusCode::CONFLICT,
            TusError::Gone => StatusCode::GONE,
            TusError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            TusError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TusError::Locked => StatusCode::LOCKED,
            TusError::ChecksumMismatch => StatusCode::from_u16(CHECKSUM_MISMATCH).expect("valid"),
            TusError::Refused(refusal, _) => match refusal {
                Refusal::NotAPhoto => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                Refusal::Quota | Refusal::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            },
            TusError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            TusError::TooManyOpen(_) => StatusCode::TOO_MANY_REQUESTS,
            TusError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "tus request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut response = (status, format!("{self}\n")).into_response();
        if matches!(self, TusError::Busy(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        if let TusError::Refused(refusal, _) = self {
            response.extensions_mut().insert(refusal);
        }
        if matches!(self, TusError::Version) {
            response
                .headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        }
        response
    }
}
