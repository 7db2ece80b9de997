//! venuebox: the firmware of an on-site photo box. Cameras and phones upload over the
//! LAN, the box renders previews, attendees consent and collect their photos through a
//! captive portal, and everything consent allows is synced to the cloud when an uplink
//! appears. See README.md for the architecture.
//!
//! The binary (`src/main.rs`) only hands over to [`cli::main`]. Start-up is split so
//! that tests can drive the same path with their own sockets: [`prepare`] does the
//! blocking work on the data dir, [`bind`] opens the listeners, [`run`] serves until a
//! shutdown token is cancelled and then closes the store.

pub mod admin;
pub mod background;
pub mod cli;
pub mod config;
pub mod consent;
pub mod creators;
pub mod durable;
pub mod ftp;
pub mod http;
pub mod import;
pub mod ingest;
pub mod mdns;
pub mod netcheck;
pub mod portal;
pub mod previews;
pub mod privacy;
pub mod render;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tus;
pub mod vault;
pub mod watermark;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::admin::{LoginLimiter, SetupCode};
use crate::config::Config;
use crate::store::{Store, StoreOptions};
use crate::vault::Vault;

/// Everything a request handler may reach: cheap handles, cloned per request.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The box's identity.
    pub vault: Vault,
    /// When the service started (for `/healthz` uptime).
    pub started: Instant,
    /// Failed admin logins per client.
    pub login_limiter: Arc<LoginLimiter>,
    /// The ingest core every upload protocol commits through.
    pub ingest: ingest::Ingest,
    /// Which tus uploads a PATCH is writing right now.
    pub upload_locks: Arc<tus::UploadLocks>,
    /// The render queue and derivative store.
    pub previews: previews::Previews,
    /// The captive portal (its per-event secret and who is the box).
    pub portal: portal::Portal,
    /// The sync worker's status, for the dashboard.
    pub sync: sync::SyncHandle,
}

/// The outcome of [`prepare`]: the state to serve, and what happened to the setup code.
pub struct Prepared {
    /// Ready to serve.
    pub state: AppState,
    /// A new code to show, or why there is none.
    pub setup_code: SetupCode,
}

/// Name of the database file in the data dir.
pub const DATABASE_FILE: &str = "venuebox.db";

/// Creates the data dir if missing (mode 0700) and checks it accepts files, then opens
/// (and migrates) the database. Shared by the service and the CLI's state-changing
/// commands, so both work on the same data the same way.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let dir = &config.storage.data_dir;
    durable::create_dir(dir, 0o700)
        .and_then(|()| durable::check_writable(dir))
        .with_context(|| format!("data dir {} is not writable", dir.display()))?;
    let options = StoreOptions {
        readers: config.storage.readers,
        busy_timeout: Duration::from_millis(config.storage.busy_timeout_ms),
    };
    let store = Store::open(&dir.join(DATABASE_FILE), &options)?;
    Ok(store)
}

