//! The organiser's admin pages (issue 16, item 5), server-rendered with maud (every
//! value escaped; no script), behind the admin session (`AdminPage` for pages,
//! `AdminForm` for forms: the session's CSRF token in the field `csrf`, compared in
//! constant time, as every cookie-authenticated admin post):
//!
//! - `/admin/creators`: every creator, disabled ones too, with their FTP user; add one
//!   (`POST /admin/creators`, in `web::admin`), disable or enable one
//!   (`POST /admin/creators/{id}/disable|enable`: their token, FTP login and page
//!   sessions stop at once; their photos stay), and give one a new upload token
//!   (`POST /admin/creators/{id}/token`: shown once; the old token and the sessions it
//!   opened end).
//! - `/admin/event`: the event's name, dates and locale, checked as the config file's
//!   `[event]` is (`web::admin::save_event`).
//! - `/admin/prices`: the prices of a photo and of the bundle, the organiser's share,
//!   and each creator's own prices (`event::set_prices`, over the config file's
//!   `[delivery]`, checked by `Config::validate` as the file is); orders placed from
//!   then on are priced with them (`event::delivery_in_force`).
//! - `/admin/audit`: the audit log filtered by actor, action (each a prefix) and time
//!   (UTC), newest first; `/admin/audit.csv` the same rows as CSV (the `csv` crate),
//!   with cells a spreadsheet would run as a formula defused (OWASP, "CSV Injection").
//!
//! Staff network only, like every admin route (`web::app`).

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth;
use crate::config::DeliveryConfig;
use crate::creators::{self, CreatorListing};
use crate::db::{self, AuditEntry, AuditFilter, StoreError};
use crate::event::{self, Event, PriceSetting};
use crate::web::admin::{format_time, html_response, nav, page, AdminForm, AdminPage};
use crate::web::delivery::{money, utc};
use crate::web::{AppError, AppState};

/// Audit entries on one page.
pub const AUDIT_SHOWN: u32 = 200;
/// Audit entries in one CSV export: the whole log of an event, bounded.
pub const AUDIT_EXPORT_MAX: u32 = 100_000;

/// The pages' routes (merged with the admin routes: not on the attendee network).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/creators", get(page_creators))
        .route("/admin/creators/{id}/{action}", post(submit_creator))
        .route("/admin/event", get(page_event).post(submit_event))
        .route("/admin/prices", get(page_prices).post(submit_prices))
        .route("/admin/prices/{creator}", post(submit_creator_prices))
        .route("/admin/audit", get(page_audit))
        .route("/admin/audit.csv", get(export_audit))
}

// --- Creators ---

