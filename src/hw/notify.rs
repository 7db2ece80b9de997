//! systemd's service notification protocol, for `Type=notify` and `WatchdogSec=` in
//! systemd/venuebox.service: `READY=1` once the database, the listeners and the
//! workers are up, `STATUS=` lines for `systemctl status`, `WATCHDOG=1` from a health
//! loop, `STOPPING=1` when shutdown starts. The datagrams are sent by the `sd-notify`
//! crate (sd_notify(3); the variables are in systemd.exec(5), "Environment variables
//! set or propagated by the service manager"). Without `NOTIFY_SOCKET` in the
//! environment (a shell, a test, another init) every call here is a no-op.
//!
//! The watchdog (sd_watchdog_enabled(3)): when `WATCHDOG_USEC` is set, and
//! `WATCHDOG_PID` is unset or this process's id, [`watchdog`] runs [`Health::check`]
//! every half of that interval and sends `WATCHDOG=1` only when every check passed:
//! - the database: a write round trip through the writer ([`Store::write_round_trip`]:
//!   the write lock taken, the schema read, an empty commit);
//! - the executor: a task spawned on the runtime must run and answer. The loop itself
//!   is a task on that runtime, so a wedged runtime stops the pings either way;
//! - the disk: a file created, synced and removed in the data dir
//!   ([`files::check_writable`]).
//!
//! Each check must answer within a quarter of the watchdog interval; a check still
//! running from an earlier round fails the round rather than stacking up blocked
//! threads. Two failed rounds in a row are a whole interval without a ping, and
//! systemd kills and restarts the service (`Restart=` in the unit).
//!
//! Low free space is not a watchdog failure: the box handles it (uploads are refused
//! with 507 / 552 while the free space is below `ingest.free_disk_reserve_bytes`) and
//! a restart cannot free a byte, so it only puts a warning in the `STATUS=` line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::db::Store;
use crate::derivatives::Previews;
use crate::files;
use crate::sync::SyncHandle;

/// How often [`report_status`] recomputes the `STATUS=` line (it is sent only when it
/// changed).
pub const STATUS_PERIOD: Duration = Duration::from_secs(5);

/// True when a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Sends `states` as one datagram; a failure is logged, never fatal (the box serves
/// whether or not systemd hears it).
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// `READY=1` with a first `STATUS=`: start-up is complete (systemd then starts the
/// units ordered after venuebox, and `systemctl start` returns).
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("Serving")]);
}

/// `STOPPING=1`: shutdown has started (in-flight requests get the grace period).
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("Stopping: finishing in-flight requests"),
    ]);
}

/// Sends `STATUS=line`, one line of text shown by `systemctl status venuebox`.
pub fn status(line: &str) {
    send(&[NotifyState::Status(line)]);
}

/// The interval between watchdog pings: half of `WATCHDOG_USEC`, as
/// sd_watchdog_enabled(3) recommends; `None` when no watchdog is asked for this
/// process (`WATCHDOG_USEC` unset, or `WATCHDOG_PID` names another process).
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// One check that runs in its own task and is waited for at most a bound; while a
/// run is still going, the next one fails at once instead of starting another.
#[derive(Clone, Default)]
struct Probe(Arc<AtomicBool>);

impl Probe {
    async fn run<F>(&self, bound: Duration, work: F) -> Result<(), String>
    where
        F: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        if self.0.swap(true, Ordering::SeqCst) {
            return Err("the previous check has not answered yet".into());
        }
        let busy = self.0.clone();
        let handle = tokio::spawn(async move {
            let result = work.await;
            busy.store(false, Ordering::SeqCst);
            result
        });
        match tokio::time::timeout(bound, handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => {
                self.0.store(false, Ordering::SeqCst);
                Err(format!("the check failed: {e}"))
            }
            Err(_) => Err(format!("no answer within {} ms", bound.as_millis())),
        }
    }
}

/// The health checks behind the watchdog (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Health {
    store: Store,
    data_dir: PathBuf,
    database: Probe,
    disk: Probe,
    failing: Arc<Mutex<Option<String>>>,
}

impl Health {
    /// Checks `store` and the data dir `data_dir`.
    pub fn new(store: Store, data_dir: PathBuf) -> Health {
        Health {
            store,
            data_dir,
            database: Probe::default(),
            disk: Probe::default(),
            failing: Arc::default(),
        }
    }

