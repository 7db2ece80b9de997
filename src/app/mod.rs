//! Composition: builds everything and runs it. Start-up is split so that tests can
//! drive the same path with their own sockets: [`prepare`] does the
//! blocking work on the data dir, [`bind`] opens the listeners, [`run`] serves until a
//! shutdown token is cancelled and then closes the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, LoginLimiter, SetupCode};
use crate::config::Config;
use crate::identity::{self, Vault};
use crate::net::mdns;
use crate::web::{self, portal, tus, AppState};
use crate::{consent, db, derivatives, ftp, hw, ingest, sync};

mod gpio;
pub mod tasks;

pub use tasks::Tasks;

/// The outcome of [`prepare`]: the state to serve, and what happened to the setup code.
pub struct Prepared {
    /// Ready to serve.
    pub state: AppState,
    /// A new code to show, or why there is none.
    pub setup_code: SetupCode,
}

/// The blocking part of start-up: data dir, database, identity, event row, admin code.
/// `admin_token` is `VENUEBOX_ADMIN_TOKEN`, if set.
pub fn prepare(config: Config, admin_token: Option<&str>) -> anyhow::Result<Prepared> {
    let store = db::open_store(&config)?;
    sweep_temporaries(&config.storage.data_dir)?;
    let vault = Vault::open(&config.storage.data_dir, &config.device.name)?;
    let event = crate::event::Event {
        name: config.event.name.clone(),
        starts_on: config.event.starts_on.clone(),
        ends_on: config.event.ends_on.clone(),
        locale: config.event.locale.clone(),
    };
    let setup_code = store
        .write_blocking(|tx| -> anyhow::Result<SetupCode> {
            // The config file describes the event; only write it when there is none yet,
            // so changes made in the admin API survive a restart.
            if crate::event::event(tx)?.is_none() {
                crate::event::set_event(tx, &event)?;
            }
            Ok(auth::ensure_setup_code(tx, admin_token)?)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secret = store
        .write_blocking(|tx| consent::ensure_secret(tx).map_err(crate::db::StoreError::from))
        .context("preparing the portal's per-event secret")?;
    let portal = portal::Portal::new(&config, secret);
    store
        .write_blocking(|tx| {
            for (language, text, _) in portal.notices() {
                consent::remember_notice(tx, &config.portal.notice_version, language, text)?;
            }
            Ok::<_, crate::db::StoreError>(())
        })
        .context("recording the privacy notices")?;
    let ingest = ingest::Ingest::open(
        store.clone(),
        &config.storage.data_dir,
        config.ingest.clone(),
        config.clock.trust,
    )
    .with_context(|| {
        format!(
            "preparing {} for uploads",
            config.storage.data_dir.display()
        )
    })?;
    let previews = derivatives::Previews::open(store.clone(), &config).with_context(|| {
        format!(
            "preparing {} for previews",
            config.storage.data_dir.display()
        )
    })?;
    let devices = crate::devices::Devices::default();
    let printer = hw::printer::handle(&config.printer, &devices);
    if let SetupCode::New(code) = &setup_code {
        // First start (or a reset code): a configured printer prints the code as a
        // slip; it waits in the queue until the printer is there.
        if printer.is_on() {
            let slip = crate::devices::escpos::setup_code_slip(&config.device.name, code);
            match printer.submit("setup code", slip) {
                Ok(()) => tracing::info!("admin setup code queued for the printer"),
                Err(e) => tracing::warn!(error = %e, "could not print the admin setup code"),
            }
        }
    }
    let login_limiter = Arc::new(LoginLimiter::new(
        config.admin.login_max_failures,
        Duration::from_secs(config.admin.login_window_secs),
    ));
    Ok(Prepared {
        state: AppState::new(crate::web::Handles {
            config: Arc::new(config),
            memo: crate::delivery::memo::Memo::new(store.clone()),
            store,
            vault,
            started: Instant::now(),
            login_limiter,
            ingest,
            upload_locks: Arc::default(),
            previews,
            portal,
            sync: sync::SyncHandle::default(),
            devices,
            printer,
            pairing: auth::Pairing::default(),
            gallery_views: Arc::default(),
        }),
        setup_code,
    })
}

/// Removes what writers killed mid-write left (`files::sweep_temporaries`) where the
/// box writes files by rename: the data dir itself (the setup code, the GPIO state),
/// `keys/` and the derivative shards. Camera trees and tus parts are not touched:
/// their names are the clients'.
fn sweep_temporaries(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use crate::files::{self, layout};
    let mut removed = files::sweep_temporaries(data_dir, 0)?;
    removed += files::sweep_temporaries(&layout::keys(data_dir), 0)?;
    removed += files::sweep_temporaries(&layout::derivatives(data_dir), 1)?;
    if removed > 0 {
        tracing::info!(
            removed,
            "removed temporary files left by an interrupted write"
        );
    }
    Ok(())
}

/// Binds the configured listeners. Errors name the listener and the address, e.g.
/// "cannot listen for HTTP on 0.0.0.0:80: Address already in use".
pub async fn bind(state: &AppState) -> anyhow::Result<Sockets> {
    let config = &state.config;
    let addr = config.http_addr();
    let http = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
    let https = if config.https.enabled {
        let addr = config.https_addr();
        let mut tls = match (&config.https.cert_file, &config.https.key_file) {
            (Some(cert), Some(key)) => identity::tls_server_config_from_files(cert, key)?,
            _ => state.vault.tls_server_config()?,
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for HTTPS on {addr}"))?;
        Some(web::TlsListener::new(tcp, tls)?)
    } else {
        None
    };
    let ftp = if config.ftp.enabled {
        let addr = config.ftp_addr();
        Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for FTP on {addr}"))?,
        )
    } else {
        None
    };
    let ftps_implicit = match (&config.ftp.implicit_listen, config.ftp.enabled) {
        (Some(addr), true) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for implicit FTPS on {addr}"))?,
        ),
        _ => None,
    };
    Ok(Sockets {
        web: web::Listeners { http, https },
        ftp,
        ftps_implicit,
    })
}

/// Every socket the service listens on, bound by [`bind`].
pub struct Sockets {
    /// HTTP and HTTPS.
    pub web: web::Listeners,
    /// FTP, when enabled.
    pub ftp: Option<tokio::net::TcpListener>,
    /// Implicit FTPS, when enabled with `ftp.implicit_listen`.
    pub ftps_implicit: Option<tokio::net::TcpListener>,
}

/// How often gallery views counted in memory go to the database
/// (`delivery::views`): a power cut loses at most this much of the count.
const GALLERY_VIEWS_FLUSH: Duration = Duration::from_secs(30);

/// Serves the app until `shutdown` is cancelled, waits for in-flight requests (within
/// the configured grace period), then flushes and closes the database.
pub async fn run(
    state: AppState,
    sockets: Sockets,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_router(web::app(state.clone()), state, sockets, shutdown).await
}

/// [`run`] with a router built by the caller (tests add routes to [`web::app`]).
/// Also serves FTP, announces the box with mDNS, and runs every worker (render queue,
/// store watcher, upload sweeper, retention, door and stall scanners, printer, sync), all spawned by one
/// [`Tasks`] and stopped by the same `shutdown`, joined within one deadline (the
/// HTTP grace period and 2 s more, under systemd's `TimeoutStopSec=20`).
pub async fn serve_router(
    router: axum::Router,
    state: AppState,
    sockets: Sockets,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
    let tasks = Tasks::new(shutdown.clone());
    let gpio = gpio::start(&tasks, &state);
    {
        let state = state.clone();
        let every = Duration::from_secs(state.config.tus.expire_after_secs.clamp(1, 60));
        tasks.every("upload sweeper", every, move || {
            let state = state.clone();
            async move {
                if let Err(e) = tus::sweep(&state).await {
                    tracing::warn!(error = %e, "sweeping expired uploads failed");
                }
            }
        });
    }
    {
        let (store, days) = (state.store.clone(), state.config.portal.retention_days);
        tasks.every("retention", Duration::from_secs(3600), move || {
            let store = store.clone();
            async move { consent::purge_expired(&store, days).await }
        });
    }
    {
        let (store, views) = (state.store.clone(), state.gallery_views.clone());
        tasks.every("gallery views", GALLERY_VIEWS_FLUSH, move || {
            let (store, views) = (store.clone(), views.clone());
            async move {
                if let Err(e) = views.flush(&store).await {
                    tracing::warn!(error = %e, "gallery views not written; kept for the next try");
                }
            }
        });
    }
    {
        let watch = Arc::new(tokio::sync::Mutex::new(state.ingest.store_watch()));
        tasks.every("store watcher", Duration::from_secs(1), move || {
            let watch = watch.clone();
            async move { watch.lock().await.poll().await }
        });
    }
    tasks.spawn(
        "render queue",
        state
            .previews
            .clone()
            .run(state.ingest.clone(), tasks.shutdown()),
    );
    tasks.spawn(
        "tagger",
        crate::delivery::tagging::Tagger::new(
            state.store.clone(),
            state.previews.clone(),
            state.portal.secret().clone(),
            &state.config,
        )
        .run(state.previews.subscribe_rendered(), tasks.shutdown()),
    );
    tasks.spawn(
        "door",
        hw::scanner::run(state.door(), state.devices.clone(), tasks.shutdown()),
    );
    for scanner in &state.config.tagging.scanners {
        let stall = crate::delivery::stall::Stall::new(
            state.store.clone(),
            state.portal.secret().clone(),
            &scanner.creator,
            state.config.tagging.gap_secs as i64,
        );
        tasks.spawn(
            "stall scanner",
            hw::scanner::run_stall(
                stall,
                scanner.clone(),
                state.devices.clone(),
                tasks.shutdown(),
            ),
        );
    }
    tasks.spawn(
        "printer",
        hw::printer::run(
            state.printer.clone(),
            state.config.printer.clone(),
            state.devices.clone(),
            tasks.shutdown(),
        ),
    );
    tasks.spawn(
        "sync",
        sync::run(
            state.store.clone(),
            state.config.clone(),
            state.ingest.clone(),
            state.sync.clone(),
            tasks.shutdown(),
        ),
    );
    if hw::notify::enabled() {
        spawn_systemd_reporting(&tasks, &state);
    }
    state.portal.bound(sockets.web.http.local_addr()?);
    let http_port = sockets.web.http.local_addr()?.port();
    let ftp_port = match &sockets.ftp {
        Some(l) => Some(l.local_addr()?.port()),
        None => None,
    };
    if let Some(port) = ftp_port {
        let implicit = match &sockets.ftps_implicit {
            Some(l) => Some(l.local_addr()?.port()),
            None => None,
        };
        state.portal.ftp_bound(port, implicit);
    }
    if let Some(listener) = sockets.ftp {
        let handles = ftp::Handles {
            config: state.config.clone(),
            store: state.store.clone(),
            ingest: state.ingest.clone(),
            previews: state.previews.clone(),
            vault: state.vault.clone(),
        };
        let (implicit, shutdown) = (sockets.ftps_implicit, tasks.shutdown());
        tasks.spawn("ftp", async move {
            if let Err(e) = ftp::serve(handles, listener, implicit, shutdown).await {
                // FTP down is serious but the portal must stay up: log it loudly.
                tracing::error!(error = %format!("{e:#}"), "FTP server stopped");
            }
        });
    }
    let box_id = crate::identity::box_id(&state.config.storage.data_dir).ok();
    let announcer = mdns::Announcer::start(&state.config, box_id.as_deref(), http_port, ftp_port)?;
    let limits = web::ConnectionLimits::from_config(&state.config.http);
    // The database is open, the listeners are bound (connections queue in the
    // backlog until the serve loop below accepts them) and every worker is spawned.
    hw::notify::ready();
    gpio.booted();
    web::serve(router, sockets.web, limits, shutdown, grace).await;
    db::run_blocking(move || announcer.shutdown()).await?;
    tasks.join(grace + Duration::from_secs(2)).await;
    if let Err(e) = state.gallery_views.flush(&state.store).await {
        tracing::warn!(error = %e, "the last gallery views were not written");
    }
    state.store.close().await.context("closing the database")?;
    tracing::info!("stopped");
    gpio.finish(&state).await.context("powering off")?;
    Ok(())
}

/// Under systemd (`NOTIFY_SOCKET` set): the `STATUS=` reporter, the watchdog loop when
/// `WATCHDOG_USEC` asks for one, and `STOPPING=1` as soon as shutdown starts. See
/// [`hw::notify`].
fn spawn_systemd_reporting(tasks: &Tasks, state: &AppState) {
    let config = &state.config;
    let health = hw::notify::watchdog_period().map(|period| {
        let health = hw::notify::Health::new(state.store.clone(), config.storage.data_dir.clone());
        tasks.spawn(
            "watchdog",
            hw::notify::watchdog(health.clone(), period, tasks.shutdown()),
        );
        health
    });
    let sources = hw::notify::StatusSources {
        store: state.store.clone(),
        previews: state.previews.clone(),
        sync: state.sync.clone(),
        sync_enabled: config.sync.enabled,
        data_dir: config.storage.data_dir.clone(),
        reserve_bytes: config.ingest.free_disk_reserve_bytes,
        health,
    };
    tasks.spawn(
        "systemd status",
        hw::notify::report_status(sources, tasks.shutdown()),
    );
    let shutdown = tasks.shutdown();
    tasks.spawn("systemd stopping", async move {
        shutdown.cancelled().await;
        hw::notify::stopping();
    });
}