/// A secret or outcome to show once at the top of the creators page.
enum Shown {
    Nothing,
    Token(String, String),
    Done(&'static str),
}

async fn creators_page(
    state: &AppState,
    csrf: &str,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, AppError> {
    let list = state
        .store
        .read(|c| creators::list_all(c).map_err(StoreError::from))
        .await?;
    Ok(html_response(
        status,
        page("Creators", creators_markup(csrf, &list, shown)),
    ))
}

fn creators_markup(csrf: &str, list: &[CreatorListing], shown: Shown) -> Markup {
    html! {
        h1 { "Creators" }
        (nav())
        @match &shown {
            Shown::Token(name, token) => section.notice role="status" #new-token {
                p { "New upload token of " strong { (name) } " (shown once; their old token and its sessions have ended):" }
                p { code #token { (token) } }
            },
            Shown::Done(what) => p.notice role="status" { (what) },
            Shown::Nothing => {},
        }
        @if list.is_empty() { p { "No creators yet." } } @else {
            div.wide { table #creators {
                tr { th { "Creator" } th {} }
                @for c in list {
                    tr.disabled[c.disabled_at.is_some()] data-creator=(c.creator.id) {
                        td {
                            span.name { (c.creator.name) } @if c.disabled_at.is_some() { " (disabled)" } br;
                            small { "added " (utc(c.creator.created_at)) " · FTP user "
                                @match &c.ftp_user { Some(u) => code { (u) }, None => "none" } }
                        }
                        td.actions {
                            @if c.disabled_at.is_some() {
                                (button(csrf, c.creator.id, "enable", "Enable", false))
                            } @else {
                                (button(csrf, c.creator.id, "token", "New upload token", true))
                                (button(csrf, c.creator.id, "disable", "Disable", true))
                            }
                        }
                    }
                }
            } }
        }
        form method="post" action="/admin/creators" {
            input type="hidden" name="csrf" value=(csrf);
            label for="name" { "New creator name" }
            input id="name" name="name" required maxlength="64";
            button type="submit" { "Add creator" }
        }
    }
}

fn button(csrf: &str, id: i64, action: &str, label: &str, quiet: bool) -> Markup {
    html! {
        form method="post" action={ "/admin/creators/" (id) "/" (action) } {
            input type="hidden" name="csrf" value=(csrf);
            button.quiet[quiet] type="submit" { (label) }
        }
    }
}

async fn page_creators(
    State(state): State<AppState>,
    AdminPage(session): AdminPage,
) -> Result<Response, AppError> {
    creators_page(&state, &session.csrf_token, Shown::Nothing, StatusCode::OK).await
}

#[derive(Deserialize)]
struct Nothing {}

async fn submit_creator(
    State(state): State<AppState>,
    UrlPath((id, action)): UrlPath<(i64, String)>,
    form: AdminForm<Nothing>,
) -> Result<Response, AppError> {
    let csrf = form.session.csrf_token.clone();
    let shown = match action.as_str() {
        "disable" | "enable" => {
            let disable = action == "disable";
            let changed = state
                .store
                .write(move |tx| {
                    let changed = creators::set_disabled(tx, id, disable, "admin")?;
                    if changed && disable {
                        auth::end_creator_sessions(tx, id, None)?;
                    }
                    Ok::<_, StoreError>(changed)
                })
                .await?;
            if !changed {
                return Err(AppError::NotFound);
            }
            Shown::Done(if disable {
                "Creator disabled: their upload token, FTP login and sessions no longer work."
            } else {
                "Creator enabled again."
            })
        }
        "token" => {
            let made = state
                .store
                .write(move |tx| {
                    let token = creators::reset_upload_token(tx, id, "admin")?;
                    if token.is_some() {
                        auth::end_creator_sessions(tx, id, None)?;
                    }
                    let name = creators::name_of(tx, id)?.unwrap_or_default();
                    Ok::<_, StoreError>(token.map(|t| (name, t)))
                })
                .await?
                .ok_or(AppError::NotFound)?;
            Shown::Token(made.0, made.1)
        }
        _ => return Err(AppError::NotFound),
    };
    creators_page(&state, &csrf, shown, StatusCode::OK).await
}

// --- Event ---

fn event_markup(csrf: &str, event: &Event, error: Option<&str>, saved: bool) -> Markup {
    html! {
        h1 { "Event" }
        (nav())
        @if saved { p.notice role="status" { "Saved." } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/admin/event" #event {
            input type="hidden" name="csrf" value=(csrf);
            label for="name" { "Name (shown to attendees and on the watermark)" }
            input id="name" name="name" required maxlength="200" value=(event.name);
            label for="starts_on" { "First day" }
            input id="starts_on" name="starts_on" type="date" value=[event.starts_on.as_deref()];
            label for="ends_on" { "Last day" }
            input id="ends_on" name="ends_on" type="date" value=[event.ends_on.as_deref()];
            label for="locale" { "Default language of the portal (en, de, …)" }
            input id="locale" name="locale" required maxlength="35" value=(event.locale);
            button type="submit" { "Save" }
        }
    }
}

async fn current_event(state: &AppState) -> Result<Event, AppError> {
    let stored = state
        .store
        .read(|c| event::event(c).map_err(StoreError::from))
        .await?;
    let c = &state.config.event;
    Ok(stored.unwrap_or_else(|| Event {
        name: c.name.clone(),
        starts_on: c.starts_on.clone(),
        ends_on: c.ends_on.clone(),
        locale: c.locale.clone(),
    }))
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn page_event(
    State(state): State<AppState>,
    AdminPage(session): AdminPage,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    let event = current_event(&state).await?;
    Ok(html_response(
        StatusCode::OK,
        page(
            "Event",
            event_markup(&session.csrf_token, &event, None, q.saved.is_some()),
        ),
    ))
}

#[derive(Deserialize)]
struct EventForm {
    name: String,
    starts_on: Option<String>,
    ends_on: Option<String>,
    locale: String,
}

/// An empty date field is no date.
fn date(field: Option<String>) -> Option<String> {
    field
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
}

async fn submit_event(
    State(state): State<AppState>,
    form: AdminForm<EventForm>,
) -> Result<Response, AppError> {
    let f = form.form;
    let event = Event {
        name: f.name.trim().to_string(),
        starts_on: date(f.starts_on),
        ends_on: date(f.ends_on),
        locale: f.locale.trim().to_string(),
    };
    match crate::web::admin::save_event(&state, event.clone()).await {
        Ok(_) => Ok(Redirect::to("/admin/event?saved=1").into_response()),
        Err(AppError::BadRequest(why)) => Ok(html_response(
            StatusCode::BAD_REQUEST,
            page(
                "Event",
                event_markup(&form.session.csrf_token, &event, Some(&why), false),
            ),
        )),
        Err(e) => Err(e),
    }
}

// --- Prices and split ---

fn prices_markup(
    csrf: &str,
    file: &DeliveryConfig,
    in_force: &DeliveryConfig,
    settings: &std::collections::BTreeMap<i64, PriceSetting>,
    list: &[CreatorListing],
    error: Option<&str>,
    saved: bool,
) -> Markup {
    let cur = &in_force.currency;
    let own = settings.get(&0).cloned().unwrap_or_default();
    let example = crate::delivery::orders::split(in_force.photo_price, in_force.organiser_percent);
    html! {
        h1 { "Prices and split" }
        (nav())
        @if saved { p.notice role="status" { "Saved: orders placed from now on use these prices." } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        p { "Prices are in minor units of " (cur) " (cents: 500 is " (money(500, cur)) "). Leave a field empty to use the configuration file's value (shown as the placeholder). Orders already placed keep their prices." }
        form method="post" action="/admin/prices" #event-prices {
            input type="hidden" name="csrf" value=(csrf);
            label for="photo_price" { "One photo" }
            input #photo_price name="photo_price" inputmode="numeric" maxlength="9" placeholder=(file.photo_price) value=[own.photo_price];
            label for="bundle_price" { "Bundle (all of an attendee's photos from one creator)" }
            input #bundle_price name="bundle_price" inputmode="numeric" maxlength="9" placeholder=(file.bundle_price) value=[own.bundle_price];
            label for="organiser_percent" { "Organiser's share, percent (the creator gets the rest)" }
            input #organiser_percent name="organiser_percent" inputmode="numeric" maxlength="3" placeholder=(file.organiser_percent) value=[own.organiser_percent];
            button type="submit" { "Save" }
        }
        p #in-force { "In force: a photo " (money(in_force.photo_price, cur)) ", a bundle " (money(in_force.bundle_price, cur))
            "; of a photo the creator gets " (money(example.0, cur)) " and the organiser " (money(example.1, cur)) "." }
        h2 { "Each creator's own prices" }
        div.wide { table #creator-prices {
            tr { th { "Creator" } th { "Photo" } th { "Bundle" } th {} }
            @for c in list.iter().filter(|c| c.disabled_at.is_none()) {
                @let (photo, bundle) = in_force.prices(&c.creator.name);
                @let mine = settings.get(&c.creator.id).cloned().unwrap_or_default();
                @let form_id = format!("p{}", c.creator.id);
                tr data-creator=(c.creator.id) {
                    td { (c.creator.name) br; small { (money(photo, cur)) " · " (money(bundle, cur)) } }
                    td { input form=(form_id) name="photo_price" inputmode="numeric" maxlength="9" size="6" aria-label={ "Photo price of " (c.creator.name) } value=[mine.photo_price]; }
                    td { input form=(form_id) name="bundle_price" inputmode="numeric" maxlength="9" size="6" aria-label={ "Bundle price of " (c.creator.name) } value=[mine.bundle_price]; }
                    td {
                        form #(form_id) method="post" action={ "/admin/prices/" (c.creator.id) } {
                            input type="hidden" name="csrf" value=(csrf);
                            button.quiet type="submit" { "Save" }
                        }
                    }
                }
            }
        } }
    }
}

