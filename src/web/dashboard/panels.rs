//! The dashboard's HTML: the page and each panel as a fragment (the first paint and
//! every SSE event draw the same fragments). Written with maud, so every string that
//! comes from outside (creator names, error reasons, the event's name) is escaped.
//! A figure without a source says "not available"; a figure the kernel does not offer
//! on this machine says "n/a".

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::chart;
use super::{Heavy, Live};
use crate::dashboard::{quantile, reads, Span};
use crate::identity::PublicIdentity;
use crate::metrics::Histogram;

/// The page's style: a grid of panels, one column on a phone, two on a laptop.
const STYLE: &str = "*{box-sizing:border-box}\
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f4f1;color:#1a1a1a}\
header{background:#1a4d8f;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;justify-content:space-between}\
header h1{font-size:1.1rem;margin:0}nav a{color:#fff;margin-right:.6rem;text-decoration:none;opacity:.8}\
nav a[aria-current]{opacity:1;font-weight:700;text-decoration:underline}\
#live{font-size:.8rem;background:#0003;border-radius:1rem;padding:.1rem .6rem}\
#live.on{background:#2e7d32}main{padding:.6rem;max-width:80rem;margin:0 auto}\
.alerts{list-style:none;margin:0 0 .6rem;padding:0}.alerts li{padding:.5rem .7rem;border-radius:.3rem;margin-bottom:.3rem;font-weight:600}\
.alerts .critical{background:#b71c1c;color:#fff}.alerts .warning{background:#ffe08a}.alerts .ok{background:#dcefdc;font-weight:400}\
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(7rem,1fr));gap:.4rem;margin-bottom:.6rem}\
.tile{background:#fff;border-radius:.3rem;padding:.35rem .5rem;line-height:1.25}.tile b{display:block;font-size:1.15rem}\
.tile small{color:#555;font-size:.75rem}.asof{color:#666;font-size:.75rem;font-weight:400}.panels{display:grid;grid-template-columns:1fr;gap:.6rem}\
@media(min-width:60rem){.panels{grid-template-columns:1fr 1fr}}\
section.panel{background:#fff;border-radius:.3rem;padding:.5rem .8rem;min-width:0}\
h2{font-size:1rem;margin:.2rem 0 .4rem}h3{font-size:.9rem;margin:.6rem 0 .2rem;color:#333}\
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{padding:.15rem .3rem;text-align:left;border-bottom:1px solid #eee}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.na{color:#888;font-style:italic}\
.up{color:#2e7d32;font-weight:700}.down{color:#b71c1c;font-weight:700}\
svg.chart{width:100%;height:auto;max-width:26rem;display:block}svg.chart rect{fill:#1a4d8f}\
svg.chart polyline{fill:none;stroke:#1a4d8f;stroke-width:2}svg.chart text{font-size:11px;fill:#333}\
svg.chart text.c{text-anchor:middle;font-size:9px}code{word-break:break-all;font-size:.8rem}";

/// Bytes in binary units, one decimal.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A duration in seconds as `45 s`, `12 min`, `3 h 5 min` or `2 d 4 h`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn na() -> Markup {
    html! { span.na { "not available" } }
}

fn na_here() -> Markup {
    html! { span.na { "n/a" } }
}

/// When a heavy panel's figures were read (they are redrawn every
/// `dashboard.heavy_refresh_secs`), as `HH:MM:SS UTC`.
fn asof(now: i64) -> Markup {
    let t = time::OffsetDateTime::from_unix_timestamp(now).map_or((0, 0, 0), |t| t.to_hms());
    html! { span.asof { (format!("as of {:02}:{:02}:{:02} UTC", t.0, t.1, t.2)) } }
}

fn ago(now: i64, at: Option<i64>) -> Markup {
    match at {
        Some(at) => html! { (duration(now - at)) " ago" },
        None => html! { span.na { "never" } },
    }
}

fn ms(v: Option<f64>) -> Markup {
    match v {
        Some(v) => html! { (format!("{v:.0} ms")) },
        None => html! { span.na { "no data" } },
    }
}

/// The 401 page for a request without an admin session.
pub fn login_first() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Log in · venuebox" } style { (PreEscaped(STYLE)) } }
            body { main { h1 { "Log in first" } p { a href="/admin/login" { "Go to the admin login" } } } }
        }
    }
}