    /// Runs the database, executor and disk checks at once, each bounded by `bound`.
    /// `Err` lists every failed check in one readable line, e.g. "database: no answer
    /// within 500 ms".
    pub async fn check(&self, bound: Duration) -> Result<(), String> {
        let store = self.store.clone();
        let database = self.database.run(bound, async move {
            store.write_round_trip().await.map_err(|e| e.to_string())
        });
        let dir = self.data_dir.clone();
        let disk = self.disk.run(bound, async move {
            crate::db::run_blocking(move || files::check_writable(&dir))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        });
        let executor = async {
            match tokio::time::timeout(bound, tokio::spawn(async {})).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("a spawned task failed: {e}")),
                Err(_) => Err(format!(
                    "a spawned task did not run within {} ms",
                    bound.as_millis()
                )),
            }
        };
        let (database, executor, disk) = tokio::join!(database, executor, disk);
        let failures: Vec<String> = [
            ("database", database),
            ("executor", executor),
            ("data dir", disk),
        ]
        .into_iter()
        .filter_map(|(what, r)| r.err().map(|e| format!("{what}: {e}")))
        .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// The failure of the last watchdog round, if it failed (for the `STATUS=` line).
    pub fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The watchdog loop: every `period` (see [`watchdog_period`]) runs [`Health::check`]
/// bounded by half the period, and sends `WATCHDOG=1` only if it passed. Logs when the
/// pings stop and when they resume. Returns at shutdown.
pub async fn watchdog(health: Health, period: Duration, shutdown: CancellationToken) {
    tracing::info!(
        every_ms = period.as_millis() as u64,
        "systemd watchdog: pinging while the health checks pass"
    );
    loop {
        let started = tokio::time::Instant::now();
        let result = health.check(period / 2).await;
        let before = {
            let mut failing = health.failing.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *failing, result.clone().err())
        };
        match (result, before) {
            (Ok(()), was) => {
                send(&[NotifyState::Watchdog]);
                if was.is_some() {
                    tracing::info!("health checks pass again: watchdog pings resume");
                }
            }
            (Err(why), _) => {
                tracing::error!(problem = %why, "health check failed: no watchdog ping");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(started + period) => {}
        }
    }
}

/// Where the `STATUS=` line's figures come from.
#[derive(Clone)]
pub struct StatusSources {
    /// For the sync backlog.
    pub store: Store,
    /// Photos waiting for previews ([`Previews::pending`]).
    pub previews: Previews,
    /// Uplink state ([`SyncHandle::status`]).
    pub sync: SyncHandle,
    /// `sync.enabled` in the config.
    pub sync_enabled: bool,
    /// The data dir, for its free space.
    pub data_dir: PathBuf,
    /// `ingest.free_disk_reserve_bytes`: below it the line starts with a warning.
    pub reserve_bytes: u64,
    /// The watchdog's last failure, if any.
    pub health: Option<Health>,
}

/// The figures of one `STATUS=` line; `None` where a figure could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Photos without previews yet.
    pub previews_waiting: Option<u64>,
    /// `None`: sync is off.
    pub sync: Option<SyncSnapshot>,
    /// Free bytes on the data dir's file system.
    pub disk_free: Option<u64>,
    /// The free-disk reserve, bytes.
    pub reserve_bytes: u64,
    /// The watchdog's last failure.
    pub unhealthy: Option<String>,
}

/// Sync's part of a [`Snapshot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSnapshot {
    /// Objects queued for the target.
    pub queued: Option<u64>,
    /// `up`, `down`, `unknown`, or empty when the worker has not started.
    pub uplink: &'static str,
}

impl StatusSources {
    /// Reads the figures now.
    pub async fn snapshot(&self) -> Snapshot {
        let previews_waiting = self.previews.pending().await.ok();
        let sync = if self.sync_enabled {
            Some(SyncSnapshot {
                queued: self
                    .store
                    .read_sql(crate::sync::outbox::pending_count)
                    .await
                    .ok(),
                uplink: self.sync.status().uplink,
            })
        } else {
            None
        };
        let dir = self.data_dir.clone();
        let disk_free = crate::db::run_blocking(move || files::free_bytes(&dir))
            .await
            .ok()
            .and_then(|r| r.ok());
        Snapshot {
            previews_waiting,
            sync,
            disk_free,
            reserve_bytes: self.reserve_bytes,
            unhealthy: self.health.as_ref().and_then(Health::failing),
        }
    }
}

/// "1.2 GB", "512 MB", "900 kB" (decimal units, one decimal below 10).
fn bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in UNITS {
        let v = n as f64 / size;
        if v >= 1.0 {
            return if v < 10.0 {
                format!("{v:.1} {unit}")
            } else {
                format!("{v:.0} {unit}")
            };
        }
    }
    format!("{n} B")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The `STATUS=` line for `snap`, e.g. "Serving; 3 photos waiting for previews; sync:
