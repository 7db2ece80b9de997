//! Admin access: the setup code, admin sessions, the login rate limit, CSRF, and the
//! admin API and pages (event settings, creators, audit log).
//!
//! The box prints a setup code on first start (or takes `VENUEBOX_ADMIN_TOKEN`); only
//! its hash is stored. Logging in with it yields a session token, used as an HttpOnly
//! SameSite=Strict cookie by the pages or as a bearer token by API clients; only its
//! hash is stored too. Anonymous requests to any admin route get 401. Requests
//! authenticated by cookie that change state must carry the session's CSRF token
//! (header `X-CSRF-Token`, or a `csrf` form field); bearer requests need not, as a
//! browser never attaches a bearer token by itself.
//!
//! Attendees share the network with the admin, so failed logins are limited per
//! client address (per /64 for IPv6, where one client holds many addresses).

use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{html, Markup};
use serde::{de::DeserializeOwned, Deserialize};

use crate::auth::{self, csrf_matches, NewSession};
use crate::creators::{self};
use crate::db::{self, StoreError};
use crate::event::Event;
use crate::web::csrf::DoubleSubmit;
use crate::web::{shell, AppState};
use crate::web::{AppError, AppJson, ClientAddr};

/// Name of the admin session cookie.
pub const SESSION_COOKIE: &str = "vb_admin";
/// Name of the cookie that carries the login form's CSRF token.
const LOGIN_CSRF: DoubleSubmit = DoubleSubmit {
    cookie: "vb_login_csrf",
    path: "/admin/login",
    same_site: SameSite::Strict,
};
/// Header carrying the CSRF token on cookie-authenticated API calls.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A logged-in admin session, as found from a request.
#[derive(Debug, Clone)]
pub struct AdminSession {
    token_hash: [u8; 32],
    /// The CSRF token forms and cookie-authenticated API calls must echo.
    pub csrf_token: String,
    /// When the session ends (seconds since the epoch).
    pub expires_at: i64,
    /// True when the request authenticated by cookie (so CSRF applies).
    pub by_cookie: bool,
}

/// Checks a setup code and opens a session. Every attempt counts against `client`'s
/// limit before the code is checked (cleared by a success), and a locked-out client is
/// refused even with the right code.
async fn login(state: &AppState, client: ClientAddr, code: String) -> Result<NewSession, AppError> {
    let ip = client.ip();
    state
        .login_limiter
        .attempt(ip)
        .map_err(AppError::TooManyRequests)?;
    let ttl = state.config.admin.session_ttl_secs as i64;
    let data_dir = state.config.storage.data_dir.clone();
    let session = state
        .store
        .write(move |tx| auth::open_session(tx, &code, ip, ttl).map_err(StoreError::from))
        .await?;
    match session {
        Some(session) => {
            state.login_limiter.succeeded(ip);
            // The code has reached a person: the file left for them has done its job.
            let _ = std::fs::remove_file(auth::setup_code_file(&data_dir));
            Ok(session)
        }
        None => {
            tracing::warn!(client = %ip, "failed admin login");
            Err(AppError::Unauthorized)
        }
    }
}

fn session_cookie(value: String, max_age_secs: i64, tls: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(tls)
        .max_age(time::Duration::seconds(max_age_secs))
        .build()
}

/// Finds the session a request carries (bearer token first, then the cookie):
/// `Ok(None)` when it carries no credentials at all, 401 when it carries credentials
/// that are not a live session (never silently anonymous).
async fn authenticate(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<AdminSession>, AppError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| (t.trim().to_string(), false));
    let found = match bearer {
        Some(found) => Some(found),
        None => CookieJar::from_headers(&parts.headers)
            .get(SESSION_COOKIE)
            .map(|c| (c.value().to_string(), true)),
    };
    let Some((token, by_cookie)) = found else {
        return Ok(None);
    };
    let found = state
        .store
        .read(move |conn| auth::session(conn, &token).map_err(StoreError::from))
        .await?;
    let session = found.ok_or(AppError::Unauthorized)?;
    Ok(Some(AdminSession {
        token_hash: session.token_hash,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
        by_cookie,
    }))
}

/// Extractor for routes that serve admins and others alike (`Option<AdminSession>`):
/// `None` without credentials; 401 for credentials that are not a live session.
impl OptionalFromRequestParts<AppState> for AdminSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        authenticate(parts, state).await
    }
}

/// Extractor for admin API handlers: 401 without a valid session; 403 when a
/// cookie-authenticated request that changes state lacks the CSRF header.
impl FromRequestParts<AppState> for AdminSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = authenticate(parts, state)
            .await?
            .ok_or(AppError::Unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if session.by_cookie && !safe {
            let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !csrf_matches(&session.csrf_token, given) {
                return Err(AppError::Csrf);
            }
        }
        Ok(session)
    }
}

