//! The captive portal attendees' phones land on: captive-probe answers, the RFC 8908
//! Captive Portal API, and the server-rendered pages where an attendee consents (or
//! declines), gets a pass with a QR code, sees and withdraws their consent, and deletes
//! their records. Consent and attendance themselves live in [`crate::consent`].
//!
//! Every request passes through [`gate`] first: a request for a host that is not the
//! box is a captive probe (answered by what its OS expects, depending on whether this
//! client is through the portal) or is redirected to the portal; a request from the
//! attendee network for a vendor or admin path is refused as if the path did not exist.
//!
//! The pages have no scripts and no external assets; forms carry a CSRF token bound to
//! a random cookie (double submit, keyed with the per-event secret) and accept no field
//! they do not expect, so a form cannot name another attendee.
//!
//! Size: about 720 lines: the portal's pages in both languages share their form,
//! CSRF and pass helpers; the gate is `gate.rs`, the staff API `staff.rs`, the texts
//! `text.rs`.

pub mod captive;
mod gate;
mod staff;
pub mod text;

pub use gate::gate;
pub use staff::router as staff_router;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use crate::clock::now;
use crate::consent::{self, Attendee, Channel, Scope, Secret, Source};
use crate::web::csrf::DoubleSubmit;
use crate::web::{shell, AppState};
use crate::web::{AppError, ClientAddr};
use text::Texts;

/// Cookie holding the attendee's pass id.
pub const PASS_COOKIE: &str = "vb_pass";
/// The portal forms' CSRF cookie; the token is its keyed hash under the event secret.
const PORTAL_CSRF: DoubleSubmit = DoubleSubmit {
    cookie: "vb_csrf",
    path: "/portal",
    same_site: SameSite::Lax,
};
/// Largest portal form body: a handful of short fields.
const FORM_LIMIT: usize = 4096;
/// Path of the RFC 8908 API when no `portal.api_url` names another.
pub const API_PATH: &str = "/captive-portal/api";
/// Media type of the RFC 8908 API.
pub const CAPTIVE_JSON: &str = "application/captive+json";

/// The portal's share of the app state.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    secret: Secret,
    /// The privacy notice in each language: (language, text, hash). Fixed by the
    /// config, so made once; [`crate::app::prepare`] keeps each text in the database.
    notices: Vec<(&'static str, String, String)>,
    /// The portal's base URL: configured, or learnt from the bound HTTP address.
    url: std::sync::OnceLock<String>,
    /// The FTP ports as bound (plain and explicit FTPS, implicit FTPS), for the
    /// creators' camera page: the configured ones may be 0 (any free port).
    ftp_ports: std::sync::OnceLock<(u16, Option<u16>)>,
    /// Hosts that are the box itself (lowercase, no port).
    own_hosts: Vec<String>,
    /// The path `portal.api_url` names, if any.
    api_path: Option<String>,
    /// Attendee networks: admin and vendor paths are refused to clients in them.
    attendee_networks: Vec<ipnet::IpNet>,
    attendee_interfaces: Vec<String>,
}

impl Portal {
    /// Builds the portal from the config and the per-event secret.
    pub fn new(config: &crate::config::Config, secret: Secret) -> Portal {
        let mut own_hosts = vec![
            "localhost".to_string(),
            format!("{}.local", config.device.name.to_ascii_lowercase()),
        ];
        for url in [Some(config.portal_url()), config.portal.api_url.clone()]
            .into_iter()
            .flatten()
        {
            if let Some(host) = url_host(&url) {
                own_hosts.push(captive::host_only(host));
            }
        }
        let api_path = config
            .portal
            .api_url
            .as_deref()
            .and_then(url_path)
            .filter(|p| *p != "/")
            .map(str::to_string);
        Portal {
            inner: Arc::new(Inner {
                secret,
                notices: text::ALL
                    .iter()
                    .map(|t| {
                        let p = &config.portal;
                        let body = t.notice(&p.organiser, &p.contact, p.retention_days);
                        let hash = consent::notice_hash(&p.notice_version, t.lang, &body);
                        (t.lang, body, hash)
                    })
                    .collect(),
                url: match &config.portal.url {
                    Some(_) => std::sync::OnceLock::from(config.portal_url()),
                    None => std::sync::OnceLock::new(),
                },
                ftp_ports: std::sync::OnceLock::new(),
                own_hosts,
                api_path,
                attendee_networks: config.portal.attendee_networks.clone(),
                attendee_interfaces: config.portal.attendee_interfaces.clone(),
            }),
        }
    }

