//! The one TLS accept loop, shared by HTTPS (`web::TlsListener`) and implicit FTPS
//! (`ftp`): accepts TCP, runs handshakes concurrently, each bounded by a timeout and
//! at most [`MAX_HANDSHAKES`] at once (so a slow or silent client cannot stall the
//! others or exhaust memory), and yields finished TLS streams on a channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client gets to finish a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once.
pub const MAX_HANDSHAKES: usize = 64;

/// Accepts connections on `tcp` and completes their TLS handshakes with `config` on a
/// task of its own; finished streams arrive on the returned channel with the peer's
/// address. The task ends when the receiver is dropped. `what` names the listener in
/// logs ("HTTPS", "implicit FTPS"). Failed or timed-out handshakes are logged at
/// debug level and dropped; an accept error (EMFILE and friends) backs off 100 ms
/// instead of spinning.
pub fn accept_loop(
    tcp: TcpListener,
    config: rustls::ServerConfig,
    what: &'static str,
) -> mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)> {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let permit = tokio::select! {
                _ = tx.closed() => return,
                p = permits.clone().acquire_owned() => p.expect("never closed"),
            };
            let (stream, peer) = tokio::select! {
                _ = tx.closed() => return,
                accepted = tcp.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, listener = what, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, listener = what, "TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(%peer, listener = what, "TLS handshake timed out"),
                }
            });
        }
    });
    ready
}
