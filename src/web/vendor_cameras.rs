//! The creator's cameras and phone (issue 16, item 3): `GET /vendor/cameras` shows
//! what a camera body needs to send photos to the box by FTP or FTPS (the box's
//! address as the creator's own phone reached it, the ports, passive mode and its data
//! ports, their FTP user name, the TLS certificate's fingerprint) with set-up steps for
//! Canon, Nikon and Sony bodies; and two forms, each behind the session's CSRF token:
//!
//! - `POST /vendor/cameras/ftp`: new FTP credentials (`creators::set_ftp_credentials`;
//!   the old password stops working). The password is kept only as a hash, so it is
//!   shown on the page that answers this post, once, never again.
//! - `POST /vendor/cameras/token`: a new upload token (`creators::reset_upload_token`)
//!   shown as a QR code (the `qrcode` crate, SVG) of the vendor login URL with the
//!   token filled in (`/vendor/login?token=…`): a phone scans it, taps "Log in" and
//!   has the uploader. The old token stops working and every other session of the
//!   creator ends (`auth::end_creator_sessions`); this one stays.
//!
//! The camera makers' manuals could not be reached from the offline search this was
//! written with, so the steps below describe each menu by what it does ("the network
//! menu's FTP settings") rather than quote menu labels that could not be checked. The
//! values themselves (address, port, passive mode, FTPS) are the box's own. Canon
//! bodies that speak implicit FTPS connect to port 990 (`ftp.implicit_listen`;
//! docs/decisions.md, "FTP"). Staff network only, like every vendor route.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped};

use crate::auth;
use crate::creators::{self, FtpCredentials};
use crate::db::StoreError;
use crate::web::vendor_page::{checked, page, respond, CsrfOnly, VendorSession};
use crate::web::{AppError, AppState, ClientAddr};

/// The page's routes (merged with the vendor routes: not on the attendee network).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vendor/cameras", get(page_cameras))
        .route("/vendor/cameras/ftp", post(submit_ftp))
        .route("/vendor/cameras/token", post(submit_token))
}

/// A secret made by this request, shown once on the page that answers it.
enum JustMade {
    Nothing,
    Ftp(FtpCredentials),
    Token(String),
}

/// The box's address as this client reached it (the camera on the same network
/// reaches it there too); the configured portal URL's host when unknown.
fn box_host(state: &AppState, client: &ClientAddr) -> String {
    match client.local {
        Some(local) if !local.ip().is_unspecified() => match local.ip().to_canonical() {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        },
        _ => {
            let url = state.portal.url();
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Strip a port from `host:port` (not from a bare IPv6 literal's colons).
            match host.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => {
                    h.to_string()
                }
                _ => host.to_string(),
            }
        }
    }
}

/// The QR code of `text` as inline SVG (without its XML declaration, which HTML does
/// not allow inline). Level M: a login URL of ~90 characters stays a version-5 code a
/// phone reads off a screen.
fn qr_svg(text: &str) -> Result<String, AppError> {
    let svg = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(svg
        .split_once("?>")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(svg))
}