    /// Learns the portal's URL from the bound HTTP address when `portal.url` is not
    /// configured (a development box, or tests on port 0).
    pub fn bound(&self, http: std::net::SocketAddr) {
        let _ = self.inner.url.set(crate::config::http_url(http));
    }

    /// Learns the FTP ports as bound (`app::run`): the control port, and the implicit
    /// FTPS port when served.
    pub fn ftp_bound(&self, ftp: u16, implicit: Option<u16>) {
        let _ = self.ftp_ports_cell().set((ftp, implicit));
    }

    /// The FTP ports as bound, once FTP listens.
    pub fn ftp_ports(&self) -> Option<(u16, Option<u16>)> {
        self.ftp_ports_cell().get().copied()
    }

    fn ftp_ports_cell(&self) -> &std::sync::OnceLock<(u16, Option<u16>)> {
        &self.inner.ftp_ports
    }

    /// The portal's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        self.inner
            .url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// Every language's notice: (language, text, hash).
    pub fn notices(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.inner
            .notices
            .iter()
            .map(|(l, text, hash)| (*l, text.as_str(), hash.as_str()))
    }

    /// The notice in `t`'s language and its hash.
    fn notice(&self, t: &Texts) -> (&str, &str) {
        self.notices()
            .find(|(l, _, _)| *l == t.lang)
            .map(|(_, text, hash)| (text, hash))
            .expect("a notice for every language")
    }

    /// The per-event secret.
    pub fn secret(&self) -> &Secret {
        &self.inner.secret
    }

    /// The keyed hash telling this client apart: of its MAC where the kernel knows it,
    /// else of its address.
    fn client_key(&self, ip: IpAddr) -> String {
        match captive::mac_of(ip) {
            Some(mac) => self
                .inner
                .secret
                .keyed_hash("client", &format!("mac:{mac}")),
            None => self.inner.secret.keyed_hash("client", &format!("ip:{ip}")),
        }
    }

    /// Whether a request's host is the box: one of its names, or the address the
    /// connection arrived on. A literal address of anywhere else (a phone probing
    /// 203.0.113.7, sent here by the firewall) is not.
    fn is_own_host(&self, host: &str, local: Option<IpAddr>) -> bool {
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                ip.is_loopback()
                    || local.is_none()
                    || Some(ip.to_canonical()) == local.map(|l| l.to_canonical())
            }
            Err(_) => self.inner.own_hosts.iter().any(|h| h == host),
        }
    }

    /// Did this connection come from the attendee network? Decided by where it
    /// arrived, not only by who says they are sending it (hardening item 3): the
    /// interface it arrived on is one of `portal.attendee_interfaces`, or the box's
    /// own address it reached is in `portal.attendee_networks` (the shipped firewall
    /// sends every attendee web connection to the box's attendee-side address), or the
    /// client's address is. So a phone on the attendee Wi-Fi using its IPv6
    /// link-local address (fe80::/10, in no configured network) is still an attendee.
    pub fn is_attendee_connection(&self, client: &ClientAddr) -> bool {
        if let Some(interface) = &client.interface {
            if self
                .inner
                .attendee_interfaces
                .iter()
                .any(|i| i == interface.as_str())
            {
                return true;
            }
        }
        self.is_attendee(client.ip()) || client.local.is_some_and(|l| self.is_attendee(l.ip()))
    }

    /// Is `ip` in one of `portal.attendee_networks`? (An IPv4-mapped IPv6 address counts
    /// as its IPv4 address.)
    pub fn is_attendee(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            ip => ip,
        };
        self.inner.attendee_networks.iter().any(|n| n.contains(&ip))
    }

    fn csrf_for(&self, cookie: &str) -> String {
        self.inner.secret.keyed_hash("csrf", cookie)
    }
}

