//! Delivery's HTTP edge (issue 14): the attendee's galleries (`/portal/gallery`, the
//! public one; `/portal/mine`, "my photos"), the attendee's copy of the photo route
//! (`/portal/photos/{id}/{derivative}`, where the portal's pass cookie is sent), and
//! the vendor and admin JSON API of delivery. Every photo served asks
//! [`crate::delivery::policy`], through [`crate::web::previews::serve_photo`].
//!
//! Attendee pages live under `/portal` because the pass cookie's path is `/portal`:
//! the cookie is not sent anywhere else, so no other route can mistake a phone for an
//! attendee. The staff routes (`/photos/...`, `/api/vendor/...`) take an admin session
//! or a creator's upload token ([`StaffViewer`]) and are refused to the attendee
//! network by the router they are merged into.

pub mod text;

use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequestParts, Path as UrlPath, Query, State,
};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use crate::creators::{self, Creator};
use crate::db::StoreError;
use crate::delivery::links::{self, Refusal};
use crate::delivery::orders::{self, Order, Selection, State as OrderState};
use crate::delivery::policy::Viewer;
use crate::delivery::views::GalleryPage;
use crate::delivery::{self, reads};
use crate::derivatives::Derivative;
use crate::web::admin::AdminSession;
use crate::web::vendor::{self, Vendor};
use crate::web::{shell, AppError, AppJson, AppState, ClientAddr};
use text::Words;

/// Photos on one gallery page: with their markup the page stays well under 15 KB.
pub const PAGE_PHOTOS: usize = 24;

/// Who is asking on a staff route: an admin (session cookie or bearer token), a
/// creator (their upload token as `Authorization: Bearer`), or nobody. A bearer token
/// that is neither answers 401, never anonymous.
pub struct StaffViewer(pub Viewer);

impl FromRequestParts<AppState> for StaffViewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(creator) = creator_of(parts, state).await? {
            return Ok(StaffViewer(Viewer::Creator(creator.id)));
        }
        // The vendor page's session cookie, for reading only (its thumbs): a change
        // by cookie goes through the page's forms, which check its CSRF token.
        if parts.method == axum::http::Method::GET {
            if let Some(session) = crate::web::vendor_page::session_of(parts, state).await? {
                return Ok(StaffViewer(Viewer::Creator(session.creator.id)));
            }
        }
        let admin = <AdminSession as axum::extract::OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        Ok(StaffViewer(match admin {
            Some(_) => Viewer::Admin,
            None => Viewer::Anonymous,
        }))
    }
}

/// The creator whose upload token (`vbu_...`) the request carries as a bearer token;
/// 401 for an upload token that is no creator's. Another bearer token (an admin's
/// session) is not looked up here.
async fn creator_of(parts: &Parts, state: &AppState) -> Result<Option<Creator>, AppError> {
    let Some(token) = vendor::bearer(parts).filter(|t| t.starts_with("vbu_")) else {
        return Ok(None);
    };
    let creator = vendor::creator_by_token(state, token)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(Some(creator))
}

/// The attendee routes (merged with the portal's, open to the attendee network).
pub fn attendee_router() -> Router<AppState> {
    Router::new()
        .route("/portal/gallery", get(page_gallery))
        .route("/portal/mine", get(page_mine))
        .route("/portal/photos/{id}/{derivative}", get(attendee_photo))
        .route("/portal/orders", get(page_orders).post(submit_order))
        .route("/portal/d/{token}", get(page_link))
        .route("/portal/d/{token}/zip", get(download_zip))
        .route("/portal/d/{token}/{photo}", get(download))
        .route("/portal/d/{token}/{photo}/{derivative}", get(link_photo))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
}

/// Largest attendee form: [`orders::MAX_PHOTOS`] ids of up to 19 digits, and room to
/// spare.
const FORM_LIMIT: usize = 16 << 10;

/// The vendor and admin API (staff network only).
pub fn staff_router() -> Router<AppState> {
    Router::new()
        .route("/api/vendor/photos/{id}/public", put(vendor_photo_public))
        .route("/api/vendor/public", put(vendor_default_public))
        .route("/api/admin/photos/{id}/public", put(admin_photo_public))
        .route("/api/vendor/orders", get(vendor_orders))
        .route("/api/vendor/orders/{id}/{action}", post(vendor_decide))
        .route("/api/admin/orders", get(admin_orders))
        .route("/api/admin/downloads", get(admin_downloads))
        .route("/api/admin/orders/{id}/{action}", post(admin_decide))
}

// --- Attendee pages. ---

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
    before: Option<i64>,
}