/// The whole page.
pub fn page(live: &Live, heavy: &Heavy, identity: &PublicIdentity) -> Markup {
    let name = live
        .event
        .as_ref()
        .map_or("venuebox", |e| e.name.as_str())
        .to_string();
    let stream = format!("/admin/dashboard/events?span={}", heavy.span.name());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Dashboard · " (name) }
                style { (PreEscaped(STYLE)) }
                script src="/admin/dashboard/dashboard.js" defer {}
            }
            body data-stream=(stream) {
                header {
                    h1 { (name) " · dashboard" }
                    nav aria-label="Time span" {
                        @for s in Span::ALL {
                            @if s == heavy.span {
                                a href=(format!("?span={}", s.name())) aria-current="page" { (s.label()) }
                            } @else {
                                a href=(format!("?span={}", s.name())) { (s.label()) }
                            }
                        }
                    }
                    span #live { "static" }
                    nav aria-label="Admin" { a href="/admin" { "Admin pages" } }
                }
                main {
                    div #panel-alerts { (alerts(live)) }
                    div #panel-summary { (summary(live)) }
                    div.panels {
                        section.panel #panel-sync { (sync(live, heavy)) }
                        section.panel #panel-funnel { (funnel(live, heavy)) }
                        section.panel #panel-ingest { (ingest(live, heavy)) }
                        section.panel #panel-box { (host(live, identity)) }
                    }
                }
            }
        }
    }
}

/// The alerts, worst first, or a line saying there are none.
pub fn alerts(live: &Live) -> Markup {
    html! {
        ul.alerts aria-live="polite" {
            @for a in &live.alerts {
                li class=(a.severity.name()) data-alert=(a.kind) { (a.text) }
            }
            @if live.alerts.is_empty() {
                li.ok { "No alerts" }
            }
        }
    }
}

fn uplink(live: &Live) -> Markup {
    if !live.snapshot.sync.enabled {
        return html! { span.na { "sync off" } };
    }
    match live.sync.uplink {
        "up" => html! { span.up { "up" } },
        "down" => html! { span.down { "down" } },
        _ => html! { span.na { "not tried yet" } },
    }
}

/// The summary tiles (every second).
pub fn summary(live: &Live) -> Markup {
    let s = &live.snapshot;
    let photos: u64 = s.photos.iter().map(|p| p.1).sum();
    let pending_objects = s
        .sync
        .objects
        .iter()
        .find(|o| o.0 == "pending")
        .map_or(0, |o| o.1);
    html! {
        div.tiles {
            div.tile { small { "Uplink" } b { (uplink(live)) } }
            div.tile { small { "Oldest unsynced photo" } b data-figure="oldest_unsynced" {
                @match live.oldest_unsynced_at { Some(at) => (duration(live.now - at)), None => "none" } } }
            div.tile { small { "Waiting to upload" } b { (pending_objects) " objects" } small { (bytes(s.sync.pending_bytes)) } }
            div.tile { small { "Photos stored" } b data-figure="photos_stored" { (photos) } }
            div.tile { small { "Photos in the last minute" } b data-figure="photos_last_minute" { (live.photos_last_minute) } }
            div.tile { small { "Render queue" } b data-figure="render_queue" { (s.renders.queue_depth) } small { (s.renders.in_flight) " rendering" } }
            div.tile { small { "Disk free" } b data-figure="disk_free" {
                @match live.disk { Some((total, free)) => (format!("{:.0} %", free as f64 * 100.0 / total.max(1) as f64)), None => (na()) } }
                @if let Some((_, free)) = live.disk { small { (bytes(free)) } } }
            div.tile { small { "Attendee devices now" } b data-figure="devices_now" { (live.devices_now) } }
            div.tile { small { "CPU temperature" } b {
                @match live.health.cpu_celsius { Some(c) => (format!("{c:.1} °C")), None => (na_here()) } } }
        }
    }
}