/// The scheme and host of a URL (`http://10.42.0.1:8080/x` → `10.42.0.1:8080`).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())
}

/// The path of a URL (`https://a/b?c` → `/b`).
fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = &rest[rest.find('/').unwrap_or(rest.len())..];
    Some(path.split(['?', '#']).next().unwrap_or("/")).map(|p| if p.is_empty() { "/" } else { p })
}

/// The portal's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
        .route("/portal", get(page_welcome))
        .route("/portal/privacy", get(page_privacy))
        .route("/portal/consent", post(submit_consent))
        .route("/portal/pass", get(page_pass))
        .route("/portal/me", get(page_me))
        .route("/portal/me/scope", post(submit_scope))
        .route("/portal/me/delete", post(submit_delete))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
}

// --- Request context: language, pass, CSRF. ---

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn texts(state: &AppState, headers: &HeaderMap, lang: Option<&str>) -> &'static Texts {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    text::choose(lang, accept, &state.config.event.locale)
}

/// The pass id the pass cookie names, if it could be one (not empty, at most 64
/// characters); whether it is a live pass is [`consent::attendee`]'s to say.
pub(crate) fn pass_id(jar: &CookieJar) -> Option<String> {
    jar.get(PASS_COOKIE)
        .map(|c| c.value())
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .map(str::to_string)
}

/// The attendee whose pass cookie this is, if it is a live pass.
pub(crate) async fn current_attendee(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<Attendee>, AppError> {
    let Some(id) = pass_id(jar) else {
        return Ok(None);
    };
    Ok(state
        .store
        .read_sql(move |c| consent::attendee(c, &id))
        .await?)
}

/// The CSRF cookie, made if missing, and the token forms must carry.
pub(crate) fn csrf(state: &AppState, jar: CookieJar, tls: bool) -> (CookieJar, String) {
    PORTAL_CSRF.issue(jar, tls, false, |v| state.portal.csrf_for(v))
}

/// Whether `given` is the CSRF token of this request's cookie.
pub(crate) fn csrf_ok(state: &AppState, jar: &CookieJar, given: &str) -> bool {
    PORTAL_CSRF.check(jar, given, |v| state.portal.csrf_for(v))
}

fn pass_cookie(id: String, tls: bool) -> Cookie<'static> {
    Cookie::build((PASS_COOKIE, id))
        .path("/portal")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(tls)
        .max_age(time::Duration::days(30))
        .build()
}

// --- Pages. ---

