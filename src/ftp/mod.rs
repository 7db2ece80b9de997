//! FTP/FTPS for cameras (Canon, Nikon, Sony bodies push photos this way), served by
//! libunftp with a storage back end of our own.
//!
//! Each creator logs in with their own user name and password (`venuebox creator ftp
//! NAME`) and sees only their own tree, `<data>/ftp/<creator id>/`: cameras make
//! folders per card or date (MKD/CWD), upload under a temporary name and rename
//! (RNFR/RNTO), resume (REST, APPE), list (LIST/NLST/MLSD) and check (SIZE/MDTM).
//! No path leaves the tree: `..`, NUL and control characters are refused.
//!
//! A file becomes a photo when its upload completes under a final name (or is renamed
//! to one): it is hard-linked into the ingest core, which commits it like any upload
//! (content-addressed, fsynced, then the row). The camera's tree keeps its own link,
//! so SIZE and LIST show what the camera sent, with no second copy on disk (a photo
//! stored before is linked, not copied). Files in the tree are never changed in place:
//! every STOR/APPE writes a new file and renames it over the old name only once it is
//! accepted, so the stored photo behind a link can never be altered and a refused
//! upload leaves nothing behind. DELE removes a file from the camera's tree only; the
//! photo stays on the box.
//!
//! What is not a photo yet (a temporary name such as `*.tmp`, `*.part`, `*~` or a
//! dotfile, a cut-off upload kept for REST) must still start like a photo, counts
//! against the creator's quota with their photos and folders, and is removed
//! `ftp.expire_after_secs` after its last write (`usage`). STOR onto `/`, `.`, `..`,
//! a trailing slash or a folder is refused before anything is written.
//!
//! Explicit FTPS (AUTH TLS) uses the box's certificate with TLS session resumption,
//! which some clients require on the data channel; `AUTH SSL`, the older value, is
//! taken as `AUTH TLS`. Implicit FTPS (port 990, Canon bodies), which libunftp lacks,
//! goes through `ImplicitRelay`, a TLS relay. libunftp is a patched copy of its newest
//! release (vendor/libunftp/PATCHES.md: `AUTH SSL`, and a QUIT sent during a transfer
//! answered after the transfer's 226).

mod implicit;
mod logins;
mod storage;
mod usage;

pub use logins::CameraUser;
pub use storage::{is_temporary_name, resolve, CameraTrees, Meta};

use implicit::ImplicitRelay;
use logins::{CreatorLogins, RelayedLogins};
use usage::TreeUsage;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use libunftp::options::{FtpsRequired, TlsFlags};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use unftp_core::auth::Authenticator;

use crate::db::Store;
use crate::files;

/// What the FTP server works with: cheap handles, not the whole app state.
#[derive(Clone)]
pub struct Handles {
    /// The validated configuration (`ftp`, `admin` login limits, `storage.data_dir`).
    pub config: Arc<crate::config::Config>,
    /// The database (creator logins).
    pub store: Store,
    /// The ingest core every camera upload commits through.
    pub ingest: crate::ingest::Ingest,
    /// The render queue (instant previews of uploads in progress).
    pub previews: crate::derivatives::Previews,
    /// The box's identity (its TLS certificate, for implicit FTPS).
    pub vault: crate::identity::Vault,
}