/// The sync panel.
pub fn sync(live: &Live, heavy: &Heavy) -> Markup {
    let s = &live.snapshot.sync;
    let state = |v: &[(String, u64)], k: &str| v.iter().find(|x| x.0 == k).map_or(0, |x| x.1);
    html! {
        h2 { "Sync " (asof(live.now)) }
        table {
            tr { th { "Uplink" } td { (uplink(live)) } }
            tr { th { "Target" } td { code { (live.sync.target) } } }
            tr { th { "Last successful upload" } td { (ago(live.now, s.last_upload_at)) } }
            tr { th { "Oldest unsynced photo" } td { (ago(live.now, live.oldest_unsynced_at)) } }
            tr { th { "Bundles queued / uploaded" } td.n { (state(&s.bundles, "pending")) " / " (state(&s.bundles, "uploaded")) } }
            tr { th { "Objects queued / conflict / uploaded" } td.n {
                (state(&s.objects, "pending")) " / " (state(&s.objects, "conflict")) " / " (state(&s.objects, "done")) } }
            tr { th { "Bytes queued" } td.n { (bytes(s.pending_bytes)) } }
            tr { th { "Uploading now (multipart started)" } td.n { (heavy.sync.uploading) " · " (bytes(heavy.sync.uploading_bytes)) } }
            tr { th { "Uploaded in the span" } td.n {
                (heavy.sync.bundles_uploaded) " bundles · " (heavy.sync.objects_uploaded) " objects · " (bytes(heavy.sync.bytes_uploaded)) } }
            tr { th { "Sent since start" } td.n { (bytes(s.bytes_sent)) } }
        }
        h3 { "Last errors" }
        @if live.sync.last_error.is_none() && heavy.sync.errors.is_empty() {
            p { "None" }
        } @else {
            ul {
                @if let Some(e) = &live.sync.last_error { li { "Last attempt: " (e) } }
                @for (e, n) in &heavy.sync.errors { li { (e) " (" (n) " objects)" } }
            }
        }
    }
}

/// The event funnel and the opt-in trend.
pub fn funnel(live: &Live, heavy: &Heavy) -> Markup {
    let f = &heavy.funnel;
    let ok = f.downloads.iter().find(|d| d.0 == "ok").map_or(0, |d| d.1);
    let failed: Vec<(String, u64)> = f
        .downloads
        .iter()
        .filter(|d| d.0 != "ok")
        .cloned()
        .collect();
    let mut steps = vec![
        ("Portal joins".to_string(), f.portal_joins),
        ("Passes".to_string(), f.passes),
    ];
    for (scope, n) in &f.consents {
        steps.push((format!("Consent: {scope}"), *n));
    }
    let views: u64 = heavy.gallery_views.iter().map(|v| v.1).sum();
    steps.extend([
        ("Photos tagged".to_string(), f.photos_tagged),
        ("Gallery views".to_string(), views),
        ("Orders".to_string(), f.orders),
        ("Confirmed".to_string(), f.confirmations),
        ("Deliveries".to_string(), ok),
    ]);
    let to = live.now;
    let from = heavy
        .since
        .max(heavy.grants.first().map_or(to - 3600, |g| g.1))
        .min(to - 60);
    let scopes: std::collections::BTreeSet<&str> =
        heavy.grants.iter().map(|g| g.0.as_str()).collect();
    html! {
        h2 { "The event funnel · " (heavy.span.label()) " " (asof(live.now)) }
        (chart::bars("Event funnel", &steps))
        table {
            tr { th { "Portal joins" } td.n data-figure="portal_joins" { (f.portal_joins) } }
            tr { th { "Passes" } td.n { (f.passes) } }
            @for (scope, n) in &f.consents { tr { th { "Consent granted: " (scope) } td.n { (n) } } }
            @for (scope, n) in &f.withdrawals { tr { th { "Consent withdrawn: " (scope) } td.n { (n) } } }
            tr { th { "Photos tagged" } td.n { (f.photos_tagged) } }
            tr { th { "Gallery views" } td.n data-figure="gallery_views" { (views) } }
            @for (page, n) in &heavy.gallery_views { tr { th { "Gallery views: " (page) } td.n { (n) } } }
            tr { th { "Orders" } td.n { (f.orders) } }
            tr { th { "Confirmations" } td.n { (f.confirmations) } }
            tr { th { "Deliveries" } td.n { (ok) } }
            @for (reason, n) in &failed { tr { th { "Failed delivery: " (reason) } td.n { (n) } } }
        }
        h3 { "Opt-in trend (grants per " (duration((to - from) / 24)) ")" }
        @if scopes.is_empty() { p { "No consent given in the span" } }
        @for scope in scopes {
            @let values = reads::buckets(heavy.grants.iter().filter(|g| g.0 == scope).map(|g| g.1), from, to + 1, 24);
            p { (scope) }
            (chart::sparkline(&format!("grants of {scope}"), &values))
        }
    }
}