/// The blocking part of start-up: data dir, database, identity, event row, admin code.
/// `admin_token` is `VENUEBOX_ADMIN_TOKEN`, if set.
pub fn prepare(config: Config, admin_token: Option<&str>) -> anyhow::Result<Prepared> {
    let store = open_store(&config)?;
    let vault = Vault::open(&config.storage.data_dir, &config.device.name)?;
    let event = store::Event {
        name: config.event.name.clone(),
        starts_on: config.event.starts_on.clone(),
        ends_on: config.event.ends_on.clone(),
        locale: config.event.locale.clone(),
    };
    let setup_code = store
        .write_blocking(|tx| -> Result<SetupCode, http::AppError> {
            // The config file describes the event; only write it when there is none yet,
            // so changes made in the admin API survive a restart.
            if store::event(tx)?.is_none() {
                store::set_event(tx, &event)?;
            }
            admin::ensure_setup_code(tx, admin_token)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secret = store
        .write_blocking(|tx| consent::ensure_secret(tx).map_err(store::StoreError::from))
        .context("preparing the portal's per-event secret")?;
    let portal = portal::Portal::new(&config, secret);
    store
        .write_blocking(|tx| {
            for (language, text, _) in portal.notices() {
                consent::remember_notice(tx, &config.portal.notice_version, language, text)?;
            }
            Ok::<_, store::StoreError>(())
        })
        .context("recording the privacy notices")?;
    let ingest = ingest::Ingest::open(
        store.clone(),
        &config.storage.data_dir,
        config.ingest.clone(),
    )
    .with_context(|| {
        format!(
            "preparing {} for uploads",
            config.storage.data_dir.display()
        )
    })?;
    let previews = previews::Previews::open(store.clone(), &config).with_context(|| {
        format!(
            "preparing {} for previews",
            config.storage.data_dir.display()
        )
    })?;
    let login_limiter = Arc::new(LoginLimiter::new(
        config.admin.login_max_failures,
        Duration::from_secs(config.admin.login_window_secs),
    ));
    Ok(Prepared {
        state: AppState {
            config: Arc::new(config),
            store,
            vault,
            started: Instant::now(),
            login_limiter,
            ingest,
            upload_locks: Arc::default(),
            previews,
            portal,
            sync: sync::SyncHandle::default(),
        },
        setup_code,
    })
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
            (Some(cert), Some(key)) => vault::tls_server_config_from_files(cert, key)?,
            _ => state.vault.tls_server_config()?,
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for HTTPS on {addr}"))?;
        Some(http::TlsListener::new(tcp, tls)?)
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
        web: http::Listeners { http, https },
        ftp,
        ftps_implicit,
    })
}

/// Every socket the service listens on, bound by [`bind`].
pub struct Sockets {
    /// HTTP and HTTPS.
    pub web: http::Listeners,
    /// FTP, when enabled.
    pub ftp: Option<tokio::net::TcpListener>,
    /// Implicit FTPS, when enabled with `ftp.implicit_listen`.
    pub ftps_implicit: Option<tokio::net::TcpListener>,
}

/// Serves the app until `shutdown` is cancelled, waits for in-flight requests (within
/// the configured grace period), then flushes and closes the database.
pub async fn run(
    state: AppState,
    sockets: Sockets,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_router(http::app(state.clone()), state, sockets, shutdown).await
}

/// [`run`] with a router built by the caller (tests add routes to [`http::app`]).
/// Also serves FTP, announces the box with mDNS, and sweeps expired uploads, all
/// stopped by the same `shutdown`.
pub async fn serve_router(
    router: axum::Router,
    state: AppState,
    sockets: Sockets,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
    let sweeper = tokio::spawn(tus::run_sweeper(state.clone(), shutdown.clone()));
    let watcher = {
        let (ingest, shutdown) = (state.ingest.clone(), shutdown.clone());
        tokio::spawn(async move { ingest.watch_store(Duration::from_secs(1), shutdown).await })
    };
    let renderer = tokio::spawn(
        state
            .previews
            .clone()
            .run(state.ingest.clone(), shutdown.clone()),
    );
    let retention = tokio::spawn(portal::run_retention(state.clone(), shutdown.clone()));
    let door = tokio::spawn(portal::door::run(state.clone(), shutdown.clone()));
    let syncer = tokio::spawn(sync::run(state.clone(), shutdown.clone()));
    state.portal.bound(sockets.web.http.local_addr()?);
    let http_port = sockets.web.http.local_addr()?.port();
    let ftp_port = match &sockets.ftp {
        Some(l) => Some(l.local_addr()?.port()),
        None => None,
    };
    let implicit = sockets.ftps_implicit;
    let ftp = sockets.ftp.map(|listener| {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = ftp::serve(state, listener, implicit, shutdown.clone()).await {
                // FTP down is serious but the portal must stay up: log it loudly.
                tracing::error!(error = %format!("{e:#}"), "FTP server stopped");
            }
        })
    });
    let announcer = mdns::Announcer::start(&state.config, http_port, ftp_port)?;
    http::serve(router, sockets.web, shutdown, grace).await;
    store::run_blocking(move || announcer.shutdown()).await?;
    let _ = sweeper.await;
    let _ = watcher.await;
    let _ = renderer.await;
    let _ = retention.await;
    let _ = door.await;
    let _ = syncer.await;
    if let Some(ftp) = ftp {
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), ftp).await;
    }
    state.store.close().await.context("closing the database")?;
    tracing::info!("stopped");
    Ok(())
}