/// The portal's language choice, and the delivery words in it.
fn words(state: &AppState, headers: &HeaderMap, lang: Option<&str>) -> &'static Words {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    text::for_lang(crate::web::portal::text::choose(lang, accept, &state.config.event.locale).lang)
}

/// The attendee whose pass cookie this is, if any.
async fn attendee(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<crate::consent::Attendee>, AppError> {
    crate::web::portal::current_attendee(state, jar).await
}

const STYLE: &str = "body{font:16px/1.4 system-ui,sans-serif;margin:0;color:#111}main{max-width:60rem;margin:0 auto;padding:.8rem}\
h1{font-size:1.4rem;margin:.3rem 0 .8rem}a{color:#0b4f9c}nav{display:flex;gap:1rem;flex-wrap:wrap;margin:.3rem 0}\
ul.g{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:.4rem}\
ul.g img{width:100%;height:auto;aspect-ratio:4/3;object-fit:cover;display:block;background:#eee}\
ul.g label{display:block}.y{font-size:.85rem;color:#0a6b2d;font-weight:700}.more{display:block;margin:1rem 0;font-weight:700}\
p.hint{color:#444;font-size:.95rem}button{font:inherit;font-weight:700;padding:.7rem 1rem;border-radius:.4rem;border:2px solid #0b4f9c;background:#0b4f9c;color:#fff}\
:focus-visible{outline:3px solid #e07b00;outline-offset:2px}.error{color:#8a1111;font-weight:700}";

/// A delivery page in the portal's shell, never cached.
fn page(w: &Words, title: &str, body: Markup) -> Response {
    let main = html! {
        nav {
            a href={ "/portal/gallery?lang=" (w.lang) } { (w.gallery_title) }
            a href={ "/portal/mine?lang=" (w.lang) } { (w.mine_title) }
            a href={ "/portal?lang=" (w.lang) } { (w.start) }
            @if w.lang == "de" { a href="?lang=en" lang="en" { "English" } } @else { a href="?lang=de" lang="de" { "Deutsch" } }
        }
        h1 { (title) }
        (body)
    };
    shell::respond(
        StatusCode::OK,
        shell::document(w.lang, title, STYLE, main),
        true,
        Some("Accept-Language, Cookie"),
    )
}

/// The thumbs of a gallery page, each linking to its watermarked preview (or, for a
/// photo the attendee has in a confirmed order, to the unwatermarked one), and the
/// link to the next page.
fn grid(w: &Words, base: &str, photos: &reads::GalleryPage, select: bool) -> Markup {
    html! {
        @if photos.photos.is_empty() {
            p { (w.empty) }
        } @else {
            ul.g {
                @for p in &photos.photos {
                    li {
                        a href={ "/portal/photos/" (p.id) "/" (if p.confirmed { "preview" } else { "watermarked" }) } {
                            img src={ "/portal/photos/" (p.id) "/thumb" } width="320" height="240" loading="lazy"
                                alt={ (w.photo_by) " " (p.creator) };
                        }
                        @if p.confirmed { span.y { (w.yours) } }
                        @else if select { label { input type="checkbox" name="photo" value=(p.id); " " (p.creator) } }
                    }
                }
            }
        }
        @if let Some(next) = photos.next {
            a.more href={ (base) "?lang=" (w.lang) "&before=" (next) } { (w.more) }
        }
    }
}

/// `GET /portal/gallery`: the public gallery, for a phone with a pass (the thumbs are
/// a pass holder's: `delivery::policy`); without one, a pointer to the start page
/// rather than a grid of pictures that would not load.
async fn page_gallery(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, q.lang.as_deref());
    if attendee(&state, &jar).await?.is_none() {
        let body = html! {
            p #no-pass { (w.gallery_no_pass) }
            p { a href={ "/portal?lang=" (w.lang) } { "→ /portal" } }
        };
        return Ok(page(w, w.gallery_title, body));
    }
    state
        .gallery_views
        .note(GalleryPage::Public, crate::clock::now());
    let before = q.before;
    let photos = state
        .store
        .read_sql(move |c| reads::public_gallery(c, before, PAGE_PHOTOS))
        .await?;
    Ok(page(
        w,
        w.gallery_title,
        grid(w, "/portal/gallery", &photos, false),
    ))
}