/// p50 and p95 of the values picked by `pick` among the rows of `source` (all when `None`).
fn ttfp_quantiles(
    rows: &[reads::Ttfp],
    source: Option<&str>,
    pick: fn(&reads::Ttfp) -> Option<f64>,
) -> (Option<f64>, Option<f64>, usize) {
    let mut v: Vec<f64> = rows
        .iter()
        .filter(|r| source.map_or(true, |s| r.source == s))
        .filter_map(pick)
        .collect();
    (quantile(&mut v, 0.5), quantile(&mut v, 0.95), v.len())
}

/// The ingest and previews panel.
pub fn ingest(live: &Live, heavy: &Heavy) -> Markup {
    let r = &live.snapshot.renders;
    let to = live.now;
    let first = heavy.arrivals.first().copied().unwrap_or(to - 60);
    let from = heavy.since.max(first.min(to - 60));
    let minutes = ((to - from) as f64 / 60.0).max(1.0);
    let per_bucket = reads::buckets(heavy.arrivals.iter().copied(), from, to + 1, 30);
    let mut hist = Histogram::default();
    for row in &heavy.ttfp {
        if let Some(end) = row.from_end_ms {
            hist.observe(end / 1000.0);
        }
    }
    let mut below = 0;
    let mut buckets: Vec<(String, u64)> = hist
        .cumulative()
        .into_iter()
        .map(|(le, total)| {
            let n = total - below;
            below = total;
            (format!("{le}"), n)
        })
        .collect();
    buckets.push((">30".into(), hist.count() - below));
    let sources: std::collections::BTreeSet<&str> =
        heavy.ttfp.iter().map(|t| t.source.as_str()).collect();
    html! {
        h2 { "Ingest and previews · " (heavy.span.label()) " " (asof(live.now)) }
        h3 { "Uploads per creator and source" }
        @if heavy.ingest.is_empty() { p { "No photos in the span" } } @else {
            table {
                tr { th { "Creator" } th { "Source" } th.n { "Photos" } th.n { "Per minute" } th.n { "Bytes" } th { "Last" } }
                @for row in &heavy.ingest {
                    tr { td { (row.creator) } td { (row.source) } td.n { (row.photos) }
                        td.n { (format!("{:.2}", row.photos as f64 / minutes)) } td.n { (bytes(row.bytes)) }
                        td { (ago(live.now, Some(row.last_at))) } }
                }
            }
        }
        p { "Arrivals per " (duration((to - from) / 30)) }
        (chart::sparkline("photos stored over the span", &per_bucket))
        h3 { "Refusals" }
        table {
            @let refused: u64 = heavy.refusals.iter().map(|r| r.2).sum();
            tr { th { "Upload requests refused" } td.n data-figure="uploads_refused" { (refused) } }
            @for (source, reason, n) in &heavy.refusals { tr { th { "Refused (" (source) "): " (reason) } td.n { (n) } } }
            @for (reason, n) in &heavy.render_failures { tr { th { "Render failed: " (reason) } td.n { (n) } } }
            @if heavy.render_failures.is_empty() { tr { th { "Renders failed" } td.n { "0" } } }
        }
        h3 { "Time to first preview" }
        table {
            tr { th { "Source" } th.n { "Photos" } th.n { "p50 from end" } th.n { "p95 from end" } th.n { "p50 from start" } th.n { "p95 from start" } }
            @for source in sources.iter().map(|s| Some(*s)).chain([None]) {
                @let (e50, e95, n) = ttfp_quantiles(&heavy.ttfp, source, |r| r.from_end_ms);
                @let (s50, s95, _) = ttfp_quantiles(&heavy.ttfp, source, |r| r.from_start_ms);
                tr { td { (source.unwrap_or("all")) } td.n { (n) } td.n { (ms(e50)) } td.n { (ms(e95)) } td.n { (ms(s50)) } td.n { (ms(s95)) } }
            }
        }
        p { "Photos by seconds from upload end to first preview (upper bound of each column; rendered in the span)" }
        @if hist.count() == 0 { p.na { "No photos rendered in the span" } } @else {
            (chart::histogram("time to first preview", &buckets))
        }
        table {
            tr { th { "Render queue" } td.n { (r.queue_depth) " waiting · " (r.in_flight) " rendering" } }
            tr { th { "Renders since start" } td.n { (r.renders) } }
            tr { th { "Render time per photo (wall clock, mean)" } td.n { (ms(heavy.render_time.1)) } }
            tr { th { "CPU ms per preview (render threads, mean since start)" } td.n {
                @match cpu_ms_per_preview(&r.routes) { Some(v) => (ms(Some(v))), None => (na()) } } }
        }
        h3 { "Cache hit ratio since start" }
        table {
            tr { th { "Size" } th.n { "Hits" } th.n { "Misses" } th.n { "Ratio" } }
            @for (d, hits, misses) in &r.cache {
                tr { td { (d) } td.n { (hits) } td.n { (misses) } td.n {
                    @if hits + misses == 0 { span.na { "no lookups" } } @else {
                        (format!("{:.0} %", *hits as f64 * 100.0 / (hits + misses) as f64)) } } }
            }
        }
    }
}