const STYLE: &str = "body{font:17px/1.5 system-ui,-apple-system,sans-serif;margin:0;background:#fff;color:#111}\
main{max-width:34rem;margin:0 auto;padding:1rem}h1{font-size:1.5rem;line-height:1.2}\
a{color:#0b4f9c}fieldset{border:1px solid #767676;border-radius:.4rem;padding:.5rem .8rem;margin:1rem 0}\
legend{font-weight:700;padding:0 .3rem}.scope{display:flex;gap:.6rem;align-items:flex-start;padding:.5rem 0;border-bottom:1px solid #ddd}\
.scope:last-child{border:0}.scope input{width:1.4rem;height:1.4rem;margin:.2rem 0 0;flex:none}\
.scope label{font-weight:700}.scope p{margin:.1rem 0 0;font-weight:400}\
button{font:inherit;font-weight:700;width:100%;padding:.8rem;margin:.4rem 0;border-radius:.4rem;border:2px solid #0b4f9c;cursor:pointer}\
.primary{background:#0b4f9c;color:#fff}.secondary{background:#fff;color:#0b4f9c}.danger{background:#8a1111;border-color:#8a1111;color:#fff}\
:focus-visible{outline:3px solid #e07b00;outline-offset:2px}.hint{color:#444;font-size:.95rem}\
.qr{max-width:18rem;margin:1rem auto;background:#fff;padding:.5rem}.qr svg{width:100%;height:auto;display:block}\
code{font-size:1.05rem;word-break:break-all}code.pass{font-size:1.3rem;letter-spacing:.05em;white-space:nowrap}nav{display:flex;gap:1rem;flex-wrap:wrap;font-size:.95rem;margin:.5rem 0 1rem}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem .2rem;border-bottom:1px solid #ddd;vertical-align:top}\
td form button{width:auto;padding:.3rem .8rem;margin:0}.error{color:#8a1111;font-weight:700}";

fn page(t: &Texts, title: &str, body: Markup) -> Markup {
    let main = html! {
        nav aria-label="Language" {
            @for other in text::ALL.iter() {
                @if other.lang == t.lang {
                    span aria-current="true" { (other.name) }
                } @else {
                    a href={ "?lang=" (other.lang) } lang=(other.lang) hreflang=(other.lang) { (other.name) }
                }
            }
        }
        (body)
    };
    shell::document(t.lang, title, STYLE, main)
}

fn html_page(status: StatusCode, markup: Markup) -> Response {
    shell::respond(status, markup, true, Some("Accept-Language, Cookie"))
}

fn error_page(t: &Texts, status: StatusCode, message: &str) -> Response {
    html_page(
        status,
        page(
            t,
            t.error_title,
            html! {
                h1 { (t.error_title) }
                p.error role="alert" { (message) }
                p { a href="/portal" { (t.start) } }
            },
        ),
    )
}

async fn page_welcome(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let t = texts(&state, &headers, q.lang.as_deref());
    let event = state
        .store
        .read_sql(crate::event::event)
        .await?
        .map(|e| e.name)
        .unwrap_or_else(|| state.config.event.name.clone());
    let attendee = current_attendee(&state, &jar).await?;
    // A returning attendee sees their current choices ticked: the form records exactly
    // what it shows (see `submit_consent`).
    let granted: Vec<Scope> = match &attendee {
        Some(a) => {
            let id = a.id.clone();
            state
                .store
                .read_sql(move |c| consent::current(c, &id))
                .await?
                .into_iter()
                .filter(|(_, s)| s.granted)
                .map(|(scope, _)| scope)
                .collect()
        }
        None => Vec::new(),
    };
    let (jar, token) = csrf(&state, jar, client.tls);
    let body = html! {
        h1 { (t.welcome_title) }
        p { (t.welcome_lead) " " strong { (event) } "." }
        p { (t.what_box_does) }
        @if attendee.is_some() {
            p { a href="/portal/pass" { (t.pass_title) } " · " a href="/portal/me" { (t.my_data) } }
        }
        form method="post" action="/portal/consent" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="lang" value=(t.lang);
            fieldset {
                legend { (t.choose) }
                p.hint {
                    @if granted.is_empty() { (t.nothing_ticked) " " }
                    a href={ "/portal/privacy?lang=" (t.lang) } { (t.read_notice) }
                }
                @for scope in Scope::ALL {
                    @let (label, explain) = t.scope(scope);
                    div.scope {
                        input type="checkbox" id=(scope.as_str()) name=(scope.as_str()) value="yes"
                            checked[granted.contains(&scope)]
                            aria-describedby={ (scope.as_str()) "-hint" };
                        div {
                            label for=(scope.as_str()) { (label) }
                            p.hint id={ (scope.as_str()) "-hint" } { (explain) }
                        }
                    }
                }
            }
            button.primary type="submit" name="action" value="accept" { (t.continue_with_choices) }
            button.secondary type="submit" name="action" value="decline" { (t.decline) }
            p.hint { (t.decline_hint) }
        }
    };
    Ok((
        jar,
        html_page(StatusCode::OK, page(t, t.welcome_title, body)),
    )
        .into_response())
}