async fn page_mine(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<ClientAddr>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, q.lang.as_deref());
    let Some(attendee) = attendee(&state, &jar).await? else {
        return Ok(page(w, w.mine_title, html! { p { (w.no_pass) } }));
    };
    state
        .gallery_views
        .note(GalleryPage::Mine, crate::clock::now());
    let before = q.before;
    let photos = state
        .store
        .read_sql(move |c| reads::my_photos(c, &attendee.id, before, PAGE_PHOTOS))
        .await?;
    let (jar, token) = crate::web::portal::csrf(&state, jar, client.tls);
    let mut creators: Vec<(i64, &str)> = photos
        .photos
        .iter()
        .filter(|p| !p.confirmed)
        .map(|p| (p.creator_id, p.creator.as_str()))
        .collect();
    creators.sort_unstable();
    creators.dedup();
    let unconfirmed = photos.photos.iter().any(|p| !p.confirmed);
    let body = html! {
        form method="post" action="/portal/orders" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="lang" value=(w.lang);
            (grid(w, "/portal/mine", &photos, true))
            @if unconfirmed {
                p.hint { (w.order_hint) }
                button type="submit" { (w.order_selected) }
                @for (id, name) in &creators {
                    " " button type="submit" name="bundle" value=(id) { (w.order_bundle) " " (name) }
                }
            }
        }
        p { a href={ "/portal/orders?lang=" (w.lang) } { (w.orders_title) } }
    };
    Ok((jar, page(w, w.mine_title, body)).into_response())
}

/// An amount in minor units as shown (two decimals, then the currency).
pub(crate) fn money(minor: u64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

fn state_word(w: &Words, s: OrderState) -> &'static str {
    match s {
        OrderState::Pending => w.pending,
        OrderState::Paid => w.paid,
        OrderState::Free => w.free,
        OrderState::Cancelled => w.cancelled,
    }
}

/// The attendee's orders: code, total, state.
async fn page_orders(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, q.lang.as_deref());
    let Some(attendee) = attendee(&state, &jar).await? else {
        return Ok(page(w, w.orders_title, html! { p { (w.no_pass) } }));
    };
    let list = state
        .store
        .read_sql(move |c| {
            let list = orders::list(c, None, None, Some(&attendee.id), 100)?;
            list.into_iter()
                .map(|o| {
                    let link = match o.state.confirmed() {
                        true => links::of_order(c, o.id)?.filter(|l| l.revoked_at.is_none()),
                        false => None,
                    };
                    Ok((o, link))
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    let body = html! {
        @if list.is_empty() { p { (w.no_orders) } }
        @for (o, link) in &list {
            section.order {
                h2 { code { (o.code) } " · " (money(o.total_minor, &o.currency)) }
                p { (state_word(w, o.state)) " · " (o.photos.len()) " " (w.photos) }
                @if o.state == OrderState::Pending { p.hint { (w.pay_hint) } }
                @if let Some(link) = link {
                    p { a href={ "/portal/d/" (link.token) "?lang=" (w.lang) } { (w.your_link) } }
                }
            }
        }
    };
    Ok(page(w, w.orders_title, body))
}

/// The order form from "my photos": `csrf`, `lang`, any number of `photo` (ids) and
/// `bundle` (creator ids); nothing else. A photo that is not the attendee's refuses
/// the whole form.
async fn submit_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, None);
    let refuse = |w: &'static Words, status: StatusCode| {
        let mut r = page(
            w,
            w.error_title,
            html! { p.error role="alert" { (w.error_form) } },
        );
        *r.status_mut() = status;
        Ok(r)
    };
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return refuse(w, StatusCode::BAD_REQUEST);
    };
    let (mut csrf, mut lang, mut selection) = (String::new(), None, Selection::default());
    for (key, value) in fields {
        let id = value.parse::<i64>().ok().filter(|id| *id > 0);
        match (key.as_str(), id) {
            ("csrf", _) => csrf = value,
            ("lang", _) => lang = Some(value),
            ("photo", Some(id)) => selection.photos.push(id),
            ("bundle", Some(id)) => selection.bundles.push(id),
            _ => return refuse(w, StatusCode::BAD_REQUEST),
        }
    }
    let w = words(&state, &headers, lang.as_deref());
    if !crate::web::portal::csrf_ok(&state, &jar, &csrf) {
        return refuse(w, StatusCode::FORBIDDEN);
    }
    let Some(attendee) = attendee(&state, &jar).await? else {
        return Ok(page(w, w.orders_title, html! { p { (w.no_pass) } }));
    };
    let config = state.config.delivery.clone();
    let placed = state
        .store
        .write(move |tx| {
            orders::place(tx, &attendee.id, &attendee.pseudonym, &selection, &config)
                .map_err(AppError::from)
        })
        .await;
    match placed {
        Ok(_) => Ok(Redirect::to(&format!("/portal/orders?lang={}", w.lang)).into_response()),
        Err(AppError::BadRequest(_)) => refuse(w, StatusCode::BAD_REQUEST),
        Err(e) => Err(e),
    }
}

