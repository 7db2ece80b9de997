//! The render figures kept in memory since the start: cache hits and misses per
//! derivative, requests per format, renders and instant previews, time spent per
//! render route, and time-to-first-preview samples (from upload end and start) with
//! their p50/p95, as the admin API shows them; the same figures typed for `/metrics`
//! ([`Previews::metrics`]), with time-to-first-preview as a histogram since start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{lock, Derivative, Previews, ALL};
use crate::media::render::Format;

/// Time-to-first-preview samples kept for percentiles.
const TTFP_SAMPLES: usize = 4096;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) hits: [AtomicU64; 4],
    pub(super) misses: [AtomicU64; 4],
    /// Requests per format (JPEG, WebP), for pre-warming.
    pub(super) formats: [AtomicU64; 2],
    pub(super) renders: AtomicU64,
    pub(super) instants: AtomicU64,
    /// First looks made at commit for uploads without an instant preview.
    pub(super) first_looks: AtomicU64,
    /// Photos announced and not rendered yet.
    pub(super) queued: AtomicU64,
}

pub(super) fn index(d: Derivative) -> usize {
    match d {
        Derivative::Thumb => 0,
        Derivative::Preview => 1,
        Derivative::Watermarked => 2,
        Derivative::Full => 3,
    }
}

pub(super) fn format_index(f: Format) -> usize {
    match f {
        Format::Jpeg => 0,
        Format::Webp => 1,
    }
}

/// Time spent per render route, for the dashboard.
#[derive(Default, Clone, Copy)]
pub(super) struct RouteTimes {
    pub(super) renders: u64,
    pub(super) decode_ms: f64,
    pub(super) resize_ms: f64,
    pub(super) encode_ms: f64,
    /// Renders whose thread CPU time was read, and that time summed, in ms.
    pub(super) cpu_renders: u64,
    pub(super) cpu_ms: f64,
}

/// The CPU time (user and system) the calling thread has used so far: the first field
/// of `/proc/thread-self/schedstat`, in nanoseconds (Documentation/scheduler/
/// sched-stats.rst, "/proc/<pid>/schedstat"). None where the kernel lacks the file
/// (built without CONFIG_SCHED_INFO) or it does not parse. A render runs on one
/// thread, so the difference across it is the render's CPU cost, whatever else
/// shares the cores.
pub(super) fn thread_cpu_time() -> Option<std::time::Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}

/// Figures kept in memory since the start.
#[derive(Default)]
pub(super) struct Figures {
    /// Per route name.
    pub(super) routes: HashMap<&'static str, RouteTimes>,
    pub(super) ttfp_end: std::collections::VecDeque<f64>,
    pub(super) ttfp_start: std::collections::VecDeque<f64>,
    /// Every time-to-first-preview since start (the samples above keep the last
    /// `TTFP_SAMPLES` only), for the histogram of `/metrics`.
    pub(super) ttfp_end_histogram: crate::metrics::Histogram,
    pub(super) ttfp_start_histogram: crate::metrics::Histogram,
}

fn push_sample(q: &mut std::collections::VecDeque<f64>, v: f64) {
    if q.len() == TTFP_SAMPLES {
        q.pop_front();
    }
    q.push_back(v);
}

impl Figures {
    /// Records a time to first preview of `ms` milliseconds from the upload's end.
    pub(super) fn ttfp_from_end(&mut self, ms: f64) {
        push_sample(&mut self.ttfp_end, ms);
        self.ttfp_end_histogram.observe(ms / 1000.0);
    }

    /// Records a time to first preview of `ms` milliseconds from the upload's start.
    pub(super) fn ttfp_from_start(&mut self, ms: f64) {
        push_sample(&mut self.ttfp_start, ms);
        self.ttfp_start_histogram.observe(ms / 1000.0);
    }
}

fn percentiles(q: &std::collections::VecDeque<f64>) -> serde_json::Value {
    let mut v: Vec<f64> = q.iter().copied().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| {
        if v.is_empty() {
            serde_json::Value::Null
        } else {
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            serde_json::json!((v[i] * 10.0).round() / 10.0)
        }
    };
    serde_json::json!({ "count": v.len(), "p50": at(0.5), "p95": at(0.95) })
}

/// Where an upload's timeline stands: for time-to-first-preview.
#[derive(Clone, Copy, Default)]
pub(super) struct Timeline {
    pub(super) started: Option<Instant>,
    pub(super) ended: Option<Instant>,
    pub(super) instant: Option<Instant>,
}

