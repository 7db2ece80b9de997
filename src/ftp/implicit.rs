//! Implicit FTPS (port 990), which libunftp lacks: a TLS relay in front of it, on the
//! shared TLS accept loop (`net::tls`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

/// Implicit FTPS (TLS from the first byte, port 990), which libunftp lacks: its
/// sessions start in plain text and upgrade on `AUTH TLS`. The relay terminates TLS on
/// the control connection with the box's certificate and hands libunftp the other end
/// of a loopback connection carrying the plain commands. Data connections do not pass
/// through it: the client sends `PROT P` as implicit clients do, and libunftp secures
/// the passive data connections itself, on the address the client reached.
pub(super) struct ImplicitRelay {
    /// Finished handshakes: libunftp's end of the loopback pair, the real client, and
    /// the box's IPv4 address the client reached (for PASV replies).
    ready:
        tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(TcpStream, SocketAddr, Option<Ipv4Addr>)>>,
}

impl ImplicitRelay {
    pub(super) async fn new(
        listener: TcpListener,
        tls: rustls::ServerConfig,
    ) -> anyhow::Result<ImplicitRelay> {
        // libunftp's ends of the loopback pairs are accepted here, one pair at a time.
        let inner = Arc::new(tokio::sync::Mutex::new(
            TcpListener::bind("127.0.0.1:0").await?,
        ));
        let mut handshakes = crate::net::tls::accept_loop(listener, tls, "implicit FTPS");
        let (tx, ready) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let (tls, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    next = handshakes.recv() => match next {
                        Some(pair) => pair,
                        None => return,
                    },
                };
                let (inner, tx) = (inner.clone(), tx.clone());
                tokio::spawn(async move {
                    let tcp = tls.get_ref().0;
                    let _ = tcp.set_nodelay(true);
                    let local = match tcp.local_addr().map(|a| a.ip().to_canonical()) {
                        Ok(IpAddr::V4(v4)) => Some(v4),
                        _ => None,
                    };
                    let pair = async {
                        let listener = inner.lock().await;
                        let ours = TcpStream::connect(listener.local_addr()?).await?;
                        let want = ours.local_addr()?;
                        loop {
                            let (theirs, from) = listener.accept().await?;
                            // Anything else on loopback that found this port is dropped.
                            if from == want {
                                return Ok::<_, std::io::Error>((ours, theirs));
                            }
                        }
                    };
                    let (mut ours, theirs) = match pair.await {
                        Ok(pair) => pair,
                        Err(e) => {
                            return tracing::warn!(%peer, error = %e, "implicit FTPS relay failed")
                        }
                    };
                    let _ = ours.set_nodelay(true);
                    if tx.send((theirs, peer, local)).await.is_err() {
                        return;
                    }
                    let mut tls = tls;
                    // Ends when either side closes; libunftp's session then ends too.
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut ours).await;
                });
            }
        });
        Ok(ImplicitRelay {
            ready: tokio::sync::Mutex::new(ready),
        })
    }

    pub(super) async fn next(&self) -> Option<(TcpStream, SocketAddr, Option<Ipv4Addr>)> {
        self.ready.lock().await.recv().await
    }
}