/// An admin page request (`GET`): the session; without one, the "log in first" page
/// with 401 (credentials that are no live session: 401 too).
pub struct AdminPage(pub AdminSession);

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match authenticate(parts, state).await {
            Ok(Some(session)) => Ok(AdminPage(session)),
            Ok(None) | Err(AppError::Unauthorized) => Err(log_in_first()),
            Err(e) => Err(e.into_response()),
        }
    }
}

fn log_in_first() -> Response {
    html_response(
        StatusCode::UNAUTHORIZED,
        page(
            "Log in",
            html! { h1 { "Log in first" } p { a href="/admin/login" { "Go to the admin login" } } },
        ),
    )
}

/// A form posted by an admin page: the session, and the form's fields with the
/// session's CSRF token checked (field `csrf`).
pub struct AdminForm<T> {
    /// The session that posted.
    pub session: AdminSession,
    /// The form's other fields.
    pub form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AdminForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = authenticate(&mut parts, state)
            .await
            .and_then(|s| s.ok_or(AppError::Unauthorized))
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let Form(WithCsrf { csrf, form }) = Form::<WithCsrf<T>>::from_request(req, state)
            .await
            .map_err(|e| AppError::from(e).into_response())?;
        if session.by_cookie && !csrf_matches(&session.csrf_token, csrf.as_deref()) {
            return Err(AppError::Csrf.into_response());
        }
        Ok(AdminForm { session, form })
    }
}

/// The admin routes: the JSON API under `/api/admin/` and the pages under `/admin`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/login", post(api_login))
        .route("/api/admin/logout", post(api_logout))
        .route("/api/admin/session", get(api_session))
        .route(
            "/api/admin/creators",
            get(api_creators).post(api_add_creator),
        )
        .route("/api/admin/creators/ftp", post(api_creator_ftp))
        .route("/api/admin/event", get(api_event).put(api_set_event))
        .route("/api/admin/audit", get(api_audit))
        .route("/api/admin/devices", get(api_devices))
        .route("/admin", get(page_home))
        .route("/admin/login", get(page_login).post(page_login_submit))
        .route("/admin/logout", post(page_logout))
        .route("/admin/creators", post(page_add_creator))
}

#[derive(Deserialize)]
struct LoginRequest {
    code: String,
}

async fn api_login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    jar: CookieJar,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<(CookieJar, Json<NewSession>), AppError> {
    let session = login(&state, client, req.code).await?;
    let ttl = state.config.admin.session_ttl_secs as i64;
    let jar = jar.add(session_cookie(session.token.clone(), ttl, client.tls));
    Ok((jar, Json(session)))
}

async fn end_session(state: &AppState, session: &AdminSession) -> Result<(), AppError> {
    let hash = session.token_hash;
    state
        .store
        .write(move |tx| auth::end_session(tx, &hash).map_err(StoreError::from))
        .await?;
    Ok(())
}

async fn api_logout(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    session: AdminSession,
    jar: CookieJar,
) -> Result<(CookieJar, StatusCode), AppError> {
    end_session(&state, &session).await?;
    Ok((
        jar.add(session_cookie(String::new(), 0, client.tls)),
        StatusCode::NO_CONTENT,
    ))
}

async fn api_session(session: AdminSession) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "csrf_token": session.csrf_token, "expires_at": session.expires_at }))
}

async fn api_creators(
    State(state): State<AppState>,
    _: AdminSession,
) -> Result<Json<Vec<creators::Creator>>, AppError> {
    let list = state
        .store
        .read(|c| creators::list(c).map_err(StoreError::from))
        .await?;
    Ok(Json(list))
}

#[derive(Deserialize)]
struct NewCreatorRequest {
    name: String,
}

async fn add_creator(state: &AppState, name: String) -> Result<creators::NewCreator, AppError> {
    let made = state
        .store
        .write(move |tx| creators::add(tx, &name, "admin"))
        .await?;
    tracing::info!(creator = %made.creator.name, "creator added");
    Ok(made)
}

async fn api_add_creator(
    State(state): State<AppState>,
    _: AdminSession,
    AppJson(req): AppJson<NewCreatorRequest>,
) -> Result<(StatusCode, Json<creators::NewCreator>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(add_creator(&state, req.name).await?),
    ))
}

async fn api_creator_ftp(
    State(state): State<AppState>,
    _: AdminSession,
    AppJson(req): AppJson<NewCreatorRequest>,
) -> Result<Json<creators::FtpCredentials>, AppError> {
    let login = state
        .store
        .write(move |tx| creators::set_ftp_credentials(tx, &req.name, "admin"))
        .await?;
    Ok(Json(login))
}