/// A photo as an attendee (by the pass cookie) or nobody sees it.
async fn attendee_photo(
    State(state): State<AppState>,
    UrlPath((id, derivative)): UrlPath<(i64, String)>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let derivative = Derivative::parse(&derivative).ok_or(AppError::NotFound)?;
    let pass = crate::web::portal::pass_id(&jar);
    // A request like one answered a moment ago needs no database read (`memo`).
    let key = (pass.clone(), id);
    if let Some(found) = state.memo.get(&key) {
        return crate::web::previews::answer(&state, Ok(found), derivative, &headers).await;
    }
    // The pass is looked up on the same read as the photo (one trip to the pool).
    let viewer = move |c: &rusqlite::Connection| {
        Ok(match pass {
            Some(id) => match crate::consent::attendee(c, &id)? {
                Some(a) => Viewer::Attendee(a.id),
                None => Viewer::Anonymous,
            },
            None => Viewer::Anonymous,
        })
    };
    let mark = state.memo.mark();
    let found = crate::web::previews::look_up(&state, viewer, id).await?;
    if let Ok(found) = &found {
        state.memo.put(key, mark, found.clone());
    }
    crate::web::previews::answer(&state, found, derivative, &headers).await
}

// --- Vendor and admin API. ---

/// Body of the public-mark calls: `true`, `false`, or `null` (forget the mark: the
/// creator's default applies).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicMark {
    public: Option<bool>,
}

/// Body of the creator default call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicDefault {
    public: bool,
}

/// `PUT /api/vendor/photos/{id}/public`: the creator marks one of their photos. Another
/// creator's photo and a missing one answer the same 404.
async fn vendor_photo_public(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    UrlPath(id): UrlPath<i64>,
    AppJson(body): AppJson<PublicMark>,
) -> Result<Json<serde_json::Value>, AppError> {
    let actor = format!("creator:{}", creator.id);
    let done = state
        .store
        .write_sql(move |tx| {
            match crate::ingest::photo_by_id(tx, id)? {
                Some(p) if p.creator_id == creator.id => {}
                _ => return Ok(false),
            }
            delivery::set_photo_public(tx, id, body.public, &actor)?;
            Ok(true)
        })
        .await?;
    if !done {
        return Err(AppError::NotFound);
    }
    Ok(Json(json!({ "photo": id, "public": body.public })))
}

/// `PUT /api/vendor/public`: the creator's default for photos they did not mark.
async fn vendor_default_public(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    AppJson(body): AppJson<PublicDefault>,
) -> Result<Json<serde_json::Value>, AppError> {
    let actor = format!("creator:{}", creator.id);
    state
        .store
        .write_sql(move |tx| delivery::set_creator_default(tx, creator.id, body.public, &actor))
        .await?;
    Ok(Json(
        json!({ "creator": creator.id, "public": body.public }),
    ))
}

/// `PUT /api/admin/photos/{id}/public`: the admin marks any photo.
async fn admin_photo_public(
    State(state): State<AppState>,
    _: AdminSession,
    UrlPath(id): UrlPath<i64>,
    AppJson(body): AppJson<PublicMark>,
) -> Result<Json<serde_json::Value>, AppError> {
    let done = state
        .store
        .write_sql(move |tx| {
            if crate::ingest::photo_by_id(tx, id)?.is_none() {
                return Ok(false);
            }
            delivery::set_photo_public(tx, id, body.public, "admin")?;
            Ok(true)
        })
        .await?;
    if !done {
        return Err(AppError::NotFound);
    }
    Ok(Json(json!({ "photo": id, "public": body.public })))
}

/// `?state=pending` etc. on the order lists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    state: Option<String>,
}

fn order_state(q: &OrdersQuery) -> Result<Option<OrderState>, AppError> {
    Ok(match q.state.as_deref() {
        None => None,
        Some("pending") => Some(OrderState::Pending),
        Some("paid") => Some(OrderState::Paid),
        Some("free") => Some(OrderState::Free),
        Some("cancelled") => Some(OrderState::Cancelled),
        Some(other) => return Err(AppError::BadRequest(format!("no order state {other:?}"))),
    })
}

/// What the vendor does to an order.
#[derive(Clone, Copy)]
pub(crate) enum Action {
    /// Move it to this state (confirming or making free issues a link; cancelling
    /// revokes its links).
    Decide(OrderState),
    /// Revoke its links.
    Revoke,
    /// Revoke its links and issue a new one (a confirmed order only).
    Reissue,
}

