//! The gate every request passes first, before any route: a request for a host that
//! is not the box is a captive probe (answered by what its OS expects, depending on
//! whether this client is through the portal) or is redirected to the portal; the
//! RFC 8908 Captive Portal API is answered here. Who may reach vendor and admin
//! routes is not decided here but where those routers are merged (`web::app`).

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::captive::{self, Online};
use super::{API_PATH, CAPTIVE_JSON};
use crate::clock::now;
use crate::consent;
use crate::web::{AppError, AppState, ClientAddr};

/// Whether this client is through the portal, and for how long still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Not yet (or the session ended).
    Captive,
    /// Through; `Some(s)` seconds remain when sessions are limited.
    Open(Option<i64>),
}

pub(super) async fn access(state: &AppState, client_key: String) -> Result<Access, AppError> {
    let row: Option<Option<i64>> = state
        .store
        .read_sql(move |c| consent::portal_client_expiry(c, &client_key))
        .await?;
    let now = now();
    Ok(match row {
        None => Access::Captive,
        Some(None) => Access::Open(None),
        Some(Some(expires)) if expires > now => Access::Open(Some(expires - now)),
        Some(Some(_)) => Access::Captive,
    })
}

/// The gate every request passes first (see the module docs).
pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Requests handed to the app in-process (no socket) have no client to judge.
    let Some(&ConnectInfo(client)) = request.extensions().get::<ConnectInfo<ClientAddr>>() else {
        return next.run(request).await;
    };
    let portal = &state.portal;
    let path = request.uri().path();
    if !state.config.portal.enabled {
        return next.run(request).await;
    }
    if path == API_PATH || portal.inner.api_path.as_deref() == Some(path) {
        return captive_api(&state, client).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(captive::host_only)
        .or_else(|| request.uri().host().map(captive::host_only));
    let local = client.local.map(|a| a.ip());
    let Some(host) = host.filter(|h| !portal.is_own_host(h, local)) else {
        return next.run(request).await;
    };
    let portal_page = format!("{}/portal", portal.url());
    let Some(online) = captive::probe(&host, path) else {
        return redirect_found(&portal_page);
    };
    match access(&state, portal.client_key(client.ip())).await {
        Ok(Access::Open(_)) => match online {
            Online::Body(body, content_type) => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                body,
            )
                .into_response(),
            Online::NoContent => (
                StatusCode::NO_CONTENT,
                [(header::CACHE_CONTROL, "no-store")],
            )
                .into_response(),
            Online::Portal => redirect_found(&format!("{portal_page}/pass")),
        },
        Ok(Access::Captive) => redirect_found(&portal_page),
        Err(e) => e.into_response(),
    }
}

/// A 302 that no cache keeps (phones must re-probe, not remember the redirect).
fn redirect_found(location: &str) -> Response {
    let mut r = (
        StatusCode::FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        Body::empty(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The RFC 8908 Captive Portal API: the state of this client.
async fn captive_api(state: &AppState, client: ClientAddr) -> Response {
    let access = match access(state, state.portal.client_key(client.ip())).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let config = &state.config.portal;
    // The user portal is served from the API's (TLS) origin when there is one.
    let base = config
        .api_url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .and_then(|(scheme, rest)| {
            rest.split('/')
                .next()
                .map(|host| format!("{scheme}://{host}"))
        })
        .unwrap_or_else(|| state.portal.url().to_string());
    let mut body = json!({
        "captive": access == Access::Captive,
        "user-portal-url": format!("{base}/portal"),
    });
    if let Some(venue) = &config.venue_info_url {
        body["venue-info-url"] = json!(venue);
    }
    if config.session_secs > 0 {
        body["can-extend-session"] = json!(true);
        if let Access::Open(Some(left)) = access {
            body["seconds-remaining"] = json!(left);
        }
    } else {
        body["can-extend-session"] = json!(false);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CAPTIVE_JSON),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
