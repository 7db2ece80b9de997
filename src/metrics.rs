//! The box's figures in the Prometheus text exposition format (version 0.0.4, the
//! format `promtool check metrics` reads), for `GET /metrics`.
//!
//! Pure: a [`Snapshot`] of plain numbers in, text out; no SQL, no I/O, no tokio. The
//! figures are gathered by their owners' read functions (the very ones the JSON stats
//! of the admin API call) at the HTTP edge (`web::metrics`), and one owner
//! (`derivatives`) keeps a [`Histogram`] of time-to-first-preview. The text is written
//! by the `prometheus` crate's `TextEncoder` from a registry made for each scrape, so
//! names, label names and the format are checked by the crate, not by hand.
//!
//! Names follow the Prometheus conventions (<https://prometheus.io/docs/practices/naming/>):
//! the `venuebox_` prefix, base units in the name (`_seconds`, `_bytes`), `_total` on
//! counters only, histograms as `_bucket`/`_sum`/`_count`. Labels take only values from
//! small fixed sets (derivative, format, render route, upload source, consent scope,
//! attendance source, order state, download outcome, sync state, upload refusal
//! reason, gallery page): nothing per attendee, per device or per creator. A figure
//! with no source is left out, never shown as zero. docs/metrics.md lists every name.

use std::collections::HashMap;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    CounterVec, Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The `Content-Type` of the text [`encode`] writes: `text/plain; version=0.0.4`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the time-to-first-preview buckets: dense below one second,
/// where MISSION.md's "well under a second" lies, then up to a slow render on a busy Pi.
pub const TTFP_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];

/// Why the text could not be written: a name or label the `prometheus` crate refuses,
/// or two series with one name and labels. A bug in this module, never the data's fault.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// A histogram with the fixed buckets [`TTFP_BUCKETS`]: counts per bucket since start,
/// their sum and count, kept by the owner of the figure and exported as Prometheus'
/// cumulative `_bucket{le}`, `_sum` and `_count`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last counts those above every bound.
    counts: [u64; TTFP_BUCKETS.len() + 1],
    /// Sum of every observation, in seconds.
    sum: f64,
}

impl Histogram {
    /// Counts one observation of `seconds` (a negative or NaN value counts as 0).
    pub fn observe(&mut self, seconds: f64) {
        let v = if seconds.is_nan() {
            0.0
        } else {
            seconds.max(0.0)
        };
        let i = TTFP_BUCKETS.partition_point(|&bound| bound < v);
        self.counts[i] += 1;
        self.sum += v;
    }

    /// How many observations were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of the observations, in seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// `(upper bound, observations at or below it)` for every bound of
    /// [`TTFP_BUCKETS`], cumulative as Prometheus' `le` buckets are.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        TTFP_BUCKETS
            .iter()
            .zip(self.counts)
            .map(|(&bound, n)| {
                total += n;
                (bound, total)
            })
            .collect()
    }
}

/// The box as a whole.
#[derive(Debug, Clone, Default)]
pub struct BoxFigures {
    /// The crate version (`venuebox_build_info{version}`).
    pub version: String,
    /// Seconds since the service started.
    pub uptime_seconds: f64,
    /// Free bytes of the data dir's file system (None when statvfs failed).
    pub disk_free_bytes: Option<u64>,
}

/// Mean times of one render route (`media::render::ROUTES`), as sums since start.
#[derive(Debug, Clone, Default)]
pub struct RouteFigures {
    /// The route's name (`turbo_shrink`, `embedded`, …; `other` for any other).
    pub route: String,
    /// Renders that took this route.
    pub renders: u64,
    /// Time spent decoding, resizing and encoding, in seconds, summed.
    pub decode_seconds: f64,
    /// See `decode_seconds`.
    pub resize_seconds: f64,
    /// See `decode_seconds`.
    pub encode_seconds: f64,
    /// Renders whose CPU time was measured (all of them where the kernel offers
    /// `/proc/thread-self/schedstat`).
    pub cpu_renders: u64,
    /// CPU time (user and system) of the render threads for those renders, in
    /// seconds, summed: the cost of a preview whatever the load.
    pub cpu_seconds: f64,
}

