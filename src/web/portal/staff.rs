//! The portal's staff API, for vendors and admins (never the attendee network):
//! `GET /api/admin/attendance` (consent and attendance counts) and
//! `POST /api/admin/consent` (a decision an attendee tells staff, who scan the pass).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::text;
use crate::consent::{self, Channel, Scope};
use crate::web::admin::AdminSession;
use crate::web::{AppError, AppJson, AppState};

/// The staff routes (merged into the admin router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/attendance", get(api_attendance))
        .route("/api/admin/consent", post(api_record_consent))
        .layer(axum::extract::DefaultBodyLimit::max(super::FORM_LIMIT))
}

/// `GET /api/admin/attendance`: consent and attendance counts for the dashboard.
async fn api_attendance(
    State(state): State<AppState>,
    _admin: AdminSession,
) -> Result<Json<consent::Summary>, AppError> {
    Ok(Json(state.store.read_sql(consent::summary).await?))
}

/// A consent decision an attendee tells a vendor or the door staff, who scan their pass.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffConsent {
    /// The scanned pass code.
    pass: String,
    scope: String,
    granted: bool,
    /// `vendor` or `door`.
    channel: String,
}

/// `POST /api/admin/consent`: records a decision given in person (channel `vendor` or
/// `door`), under the notice in the attendee's language. Answers the scope's state.
async fn api_record_consent(
    State(state): State<AppState>,
    _admin: AdminSession,
    AppJson(body): AppJson<StaffConsent>,
) -> Result<Json<serde_json::Value>, AppError> {
    let scope = Scope::parse(&body.scope)
        .ok_or_else(|| AppError::BadRequest(format!("unknown scope {:?}", body.scope)))?;
    let channel = match body.channel.as_str() {
        "vendor" => Channel::Vendor,
        "door" => Channel::Door,
        other => {
            return Err(AppError::BadRequest(format!(
                "channel must be vendor or door, not {other:?}"
            )))
        }
    };
    let pass = consent::verify_pass_code(state.portal.secret(), &body.pass)
        .ok_or_else(|| AppError::BadRequest("not a pass of this event".into()))?;
    let found: Option<(String, String)> = state
        .store
        .read_sql(move |c| consent::language_by_pass(c, &pass))
        .await?;
    let (id, language) = found.ok_or(AppError::NotFound)?;
    let t = text::for_tag(&language).unwrap_or(&text::EN);
    let notice_hash = state.portal.notice(t).1.to_string();
    let granted = body.granted;
    let stamp = crate::clock::stamp(state.config.clock.trust);
    let recorded = state
        .store
        .write_sql(move |c| {
            let recorded = consent::record(c, &id, scope, granted, &notice_hash, channel, stamp)?;
            if recorded {
                crate::db::audit(
                    c,
                    "admin",
                    "consent.record",
                    &format!(
                        "{} {} via {}",
                        scope,
                        if granted { "granted" } else { "withdrawn" },
                        channel.as_str()
                    ),
                )?;
            }
            Ok(recorded)
        })
        .await?;
    Ok(Json(
        json!({ "scope": scope, "granted": granted, "recorded": recorded }),
    ))
}