/// `GET /api/admin/devices`: each configured serial device's state
/// ([`crate::devices::DeviceStatus`]: connected or waiting, since when, the last error,
/// lines or jobs handled and rejected, bytes), as `{"devices": [...]}`.
async fn api_devices(State(state): State<AppState>, _: AdminSession) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "devices": state.devices.snapshot() }))
}

async fn api_event(
    State(state): State<AppState>,
    _: AdminSession,
) -> Result<Json<Option<Event>>, AppError> {
    Ok(Json(
        state
            .store
            .read(|c| crate::event::event(c).map_err(StoreError::from))
            .await?,
    ))
}

async fn api_set_event(
    State(state): State<AppState>,
    _: AdminSession,
    AppJson(event): AppJson<Event>,
) -> Result<Json<Event>, AppError> {
    Ok(Json(save_event(&state, event).await?))
}

/// Checks `event` as the config file's `[event]` section is checked and stores it,
/// audited as `event.update`; 400 naming each problem.
pub(crate) async fn save_event(state: &AppState, event: Event) -> Result<Event, AppError> {
    // The same checks as the config file's [event] section.
    let mut config = (*state.config).clone();
    config.event = crate::config::EventConfig {
        name: event.name.clone(),
        starts_on: event.starts_on.clone(),
        ends_on: event.ends_on.clone(),
        locale: event.locale.clone(),
    };
    let issues: Vec<String> = config
        .validate()
        .into_iter()
        .filter(|i| i.key.starts_with("event."))
        .map(|i| i.to_string())
        .collect();
    if !issues.is_empty() {
        return Err(AppError::BadRequest(issues.join("; ")));
    }
    let saved = event.clone();
    state
        .store
        .write(move |tx| -> Result<(), AppError> {
            crate::event::set_event(tx, &saved)?;
            db::audit(tx, "admin", "event.update", &saved.name)?;
            Ok(())
        })
        .await?;
    Ok(event)
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<u32>,
}

async fn api_audit(
    State(state): State<AppState>,
    _: AdminSession,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<db::AuditEntry>>, AppError> {
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(
        state
            .store
            .read(move |c| db::recent_audit(c, limit).map_err(StoreError::from))
            .await?,
    ))
}

// --- Pages. Server-rendered, no scripts, no external assets. ---

pub(crate) fn page(title: &str, body: Markup) -> Markup {
    shell::document("en", &format!("{title} · venuebox"), STYLE, body)
}