/// Renders and the derivative cache (`derivatives`), as `GET /api/admin/previews/stats`
/// shows them.
#[derive(Debug, Clone, Default)]
pub struct RenderFigures {
    /// Stored photos with no render yet (the stats' `queue_depth`).
    pub queue_depth: u64,
    /// Renders running now (the stats' `in_flight`).
    pub in_flight: u64,
    /// Renders since start.
    pub renders: u64,
    /// Instant previews (from an upload's first bytes) since start.
    pub instant_previews: u64,
    /// First looks (an upload without an instant preview rendered small at its
    /// commit) since start.
    pub first_looks: u64,
    /// Cache lookups per derivative name since start: (derivative, hits, misses).
    pub cache: Vec<(String, u64, u64)>,
    /// Derivative requests per format (`jpeg`, `webp`) since start.
    pub formats: Vec<(String, u64)>,
    /// Per render route.
    pub routes: Vec<RouteFigures>,
    /// Time to first preview from the upload's end (the stats' `from_upload_end`).
    pub ttfp_from_upload_end: Histogram,
    /// Time to first preview from the upload's start.
    pub ttfp_from_upload_start: Histogram,
}

/// The sync worker and the outbox (`sync`), as `GET /api/admin/sync` shows them.
#[derive(Debug, Clone, Default)]
pub struct SyncFigures {
    /// `sync.enabled`.
    pub enabled: bool,
    /// `unknown` (nothing tried yet), `up` or `down`.
    pub uplink: String,
    /// When an object last reached the target (seconds since the epoch).
    pub last_upload_at: Option<i64>,
    /// Object payload bytes sent since start.
    pub bytes_sent: u64,
    /// Objects uploaded since start.
    pub objects_uploaded: u64,
    /// Objects found already in the target and skipped since start.
    pub objects_skipped: u64,
    /// Bundles in the outbox by state (`uploaded`, `pending`).
    pub bundles: Vec<(String, u64)>,
    /// Objects in the outbox by state (`done`, `pending`, `conflict`).
    pub objects: Vec<(String, u64)>,
    /// Bytes of the objects not uploaded yet.
    pub pending_bytes: u64,
}

/// Everything `/metrics` shows, read at one scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The box.
    pub box_figures: BoxFigures,
    /// Stored photos per upload source (`ftp`, `tus`, `import`); photos are never
    /// deleted, so these only grow.
    pub photos: Vec<(String, u64)>,
    /// Renders and the cache.
    pub renders: RenderFigures,
    /// Sync.
    pub sync: SyncFigures,
    /// Attendees holding a pass (the consent summary's `attendees`).
    pub attendees: u64,
    /// Attendees currently granting each consent scope.
    pub consent_granted: Vec<(String, u64)>,
    /// Attendance records per source (`portal`, `door`, …; retention removes old ones).
    pub attendance: Vec<(String, u64)>,
    /// Distinct pseudonyms among the attendance records.
    pub unique_attendance: u64,
    /// Orders per state (`pending`, `paid`, `free`, `cancelled`).
    pub orders: Vec<(String, u64)>,
    /// Download attempts per outcome (`ok`, and each refusal); the record is append-only.
    pub downloads: Vec<(String, u64)>,
    /// Refused upload requests as `(source, reason, count)` (`ingest_refusals`,
    /// append-only): source `ftp`, `tus`, `import`; reason `not_a_photo`,
    /// `too_large`, `quota`, `disk_full`.
    pub upload_refusals: Vec<(String, String, u64)>,
    /// Gallery page views per page (`gallery`, `mine`), counted since the event began.
    pub gallery_views: Vec<(String, u64)>,
}

/// The families of one scrape, registered as they are made.
struct Families(Registry);

impl Families {
    fn gauge(&self, name: &str, help: &str, value: f64) -> Result<(), MetricsError> {
        let g = Gauge::with_opts(Opts::new(name, help))?;
        g.set(value);
        self.0.register(Box::new(g))?;
        Ok(())
    }

    fn int_gauge(&self, name: &str, help: &str, value: u64) -> Result<(), MetricsError> {
        let g = IntGauge::with_opts(Opts::new(name, help))?;
        g.set(clamp(value));
        self.0.register(Box::new(g))?;
        Ok(())
    }

    fn counter(&self, name: &str, help: &str, value: u64) -> Result<(), MetricsError> {
        let c = IntCounter::with_opts(Opts::new(name, help))?;
        c.inc_by(value);
        self.0.register(Box::new(c))?;
        Ok(())
    }