async fn page_privacy(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let t = texts(&state, &headers, q.lang.as_deref());
    let (notice, hash) = state.portal.notice(t);
    let body = html! {
        h1 { (t.privacy_title) }
        p { (notice) }
        ul {
            @for scope in Scope::ALL {
                @let (label, explain) = t.scope(scope);
                li { strong { (label) } ": " (explain) }
            }
        }
        p.hint { (t.notice_version) " " (state.config.portal.notice_version) " · " code { (&hash[..16]) } }
        p { a href={ "/portal?lang=" (t.lang) } { (t.back) } }
    };
    Ok(html_page(StatusCode::OK, page(t, t.privacy_title, body)))
}

/// The consent form: a checkbox per scope, the action, the CSRF token, the language.
/// Nothing else is accepted: a field naming an attendee or a client is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    action: String,
    lang: Option<String>,
    gallery: Option<String>,
    receive: Option<String>,
    sync: Option<String>,
    marketing: Option<String>,
}

impl ConsentForm {
    fn ticked(&self, scope: Scope) -> bool {
        let v = match scope {
            Scope::Gallery => &self.gallery,
            Scope::Receive => &self.receive,
            Scope::Sync => &self.sync,
            Scope::Marketing => &self.marketing,
        };
        v.as_deref() == Some("yes")
    }
}

/// The fields every portal form carries.
trait PortalForm: serde::de::DeserializeOwned {
    fn csrf(&self) -> &str;
    fn lang(&self) -> Option<&str>;
}

macro_rules! portal_form {
    ($($form:ty),*) => {$(
        impl PortalForm for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
            fn lang(&self) -> Option<&str> {
                self.lang.as_deref()
            }
        }
    )*};
}
portal_form!(ConsentForm, ScopeForm, DeleteForm);

/// What a posted portal form body parses as, with the `serde_urlencoded` parsing the
/// handlers do before the CSRF check: for the consent, scope and delete forms, in that
/// order, `None` when the body is not that form, else its `lang` field. Exposed only
/// for the fuzz target `fuzz/fuzz_targets/portal_form.rs`.
#[doc(hidden)]
pub fn parse_forms(body: &[u8]) -> [Option<Option<String>>; 3] {
    fn lang<T: PortalForm>(body: &[u8]) -> Option<Option<String>> {
        let form: T = serde_urlencoded::from_bytes(body).ok()?;
        Some(form.lang().map(str::to_string))
    }
    [
        lang::<ConsentForm>(body),
        lang::<ScopeForm>(body),
        lang::<DeleteForm>(body),
    ]
}

/// Parses a posted portal form and checks its CSRF token, returning it with the texts
/// of its language; otherwise the error page to answer: 400 when the body is not one
/// of our forms (unknown fields, wrong encoding), 403 when the token is missing or
/// wrong.
fn checked_form<T: PortalForm>(
    state: &AppState,
    headers: &HeaderMap,
    jar: &CookieJar,
    body: &[u8],
) -> Result<(T, &'static Texts), Box<Response>> {
    let t = texts(state, headers, None);
    let form: T = serde_urlencoded::from_bytes(body)
        .map_err(|_| Box::new(error_page(t, StatusCode::BAD_REQUEST, t.error_form)))?;
    let t = texts(state, headers, form.lang());
    if !csrf_ok(state, jar, form.csrf()) {
        return Err(Box::new(error_page(t, StatusCode::FORBIDDEN, t.error_form)));
    }
    Ok((form, t))
}

