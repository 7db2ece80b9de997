//! The vendor page (issue 14): what a creator does at their stall, in a browser on
//! their own phone or laptop, server-rendered, no script:
//!
//! - `GET /vendor/login`, `POST /vendor/login`: the creator's upload token (`vbu_…`,
//!   from `venuebox creator add`) exchanged for a session cookie (`vb_vendor`, HttpOnly,
//!   SameSite=Strict, `auth::open_creator_session`). Failed logins count against the
//!   client's address in the admin login's limiter: one budget for guessing any
//!   credential of the box. `POST /vendor/logout` ends the session.
//! - `GET /vendor`: the "next attendee" field (a keyboard-wedge scanner types the pass
//!   QR's text into it and presses Enter; a person types the short code), the orders
//!   waiting for payment with confirm / free / cancel, the confirmed ones with revoke /
//!   re-issue and their link, the tags of the creator's photos with a form to add a tag
//!   by pass code and a button to take one off, and the creator's tagging log (the audit
//!   entries of `creator:<id>` for tagging and orders).
//! - `GET /vendor/upload`: the phone and laptop uploader (`web::uploader`), linked
//!   from the page.
//! - the creator's logo on the watermark: shown, set, replaced and removed with the
//!   forms of `web::vendor_logo`.
//! - `POST /vendor/next`, `/vendor/orders/{id}/{action}`, `/vendor/photos/{id}/tag`,
//!   `/vendor/photos/{id}/untag`: the forms, each carrying the session's CSRF token
//!   (field `csrf`), answered with a redirect back to the page and a one-line notice.
//!
//! The same engine calls as the vendor JSON API (`web::tagging`, `web::delivery`); a
//! creator sees and changes only their own photos and orders (another's answer 404).
//! Staff network only, like the API; pass codes are never echoed or logged.

use axum::extract::{ConnectInfo, FromRequestParts, Path as UrlPath, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{self, csrf_matches};
use crate::creators::{self, Creator};
use crate::db::{self, StoreError};
use crate::delivery::orders::{self, State as OrderState};
use crate::delivery::reads::{self, TagRow};
use crate::delivery::tagging::{self, TagError, Via};
use crate::web::csrf::DoubleSubmit;
use crate::web::delivery::{action, decide, money, utc};
use crate::web::{shell, AppError, AppState, ClientAddr};

/// Name of the creator session cookie.
pub const SESSION_COOKIE: &str = "vb_vendor";

/// The login form's double-submit CSRF cookie.
const LOGIN_CSRF: DoubleSubmit = DoubleSubmit {
    cookie: "vb_vendor_login_csrf",
    path: "/vendor/login",
    same_site: SameSite::Strict,
};

/// Tags and log entries shown on the page.
const SHOWN: u32 = 60;

/// A creator logged in to the vendor page (by the session cookie).
#[derive(Debug, Clone)]
pub struct VendorSession {
    /// The creator.
    pub creator: Creator,
    /// The CSRF token every form must carry.
    pub csrf_token: String,
    token_hash: [u8; 32],
}

impl VendorSession {
    /// The hash of this session's token (to keep it when the others end).
    pub fn token_hash(&self) -> &[u8; 32] {
        &self.token_hash
    }
}

/// The creator session a request's cookie names, if it is live and its creator
/// enabled.
pub async fn session_of(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<VendorSession>, StoreError> {
    let Some(token) = CookieJar::from_headers(&parts.headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| t.len() <= crate::web::vendor::MAX_BEARER_BYTES)
    else {
        return Ok(None);
    };
    state
        .store
        .read(move |c| {
            let Some((creator_id, session)) = auth::creator_session(c, &token)? else {
                return Ok(None);
            };
            let creator = creators::enabled_by_id(c, creator_id)?;
            Ok(creator.map(|creator| VendorSession {
                creator,
                csrf_token: session.csrf_token,
                token_hash: session.token_hash,
            }))
        })
        .await
}

/// A page request without a live session is sent to the login page.
impl FromRequestParts<AppState> for VendorSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_of(parts, state).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(Redirect::to("/vendor/login").into_response()),
            Err(e) => Err(AppError::from(e).into_response()),
        }
    }
}

/// The vendor page's routes (merged with the staff routes: not on the attendee network).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vendor/login", get(page_login).post(submit_login))
        .route("/vendor/logout", post(submit_logout))
        .route("/vendor", get(page_home))
        .route("/vendor/next", post(submit_next))
        .route("/vendor/orders/{id}/{action}", post(submit_order))
        .route("/vendor/photos/{id}/tag", post(submit_tag))
        .route("/vendor/photos/{id}/untag", post(submit_untag))
}

