//! The floor of serving bytes from memory with the HTTP stack venuebox is built on
//! (axum 0.8 on hyper 1 and tokio, as `axum::serve` runs it): one route, no
//! middleware, no policy, no database, the file's bytes held in memory and sent as a
//! shared `Bytes` (no copy in user space). benches/delivery.sh runs it beside venuebox
//! and nginx on the same photo, so its figures show what the stack itself costs: hyper
//! writes a body with `writev`, which copies it into the socket, where nginx's
//! `sendfile` does not copy; hyper has no `sendfile` (hyperium/hyper#140, #3026;
//! tower-rs/tower-http#381).
//!
//! ```text
//! serve_floor FILE ADDR      # e.g. serve_floor preview.jpg 127.0.0.1:8081
//! ```
//!
//! Every path answers 200 with the file as `image/jpeg`. Runs until killed; exit
//! status 2 on a usage or I/O error.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, addr] = args.as_slice() else {
        eprintln!("usage: serve_floor FILE ADDR");
        std::process::exit(2);
    };
    let body = match std::fs::read(file) {
        Ok(bytes) => bytes::Bytes::from(bytes),
        Err(e) => {
            eprintln!("serve_floor: cannot read {file}: {e}");
            std::process::exit(2);
        }
    };
    let app = Router::new().route(
        "/{*path}",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "image/jpeg")], body).into_response() }
        }),
    );
    let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("serve_floor: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("serve_floor: {e}");
        std::process::exit(2);
    }
}