async fn submit_consent(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let (form, t) = match checked_form::<ConsentForm>(&state, &headers, &jar, &body) {
        Ok(v) => v,
        Err(page) => return Ok(*page),
    };
    let accept = match form.action.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Ok(error_page(t, StatusCode::BAD_REQUEST, t.error_form)),
    };
    let notice_hash = state.portal.notice(t).1.to_string();
    let existing = current_attendee(&state, &jar).await?;
    // The form records exactly what it showed: every scope, ticked or not. An
    // unticked scope that was granted is withdrawn, and "decline" withdraws them all
    // (withdrawing what was never granted records nothing).
    let choices: Vec<(Scope, bool)> = Scope::ALL
        .into_iter()
        .map(|s| (s, accept && form.ticked(s)))
        .collect();
    let client_key = state.portal.client_key(client.ip());
    let secret = state.portal.secret().clone();
    let session = state.config.portal.session_secs as i64;
    let debounce = state.config.portal.attendance_debounce_secs as i64;
    let stamp = crate::clock::stamp(state.config.clock.trust);
    let lang = t.lang;
    let attendee = state
        .store
        .write_sql(move |c| -> rusqlite::Result<Attendee> {
            let attendee = match existing {
                Some(a) => a,
                None => consent::new_attendee(c, &secret, lang)?,
            };
            for (scope, granted) in choices {
                consent::record(
                    c,
                    &attendee.id,
                    scope,
                    granted,
                    &notice_hash,
                    Channel::Portal,
                    stamp,
                )?;
            }
            let expires = (session > 0).then(|| now().saturating_add(session));
            consent::admit_portal_client(c, &client_key, &attendee.id, expires)?;
            consent::record_attendance(c, &attendee.pseudonym, Source::Portal, debounce, stamp)?;
            Ok(attendee)
        })
        .await?;
    let jar = jar.add(pass_cookie(attendee.id, client.tls));
    Ok((jar, Redirect::to(&format!("/portal/pass?lang={lang}"))).into_response())
}