const STYLE: &str =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1a1a1a}\
main{max-width:40rem;margin:0 auto;padding:1rem}\
input,button{font:inherit;padding:.5rem;margin:.25rem 0}\
button{background:#1a4d8f;color:#fff;border:0;border-radius:.25rem;cursor:pointer}\
label{display:block;font-weight:600}.error{color:#a00000}\
code{background:#e8e8e4;padding:.1rem .3rem;word-break:break-all}table{border-collapse:collapse}\
td,th{padding:.25rem .5rem;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}\
nav.links{margin:.5rem 0 1rem}.notice{background:#e3f1e3;padding:.5rem}td form{display:inline}\
button.quiet{background:#e8e8e4;color:#1a1a1a}.disabled{color:#777}table{width:100%}\
.filters input{min-width:0;width:100%;box-sizing:border-box}.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:0 .6rem}\
.filters>div{min-width:0}#creator-prices input{width:4.5rem;min-width:0}form>button{display:block}#audit td{word-break:break-word}td.actor{white-space:nowrap}\
td.actions{width:1%;white-space:nowrap}td.actions form{display:block}.name{font-weight:600}small code{white-space:nowrap;word-break:normal}\
.wide{overflow-x:auto}";

pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    shell::respond(status, markup, false, None)
}

/// What the login page shows of an open pairing window: the setup code if one is
/// left to show, and the seconds left.
type PairingShown = (Option<String>, u64);

fn login_page(csrf: &str, error: Option<&str>, pairing: Option<PairingShown>) -> Markup {
    page(
        "Admin login",
        html! {
            h1 { "venuebox admin" }
            @if let Some((code, secs)) = pairing {
                section.pairing role="status" {
                    h2 { "Pairing (" (secs) " s left)" }
                    @match code {
                        Some(code) => p { "Setup code: " strong #setup-code { (code) } },
                        None => p #no-setup-code { "No setup code to show: it has already been "
                            "used or replaced. Log in with the code you have, or run "
                            code { "venuebox admin reset-code" } " on the box." },
                    }
                }
            }
            p { "Enter the admin setup code. It was printed when the box first started "
                "(or is in the file " code { (auth::SETUP_CODE_FILE) } " in the data dir). "
                "Lost it? Run " code { "venuebox admin reset-code" } " on the box." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/admin/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="code" { "Setup code" }
                input id="code" name="code" autocomplete="off" autocapitalize="characters" required;
                button type="submit" { "Log in" }
            }
        },
    )
}

async fn page_login(
    State(state): State<AppState>,
    jar: CookieJar,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
) -> (CookieJar, Response) {
    // Login CSRF: a double-submit token in a Strict cookie and the form, new per page.
    let (jar, csrf) = LOGIN_CSRF.issue(jar, client.tls, true, str::to_string);
    // The button's pairing window shows the code, but never to the attendee network.
    let pairing = match state.pairing.remaining() {
        Some(left) if !state.portal.is_attendee_connection(&client) => {
            let data_dir = state.config.storage.data_dir.clone();
            let code = tokio::task::spawn_blocking(move || auth::code_to_show(&data_dir))
                .await
                .ok()
                .flatten();
            Some((code, left.as_secs().max(1)))
        }
        _ => None,
    };
    let page = login_page(&csrf, None, pairing);
    let mut response = html_response(StatusCode::OK, page);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    (jar, response)
}

#[derive(Deserialize)]
struct LoginForm {
    code: String,
    csrf: String,
}

async fn page_login_submit(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if !LOGIN_CSRF.check(&jar, &form.csrf, str::to_string) {
        return AppError::Csrf.into_response();
    }
    match login(&state, client, form.code).await {
        Ok(session) => {
            let ttl = state.config.admin.session_ttl_secs as i64;
            let jar = LOGIN_CSRF.remove(jar.add(session_cookie(session.token, ttl, client.tls)));
            (jar, Redirect::to("/admin")).into_response()
        }
        Err(e) => {
            let status = e.status_and_code().0;
            let message = match e {
                AppError::Unauthorized => "That code is not right.".to_string(),
                other => other.to_string(),
            };
            html_response(status, login_page(&form.csrf, Some(&message), None))
        }
    }
}

fn home_page(
    session: &AdminSession,
    event: Option<Event>,
    list: &[creators::Creator],
    new: Option<&creators::NewCreator>,
) -> Markup {
    page(
        "Admin",
        html! {
            h1 { "venuebox admin" }
            (nav())
            @if let Some(event) = event { p { "Event: " strong { (event.name) } } }
            @if let Some(new) = new {
                section role="status" {
                    h2 { "Creator " (new.creator.name) " added" }
                    p { "Upload token (shown once; pair their phone or laptop with it):" }
                    p { code { (new.upload_token) } }
                }
            }
            h2 { "Creators" }
            @if list.is_empty() { p { "No creators yet." } } @else {
                table { tr { th { "Name" } th { "Added" } }
                    @for c in list { tr { td { (c.name) } td { (format_time(c.created_at)) } } }
                }
            }
            form method="post" action="/admin/creators" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label for="name" { "New creator name" }
                input id="name" name="name" required maxlength="64";
                button type="submit" { "Add creator" }
            }
            form method="post" action="/admin/logout" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                button type="submit" { "Log out" }
            }
        },
    )
}

/// The admin pages' links.
pub(crate) fn nav() -> Markup {
    html! {
        nav.links {
            a href="/admin" { "Home" } " · "
            a href="/admin/dashboard" { "Dashboard" } " · "
            a href="/admin/creators" { "Creators" } " · "
            a href="/admin/event" { "Event" } " · "
            a href="/admin/prices" { "Prices and split" } " · "
            a href="/admin/audit" { "Audit log" }
        }
    }
}

pub(crate) fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn render_home(
    state: &AppState,
    session: &AdminSession,
    new: Option<&creators::NewCreator>,
) -> Result<Response, AppError> {
    let (event, list) = state
        .store
        .read(|c| Ok::<_, StoreError>((crate::event::event(c)?, creators::list(c)?)))
        .await?;
    Ok(html_response(
        StatusCode::OK,
        home_page(session, event, &list, new),
    ))
}

async fn page_home(State(state): State<AppState>, AdminPage(session): AdminPage) -> Response {
    render_home(&state, &session, None).await.into_response()
}

#[derive(Deserialize)]
struct NewCreatorForm {
    name: String,
}

async fn page_add_creator(
    State(state): State<AppState>,
    form: AdminForm<NewCreatorForm>,
) -> Result<Response, AppError> {
    let made = add_creator(&state, form.form.name).await?;
    render_home(&state, &form.session, Some(&made)).await
}

#[derive(Deserialize)]
struct Empty {}

async fn page_logout(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    jar: CookieJar,
    form: AdminForm<Empty>,
) -> Result<(CookieJar, Redirect), AppError> {
    end_session(&state, &form.session).await?;
    Ok((
        jar.add(session_cookie(String::new(), 0, client.tls)),
        Redirect::to("/admin/login"),
    ))
}