async fn render_prices(
    state: &AppState,
    csrf: &str,
    error: Option<&str>,
    saved: bool,
    status: StatusCode,
) -> Result<Response, AppError> {
    let file = state.config.delivery.clone();
    let (in_force, settings, list) = {
        let file = file.clone();
        state
            .store
            .read(move |c| {
                let settings = event::price_settings(c)?;
                let in_force = event::overlay(c, &file, &settings)?;
                Ok::<_, StoreError>((in_force, settings, creators::list_all(c)?))
            })
            .await?
    };
    Ok(html_response(
        status,
        page(
            "Prices and split",
            prices_markup(csrf, &file, &in_force, &settings, &list, error, saved),
        ),
    ))
}

async fn page_prices(
    State(state): State<AppState>,
    AdminPage(session): AdminPage,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    render_prices(
        &state,
        &session.csrf_token,
        None,
        q.saved.is_some(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct PricesForm {
    photo_price: Option<String>,
    bundle_price: Option<String>,
    organiser_percent: Option<String>,
}

/// A number field: empty is `None`; anything but digits is an error naming `what`.
fn number<T: std::str::FromStr>(field: Option<&str>, what: &str) -> Result<Option<T>, String> {
    match field.map(str::trim).filter(|f| !f.is_empty()) {
        None => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{what}: {v:?} is too large")),
        Some(v) => Err(format!("{what}: {v:?} is not a whole number")),
    }
}

fn setting_of(form: &PricesForm) -> Result<PriceSetting, String> {
    Ok(PriceSetting {
        photo_price: number(form.photo_price.as_deref(), "photo price")?,
        bundle_price: number(form.bundle_price.as_deref(), "bundle price")?,
        organiser_percent: number(form.organiser_percent.as_deref(), "organiser's share")?,
    })
}

/// Stores `setting` for `creator` (0: the event) if the prices it puts in force pass
/// the config file's checks (`Config::validate`, its `delivery.` keys); else the
/// problems, by key. Audited as `prices.update`.
async fn save_prices(
    state: &AppState,
    creator: i64,
    setting: PriceSetting,
) -> Result<Result<(), String>, AppError> {
    let config = (*state.config).clone();
    state
        .store
        .write(move |tx| -> Result<Result<(), String>, AppError> {
            if creator != 0 && creators::name_of(tx, creator)?.is_none() {
                return Err(AppError::NotFound);
            }
            let mut settings = event::price_settings(tx)?;
            settings.insert(creator, setting.clone());
            let mut proposed = config;
            proposed.delivery = event::overlay(tx, &proposed.delivery, &settings)?;
            let issues: Vec<String> = proposed
                .validate()
                .into_iter()
                .filter(|i| i.key.starts_with("delivery."))
                .map(|i| i.to_string())
                .collect();
            if !issues.is_empty() {
                return Ok(Err(issues.join("; ")));
            }
            event::set_prices(tx, creator, &setting)?;
            let detail = format!(
                "{} photo={:?} bundle={:?} organiser_percent={:?}",
                if creator == 0 {
                    "event".to_string()
                } else {
                    format!("creator:{creator}")
                },
                setting.photo_price,
                setting.bundle_price,
                setting.organiser_percent
            );
            db::audit(tx, "admin", "prices.update", &detail)?;
            Ok(Ok(()))
        })
        .await
}

async fn prices_answer(
    state: &AppState,
    csrf: &str,
    creator: i64,
    setting: Result<PriceSetting, String>,
) -> Result<Response, AppError> {
    let outcome = match setting {
        Ok(setting) => save_prices(state, creator, setting).await?,
        Err(why) => Err(why),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/prices?saved=1").into_response()),
        Err(why) => render_prices(state, csrf, Some(&why), false, StatusCode::BAD_REQUEST).await,
    }
}

async fn submit_prices(
    State(state): State<AppState>,
    form: AdminForm<PricesForm>,
) -> Result<Response, AppError> {
    let setting = setting_of(&form.form);
    prices_answer(&state, &form.session.csrf_token, 0, setting).await
}

async fn submit_creator_prices(
    State(state): State<AppState>,
    UrlPath(creator): UrlPath<i64>,
    form: AdminForm<PricesForm>,
) -> Result<Response, AppError> {
    if creator <= 0 {
        return Err(AppError::NotFound);
    }
    // A creator's row has no split of its own: the event's applies.
    let setting = setting_of(&form.form).map(|s| PriceSetting {
        organiser_percent: None,
        ..s
    });
    prices_answer(&state, &form.session.csrf_token, creator, setting).await
}

// --- Audit log ---

/// The audit filter's fields as the page's form sends them.
#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (an `<input type="datetime-local">`), UTC.
    since: Option<String>,
    until: Option<String>,
}

/// A time field in UTC: `YYYY-MM-DD` (midnight), `YYYY-MM-DDTHH:MM` or with `:SS`.
fn parse_time(field: &str) -> Option<i64> {
    use time::macros::format_description;
    let f = field.trim();
    let dt = if f.len() == 10 {
        time::Date::parse(f, format_description!("[year]-[month]-[day]"))
            .ok()?
            .midnight()
    } else if f.len() == 16 {
        time::PrimitiveDateTime::parse(
            f,
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        )
        .ok()?
    } else {
        time::PrimitiveDateTime::parse(
            f,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .ok()?
    };
    Some(dt.assume_utc().unix_timestamp())
}

impl AuditQuery {
    /// The filter, or what in the fields is not understood.
    fn filter(&self) -> Result<AuditFilter, String> {
        let text = |f: &Option<String>| {
            f.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(100).collect::<String>())
        };
        let time = |f: &Option<String>, what: &str| match f.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => parse_time(v)
                .map(Some)
                .ok_or_else(|| format!("{what}: {v:?} is not a date (YYYY-MM-DD, or with THH:MM)")),
        };
        Ok(AuditFilter {
            actor: text(&self.actor),
            action: text(&self.action),
            since: time(&self.since, "from")?,
            until: time(&self.until, "until")?,
        })
    }

    /// The query string of these fields (for the CSV link), percent-encoded.
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("actor", self.actor.as_deref().unwrap_or("")),
            ("action", self.action.as_deref().unwrap_or("")),
            ("since", self.since.as_deref().unwrap_or("")),
            ("until", self.until.as_deref().unwrap_or("")),
        ])
        .unwrap_or_default()
    }
}