pub(crate) fn action(name: &str) -> Result<Action, AppError> {
    match name {
        "confirm" => Ok(Action::Decide(OrderState::Paid)),
        "free" => Ok(Action::Decide(OrderState::Free)),
        "cancel" => Ok(Action::Decide(OrderState::Cancelled)),
        "revoke" => Ok(Action::Revoke),
        "reissue" => Ok(Action::Reissue),
        _ => Err(AppError::NotFound),
    }
}

/// `GET /api/vendor/orders?state=`: the creator's orders, newest first.
async fn vendor_orders(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    Query(q): Query<OrdersQuery>,
) -> Result<Json<Vec<Order>>, AppError> {
    let wanted = order_state(&q)?;
    Ok(Json(
        state
            .store
            .read_sql(move |c| orders::list(c, Some(creator.id), wanted, None, 500))
            .await?,
    ))
}

/// `GET /api/admin/orders?state=`: every order, newest first.
async fn admin_orders(
    State(state): State<AppState>,
    _: AdminSession,
    Query(q): Query<OrdersQuery>,
) -> Result<Json<Vec<Order>>, AppError> {
    let wanted = order_state(&q)?;
    Ok(Json(
        state
            .store
            .read_sql(move |c| orders::list(c, None, wanted, None, 500))
            .await?,
    ))
}

/// `POST /api/vendor/orders/{id}/{confirm|free|cancel|revoke|reissue}`: the creator decides one of
/// their orders (another creator's answers 404, like a missing one).
async fn vendor_decide(
    State(state): State<AppState>,
    Vendor(creator): Vendor,
    UrlPath((id, name)): UrlPath<(i64, String)>,
) -> Result<Json<serde_json::Value>, AppError> {
    let to = action(&name)?;
    let decided = decide(
        &state,
        id,
        Some(creator.id),
        to,
        format!("creator:{}", creator.id),
    )
    .await?;
    Ok(decided_json(&state, decided))
}

/// `GET /api/admin/downloads`: download attempts by outcome (`ok`, and each refusal:
/// the failed deliveries the dashboard shows).
async fn admin_downloads(
    State(state): State<AppState>,
    _: AdminSession,
) -> Result<Json<serde_json::Value>, AppError> {
    let outcomes = state.store.read_sql(links::outcomes).await?;
    let failed: i64 = outcomes
        .iter()
        .filter(|(o, _)| o != "ok")
        .map(|(_, n)| n)
        .sum();
    let by_outcome: serde_json::Map<String, serde_json::Value> =
        outcomes.into_iter().map(|(o, n)| (o, n.into())).collect();
    Ok(Json(json!({ "by_outcome": by_outcome, "failed": failed })))
}

/// `POST /api/admin/orders/{id}/{confirm|free|cancel|revoke|reissue}`.
async fn admin_decide(
    State(state): State<AppState>,
    _: AdminSession,
    UrlPath((id, name)): UrlPath<(i64, String)>,
) -> Result<Json<serde_json::Value>, AppError> {
    let action = action(&name)?;
    let decided = decide(&state, id, None, action, "admin".into()).await?;
    Ok(decided_json(&state, decided))
}

pub(crate) async fn decide(
    state: &AppState,
    id: i64,
    creator: Option<i64>,
    action: Action,
    actor: String,
) -> Result<(Order, Option<links::Link>), AppError> {
    let vault = state.vault.clone();
    let config = state.config.delivery.clone();
    let (order, link) = state
        .store
        .write(
            move |tx| -> Result<(Order, Option<links::Link>), AppError> {
                let issue = |tx: &rusqlite::Transaction<'_>, order: &Order| {
                    links::issue(
                        tx,
                        order.id,
                        &order.code,
                        config.link_ttl_secs,
                        config.link_uses,
                        &vault.key_id(),
                        |m| vault.sign(m),
                    )
                };
                match action {
                    Action::Decide(to) => {
                        let order = orders::decide(tx, id, creator, to, &actor)?;
                        if to.confirmed() {
                            let link = issue(tx, &order)?;
                            Ok((order, Some(link)))
                        } else {
                            links::revoke(tx, order.id)?;
                            Ok((order, None))
                        }
                    }
                    Action::Revoke | Action::Reissue => {
                        let order = orders::get(tx, id)?
                            .filter(|o| creator.map_or(true, |c| c == o.creator_id))
                            .ok_or(AppError::NotFound)?;
                        links::revoke(tx, order.id)?;
                        crate::db::audit(tx, &actor, "delivery.link.revoke", &order.code)?;
                        if matches!(action, Action::Revoke) {
                            return Ok((order, None));
                        }
                        if !order.state.confirmed() {
                            return Err(AppError::Conflict(format!(
                                "the order is {}",
                                order.state.as_str()
                            )));
                        }
                        let link = issue(tx, &order)?;
                        Ok((order, Some(link)))
                    }
                }
            },
        )
        .await?;
    if let Some(link) = &link {
        receipt(state, &order, link, &link_url(state, link)).await;
    }
    Ok((order, link))
}