async fn render(
    state: &AppState,
    session: &VendorSession,
    client: &ClientAddr,
    made: JustMade,
) -> Result<Response, AppError> {
    let creator = session.creator.id;
    let ftp_user = state
        .store
        .read(move |c| creators::ftp_user_of(c, creator).map_err(StoreError::from))
        .await?;
    let config = &state.config.ftp;
    let host = box_host(state, client);
    // The ports as bound (the configured ones may be 0: any free port), else as
    // configured.
    let (port, implicit) = state.portal.ftp_ports().unwrap_or_else(|| {
        let port = config
            .listen
            .parse::<SocketAddr>()
            .map_or(21, |a: SocketAddr| a.port());
        let implicit = config
            .implicit_listen
            .as_deref()
            .and_then(|l| l.parse::<SocketAddr>().ok())
            .map(|a| a.port());
        (port, implicit)
    });
    let (pasv_from, pasv_to) = config.passive_ports;
    let fingerprint = state.vault.public_identity().tls_fingerprint;
    let csrf = &session.csrf_token;
    let user = match &made {
        JustMade::Ftp(f) => Some(f.user.clone()),
        _ => ftp_user,
    };
    let login_url = match &made {
        JustMade::Token(token) => {
            let scheme = if client.tls { "https" } else { "http" };
            let http_port = client.local.map(|l| l.port());
            let authority = match http_port {
                Some(p) if p != if client.tls { 443 } else { 80 } => {
                    format!("{host}:{p}")
                }
                _ => host.clone(),
            };
            Some(format!("{scheme}://{authority}/vendor/login?token={token}"))
        }
        _ => None,
    };
    let qr = login_url.as_deref().map(qr_svg).transpose()?;
    let body = html! {
        nav.links { a href="/vendor" { "← Vendor page" } " · " a href="/vendor/photos" { "Your photos" } }
        h1 { "Cameras and phone · " (session.creator.name) }
        @if !config.enabled {
            p.error role="alert" { "FTP is switched off on this box: cameras cannot send to it. Ask the organiser, or use the uploader." }
        }
        @match &made {
            JustMade::Ftp(f) => section.notice role="status" #new-ftp {
                h2 { "Your new FTP login" }
                p { "User " code #ftp-user { (f.user) } " · password " code #ftp-password { (f.password) } }
                p { "Write the password into your camera now: the box keeps only a fingerprint of it and cannot show it again. The old password no longer works." }
            },
            JustMade::Token(_) => section.notice role="status" #new-token {
                h2 { "Scan this with your phone" }
                @if let Some(svg) = &qr { div.qr role="img" aria-label="QR code of your phone login" { (PreEscaped(svg)) } }
                p { "The phone's camera opens the vendor login with your new upload token filled in: tap "
                    em { "Log in" } ", then " em { "Upload photos" } "." }
                @if let Some(url) = &login_url { p { "Or open " code #login-url { (url) } } }
                p { "Your old upload token no longer works; other phones and laptops logged in with it were logged out. This page shows the code once." }
            },
            JustMade::Nothing => {},
        }
        section {
            h2 { "What your camera needs" }
            table #camera-settings {
                tr { th { "Server address" } td { code #ftp-host { (host) } } }
                tr { th { "Port (FTP, and FTPS by AUTH TLS)" } td { code #ftp-port { (port) } } }
                @if let Some(p) = implicit {
                    tr { th { "Port (implicit FTPS)" } td { code #ftps-port { (p) } } }
                }
                tr { th { "Passive mode" } td { strong { "On" } " (the box opens data ports " (pasv_from) "–" (pasv_to) ")" } }
                tr { th { "User name" } td {
                    @match &user { Some(u) => code #ftp-login { (u) }, None => em { "none yet: make your FTP login below" } }
                } }
                tr { th { "Password" } td { "the one shown when you made your FTP login" } }
                tr { th { "Folder" } td { "leave empty (or " code { "/" } "): each creator has a folder of their own" } }
                tr { th { "Certificate (FTPS)" } td { "the box's own; when the camera asks, check the fingerprint " code #tls-fingerprint { (fingerprint) } " and accept it" } }
            }
            form method="post" action="/vendor/cameras/ftp" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { @if user.is_some() { "Make a new FTP password" } @else { "Make my FTP login" } }
            }
        }
        (steps(&host, port, implicit))
        section {
            h2 { "Phone or laptop" }
            p { "Log another phone in by scanning a QR code: it holds a new upload token, so your current token stops working." }
            form method="post" action="/vendor/cameras/token" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Show a QR code for my phone" }
            }
        }
    };
    Ok(respond(StatusCode::OK, page("Cameras and phone", body)))
}

/// Set-up steps per maker. The menu names are described, not quoted (see the module
/// documentation: the makers' manuals could not be checked).
fn steps(host: &str, port: u16, implicit: Option<u16>) -> Markup {
    html! {
        section #steps {
            h2 { "Setting up the camera" }
            p { "Join the camera to the vendors' Wi-Fi or plug it into the vendors' network first (the camera's own network settings). Then:" }
            h3 { "Canon" }
            p { "On EOS bodies that send by FTP (built in, or through Canon's wireless file transmitter), open the network settings, add a connection for FTP transfer, and choose FTP or FTPS as the mode. Enter the server address "
                code { (host) } " and port " code { (port) }
                @if let Some(p) = implicit { " (or " code { (p) } " if the body offers FTPS only on port 990)" }
                ", turn passive mode on, and enter your user name and password. Leave the target folder empty." }
            h3 { "Nikon" }
            p { "On Z and D bodies that upload by FTP (built in, or through Nikon's wireless transmitter), make a network profile for an FTP server in the network menu. Choose FTP, or FTPS for an encrypted connection, enter the address "
                code { (host) } " and port " code { (port) } ", switch PASV (passive) mode on, and enter your user name and password." }
            h3 { "Sony" }
            p { "On Alpha bodies with FTP transfer, open the network menu's FTP transfer settings and register a server: host " code { (host) } ", port " code { (port) }
                ", passive mode on, secure protocol on for FTPS (off for plain FTP), then your user name and password. Accept the box's certificate when asked (fingerprint above)." }
            p { "Then take a photo: it appears on " a href="/vendor/photos" { "Your photos" } " within seconds." }
        }
    }
}

async fn page_cameras(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    session: VendorSession,
) -> Result<Response, AppError> {
    render(&state, &session, &client, JustMade::Nothing).await
}

async fn submit_ftp(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    session: VendorSession,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    let (name, actor) = (
        session.creator.name.clone(),
        format!("creator:{}", session.creator.id),
    );
    let made = state
        .store
        .write(move |tx| creators::set_ftp_credentials(tx, &name, &actor))
        .await?;
    render(&state, &session, &client, JustMade::Ftp(made)).await
}

async fn submit_token(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    session: VendorSession,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    checked(&session, &form.csrf)?;
    let id = session.creator.id;
    let keep = *session.token_hash();
    let token = state
        .store
        .write(move |tx| {
            let token = creators::reset_upload_token(tx, id, &format!("creator:{id}"))?;
            auth::end_creator_sessions(tx, id, Some(&keep))?;
            Ok::<_, StoreError>(token)
        })
        .await?
        .ok_or(AppError::NotFound)?;
    render(&state, &session, &client, JustMade::Token(token)).await
}