async fn page_pass(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let t = texts(&state, &headers, q.lang.as_deref());
    let Some(attendee) = current_attendee(&state, &jar).await? else {
        return Ok(no_pass(t));
    };
    let code = consent::pass_code(state.portal.secret(), &attendee);
    // Short code, level Q: QR version 2 (25 modules), big enough to decode from a photo
    // of the phone's screen (docs/decisions.md, "Short pass codes").
    let svg = qrcode::QrCode::with_error_correction_level(code.qr.as_bytes(), qrcode::EcLevel::Q)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("pass QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The SVG's XML declaration is not allowed inline in HTML.
    let svg = svg
        .split_once("?>")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(svg);
    let portal = state.portal.url();
    let body = html! {
        h1 { (t.pass_title) }
        p { (t.pass_lead) }
        div.qr role="img" aria-label=(t.pass_title) { (PreEscaped(svg)) }
        p { (t.pass_code_label) ": " code.pass { (code.typed) } }
        p { (t.pass_does) }
        p { (t.pass_does_not) }
        p.hint { (t.online_note) " " code { (portal) "/portal/pass" } }
        p { a href={ "/portal/me?lang=" (t.lang) } { (t.my_data) } }
    };
    Ok(html_page(StatusCode::OK, page(t, t.pass_title, body)))
}

fn no_pass(t: &Texts) -> Response {
    html_page(
        StatusCode::OK,
        page(
            t,
            t.pass_title,
            html! {
                h1 { (t.pass_title) }
                p { (t.no_pass) }
                p { a href={ "/portal?lang=" (t.lang) } { (t.start) } }
            },
        ),
    )
}

async fn page_me(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let t = texts(&state, &headers, q.lang.as_deref());
    let Some(attendee) = current_attendee(&state, &jar).await? else {
        return Ok(no_pass(t));
    };
    let id = attendee.id.clone();
    let current = state
        .store
        .read_sql(move |c| consent::current(c, &id))
        .await?;
    let (jar, token) = csrf(&state, jar, client.tls);
    let body = html! {
        h1 { (t.my_data_title) }
        table {
            @for scope in Scope::ALL {
                @let (label, _) = t.scope(scope);
                @let granted = current.get(&scope).is_some_and(|s| s.granted);
                tr {
                    th scope="row" { (label) }
                    td { @if granted { (t.scope_on) } @else { (t.scope_off) } }
                    td {
                        form method="post" action="/portal/me/scope" {
                            input type="hidden" name="csrf" value=(token);
                            input type="hidden" name="lang" value=(t.lang);
                            input type="hidden" name="scope" value=(scope.as_str());
                            @if granted {
                                button.secondary type="submit" name="granted" value="no"
                                    aria-label={ (t.withdraw) ": " (label) } { (t.withdraw) }
                            } @else {
                                button.secondary type="submit" name="granted" value="yes"
                                    aria-label={ (t.grant) ": " (label) } { (t.grant) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (t.delete_title) }
        p { (t.delete_lead) }
        form method="post" action="/portal/me/delete" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="lang" value=(t.lang);
            div.scope {
                input type="checkbox" id="confirm" name="confirm" value="yes" required;
                label for="confirm" { (t.delete_confirm) }
            }
            button.danger type="submit" { (t.delete_button) }
        }
        p { a href={ "/portal/pass?lang=" (t.lang) } { (t.pass_title) } " · " a href={ "/portal/privacy?lang=" (t.lang) } { (t.privacy_title) } }
    };
    Ok((
        jar,
        html_page(StatusCode::OK, page(t, t.my_data_title, body)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeForm {
    #[serde(default)]
    csrf: String,
    lang: Option<String>,
    scope: String,
    granted: String,
}

async fn submit_scope(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let (form, t) = match checked_form::<ScopeForm>(&state, &headers, &jar, &body) {
        Ok(v) => v,
        Err(page) => return Ok(*page),
    };
    let (Some(scope), Some(granted)) = (
        Scope::parse(&form.scope),
        match form.granted.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
    ) else {
        return Ok(error_page(t, StatusCode::BAD_REQUEST, t.error_form));
    };
    let Some(attendee) = current_attendee(&state, &jar).await? else {
        return Ok(no_pass(t));
    };
    let notice_hash = state.portal.notice(t).1.to_string();
    let stamp = crate::clock::stamp(state.config.clock.trust);
    state
        .store
        .write_sql(move |c| {
            consent::record(
                c,
                &attendee.id,
                scope,
                granted,
                &notice_hash,
                Channel::Portal,
                stamp,
            )
        })
        .await?;
    Ok(Redirect::to(&format!("/portal/me?lang={}", t.lang)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    lang: Option<String>,
    confirm: Option<String>,
}

async fn submit_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let (form, t) = match checked_form::<DeleteForm>(&state, &headers, &jar, &body) {
        Ok(v) => v,
        Err(page) => return Ok(*page),
    };
    if form.confirm.as_deref() != Some("yes") {
        return Ok(error_page(t, StatusCode::BAD_REQUEST, t.error_form));
    }
    let Some(attendee) = current_attendee(&state, &jar).await? else {
        return Ok(no_pass(t));
    };
    state
        .store
        .write_sql(move |c| {
            consent::erase(c, &attendee)?;
            crate::delivery::orders::forget_attendee(c, &attendee.id, &attendee.pseudonym).map(drop)
        })
        .await?;
    let jar = jar.remove(Cookie::build(PASS_COOKIE).path("/portal"));
    let body = html! {
        h1 { (t.deleted_title) }
        p { (t.deleted_lead) }
        p { a href={ "/portal?lang=" (t.lang) } { (t.start) } }
    };
    Ok((
        jar,
        html_page(StatusCode::OK, page(t, t.deleted_title, body)),
    )
        .into_response())
}