/// The full URL of a download link, as the attendee's page, the receipt and the API
/// give it.
pub(crate) fn link_url(state: &AppState, link: &links::Link) -> String {
    format!("{}/portal/d/{}", state.portal.url(), link.token)
}

/// The API's answer to a decision: the order, and its link when one was issued.
fn decided_json(
    state: &AppState,
    (order, link): (Order, Option<links::Link>),
) -> Json<serde_json::Value> {
    Json(json!({
        "order": order,
        "link": link.as_ref().map(|l| link_url(state, l)),
        "expires_at": link.as_ref().map(|l| l.expires_at),
        "uses": link.as_ref().map(|l| l.uses_allowed),
    }))
}

/// Prints the receipt of a confirmed order when a printer is configured (nothing
/// otherwise); a full queue is logged, not an error of the confirmation.
pub async fn receipt(state: &AppState, order: &Order, link: &links::Link, url: &str) {
    if !state.printer.is_on() {
        return;
    }
    let creator_id = order.creator_id;
    let creator = state
        .store
        .read_sql(move |c| creators::name_of(c, creator_id))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let bytes = delivery::receipt(
        &state.config.event.name,
        &creator,
        order,
        url,
        &utc(link.expires_at),
        link.uses_allowed,
    );
    if let Err(e) = state.printer.submit("receipt", bytes) {
        tracing::warn!(order = %order.code, error = %e, "receipt not printed");
    }
}

/// A time as shown on pages and receipts: `2026-11-30 15:00 UTC`.
pub(crate) fn utc(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

// --- Links. ---

/// The refusal page: a clear message in the phone's language, 410 for a link that
/// existed but no longer delivers, 404 for one that never did.
fn refused(w: &Words, why: Refusal) -> Response {
    let (status, message) = match why {
        Refusal::Tampered | Refusal::OtherBox => (StatusCode::NOT_FOUND, w.refused_tampered),
        Refusal::NotInOrder => (StatusCode::NOT_FOUND, w.refused_not_in_order),
        Refusal::Expired => (StatusCode::GONE, w.refused_expired),
        Refusal::UsedUp => (StatusCode::GONE, w.refused_used_up),
        Refusal::Revoked => (StatusCode::GONE, w.refused_revoked),
        Refusal::Withdrawn => (StatusCode::GONE, w.refused_withdrawn),
    };
    let mut r = page(
        w,
        w.refused_title,
        html! { p.error role="alert" data-refusal=(why.as_str()) { (message) } },
    );
    *r.status_mut() = status;
    r
}

/// The keys a link of this box may be signed by: the key in use and every key of the
/// box's chain, so links issued before a `keys rotate` keep working until they expire.
/// A chain that cannot be read leaves the key in use alone (and is logged).
fn link_keys(state: &AppState) -> Vec<(String, ed25519_dalek::VerifyingKey)> {
    let current = state.vault.key_id();
    let mut keys = vec![(current.clone(), state.vault.verifying_key())];
    match crate::identity::chain_keys(&state.config.storage.data_dir) {
        Ok(chain) => keys.extend(
            chain
                .into_iter()
                .filter(|k| k.key_id != current)
                .map(|k| (k.key_id, k.key)),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "the key chain could not be read: links are checked against the key in use only")
        }
    }
    keys
}