fn flag(v: Option<bool>) -> Markup {
    match v {
        Some(true) => html! { span.down { "yes" } },
        Some(false) => html! { "no" },
        None => na_here(),
    }
}

/// The box panel.
pub fn host(live: &Live, identity: &PublicIdentity) -> Markup {
    let h = &live.health;
    let rate = live.bytes_last_hour as f64 / 3600.0;
    let uptime = live.snapshot.box_figures.uptime_seconds;
    html! {
        h2 { "The box " (asof(live.now)) }
        table {
            tr { th { "Disk free" } td.n { @match live.disk {
                Some((total, free)) => { (bytes(free)) " of " (bytes(total)) " (" (format!("{:.1} %", free as f64 * 100.0 / total.max(1) as f64)) ")" }
                None => (na()) } } }
            tr { th { "Full in (last hour's ingest rate)" } td.n {
                @match live.disk {
                    Some((_, free)) if rate > 0.0 => (duration((free as f64 / rate) as i64)),
                    Some(_) => "no ingest in the last hour",
                    None => (na()),
                } } }
            tr { th { "Photo bytes stored, last hour" } td.n { (bytes(live.bytes_last_hour)) } }
            tr { th { "Bytes written to storage by venuebox" } td.n {
                @match h.written_bytes {
                    Some(w) => { (bytes(w)) " since start" @if uptime >= 600.0 { " · " (bytes((w as f64 / (uptime / 3600.0)) as u64)) " per hour" } }
                    None => (na_here()),
                } } }
            tr { th { "CPU temperature" } td.n { @match h.cpu_celsius { Some(c) => (format!("{c:.1} °C")), None => (na_here()) } } }
            tr { th { "Under-voltage now / since boot" } td.n data-figure="under_voltage" {
                (flag(h.under_voltage_now())) " / " (flag(h.throttle.map(|t| t.under_voltage_since_boot()))) } }
            tr { th { "Throttled now / since boot" } td.n {
                (flag(h.throttle.map(|t| t.throttled_now()))) " / " (flag(h.throttle.map(|t| t.throttled_since_boot()))) } }
            tr { th { "Memory available" } td.n { @match (h.mem_available, h.mem_total) {
                (Some(a), Some(t)) => { (bytes(a)) " of " (bytes(t)) }
                _ => (na_here()) } } }
            tr { th { "Load (1, 5, 15 min)" } td.n { @match h.load {
                Some([a, b, c]) => (format!("{a:.2} {b:.2} {c:.2}")),
                None => (na_here()) } } }
            tr { th { "Attendee devices now" } td.n { (live.devices_now) } }
            tr { th { "Uptime" } td.n { (duration(uptime as i64)) } }
            tr { th { "Version" } td.n { (live.snapshot.box_figures.version) } }
            tr { th { "Signing key id" } td { code { (identity.key_id) } } }
            tr { th { "TLS fingerprint (SHA-256)" } td { code { (identity.tls_fingerprint) } } }
        }
    }
}

/// CPU milliseconds per rendered preview since start, over every route: the render
/// threads' own CPU time (`derivatives`, from /proc/thread-self/schedstat), so the
/// figure holds whatever else keeps the cores busy. None before a measured render.
fn cpu_ms_per_preview(routes: &[crate::metrics::RouteFigures]) -> Option<f64> {
    let renders: u64 = routes.iter().map(|t| t.cpu_renders).sum();
    let seconds: f64 = routes.iter().map(|t| t.cpu_seconds).sum();
    (renders > 0).then(|| seconds * 1000.0 / renders as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(3600 + 120), "1 h 2 min");
        assert_eq!(duration(2 * 86_400 + 3600), "2 d 1 h");
    }
}
