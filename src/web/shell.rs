//! The one HTML page shell of the server-rendered pages (admin and portal): doctype,
//! language, viewport, title, inline style, `<main>`; and the one way such a page is
//! answered, with `Cache-Control: no-store` and a Content-Security-Policy that allows no
//! script and no external asset (the box works offline; ../shared/MISSION.md).

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// A whole page: `<html lang>` with `title`, the inline `style`, and `main` inside
/// `<body><main>`.
pub fn document(lang: &str, title: &str, style: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(style)) }
            }
            body { main { (main) } }
        }
    }
}

/// Content-Security-Policy of a page: nothing but inline style and posting to itself;
/// `images` adds `img-src 'self' data:` (the portal's QR code).
pub fn csp(images: bool) -> &'static str {
    if images {
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    }
}

/// Answers `markup` with `status`, never cached, under [`csp`]; `vary` names the
/// request headers the page depends on (e.g. `Accept-Language, Cookie`).
pub fn respond(
    status: StatusCode,
    markup: Markup,
    images: bool,
    vary: Option<&'static str>,
) -> Response {
    let mut response = (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, csp(images)),
        ],
        Html(markup.into_string()),
    )
        .into_response();
    if let Some(vary) = vary {
        response
            .headers_mut()
            .insert(header::VARY, header::HeaderValue::from_static(vary));
    }
    response
}