/// Serves FTP on `listener` until `shutdown` is cancelled, then gives sessions the
/// configured grace period before cutting them off.
///
/// The accept loop is ours, not libunftp's: its own listener leaves Nagle's algorithm
/// on for control connections, which delays every `226` reply behind the client's
/// delayed ACK of the `150` before it, about 40 ms per file (measured with
/// benches/ingest.sh: 19 MB/s against vsftpd's 490). Here each control connection
/// gets TCP_NODELAY and is served by [`libunftp::Server::service`].
pub async fn serve(
    state: Handles,
    listener: TcpListener,
    implicit: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    let root = crate::files::layout::ftp(&config.storage.data_dir);
    files::create_dir(&root, 0o700)?;
    let max_age = Duration::from_secs(config.ftp.expire_after_secs);
    let (usage, swept) = TreeUsage::open(&root, max_age)?;
    if swept.partial > 0 {
        tracing::info!(
            files = swept.partial,
            "removed partial FTP writes left by a crash"
        );
    }
    if swept.expired > 0 {
        tracing::info!(
            files = swept.expired,
            "removed expired FTP files that were not photos"
        );
    }
    let usage = Arc::new(usage);
    let trees = CameraTrees {
        root,
        ingest: state.ingest.clone(),
        previews: state.previews.clone(),
        usage: usage.clone(),
    };
    // Files that are not photos expire within a minute of their age (or of it, if
    // shorter), checked between accepts: only those files are looked at.
    let mut expiry =
        tokio::time::interval(max_age.clamp(Duration::from_secs(1), Duration::from_secs(60)));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let logins = Arc::new(CreatorLogins {
        store: state.store.clone(),
        limiter: crate::auth::LoginLimiter::new(
            config.admin.login_max_failures,
            Duration::from_secs(config.admin.login_window_secs),
        ),
    });
    let keys = crate::files::layout::keys(&config.storage.data_dir);
    let (first, last) = config.ftp.passive_ports;
    // `implicit`: the real client and the box's address it reached, for a session
    // whose control connection comes through the implicit-FTPS relay.
    let build = move |implicit: Option<(IpAddr, Option<Ipv4Addr>)>| {
        let trees = trees.clone();
        let authenticator: Arc<dyn Authenticator> = match implicit {
            Some((peer, _)) => Arc::new(RelayedLogins {
                inner: logins.clone(),
                peer,
            }),
            None => logins.clone(),
        };
        let builder = libunftp::ServerBuilder::with_user_detail_provider(
            Box::new(move || trees.clone()),
            logins.clone(),
        );
        let builder = match implicit {
            // Passive replies must name the address the client reached, not the relay's.
            Some((_, Some(local))) => builder.passive_host(local),
            _ => builder,
        };
        builder
            .authenticator(authenticator)
            .greeting("venuebox ready")
            .passive_ports(first..=last)
            // The box's certificate; libunftp's default flags: TLS 1.2 with session-id
            // and ticket resumption, which clients reuse on the data channel.
            .ftps(keys.join("tls.crt"), keys.join("tls.key"))
            .ftps_tls_flags(TlsFlags::default())
            .ftps_required(FtpsRequired::None, FtpsRequired::None)
            .idle_session_timeout(600)
            .build()
    };
    // Fail at start, not at the first camera, if the server cannot be built.
    drop(build(None)?);
    tracing::info!(addr = %listener.local_addr()?, "FTP serving");
    let relay = match implicit {
        Some(listener) => {
            tracing::info!(addr = %listener.local_addr()?, "implicit FTPS serving");
            Some(ImplicitRelay::new(listener, state.vault.tls_server_config()?).await?)
        }
        None => None,
    };
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        let (stream, peer, implicit) = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = expiry.tick() => {
                let usage = usage.clone();
                match crate::db::run_blocking(move || usage.expire(max_age)).await {
                    Ok(0) => {}
                    Ok(files) => tracing::info!(files, "removed expired FTP files that were not photos"),
                    Err(e) => tracing::warn!(error = %e, "expiring FTP files failed"),
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer, None),
                Err(e) => {
                    tracing::warn!(error = %e, "FTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            relayed = async { relay.as_ref().expect("guarded").next().await }, if relay.is_some() => match relayed {
                Some((stream, peer, local)) => (stream, peer, Some((peer.ip(), local))),
                None => continue,
            },
        };
        // Reap finished sessions so the set does not grow.
        while sessions.try_join_next().is_some() {}
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        match build(implicit) {
            Ok(server) => {
                sessions.spawn(async move {
                    if let Err(e) = server.service(stream).await {
                        tracing::debug!(%peer, error = ?e, "FTP session ended with an error");
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot start an FTP session"),
        }
    }
    drop(listener);
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    if tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            "cutting off FTP sessions still open at the end of the shutdown grace period"
        );
        sessions.shutdown().await;
    }
    Ok(())
}