    /// A gauge with one label; nothing is registered for an empty `values` (a family
    /// with no series is not valid text).
    fn gauges_by(
        &self,
        name: &str,
        help: &str,
        label: &str,
        values: &[(String, u64)],
    ) -> Result<(), MetricsError> {
        if values.is_empty() {
            return Ok(());
        }
        let g = IntGaugeVec::new(Opts::new(name, help), &[label])?;
        for (l, v) in values {
            g.get_metric_with_label_values(&[l])?.set(clamp(*v));
        }
        self.0.register(Box::new(g))?;
        Ok(())
    }

    /// A counter with labels, as [`Families::gauges_by`].
    fn counters_by(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        values: &[(Vec<&str>, u64)],
    ) -> Result<(), MetricsError> {
        if values.is_empty() {
            return Ok(());
        }
        let c = IntCounterVec::new(Opts::new(name, help), labels)?;
        for (l, v) in values {
            c.get_metric_with_label_values(l)?.inc_by(*v);
        }
        self.0.register(Box::new(c))?;
        Ok(())
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Histograms whose buckets were counted elsewhere ([`Histogram`]), as one family with
/// one label: a `Collector`, since the crate's own histogram can only observe.
struct FixedHistograms {
    desc: Desc,
    family: MetricFamily,
}

impl FixedHistograms {
    fn new(
        name: &str,
        help: &str,
        label: &str,
        series: &[(&str, &Histogram)],
    ) -> Result<FixedHistograms, MetricsError> {
        let desc = Desc::new(name.into(), help.into(), vec![label.into()], HashMap::new())?;
        let mut family = MetricFamily::default();
        family.set_name(name.into());
        family.set_help(help.into());
        family.set_field_type(MetricType::HISTOGRAM);
        for (value, h) in series {
            let mut pair = proto::LabelPair::default();
            pair.set_name(label.into());
            pair.set_value(value.to_string());
            let mut histogram = proto::Histogram::default();
            histogram.set_sample_count(h.count());
            histogram.set_sample_sum(h.sum());
            let buckets = h.cumulative().into_iter().map(|(bound, n)| {
                let mut b = proto::Bucket::default();
                b.set_upper_bound(bound);
                b.set_cumulative_count(n);
                b
            });
            histogram.set_bucket(buckets.collect());
            let mut metric = proto::Metric::default();
            metric.set_label(vec![pair]);
            metric.set_histogram(histogram);
            family.mut_metric().push(metric);
        }
        Ok(FixedHistograms { desc, family })
    }
}

impl Collector for FixedHistograms {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        vec![self.family.clone()]
    }
}

/// The snapshot as Prometheus text (version 0.0.4, families sorted by name; serve it
/// with [`CONTENT_TYPE`]). docs/metrics.md lists the names and what each means.
pub fn encode(s: &Snapshot) -> Result<String, MetricsError> {
    let f = Families(Registry::new());
    let b = &s.box_figures;
    let info = IntGaugeVec::new(
        Opts::new(
            "venuebox_build_info",
            "The running firmware's version, as a label; the value is always 1.",
        ),
        &["version"],
    )?;
    info.with_label_values(&[&b.version]).set(1);
    f.0.register(Box::new(info))?;
    f.gauge(
        "venuebox_uptime_seconds",
        "Seconds since the service started.",
        b.uptime_seconds,
    )?;
    if let Some(free) = b.disk_free_bytes {
        f.int_gauge(
            "venuebox_disk_free_bytes",
            "Free bytes on the data dir's file system (statvfs, as /healthz shows).",
            free,
        )?;
    }
    let photos: Vec<(Vec<&str>, u64)> = s
        .photos
        .iter()
        .map(|(source, n)| (vec![source.as_str()], *n))
        .collect();
    f.counters_by(
        "venuebox_photos_stored_total",
        "Distinct photos stored, by the protocol that brought them (ftp, tus, import).",
        &["source"],
        &photos,
    )?;

    let r = &s.renders;
    f.int_gauge(
        "venuebox_render_queue_depth",
        "Stored photos not rendered yet (previews stats: queue_depth).",
        r.queue_depth,
    )?;
    f.int_gauge(
        "venuebox_renders_in_flight",
        "Renders running now (previews stats: in_flight).",
        r.in_flight,
    )?;
    f.counter(
        "venuebox_renders_total",
        "Photos rendered since start (previews stats: renders).",
        r.renders,
    )?;
    f.counter(
        "venuebox_instant_previews_total",
        "Instant previews made from an upload's first bytes since start.",
        r.instant_previews,
    )?;
    f.counter(
        "venuebox_first_looks_total",
        "First looks made at commit for uploads without an instant preview since start.",
        r.first_looks,
    )?;
    let mut lookups = Vec::new();
    for (d, hits, misses) in &r.cache {
        lookups.push((vec![d.as_str(), "hit"], *hits));
        lookups.push((vec![d.as_str(), "miss"], *misses));
    }
    f.counters_by(
        "venuebox_derivative_cache_lookups_total",
        "Lookups in the in-memory derivative cache since start, by derivative and result (hit, miss).",
        &["derivative", "result"],
        &lookups,
    )?;
    let formats: Vec<(Vec<&str>, u64)> = r
        .formats
        .iter()
        .map(|(format, n)| (vec![format.as_str()], *n))
        .collect();
    f.counters_by(
        "venuebox_derivative_requests_total",
        "Derivative requests since start, by the format served (jpeg, webp).",
        &["format"],
        &formats,
    )?;
    if !r.routes.is_empty() {
        let renders: Vec<(Vec<&str>, u64)> = r
            .routes
            .iter()
            .map(|t| (vec![t.route.as_str()], t.renders))
            .collect();
        f.counters_by(
            "venuebox_route_renders_total",
            "Renders since start, by the route the render took (media::render::ROUTES).",
            &["route"],
            &renders,
        )?;
        let stages = CounterVec::new(
            Opts::new(
                "venuebox_render_stage_seconds_total",
                "Seconds spent rendering since start, by route and stage (decode, resize, encode).",
            ),
            &["route", "stage"],
        )?;
        for t in &r.routes {
            for (stage, secs) in [
                ("decode", t.decode_seconds),
                ("resize", t.resize_seconds),
                ("encode", t.encode_seconds),
            ] {
                stages
                    .get_metric_with_label_values(&[&t.route, stage])?
                    .inc_by(secs.max(0.0));
            }
        }
        f.0.register(Box::new(stages))?;
        let measured: Vec<(Vec<&str>, u64)> = r
            .routes
            .iter()
            .map(|t| (vec![t.route.as_str()], t.cpu_renders))
            .collect();
        f.counters_by(
            "venuebox_render_cpu_measured_renders_total",
            "Renders whose thread CPU time was read (/proc/thread-self/schedstat), by route.",
            &["route"],
            &measured,
        )?;
        let cpu = CounterVec::new(
            Opts::new(
                "venuebox_render_cpu_seconds_total",
                "CPU seconds (user and system) the render threads spent on those renders, by route.",
            ),
            &["route"],
        )?;
        for t in &r.routes {
            cpu.get_metric_with_label_values(&[&t.route])?
                .inc_by(t.cpu_seconds.max(0.0));
        }
        f.0.register(Box::new(cpu))?;
    }
    f.0.register(Box::new(FixedHistograms::new(
        "venuebox_time_to_first_preview_seconds",
        "Time from an upload's end (from=upload_end) or start (from=upload_start) to its first servable preview, since start.",
        "from",
        &[
            ("upload_end", &r.ttfp_from_upload_end),
            ("upload_start", &r.ttfp_from_upload_start),
        ],
    )?))?;

    let y = &s.sync;
    f.int_gauge(
        "venuebox_sync_enabled",
        "1 when sync is enabled (sync.enabled), else 0.",
        u64::from(y.enabled),
    )?;
    let uplink: Vec<(String, u64)> = ["unknown", "up", "down"]
        .iter()
        .map(|state| (state.to_string(), u64::from(y.uplink == *state)))
        .collect();
    f.gauges_by(
        "venuebox_sync_uplink",
        "1 for the uplink's current state (unknown: nothing tried yet, up, down), 0 for the others.",
        "state",
        &uplink,
    )?;
    if let Some(at) = y.last_upload_at {
        f.int_gauge(
            "venuebox_sync_last_upload_timestamp_seconds",
            "When an object last reached the sync target (Unix time).",
            u64::try_from(at).unwrap_or(0),
        )?;
    }
    f.counter(
        "venuebox_sync_sent_bytes_total",
        "Object payload bytes sent to the sync target since start.",
        y.bytes_sent,
    )?;
    f.counter(
        "venuebox_sync_objects_uploaded_total",
        "Objects uploaded to the sync target since start.",
        y.objects_uploaded,
    )?;
    f.counter(
        "venuebox_sync_objects_skipped_total",
        "Objects found already in the sync target (HEAD) and skipped since start.",
        y.objects_skipped,
    )?;
    f.gauges_by(
        "venuebox_sync_bundles",
        "Bundles in the outbox by state (uploaded, pending).",
        "state",
        &y.bundles,
    )?;
    f.gauges_by(
        "venuebox_sync_objects",
        "Objects in the outbox by state (done, pending, conflict).",
        "state",
        &y.objects,
    )?;
    f.int_gauge(
        "venuebox_sync_pending_bytes",
        "Bytes of the outbox's objects not uploaded yet.",
        y.pending_bytes,
    )?;

    f.int_gauge(
        "venuebox_attendees",
        "Attendees holding a pass.",
        s.attendees,
    )?;
    f.gauges_by(
        "venuebox_consent_granted_attendees",
        "Attendees currently granting each consent scope.",
        "scope",
        &s.consent_granted,
    )?;
    f.gauges_by(
        "venuebox_attendance_records",
        "Attendance records kept, by source (retention and erasure remove records).",
        "source",
        &s.attendance,
    )?;
    f.int_gauge(
        "venuebox_attendance_unique_attendees",
        "Distinct pseudonyms among the attendance records.",
        s.unique_attendance,
    )?;
    f.gauges_by(
        "venuebox_orders",
        "Orders by state (pending, paid, free, cancelled).",
        "state",
        &s.orders,
    )?;
    let downloads: Vec<(Vec<&str>, u64)> = s
        .downloads
        .iter()
        .map(|(outcome, n)| (vec![outcome.as_str()], *n))
        .collect();
    f.counters_by(
        "venuebox_downloads_total",
        "Download attempts through links, by outcome (ok, or why it was refused).",
        &["outcome"],
        &downloads,
    )?;
    let refusals: Vec<(Vec<&str>, u64)> = s
        .upload_refusals
        .iter()
        .map(|(source, reason, n)| (vec![source.as_str(), reason.as_str()], *n))
        .collect();
    f.counters_by(
        "venuebox_upload_refusals_total",
        "Upload requests the box refused, by source (ftp, tus, import) and reason \
         (not_a_photo, too_large, quota, disk_full); a retry counts again.",
        &["source", "reason"],
        &refusals,
    )?;
    let views: Vec<(Vec<&str>, u64)> = s
        .gallery_views
        .iter()
        .map(|(page, n)| (vec![page.as_str()], *n))
        .collect();
    f.counters_by(
        "venuebox_gallery_views_total",
        "Gallery pages opened by attendees with a pass, by page (gallery, mine).",
        &["page"],
        &views,
    )?;

    let mut text = String::new();
    TextEncoder::new().encode_utf8(&f.0.gather(), &mut text)?;
    Ok(text)
}

/// The value of the series `name` whose labels include every `(label, value)` of
/// `labels`, from text [`encode`] wrote (for tests and tools: a plain line parser of
/// the 0.0.4 format's `name{labels} value` lines, no `# ` lines).
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, v) = line.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let has = |(k, want): &(&str, &str)| {
                rest.split(',')
                    .any(|pair| pair == format!("{k}=\"{want}\""))
            };
            (n == name && labels.iter().all(has)).then(|| v.parse().ok())?
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut ttfp = Histogram::default();
        for v in [0.04, 0.3, 0.3, 2.0, 99.0] {
            ttfp.observe(v);
        }
        Snapshot {
            box_figures: BoxFigures {
                version: "1.2.3".into(),
                uptime_seconds: 12.5,
                disk_free_bytes: Some(5 << 30),
            },
            photos: vec![("ftp".into(), 3), ("tus".into(), 4)],
            renders: RenderFigures {
                queue_depth: 2,
                renders: 7,
                cache: vec![("thumb".into(), 5, 1)],
                routes: vec![RouteFigures {
                    route: "turbo_shrink".into(),
                    renders: 7,
                    decode_seconds: 0.7,
                    resize_seconds: 0.2,
                    encode_seconds: 0.1,
                    cpu_renders: 7,
                    cpu_seconds: 0.63,
                }],
                ttfp_from_upload_end: ttfp,
                ..RenderFigures::default()
            },
            sync: SyncFigures {
                uplink: "down".into(),
                objects: vec![("pending".into(), 3)],
                ..SyncFigures::default()
            },
            downloads: vec![("expired".into(), 2), ("ok".into(), 9)],
            upload_refusals: vec![("tus".into(), "quota".into(), 3)],
            gallery_views: vec![("gallery".into(), 7)],
            ..Snapshot::default()
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_the_largest_beyond_every_bound() {
        let h = &snapshot().renders.ttfp_from_upload_end;
        assert_eq!(h.count(), 5);
        assert!((h.sum() - 101.64).abs() < 1e-9);
        let c = h.cumulative();
        assert_eq!(c.len(), TTFP_BUCKETS.len());
        assert_eq!(c[0], (0.05, 1));
        assert_eq!(c[3], (0.3, 3), "a value on a bound counts in that bucket");
        assert_eq!(c.last(), Some(&(30.0, 4)), "99 s is only in +Inf");
    }

    #[test]
    fn text_has_types_units_and_only_sourced_figures() {
        let text = encode(&snapshot()).unwrap();
        assert!(text.contains("# TYPE venuebox_downloads_total counter\n"));
        assert!(text.contains("# TYPE venuebox_render_queue_depth gauge\n"));
        assert!(text.contains("# TYPE venuebox_time_to_first_preview_seconds histogram\n"));
        let v = |name, labels: &[(&str, &str)]| value(&text, name, labels);
        assert_eq!(
            v("venuebox_downloads_total", &[("outcome", "expired")]),
            Some(2.0)
        );
        assert_eq!(
            v(
                "venuebox_upload_refusals_total",
                &[("source", "tus"), ("reason", "quota")]
            ),
            Some(3.0)
        );
        assert_eq!(
            v("venuebox_gallery_views_total", &[("page", "gallery")]),
            Some(7.0)
        );
        assert_eq!(
            v("venuebox_photos_stored_total", &[("source", "tus")]),
            Some(4.0)
        );
        assert_eq!(
            v("venuebox_disk_free_bytes", &[]),
            Some((5u64 << 30) as f64)
        );
        assert_eq!(v("venuebox_sync_uplink", &[("state", "down")]), Some(1.0));
        assert_eq!(v("venuebox_sync_uplink", &[("state", "up")]), Some(0.0));
        let bucket = "venuebox_time_to_first_preview_seconds_bucket";
        assert_eq!(
            v(bucket, &[("from", "upload_end"), ("le", "+Inf")]),
            Some(5.0)
        );
        assert_eq!(
            v(bucket, &[("from", "upload_end"), ("le", "0.3")]),
            Some(3.0)
        );
        assert_eq!(
            v(bucket, &[("from", "upload_start"), ("le", "+Inf")]),
            Some(0.0)
        );
        assert_eq!(
            v(
                "venuebox_render_stage_seconds_total",
                &[("route", "turbo_shrink"), ("stage", "decode")]
            ),
            Some(0.7)
        );
        assert_eq!(
            v(
                "venuebox_render_cpu_seconds_total",
                &[("route", "turbo_shrink")]
            ),
            Some(0.63)
        );
        assert_eq!(
            v(
                "venuebox_render_cpu_measured_renders_total",
                &[("route", "turbo_shrink")]
            ),
            Some(7.0)
        );
        assert_eq!(v("venuebox_build_info", &[("version", "1.2.3")]), Some(1.0));
        // No source, no series: no last upload, no orders, no attendance by source.
        assert!(!text.contains("venuebox_sync_last_upload_timestamp_seconds"));
        assert!(!text.contains("venuebox_orders"));
        assert!(!text.contains("venuebox_attendance_records"));
        let mut none = snapshot();
        none.box_figures.disk_free_bytes = None;
        assert!(!encode(&none).unwrap().contains("venuebox_disk_free_bytes"));
    }
}