const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1a1a1a}\
main{max-width:52rem;margin:0 auto;padding:.8rem}h1{font-size:1.35rem}h2{font-size:1.1rem;margin-top:1.6rem}\
input,button{font:inherit;padding:.5rem;margin:.2rem 0}input{min-width:12rem}\
button{background:#1a4d8f;color:#fff;border:0;border-radius:.25rem;cursor:pointer}\
button.quiet{background:#e8e8e4;color:#1a1a1a}label{display:block;font-weight:600}\
.error{color:#a00000;font-weight:700}.notice{background:#e3f1e3;padding:.5rem}\
code{background:#e8e8e4;padding:.1rem .3rem;word-break:break-all}table{border-collapse:collapse;width:100%}\
td,th{padding:.3rem .4rem;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}\
td form{display:inline}img{display:block;width:96px;height:72px;object-fit:cover;background:#ddd}\
nav.links{margin:.6rem 0}.qr svg{display:block;width:min(80vw,18rem);height:auto;background:#fff}\
.why{font-size:.9rem}.name{font-size:.85rem;word-break:break-all}h3{font-size:1rem;margin-bottom:.2rem}\
td.thumb{width:96px}#ftp-password,#ftp-user{white-space:nowrap;word-break:normal;font-size:1.1rem}#camera-settings th{width:38%}";

pub(crate) fn page(title: &str, body: Markup) -> Markup {
    shell::document("en", &format!("{title} · venuebox"), STYLE, body)
}

pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    shell::respond(status, markup, true, Some("Cookie"))
}

fn login_page(csrf: &str, error: Option<&str>, token: Option<&str>) -> Markup {
    page(
        "Vendor login",
        html! {
            h1 { "venuebox · vendor" }
            p { "Log in with your upload token (it starts with " code { "vbu_" } "; the "
                "organiser gave it to you when they added you to the box)." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/vendor/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="token" { "Upload token" }
                input #token name="token" type="password" autocomplete="off" required maxlength="256" value=[token];
                button type="submit" { "Log in" }
            }
        },
    )
}

/// `?token=`: the upload token a phone read from the QR code on the creator's
/// camera page (`web::vendor_cameras`), filled in so one tap logs in.
#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

async fn page_login(
    jar: CookieJar,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    Query(q): Query<LoginQuery>,
) -> (CookieJar, Response) {
    let (jar, csrf) = LOGIN_CSRF.issue(jar, client.tls, true, str::to_string);
    let token = q
        .token
        .filter(|t| t.starts_with("vbu_") && t.len() <= crate::web::vendor::MAX_BEARER_BYTES);
    (
        jar,
        respond(StatusCode::OK, login_page(&csrf, None, token.as_deref())),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    csrf: String,
}

async fn submit_login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if !LOGIN_CSRF.check(&jar, &form.csrf, str::to_string) {
        return AppError::Csrf.into_response();
    }
    let ip = client.ip();
    if let Err(wait) = state.login_limiter.attempt(ip) {
        return AppError::TooManyRequests(wait).into_response();
    }
    let ttl = state.config.admin.session_ttl_secs as i64;
    let token = form.token.trim().to_string();
    let opened = state
        .store
        .write(move |tx| {
            let creator = (token.len() <= crate::web::vendor::MAX_BEARER_BYTES)
                .then(|| creators::by_upload_token(tx, &token))
                .transpose()?
                .flatten();
            match creator {
                Some(c) => Ok(Some(auth::open_creator_session(tx, c.id, ip, ttl)?)),
                None => {
                    db::audit(tx, &format!("client {ip}"), "creator.login.failed", "")?;
                    Ok::<_, StoreError>(None)
                }
            }
        })
        .await;
    match opened {
        Ok(Some(session)) => {
            state.login_limiter.succeeded(ip);
            let cookie = Cookie::build((SESSION_COOKIE, session.token))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(client.tls)
                .max_age(time::Duration::seconds(ttl))
                .build();
            (LOGIN_CSRF.remove(jar.add(cookie)), Redirect::to("/vendor")).into_response()
        }
        Ok(None) => {
            tracing::warn!(client = %ip, "failed vendor login");
            respond(
                StatusCode::UNAUTHORIZED,
                login_page(
                    &form.csrf,
                    Some("That is not an upload token of this box."),
                    None,
                ),
            )
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    pub(crate) csrf: String,
}

/// Checks a form's CSRF field against the session's token.
pub(crate) fn checked(session: &VendorSession, given: &str) -> Result<(), AppError> {
    if csrf_matches(&session.csrf_token, Some(given)) {
        Ok(())
    } else {
        Err(AppError::Csrf)
    }
}

async fn submit_logout(
    State(state): State<AppState>,
    session: VendorSession,
    jar: CookieJar,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    let (id, hash) = (session.creator.id, session.token_hash);
    state
        .store
        .write_sql(move |tx| auth::end_creator_session(tx, id, &hash))
        .await?;
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/vendor/login")).into_response())
}

/// The notice a form's redirect asks the page to show.
#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
    link: Option<String>,
    error: Option<String>,
}

fn notice_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "next" => "Your next photos are tagged to that attendee.",
        "tagged" => "Tag added.",
        "untagged" => "Tag taken off.",
        "confirm" => {
            "Payment confirmed. The attendee's link is below (also on their phone and the receipt)."
        }
        "free" => "Given for free. The attendee's link is below.",
        "cancel" => "Order cancelled; its link no longer works.",
        "revoke" => "Link revoked.",
        "reissue" => "A new link was issued; the old one no longer works.",
        "logo" => "Logo saved: your watermarked previews show it from now on.",
        "logo-removed" => "Logo removed from your watermarked previews.",
        _ => return None,
    })
}

fn error_text(error: &str) -> Option<&'static str> {
    Some(match error {
        "pass" => "That is not a pass of this event.",
        "photo" => "No such photo of yours.",
        "order" => "That cannot be done to this order now.",
        "logo-empty" => "Choose a PNG file for your logo.",
        "logo-large" => "That logo is over 1 MiB; save it smaller (your logo was not changed).",
        "logo-type" => "That is not a PNG image; only PNG is accepted (your logo was not changed).",
        "logo-pixels" => {
            "That logo is over 2048 × 2048 px; save it smaller (your logo was not changed)."
        }
        "logo-broken" => {
            "That PNG could not be read whole (cut short or damaged?); your logo was not changed."
        }
        _ => return None,
    })
}

fn back(done: &str) -> Response {
    Redirect::to(&format!("/vendor?done={done}")).into_response()
}

fn back_error(error: &str) -> Response {
    Redirect::to(&format!("/vendor?error={error}")).into_response()
}

async fn page_home(
    State(state): State<AppState>,
    session: VendorSession,
    Query(notice): Query<Notice>,
) -> Result<Response, AppError> {
    let creator = session.creator.id;
    let (pending, decided, tags, log, logo) = state
        .store
        .read(move |c| {
            let logo = creators::logo_info(c, creator)?;
            let pending = orders::list(c, Some(creator), Some(OrderState::Pending), None, 50)?;
            let decided: Vec<orders::Order> = orders::list(c, Some(creator), None, None, 20)?
                .into_iter()
                .filter(|o| o.state != OrderState::Pending)
                .collect();
            let tags = reads::tags_of_creator(c, creator, i64::MAX, SHOWN)?;
            let log = db::recent_audit_of(c, &format!("creator:{creator}"), SHOWN)?;
            Ok::<_, StoreError>((pending, decided, tags, log, logo))
        })
        .await?;
    let links: Vec<(i64, Option<crate::delivery::links::Link>)> = {
        let ids: Vec<i64> = decided.iter().map(|o| o.id).collect();
        state
            .store
            .read_sql(move |c| {
                ids.into_iter()
                    .map(|id| crate::delivery::links::of_order(c, id).map(|l| (id, l)))
                    .collect()
            })
            .await?
    };
    let portal = state.portal.url();
    let csrf = &session.csrf_token;
    let body = html! {
        h1 { "venuebox · " (session.creator.name) }
        nav.links {
            a #upload href="/vendor/upload" { "Upload photos from this phone or laptop" }
            " · " a #photos href="/vendor/photos" { "Your photos" }
            " · " a #cameras href="/vendor/cameras" { "Cameras and phone" }
        }
        @if let Some(text) = notice.done.as_deref().and_then(notice_text) {
            p.notice role="status" { (text) }
        }
        @if let Some(link) = notice.link.as_deref().filter(|l| l.starts_with("/portal/d/")) {
            p { "Link: " code #link { (portal) (link) } }
        }
        @if let Some(text) = notice.error.as_deref().and_then(error_text) {
            p.error role="alert" { (text) }
        }
        section {
            h2 { "Next attendee" }
            form method="post" action="/vendor/next" {
                input type="hidden" name="csrf" value=(csrf);
                label for="code" { "Scan their pass or type its short code" }
                input #code name="code" autofocus autocomplete="off" autocapitalize="characters" required maxlength="128";
                button type="submit" { "Tag my next photos" }
            }
            p { "A scanner plugged into this phone or laptop types into the field; the "
                "photos you take from now on are tagged to this attendee until the next "
                "pass or a pause of " (state.config.tagging.gap_secs / 60) " minutes." }
        }
        section {
            h2 { "Waiting for payment (" (pending.len()) ")" }
            @if pending.is_empty() { p { "No orders waiting." } } @else {
                table {
                    tr { th { "Order" } th { "Photos" } th { "Total" } th { "Placed" } th {} }
                    @for o in &pending {
                        tr {
                            td { code { (o.code) } }
                            td { (o.photos.len()) }
                            td { (money(o.total_minor, &o.currency)) }
                            td { (utc(o.created_at)) }
                            td {
                                @for (name, label) in [("confirm", "Paid"), ("free", "Free"), ("cancel", "Cancel")] {
                                    form method="post" action={ "/vendor/orders/" (o.id) "/" (name) } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.quiet[name == "cancel"] type="submit" { (label) }
                                    }
                                    " "
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Recent orders" }
            @if decided.is_empty() { p { "None yet." } } @else {
                table {
                    tr { th { "Order" } th { "State" } th { "Link" } th {} }
                    @for o in &decided {
                        @let link = links.iter().find(|(id, _)| *id == o.id).and_then(|(_, l)| l.as_ref());
                        tr {
                            td { code { (o.code) } " · " (o.photos.len()) " photos" }
                            td { (o.state.as_str()) }
                            td {
                                @match link {
                                    Some(l) if l.revoked_at.is_none() => {
                                        (l.uses_allowed.saturating_sub(l.uses)) " of " (l.uses_allowed) " downloads left, until " (utc(l.expires_at))
                                    }
                                    Some(_) => "revoked",
                                    None => "none",
                                }
                            }
                            td {
                                @if o.state.confirmed() {
                                    @for (name, label) in [("reissue", "New link"), ("revoke", "Revoke link")] {
                                        form method="post" action={ "/vendor/orders/" (o.id) "/" (name) } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button.quiet type="submit" { (label) }
                                        }
                                        " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Tags of your photos" }
            @if tags.is_empty() { p { "No photo of yours is tagged yet." } } @else {
                table {
                    tr { th { "Photo" } th { "Attendee" } th { "How" } th {} }
                    @for t in &tags { (tag_row(csrf, t)) }
                }
            }
            form method="post" action="/vendor/photos/0/tag" #tag-by-hand {
                input type="hidden" name="csrf" value=(csrf);
                label for="photo" { "Tag a photo by hand: photo number and pass code" }
                input #photo name="photo" inputmode="numeric" required maxlength="19";
                input name="code" autocomplete="off" required maxlength="128" aria-label="Pass code";
                button type="submit" { "Tag" }
            }
        }
        section #logo {
            h2 { "Your logo on previews" }
            p { "Attendees see your photos with a watermark; your logo can sit in its band, "
                "at the bottom right. A PNG (a transparent background works best), at most "
                "1 MiB and 2048 × 2048 px." }
            @if let Some(l) = &logo {
                img #logo-current src="/vendor/logo.png" alt="Your logo" style="width:auto;height:4rem;object-fit:contain";
                p { (l.width) " × " (l.height) " px, set " (utc(l.set_at)) }
            } @else {
                p { "No logo yet." }
            }
            form method="post" action="/vendor/logo" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(csrf);
                label for="logo-file" { @if logo.is_some() { "Replace it" } @else { "Choose your logo" } }
                input #logo-file name="logo" type="file" accept="image/png" required;
                button type="submit" { "Save logo" }
            }
            @if logo.is_some() {
                form method="post" action="/vendor/logo/remove" {
                    input type="hidden" name="csrf" value=(csrf);
                    button.quiet type="submit" { "Remove logo" }
                }
            }
        }
        section {
            h2 { "Your log" }
            table {
                @for e in &log {
                    tr { td { (utc(e.at)) } td { (e.action) } td { (e.detail) } }
                }
            }
        }
        form method="post" action="/vendor/logout" {
            input type="hidden" name="csrf" value=(csrf);
            button.quiet type="submit" { "Log out" }
        }
    };
    Ok(respond(StatusCode::OK, page("Vendor", body)))
}

fn tag_row(csrf: &str, t: &TagRow) -> Markup {
    html! {
        tr {
            td { img src={ "/photos/" (t.photo_id) "/thumb" } alt={ "photo " (t.photo_id) } loading="lazy"; "#" (t.photo_id) }
            td { code { (tagging::short(&t.attendee)) } }
            td { (t.source) @if t.removed { " (taken off)" } " · " (utc(t.at)) }
            td {
                @if !t.removed {
                    form method="post" action={ "/vendor/photos/" (t.photo_id) "/untag" } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="attendee" value=(t.attendee);
                        button.quiet type="submit" { "Take off" }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

/// What a pass QR holds, as opposed to the short code a person types: the scanner's
/// text starts with the QR's prefix (`consent::PASS_PREFIX`).
fn via_of(code: &str) -> Via {
    if code
        .trim()
        .to_ascii_uppercase()
        .starts_with(crate::consent::PASS_PREFIX)
    {
        Via::Scan
    } else {
        Via::Typed
    }
}

async fn submit_next(
    State(state): State<AppState>,
    session: VendorSession,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    let secret = state.portal.secret().clone();
    let gap = state.config.tagging.gap_secs as i64;
    let creator = session.creator.id;
    let via = via_of(&form.code);
    let result = state
        .store
        .write(move |tx| -> Result<Result<String, TagError>, StoreError> {
            match tagging::scan_at_stall(tx, &secret, creator, &form.code, via, gap) {
                Err(TagError::Db(e)) => Err(e.into()),
                other => Ok(other),
            }
        })
        .await?;
    Ok(match result {
        Ok(_) => back("next"),
        Err(_) => back_error("pass"),
    })
}

async fn submit_order(
    State(state): State<AppState>,
    session: VendorSession,
    UrlPath((id, name)): UrlPath<(i64, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    let what = action(&name)?;
    let creator = session.creator.id;
    match decide(
        &state,
        id,
        Some(creator),
        what,
        format!("creator:{creator}"),
    )
    .await
    {
        Ok((_, link)) => {
            let link = link.map(|l| format!("/portal/d/{}", l.token));
            let mut to = format!("/vendor?done={name}");
            if let Some(link) = link {
                to.push_str("&link=");
                to.push_str(
                    &percent_encoding::utf8_percent_encode(
                        &link,
                        percent_encoding::NON_ALPHANUMERIC,
                    )
                    .to_string(),
                );
            }
            Ok(Redirect::to(&to).into_response())
        }
        Err(AppError::NotFound) => Err(AppError::NotFound),
        Err(AppError::Conflict(_)) => Ok(back_error("order")),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct TagForm {
    csrf: String,
    code: String,
    photo: Option<String>,
}

async fn submit_tag(
    State(state): State<AppState>,
    session: VendorSession,
    UrlPath(id): UrlPath<i64>,
    Form(form): Form<TagForm>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    // The page's by-hand form names the photo in a field (path id 0).
    let photo = match form.photo.as_deref().map(str::trim) {
        Some(p) if id == 0 => match p.trim_start_matches('#').parse::<i64>() {
            Ok(p) => p,
            Err(_) => return Ok(back_error("photo")),
        },
        _ => id,
    };
    let secret = state.portal.secret().clone();
    let creator = session.creator.id;
    let result = state
        .store
        .write(move |tx| -> Result<Result<bool, TagError>, StoreError> {
            match tagging::tag_by_hand(tx, &secret, creator, photo, &form.code) {
                Err(TagError::Db(e)) => Err(e.into()),
                other => Ok(other),
            }
        })
        .await?;
    Ok(match result {
        Ok(_) => back("tagged"),
        Err(TagError::NoSuchPhoto) => back_error("photo"),
        Err(_) => back_error("pass"),
    })
}

#[derive(Deserialize)]
struct UntagForm {
    csrf: String,
    attendee: String,
}

async fn submit_untag(
    State(state): State<AppState>,
    session: VendorSession,
    UrlPath(id): UrlPath<i64>,
    Form(form): Form<UntagForm>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    let creator = session.creator.id;
    let result = state
        .store
        .write(move |tx| -> Result<Result<bool, TagError>, StoreError> {
            match tagging::untag_by_hand(tx, creator, id, &form.attendee) {
                Err(TagError::Db(e)) => Err(e.into()),
                other => Ok(other),
            }
        })
        .await?;
    Ok(match result {
        Ok(_) => back("untagged"),
        Err(_) => back_error("photo"),
    })
}
