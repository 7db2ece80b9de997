//! The box's HTTP limits under concurrent bursts (hardening item 8): one in-flight
//! limit for the whole box, a per-client cap, a body-read timeout that a slow sender
//! cannot hold open, a header-read timeout, and connection caps. Each test fires a
//! burst from real sockets on loopback and counts what got through. Clients are told
//! apart by source address (127.0.0.1, 127.0.0.2, ... are all loopback).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{hidden, phone, Options, TestBox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to the box from `127.0.0.<n>`.
async fn connect_from(n: u8, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads what the box sends until it closes or `wait` passes: the status of its
/// response (`None` if none came) and whether the connection was closed.
async fn answer(stream: &mut TcpStream, wait: Duration) -> (Option<u16>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (status_of(&got), true),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if status_of(&got).is_some() && got.windows(4).any(|w| w == b"\r\n\r\n") {
                    return (status_of(&got), false);
                }
            }
            Err(_) => return (status_of(&got), false),
        }
    }
}

/// [`answer`] for each stream at once.
async fn answers(streams: Vec<TcpStream>, wait: Duration) -> Vec<((Option<u16>, bool), TcpStream)> {
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let got = answer(&mut stream, wait).await;
                (got, stream)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await.unwrap());
    }
    all
}

fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Starts a consent POST whose body never finishes: headers and 10 of 100 bytes.
async fn slow_consent(n: u8, b: &TestBox) -> TcpStream {
    let mut stream = connect_from(n, b.http).await;
    stream
        .write_all(
            b"POST /portal/consent HTTP/1.1\r\nHost: venuebox.local\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              action=acc",
        )
        .await
        .unwrap();
    stream
}

/// 256 slow consent bodies made every other attendee's consent answer 503 until the
/// request timeout. Now slow bodies hold no place in the box's limit, one client gets
/// at most `max_in_flight_per_client`, and the body-read timeout ends them.
#[tokio::test]
async fn slow_bodies_cannot_starve_other_attendees() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.http.max_in_flight = 8;
            c.http.max_in_flight_per_client = 4;
            c.http.body_timeout_secs = 2;
        }),
        ..Default::default()
    })
    .await;
    // Two attackers fill the box's whole in-flight limit with slow bodies; the first
    // tries three times its share.
    let mut held = Vec::new();
    for _ in 0..12 {
        held.push(slow_consent(2, &b).await);
    }
    for _ in 0..4 {
        held.push(slow_consent(3, &b).await);
    }
    let started = Instant::now();
    let mut refused = 0;
    let mut waiting = Vec::new();
    for (answer, stream) in answers(held, Duration::from_millis(300)).await {
        match answer {
            (Some(429), _) => refused += 1,
            (None, false) => waiting.push(stream),
            other => panic!("a slow body got {other:?}"),
        }
    }
    assert_eq!(
        refused, 8,
        "the first attacker's 12 beyond the cap of 4 are refused"
    );
    assert_eq!(waiting.len(), 8);

    // Another attendee consents as usual while both attackers' bodies trickle.
    let attendee = phone(4);
    let page = attendee
        .get(b.url("/portal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = attendee
        .post(b.url("/portal/consent"))
        .form(&[
            ("csrf", hidden(&page, "csrf").as_str()),
            ("action", "accept"),
            ("gallery", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);

    // The slow bodies are answered 408 once the body-read timeout passes.
    for ((status, _), _) in answers(waiting, Duration::from_secs(5)).await {
        assert_eq!(status, Some(408));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "408 after {took:?}, not after the 2 s body timeout"
    );
    b.stop().await;
}

/// Starts a tus PATCH that sends 4 of its bytes (a JPEG's start) and then waits.
async fn slow_patch(b: &TestBox, location: &str, token: &str, length: usize) -> TcpStream {
    let mut stream = connect_from(1, b.http).await;
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: venuebox.local\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0xff, 0xd8, 0xff, 0xe0]).await.unwrap();
    stream
}

/// The in-flight limit was one semaphore per route, so a route full of slow requests
/// left every other route open, and the box as a whole took many times the limit.
/// Now every request of every route takes its place from one limit.
#[tokio::test]
async fn the_in_flight_limit_is_one_for_the_whole_box() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.http.max_in_flight = 3;
            c.http.max_in_flight_per_client = 100;
        }),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    let mut locations = Vec::new();
    for _ in 0..5 {
        let r = c
            .post(b.url("/files/"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", 1000)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        locations.push(r.headers()["location"].to_str().unwrap().to_string());
    }
    let mut streams = Vec::new();
    for location in &locations {
        streams.push(slow_patch(&b, location, &token, 1000).await);
    }
    let mut shed = 0;
    let mut streaming = Vec::new();
    for mut stream in streams {
        match answer(&mut stream, Duration::from_millis(300)).await {
            (Some(503), _) => shed += 1,
            (None, false) => streaming.push(stream),
            other => panic!("a slow PATCH got {other:?}"),
        }
    }
    assert_eq!(
        (streaming.len(), shed),
        (3, 2),
        "3 places for the whole box"
    );
    // Every other route is full too, for every client.
    let r = phone(5).get(b.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    // Places come back when the requests end.
    drop(streaming);
    let mut status = 0;
    for _ in 0..50 {
        status = phone(5)
            .get(b.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    b.stop().await;
}

/// A client trickling header bytes (slowloris) held its connection for ever: hyper's
/// header-read timeout never ran under `axum::serve`.
#[tokio::test]
async fn headers_that_trickle_are_cut_off() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.http.header_timeout_secs = 1),
        ..Default::default()
    })
    .await;
    let mut stream = connect_from(2, b.http).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: venuebox.local\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for i in 0..30 {
        // One more header line every 200 ms, never the blank line that ends them.
        if stream
            .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let (_, eof) = answer(&mut stream, Duration::from_millis(200)).await;
        if eof {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the connection is still open after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Others are served meanwhile and after.
    assert_eq!(
        phone(3)
            .get(b.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    b.stop().await;
}

/// One client could open connections until the box ran out of descriptors. Now each
/// client address has `max_connections_per_client`, and the box `max_connections`.
#[tokio::test]
async fn connections_are_capped_per_client_and_for_the_box() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.http.max_connections_per_client = 3;
            c.http.max_connections = 5;
        }),
        ..Default::default()
    })
    .await;
    // A burst of 6 from one client: 3 kept open, 3 closed at once.
    let mut burst = Vec::new();
    for _ in 0..6 {
        burst.push(connect_from(2, b.http).await);
    }
    let mut kept = Vec::new();
    let mut closed = 0;
    for mut stream in burst {
        match answer(&mut stream, Duration::from_millis(300)).await {
            (None, true) => closed += 1,
            (None, false) => kept.push(stream),
            other => panic!("an idle connection got {other:?}"),
        }
    }
    assert_eq!((kept.len(), closed), (3, 3));
    // A kept one is served.
    let mut first = kept.remove(0);
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: venuebox.local\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        answer(&mut first, Duration::from_secs(5)).await.0,
        Some(200)
    );
    kept.insert(0, first);
    // Another client gets its own places, up to the box's 5 in all.
    let mut other = Vec::new();
    for _ in 0..3 {
        other.push(connect_from(3, b.http).await);
    }
    let mut open = Vec::new();
    for mut stream in other {
        if !answer(&mut stream, Duration::from_millis(300)).await.1 {
            open.push(stream);
        }
    }
    assert_eq!(open.len(), 2, "3 + 2 = the box's 5");
    // Closing connections gives the places back.
    drop(kept);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        phone(2)
            .get(b.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    b.stop().await;
}