async fn audit_rows(
    state: &AppState,
    filter: AuditFilter,
    limit: u32,
) -> Result<Vec<AuditEntry>, AppError> {
    Ok(state
        .store
        .read(move |c| db::audit_filtered(c, &filter, limit).map_err(StoreError::from))
        .await?)
}

async fn page_audit(
    State(state): State<AppState>,
    AdminPage(_): AdminPage,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let (rows, error) = match q.filter() {
        Ok(filter) => (audit_rows(&state, filter, AUDIT_SHOWN).await?, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let value = |f: &Option<String>| f.clone().unwrap_or_default();
    let body = html! {
        h1 { "Audit log" }
        (nav())
        form method="get" action="/admin/audit" #audit-filter {
            div.filters {
                div { label for="actor" { "Who (starts with)" } input #actor name="actor" maxlength="100" placeholder="admin, creator:3, client" value=(value(&q.actor)); }
                div { label for="action" { "What (starts with)" } input #action name="action" maxlength="100" placeholder="creator., delivery." value=(value(&q.action)); }
                div { label for="since" { "From (UTC)" } input #since name="since" type="datetime-local" value=(value(&q.since)); }
                div { label for="until" { "Until (UTC)" } input #until name="until" type="datetime-local" value=(value(&q.until)); }
            }
            button type="submit" { "Filter" }
            " " a #csv href={ "/admin/audit.csv?" (q.query_string()) } { "Export as CSV" }
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        p { (rows.len()) @if rows.len() as u32 == AUDIT_SHOWN { "+ (the newest " (AUDIT_SHOWN) "; the CSV has them all)" } " entries, newest first." }
        div.wide { table #audit {
            tr { th { "When (UTC)" } th { "Who" } th { "What" } th { "Detail" } }
            @for e in &rows {
                tr { td { (utc(e.at)) } td.actor { (e.actor) } td { (e.action) } td { (e.detail) } }
            }
        } }
    };
    Ok(html_response(StatusCode::OK, page("Audit log", body)))
}

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab, CR first)
/// gets a leading `'`, as OWASP's "CSV Injection" page advises; the rest as is.
fn defused(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The CSV of `rows`: `at` (RFC 3339, UTC), `actor`, `action`, `detail`.
pub fn audit_csv(rows: &[AuditEntry]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["at", "actor", "action", "detail"])?;
    for e in rows {
        out.write_record([
            format_time(e.at).as_str(),
            &defused(&e.actor),
            &defused(&e.action),
            &defused(&e.detail),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

async fn export_audit(
    State(state): State<AppState>,
    AdminPage(_): AdminPage,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let filter = q.filter().map_err(AppError::BadRequest)?;
    let rows = audit_rows(&state, filter, AUDIT_EXPORT_MAX).await?;
    let body = audit_csv(&rows).map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"venuebox-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_quotes_what_needs_it_and_defuses_formulas() {
        let rows = vec![
            AuditEntry {
                at: 0,
                actor: "admin".into(),
                action: "creator.add".into(),
                detail: "Studio \"Nord\", Berlin\nline two".into(),
            },
            AuditEntry {
                at: 60,
                actor: "admin".into(),
                action: "creator.add".into(),
                detail: "=HYPERLINK(\"http://x\")".into(),
            },
        ];
        let csv = String::from_utf8(audit_csv(&rows).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let back: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&back[0][3], "Studio \"Nord\", Berlin\nline two");
        assert_eq!(&back[0][0], "1970-01-01T00:00:00Z");
        assert_eq!(&back[1][3], "'=HYPERLINK(\"http://x\")");
    }

    #[test]
    fn audit_times_are_read_as_utc() {
        assert_eq!(parse_time("1970-01-02"), Some(86_400));
        assert_eq!(parse_time("1970-01-01T01:00"), Some(3_600));
        assert_eq!(parse_time("1970-01-01T00:00:30"), Some(30));
        assert_eq!(parse_time("yesterday"), None);
    }
}