impl Previews {
    /// Counts a request for a derivative in `format` (the format mix of the stats).
    pub fn count_format(&self, format: Format) {
        self.inner.counters.formats[format_index(format)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a cache hit (`true`) or miss of `d` (the hit ratio of the stats).
    pub fn count_lookup(&self, d: Derivative, hit: bool) {
        let c = &self.inner.counters;
        let counter = if hit { &c.hits } else { &c.misses };
        counter[index(d)].fetch_add(1, Ordering::Relaxed);
    }

    /// The render figures for `/metrics`: the counters [`Self::stats`] shows (read from
    /// the same atomics, so a scrape and the JSON agree when nothing happens between
    /// them), `pending` as the queue depth, and time-to-first-preview as histograms.
    pub fn metrics(&self, pending: u64) -> crate::metrics::RenderFigures {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let figures = lock(&self.inner.figures);
        let mut routes: Vec<crate::metrics::RouteFigures> = figures
            .routes
            .iter()
            .map(|(name, t)| crate::metrics::RouteFigures {
                route: name.to_string(),
                renders: t.renders,
                decode_seconds: t.decode_ms / 1000.0,
                resize_seconds: t.resize_ms / 1000.0,
                encode_seconds: t.encode_ms / 1000.0,
                cpu_renders: t.cpu_renders,
                cpu_seconds: t.cpu_ms / 1000.0,
            })
            .collect();
        routes.sort_by(|a, b| a.route.cmp(&b.route));
        crate::metrics::RenderFigures {
            queue_depth: pending,
            in_flight: lock(&self.inner.inflight).len() as u64,
            renders: load(&c.renders),
            instant_previews: load(&c.instants),
            first_looks: load(&c.first_looks),
            cache: ALL
                .iter()
                .map(|&d| {
                    let i = index(d);
                    (d.name().to_string(), load(&c.hits[i]), load(&c.misses[i]))
                })
                .collect(),
            formats: [Format::Jpeg, Format::Webp]
                .iter()
                .map(|&f| {
                    let name = match f {
                        Format::Jpeg => "jpeg",
                        Format::Webp => "webp",
                    };
                    (name.to_string(), load(&c.formats[format_index(f)]))
                })
                .collect(),
            routes,
            ttfp_from_upload_end: figures.ttfp_end_histogram.clone(),
            ttfp_from_upload_start: figures.ttfp_start_histogram.clone(),
        }
    }

    /// The render figures as JSON for the admin API (`GET /api/admin/previews/stats`):
    /// uploads in progress, renders, `queue_depth` (= `pending`, from [`Self::pending`]),
    /// in-flight renders, TTFP p50/p95 in ms from upload end and start, per-route mean
    /// decode/resize/encode ms, and cache hits/misses/hit ratio per derivative.
    pub fn stats(&self, pending: u64) -> serde_json::Value {
        let c = &self.inner.counters;
        let mut sizes = serde_json::Map::new();
        for d in ALL {
            let (hits, misses) = (
                c.hits[index(d)].load(Ordering::Relaxed),
                c.misses[index(d)].load(Ordering::Relaxed),
            );
            sizes.insert(
                d.name().into(),
                serde_json::json!({
                    "hits": hits,
                    "misses": misses,
                    "hit_ratio": if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
                }),
            );
        }
        let figures = lock(&self.inner.figures);
        let mut routes = serde_json::Map::new();
        for (name, t) in &figures.routes {
            let mean = |v: f64| (v / t.renders.max(1) as f64 * 100.0).round() / 100.0;
            routes.insert(
                name.to_string(),
                serde_json::json!({
                    "renders": t.renders,
                    "decode_ms_mean": mean(t.decode_ms),
                    "resize_ms_mean": mean(t.resize_ms),
                    "encode_ms_mean": mean(t.encode_ms),
                    "cpu_ms_mean": (t.cpu_renders > 0)
                        .then(|| (t.cpu_ms / t.cpu_renders as f64 * 100.0).round() / 100.0),
                }),
            );
        }
        // Uploads still arriving (started in the last hour), for the dashboard to show
        // their instant previews at /uploads/{key}/preview.
        let in_progress: Vec<serde_json::Value> = lock(&self.inner.timelines)
            .iter()
            .filter_map(|(key, t)| {
                let age = t.started?.elapsed();
                (t.ended.is_none() && age < Duration::from_secs(3600)).then(|| {
                    serde_json::json!({
                        "key": key,
                        "since_ms": age.as_millis() as u64,
                        "instant_preview": t.instant.is_some(),
                    })
                })
            })
            .take(100)
            .collect();
        let mut body = serde_json::json!({
            "uploads_in_progress": in_progress,
            "renders": c.renders.load(Ordering::Relaxed),
            "queue_depth": pending,
            "in_queue": c.queued.load(Ordering::Relaxed),
            "in_flight": lock(&self.inner.inflight).len(),
            "instant_previews": c.instants.load(Ordering::Relaxed),
            "first_looks": c.first_looks.load(Ordering::Relaxed),
            "ttfp_ms": {
                "from_upload_end": percentiles(&figures.ttfp_end),
                "from_upload_start": percentiles(&figures.ttfp_start),
            },
            "routes": routes,
            "cache": sizes,
        });
        // Kept at the top level too, as before.
        for d in [Derivative::Thumb, Derivative::Preview] {
            body[d.name()] = body["cache"][d.name()].clone();
        }
        body
    }
}
