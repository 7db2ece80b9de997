//! CORS for the tus routes, so a web page on another origin (a photographer's own
//! site running tus-js-client or Uppy) may upload to the box from a browser. Only the
//! routes of [`super::router`] get it; the admin, vendor and portal routes stay
//! same-origin.
//!
//! Who: only the origins listed in `tus.cors_allowed_origins`, compared byte for byte
//! with the request's `Origin` (the config refuses at load anything not written as
//! browsers send it). No list, no CORS: the routes answer as before. A request from
//! an origin not listed reaches the routes untouched and gets no `Access-Control-*`
//! header at all, so the browser refuses the page the answer (Fetch standard, "CORS
//! check"). There is no wildcard, and never `Access-Control-Allow-Credentials`: an
//! upload authenticates with a bearer token the page sends in `Authorization`
//! (allowed below), no cookie, so the page's request needs no credentials mode
//! "include" (tus-js-client's `withCredentials` stays false); a page that sets it is
//! refused by the browser.
//!
//! What (Fetch standard, "CORS protocol", "HTTP responses"): a CORS-preflight request
//! (`OPTIONS` with `Access-Control-Request-Method`, "HTTP requests") from a listed
//! origin is answered here, with [`ALLOWED_METHODS`], [`ALLOWED_HEADERS`] and
//! [`MAX_AGE`]; every other request from it gets the route's own answer plus
//! `Access-Control-Allow-Origin` (the origin itself) and `Access-Control-Expose-Headers`
//! ([`EXPOSED_HEADERS`]: without them a page cannot read `Location` or
//! `Upload-Offset`, and tus cannot work). Every response of the tus routes carries
//! `Vary: Origin` ("CORS protocol and HTTP caches"), whatever the origin, so no cache
//! hands one origin's answer to another.
//!
//! tus's own `OPTIONS` (server discovery, tus 1.0.0 core protocol: no
//! `Access-Control-Request-Method`) is still answered by the tus routes, also from a
//! listed origin (with the two headers above). tus-js-client never sends it; the
//! browser does send `X-HTTP-Method-Override` where a client asks for it (tus 1.0.0
//! core protocol, for environments without PATCH or DELETE), so that header is
//! allowed.
//!
//! Built on tower-http's `CorsLayer`, with a scope in front of it for what that layer
//! does not do (tower-http 0.6, `cors/mod.rs`): it answers every `OPTIONS` as a
//! preflight without calling the routes, which would swallow tus's discovery; and it
//! sends the allowed methods and headers, max age and exposed headers to every origin,
//! leaving out only `Access-Control-Allow-Origin`. The scope hands it only the
//! requests of listed origins, and only real preflights among their `OPTIONS`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Methods a page may use on the tus routes: the tus core protocol (HEAD, PATCH,
/// OPTIONS) and the creation (POST) and termination (DELETE) extensions.
pub const ALLOWED_METHODS: [Method; 5] = [
    Method::POST,
    Method::HEAD,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Request headers a page may send beyond the CORS-safelisted ones: the upload token
/// (`Authorization`), every tus request header this server reads or tus-js-client and
/// Uppy send (`Upload-Concat` is sent by clients uploading in parallel; this server
/// answers it as an unknown extension), and the two older clients add.
pub const ALLOWED_HEADERS: [&str; 11] = [
    "authorization",
    "content-type",
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "upload-defer-length",
    "upload-concat",
    "upload-checksum",
    "x-http-method-override",
    "x-requested-with",
];

/// Response headers a page may read: every header a tus client reads from this
/// server's answers (creation's `Location`, the offsets and lengths, expiry, and the
/// discovery headers of OPTIONS).
pub const EXPOSED_HEADERS: [&str; 11] = [
    "location",
    "upload-offset",
    "upload-length",
    "upload-defer-length",
    "upload-metadata",
    "upload-expires",
    "tus-resumable",
    "tus-version",
    "tus-max-size",
    "tus-extension",
    "tus-checksum-algorithm",
];

/// How long a browser may reuse a preflight's answer: 2 hours, Chromium's ceiling
/// (Firefox allows a day). The list only changes with the configuration, at a
/// restart; a page whose origin was removed is refused on its next actual request
/// anyway, which no longer carries `Access-Control-Allow-Origin`.
pub const MAX_AGE: Duration = Duration::from_secs(2 * 3600);

/// The CORS policy of the tus routes, built once from `tus.cors_allowed_origins`.
/// Cheap to clone (it is the middleware's state).
#[derive(Clone)]
pub struct UploadCors {
    origins: Arc<[HeaderValue]>,
    layer: CorsLayer,
    /// [`EXPOSED_HEADERS`] as one header value, for tus's discovery answer.
    exposed: HeaderValue,
}

impl UploadCors {
    /// The policy for `origins` (as validated by the config: serialised origins such
    /// as `https://photos.example.com`); `None` when the list is empty, as no CORS is
    /// served then. An origin that is not a valid header value cannot pass the
    /// config's check; it would be left out.
    pub fn new(origins: &[String]) -> Option<Self> {
        let origins: Arc<[HeaderValue]> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        if origins.is_empty() {
            return None;
        }
        let layer = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods(ALLOWED_METHODS)
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(MAX_AGE)
            .vary([header::ORIGIN]);
        let exposed =
            HeaderValue::from_str(&EXPOSED_HEADERS.join(",")).expect("header names are ASCII");
        Some(UploadCors {
            origins,
            layer,
            exposed,
        })
    }

    /// The request's `Origin` when it is one of the listed origins.
    fn listed<'a>(&self, request: &'a Request) -> Option<&'a HeaderValue> {
        request
            .headers()
            .get(header::ORIGIN)
            .filter(|origin| self.origins.contains(origin))
    }
}

/// The middleware (`axum::middleware::from_fn_with_state(policy, scope)`) around the
/// tus routes: decides which requests are CORS requests of a listed origin and hands
/// those to the `CorsLayer`; see the module's comment.
pub async fn scope(State(cors): State<UploadCors>, request: Request, next: Next) -> Response {
    let origin = cors.listed(&request).cloned();
    let options = request.method() == Method::OPTIONS;
    let preflight = options
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let vary_origin = HeaderValue::from_static("origin");
    match origin {
        // A preflight (answered by the layer alone) or an actual request other than
        // OPTIONS (the route's answer, headers added by the layer).
        Some(_) if preflight || !options => match cors.layer.layer(next).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        // tus's discovery from a listed origin: the layer would take it for a
        // preflight, so the route answers and the two headers are added here.
        Some(origin) => {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, cors.exposed.clone());
            headers.append(header::VARY, vary_origin);
            response
        }
        // No origin, or one not listed: no CORS header, so a browser refuses the page
        // the answer.
        None => {
            let mut response = next.run(request).await;
            response.headers_mut().append(header::VARY, vary_origin);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_origins_no_policy() {
        assert!(UploadCors::new(&[]).is_none());
        assert!(UploadCors::new(&["https://photos.example.com".into()]).is_some());
    }
}
