//! The creator's photos as they arrive (issue 16, item 3): `GET /vendor/photos`, the
//! newest first with where each one's preview stands, explained in a vendor's words
//! (`derivatives::explain`: "Damaged file: send it again", never the renderer's
//! internal error), how it arrived (camera FTP, the uploader, an import), and the
//! attendees it is tagged to. The page reloads itself every 10 s (a `<meta refresh>`:
//! the pages run no script), so photos appear as the camera sends them.
//!
//! Behind the vendor session (`VendorSession`): only the logged-in creator's photos
//! (`derivatives::reads::photos_of_creator` filters by creator), and their thumbs come
//! from `/photos/{id}/thumb`, which the one view policy answers for the photo's own
//! creator only. Staff network only, like every vendor route.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use crate::db::StoreError;
use crate::delivery::reads;
use crate::delivery::tagging;
use crate::derivatives::{self, reads::photos_of_creator};
use crate::web::delivery::utc;
use crate::web::vendor_page::{page, respond, VendorSession};
use crate::web::{AppError, AppState};

/// Photos listed on the page: the newest ones; older ones are in the creator's
/// exports, not on a phone screen.
pub const SHOWN: u32 = 100;

/// Seconds between the page's reloads.
const REFRESH_SECS: u32 = 10;

/// The page's route (merged with the vendor routes: not on the attendee network).
pub fn router() -> Router<AppState> {
    Router::new().route("/vendor/photos", get(page_photos))
}

/// What a source is called on the page.
fn source_words(source: &str) -> &str {
    match source {
        "ftp" => "camera (FTP)",
        "tus" => "uploader",
        "import" => "import",
        other => other,
    }
}

async fn page_photos(
    State(state): State<AppState>,
    session: VendorSession,
) -> Result<Response, AppError> {
    let creator = session.creator.id;
    let (photos, tags) = state
        .store
        .read(move |c| {
            let photos = photos_of_creator(c, creator, SHOWN)?;
            let tags = reads::tags_of_creator(c, creator, i64::MAX, 4 * SHOWN)?;
            Ok::<_, StoreError>((photos, tags))
        })
        .await?;
    let waiting = photos.iter().filter(|p| p.state.is_none()).count();
    let problems = photos
        .iter()
        .filter(|p| {
            !derivatives::explain(
                p.state.as_deref(),
                p.reason.as_deref(),
                state.previews.is_waiting_for_space(p.id),
            )
            .fine
        })
        .count();
    let body = html! {
        meta http-equiv="refresh" content=(REFRESH_SECS);
        nav.links { a href="/vendor" { "← Vendor page" } " · " a href="/vendor/cameras" { "Cameras and phone" } }
        h1 { "Your photos" }
        p #summary {
            (photos.len()) " shown (newest first)"
            @if waiting > 0 { " · " (waiting) " waiting for a preview" }
            @if problems > 0 { " · " strong.error { (problems) " need a look" } }
            ". This page refreshes itself every " (REFRESH_SECS) " s."
        }
        @if photos.is_empty() {
            p { "No photo of yours has arrived yet. Set up your camera on "
                a href="/vendor/cameras" { "Cameras and phone" } ", or "
                a href="/vendor/upload" { "upload from this phone" } "." }
        } @else {
            table #photos {
                tr { th { "Photo" } th { "Arrived, preview, tags" } }
                @for p in &photos {
                    @let said = derivatives::explain(p.state.as_deref(), p.reason.as_deref(), state.previews.is_waiting_for_space(p.id));
                    @let on: Vec<&str> = tags.iter().filter(|t| t.photo_id == p.id && !t.removed).map(|t| t.attendee.as_str()).collect();
                    tr.photo data-photo=(p.id) data-state=(p.state.as_deref().unwrap_or("waiting")) {
                        td.thumb {
                            @if p.state.as_deref() == Some("done") {
                                img src={ "/photos/" (p.id) "/thumb" } alt={ "photo " (p.id) } loading="lazy";
                            }
                            "#" (p.id)
                        }
                        td {
                            span.name { (p.original_name) } br;
                            small { (source_words(&p.source)) " · " (utc(p.received_at)) } br;
                            strong.label.error[!said.fine] { (said.label) }
                            @if !said.fine { br; span.why { (said.words) } }
                            @if !on.is_empty() {
                                br; "Tagged to " @for a in &on { code { (tagging::short(a)) } " " }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(StatusCode::OK, page("Your photos", body)))
}