/// Verifies `token` (signature, this box's key, the box's record) at `at`; a refusal
/// is recorded as a failed delivery.
async fn open_link(
    state: &AppState,
    token: &str,
    photo: Option<i64>,
) -> Result<Result<(links::Link, Order), Refusal>, AppError> {
    let keys = link_keys(state);
    let token = token.to_string();
    state
        .store
        .write(move |tx| -> Result<_, AppError> {
            let refuse = |tx: &rusqlite::Transaction<'_>, link: Option<i64>, why: Refusal| {
                links::record(tx, link, photo, 0, why.as_str()).map(|()| Err(why))
            };
            let claims = match links::verify(&token, &keys) {
                Ok(c) => c,
                Err(why) => return Ok(refuse(tx, None, why)?),
            };
            let link = match links::check(tx, &claims, crate::clock::now())? {
                Ok(link) => link,
                Err(why) => return Ok(refuse(tx, Some(claims.link), why)?),
            };
            let order = orders::get(tx, link.order_id)?.ok_or(AppError::NotFound)?;
            if photo.is_some_and(|p| !order.photos.contains(&p)) {
                return Ok(refuse(tx, Some(link.id), Refusal::NotInOrder)?);
            }
            Ok(Ok((link, order)))
        })
        .await
}

/// `GET /portal/d/{token}`: the order's photos, each with its download (viewing the
/// page spends no use). The ZIP of a multi-photo order is added beside the list.
async fn page_link(
    State(state): State<AppState>,
    UrlPath(token): UrlPath<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, q.lang.as_deref());
    let (link, order) = match open_link(&state, &token, None).await? {
        Ok(v) => v,
        Err(why) => return Ok(refused(w, why)),
    };
    let until = utc(link.expires_at);
    let body = html! {
        p { code { (order.code) } " · " (link.uses_allowed - link.uses) " " (w.uses_left) " · " (w.valid_until) " " (until) }
        @if order.photos.len() > 1 {
            p { a.zip href={ "/portal/d/" (token) "/zip" } download { (w.download_all) " (" (order.photos.len()) " " (w.photos) ")" } }
        }
        p.small { (w.uses_explained) }
        ul.g {
            @for p in &order.photos {
                li {
                    a href={ "/portal/d/" (token) "/" (p) } download {
                        img src={ "/portal/d/" (token) "/" (p) "/thumb" } width="320" height="240" loading="lazy" alt=(w.download);
                        (w.download)
                    }
                }
            }
        }
    };
    Ok(page(w, w.link_title, body))
}

/// `GET /portal/d/{token}/{photo}/{thumb|preview}`: a photo of the link's order as its
/// holder sees it, on any device (no pass needed), spending no use; only the full photo
/// counts.
async fn link_photo(
    State(state): State<AppState>,
    UrlPath((token, photo_id, derivative)): UrlPath<(String, i64, String)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, q.lang.as_deref());
    let derivative = match crate::derivatives::Derivative::parse(&derivative) {
        Some(
            d @ (crate::derivatives::Derivative::Thumb | crate::derivatives::Derivative::Preview),
        ) => d,
        _ => return Err(AppError::NotFound),
    };
    let photo = match checked_link_photo(&state, &token, photo_id, derivative).await? {
        Ok((_, photo)) => photo,
        Err(why) => return Ok(refused(w, why)),
    };
    let mut response =
        crate::web::previews::serve_derivative(&state, &photo, derivative, &headers, false).await?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// A photo of a link's order, for a route serving `derivative` through the link: the