/// 12 objects queued, uplink up; 14 GB free". Problems come first: "UNHEALTHY
/// (watchdog pings stopped): …" and "WARNING: disk almost full (…), uploads refused".
pub fn status_line(snap: &Snapshot) -> String {
    let mut parts = Vec::new();
    if let Some(why) = &snap.unhealthy {
        parts.push(format!("UNHEALTHY (watchdog pings stopped): {why}"));
    }
    if let Some(free) = snap.disk_free.filter(|f| *f < snap.reserve_bytes) {
        parts.push(format!(
            "WARNING: disk almost full ({} free, reserve {}), uploads refused",
            bytes(free),
            bytes(snap.reserve_bytes)
        ));
    }
    parts.push("Serving".into());
    parts.push(match snap.previews_waiting {
        Some(0) => "previews up to date".into(),
        Some(n) => format!("{} waiting for previews", plural(n, "photo", "photos")),
        None => "previews: queue unreadable".into(),
    });
    parts.push(match &snap.sync {
        None => "sync off".into(),
        Some(s) => {
            let queued = match s.queued {
                Some(n) => plural(n, "object", "objects") + " queued",
                None => "queue unreadable".into(),
            };
            let uplink = match s.uplink {
                "up" => "uplink up",
                "down" => "uplink down",
                _ => "uplink not tried yet",
            };
            format!("sync: {queued}, {uplink}")
        }
    });
    if let Some(free) = snap.disk_free {
        parts.push(format!("{} free", bytes(free)));
    }
    parts.join("; ")
}

/// Sends the `STATUS=` line now and every [`STATUS_PERIOD`] when it changed, until
/// shutdown.
pub async fn report_status(sources: StatusSources, shutdown: CancellationToken) {
    let mut last = String::new();
    loop {
        let line = status_line(&sources.snapshot().await);
        if line != last {
            status(&line);
            last = line;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(STATUS_PERIOD) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_reads_as_text_and_puts_problems_first() {
        let mut snap = Snapshot {
            previews_waiting: Some(3),
            sync: Some(SyncSnapshot {
                queued: Some(12),
                uplink: "up",
            }),
            disk_free: Some(14_200_000_000),
            reserve_bytes: 256 << 20,
            unhealthy: None,
        };
        assert_eq!(
            status_line(&snap),
            "Serving; 3 photos waiting for previews; sync: 12 objects queued, uplink up; 14 GB free"
        );
        snap.previews_waiting = Some(0);
        snap.sync = None;
        snap.disk_free = Some(100_000_000);
        snap.unhealthy = Some("database: no answer within 500 ms".into());
        assert_eq!(
            status_line(&snap),
            "UNHEALTHY (watchdog pings stopped): database: no answer within 500 ms; \
             WARNING: disk almost full (100 MB free, reserve 268 MB), uploads refused; \
             Serving; previews up to date; sync off; 100 MB free"
        );
    }

    #[tokio::test]
    async fn the_health_check_names_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("venuebox.db"),
            &crate::db::StoreOptions::default(),
        )
        .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let health = Health::new(store.clone(), data.clone());
        let bound = Duration::from_secs(5);
        assert_eq!(health.check(bound).await, Ok(()));
        // The data dir gone (an unmounted card): the disk check fails, alone.
        std::fs::remove_dir(&data).unwrap();
        let why = health.check(bound).await.unwrap_err();
        assert!(why.starts_with("data dir: "), "{why}");
        assert!(!why.contains("database"), "{why}");
        // The database closed: the write round trip fails too.
        store.close().await.unwrap();
        let why = health.check(bound).await.unwrap_err();
        assert!(why.starts_with("database: "), "{why}");
        assert!(why.contains("data dir: "), "{why}");
    }

    #[tokio::test]
    async fn a_check_still_running_fails_the_next_round_instead_of_stacking() {
        let probe = Probe::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let slow = probe.run(Duration::from_millis(20), async move {
            let _ = rx.await;
            Ok(())
        });
        assert!(slow.await.unwrap_err().contains("no answer within 20 ms"));
        let again = probe.run(Duration::from_millis(20), async { Ok(()) }).await;
        assert!(again.unwrap_err().contains("previous check"));
        tx.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            probe.run(Duration::from_millis(20), async { Ok(()) }).await,
            Ok(())
        );
    }
}