/// link checked (an attempt it refuses is recorded), the photo looked up, and the
/// policy asked like on every other route (a valid link of this photo's order).
/// `Ok(Err(why))` is a refusal to show as a page; 404 when the photo is gone or the
/// policy says no.
async fn checked_link_photo(
    state: &AppState,
    token: &str,
    photo_id: i64,
    derivative: crate::derivatives::Derivative,
) -> Result<Result<(links::Link, crate::ingest::Photo), Refusal>, AppError> {
    let (link, _) = match open_link(state, token, Some(photo_id)).await? {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    let photo = state
        .store
        .read(move |c| crate::ingest::photo_by_id(c, photo_id).map_err(StoreError::from))
        .await?
        .ok_or(AppError::NotFound)?;
    let facts = crate::delivery::policy::PhotoFacts {
        creator_id: photo.creator_id,
        ..Default::default()
    };
    if !crate::delivery::policy::may_view(&Viewer::Anonymous, &facts, derivative, true) {
        return Err(AppError::NotFound);
    }
    Ok(Ok((link, photo)))
}

/// `GET /portal/d/{token}/{photo}`: the full photo, as itself (`Content-Disposition:
/// attachment`, its type), spending one use; every attempt is recorded.
async fn download(
    State(state): State<AppState>,
    UrlPath((token, photo_id)): UrlPath<(String, i64)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let w = words(&state, &headers, q.lang.as_deref());
    let (link, photo) = match checked_link_photo(
        &state,
        &token,
        photo_id,
        crate::derivatives::Derivative::Full,
    )
    .await?
    {
        Ok(v) => v,
        Err(why) => return Ok(refused(w, why)),
    };
    let bytes = state.previews.full_plan(&photo).await?.len();
    let spent = state
        .store
        .write_sql(move |tx| links::spend(tx, link.id, Some(photo_id), bytes, crate::clock::now()))
        .await?;
    if !spent {
        return Ok(refused(w, Refusal::UsedUp));
    }
    // Every download is a whole new download: no 304 from a validator.
    let mut headers = headers;
    headers.remove(header::IF_NONE_MATCH);
    let mut response = crate::web::previews::serve_derivative(
        &state,
        &photo,
        crate::derivatives::Derivative::Full,
        &headers,
        false,
    )
    .await?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /portal/d/{token}/zip`: every photo of the link's order in one ZIP (STORE,
/// ZIP64), each entry byte for byte the photo's own download (metadata scrubbed),
/// streamed as it is written with its exact `Content-Length`, spending one use for
/// the whole archive. Before each file the link is asked again
/// ([`links::still_delivers`]: revoked, order cancelled, attendee erased) along with
/// the view policy; a refusal mid-way cuts the archive short (no central directory,
/// so no unzip tool takes it for whole) and is recorded. A photo of the order that is
/// gone from the box is left out. Ranges are not offered (`Accept-Ranges: none`): a
/// retry is a new download.
async fn download_zip(
    State(state): State<AppState>,
    UrlPath(token): UrlPath<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    use crate::delivery::zip::{entry_name, Archive, Entry};
    let w = words(&state, &headers, q.lang.as_deref());
    let (link, order) = match open_link(&state, &token, None).await? {
        Ok(v) => v,
        Err(why) => return Ok(refused(w, why)),
    };
    let event = match state.config.event.name.trim() {
        "" => "venuebox",
        name => name,
    };
    let mut entries = Vec::with_capacity(order.photos.len());
    let mut ids = Vec::with_capacity(order.photos.len());
    for &photo_id in &order.photos {
        let Some(photo) = state
            .store
            .read(move |c| crate::ingest::photo_by_id(c, photo_id).map_err(StoreError::from))
            .await?
        else {
            continue;
        };
        let facts = crate::delivery::policy::PhotoFacts {
            creator_id: photo.creator_id,
            ..Default::default()
        };
        let full = crate::derivatives::Derivative::Full;
        if !crate::delivery::policy::may_view(&Viewer::Anonymous, &facts, full, true) {
            continue;
        }
        let plan = state.previews.full_plan(&photo).await?;
        let name = entry_name(event, photo.id, plan.ext);
        let path = state.previews.source(&photo.sha256);
        entries.push(Entry::planned(name, path, plan, photo.received_at));
        ids.push(photo.id);
    }
    if entries.is_empty() {
        return Err(AppError::NotFound);
    }
    let archive = Archive::new(entries);
    let len = archive.len();
    let link_id = link.id;
    let spent = state
        .store
        .write_sql(move |tx| links::spend(tx, link_id, None, len, crate::clock::now()))
        .await?;
    if !spent {
        return Ok(refused(w, Refusal::UsedUp));
    }
    let store = state.store.clone();
    let mut next = ids.into_iter();
    let body = archive.stream(move |_entry: &Entry| {
        let store = store.clone();
        let photo = next.next();
        async move {
            let verdict = store
                .write_sql(move |tx| {
                    let verdict = links::still_delivers(tx, link_id)?;
                    if let Err(why) = verdict {
                        links::record(tx, Some(link_id), photo, 0, why.as_str())?;
                    }
                    Ok(verdict)
                })
                .await;
            match verdict {
                Ok(Ok(())) => true,
                Ok(Err(why)) => {
                    tracing::info!(link = link_id, refusal = why.as_str(), "a ZIP download was cut short");
                    false
                }
                Err(e) => {
                    tracing::warn!(link = link_id, error = %e, "a ZIP download was cut short: the link could not be checked");
                    false
                }
            }
        }
    });
    let file_name = crate::delivery::zip::safe_name(&format!("{event}-{}.zip", order.code));
    let mut response = Response::new(axum::body::Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("none"),
    );
    h.insert(header::CONTENT_DISPOSITION, content_disposition(&file_name));
    Ok(response)
}

/// `attachment` with `file_name`: an ASCII `filename` (non-ASCII as `_`, quotes and
/// backslashes too) and the exact name as RFC 8187 `filename*` (RFC 6266, section 4.3).
fn content_disposition(file_name: &str) -> header::HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(file_name, percent_encoding::NON_ALPHANUMERIC);
    header::HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| header::HeaderValue::from_static("attachment"))
}
