//! The serial layer through socat pseudo-terminal pairs standing in for a USB QR
//! scanner and a USB receipt printer: hot-plug (socat killed: the device is gone, the
//! state shows it waiting; socat back at the same path: it reconnects), garbage and
//! over-long lines that must not stop the scanner, a print job made while the printer
//! is gone that arrives, as well-formed ESC/POS, once it is back, and the admin
//! devices endpoint that shows all of it (admin only; 404 from the attendee network).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{phone, Options, TestBox};
use venuebox::config::{PrinterKind, ScannerKind};
use venuebox::consent;

/// A connected pty pair: the box opens `device`, the test uses `peer`.
struct Pty {
    child: Child,
    device: PathBuf,
    peer: PathBuf,
}

impl Pty {
    fn plug(device: &Path, peer: &Path) -> Pty {
        let child = common::socat_pty_pair(device, peer);
        Pty {
            child,
            device: device.to_path_buf(),
            peer: peer.to_path_buf(),
        }
    }

    /// The scanner sends raw bytes.
    fn send(&self, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.peer)
            .unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
    }

    /// Everything the box writes to the device, collected by a thread until unplugged.
    fn collect(&self) -> Arc<Mutex<Vec<u8>>> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut f = std::fs::File::open(&self.peer).unwrap();
        let sink = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        got
    }

    fn unplug(self) {}
}

impl Drop for Pty {
    /// Unplugs: socat killed and the device link removed, as udev removes a vanished
    /// device's symlink (a dangling link could meet another test's pty that reuses
    /// the same /dev/pts number).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.device);
        let _ = std::fs::remove_file(&self.peer);
    }
}

/// The devices endpoint's entry for `name`.
async fn device(b: &TestBox, token: &str, name: &str) -> serde_json::Value {
    let r = phone(1)
        .get(b.url("/api/admin/devices"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .clone()
}

/// Waits until the endpoint shows `name` in `state`; returns its entry.
async fn wait_state(b: &TestBox, token: &str, name: &str, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = device(b, token, name).await;
        if d["state"] == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {state} after 15 s: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pass(b: &TestBox) -> (consent::Attendee, String) {
    let secret = b.state.portal.secret().clone();
    let attendee = b
        .state
        .store
        .write_sql(move |c| consent::new_attendee(c, &secret, "en"))
        .await
        .unwrap();
    let code = consent::pass_code(b.state.portal.secret(), &attendee).qr;
    (attendee, code)
}

async fn door_checkins(b: &TestBox) -> i64 {
    b.state
        .store
        .read_sql(|c| {
            c.query_row(
                "SELECT count(*) FROM attendance WHERE source = 'door'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap()
}

async fn wait_checkins(b: &TestBox, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while door_checkins(b).await != n {
        assert!(
            Instant::now() < deadline,
            "not {n} door check-ins after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn scanner_hot_plug_and_garbage_show_in_the_devices_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, peer) = (dir.path().join("ttyScan"), dir.path().join("scanner"));
    let pty = Pty::plug(&dev, &peer);
    let device_path = dev.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.door.scanner = ScannerKind::Serial;
            c.door.device = device_path;
            c.portal.attendee_networks = vec!["127.0.0.9/32".parse().unwrap()];
        }),
        ..Options::default()
    })
    .await;
    // Admin only, and invisible from the attendee network.
    let r = phone(9)
        .get(b.url("/api/admin/devices"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "attendee network");
    let r = phone(1)
        .get(b.url("/api/admin/devices"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no admin token");
    let token = b.admin_token().await;
    let d = wait_state(&b, &token, "scanner", "connected").await;
    assert_eq!(d["backend"], "serial");
    assert_eq!(d["device"], dev.display().to_string());

    let (_, ana) = pass(&b).await;
    // NUL, invalid UTF-8, an escape sequence and an over-long line, then a real pass.
    pty.send(b"VBX\x001\r\n\xff\xfe\xfd\r\n\x1b[2J\r\n");
    pty.send(&[b'9'; 5000]);
    pty.send(format!("\r\n{ana}\r\n").as_bytes());
    wait_checkins(&b, 1).await;
    let d = device(&b, &token, "scanner").await;
    assert_eq!(d["state"], "connected", "{d}");
    assert_eq!(d["handled"], 1, "{d}");
    assert_eq!(d["rejected"], 4, "{d}");
    assert!(d["bytes"].as_u64().unwrap() > 5000, "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("line rejected"),
        "{d}"
    );

    // Unplugged: the state says so, with the error and since when.
    pty.unplug();
    let d = wait_state(&b, &token, "scanner", "waiting_for_device").await;
    assert!(
        d["last_error"].as_str().unwrap().contains("disconnected")
            || d["last_error"].as_str().unwrap().contains("cannot open"),
        "{d}"
    );
    assert!(d["since"].as_i64().unwrap() > 0);
    // Plugged back in at the same path: reconnected within the backoff, scans count.
    let pty = Pty::plug(&dev, &peer);
    wait_state(&b, &token, "scanner", "connected").await;
    let (_, ben) = pass(&b).await;
    pty.send(format!("{ben}\r\n").as_bytes());
    wait_checkins(&b, 2).await;
    assert_eq!(device(&b, &token, "scanner").await["handled"], 2);
    pty.unplug();
    b.stop().await;
}

/// The GS ( k commands in `bytes`: (function byte, parameters after cn fn).
fn qr_commands(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(3).position(|w| w == [0x1d, 0x28, 0x6b]) {
        let start = i + at + 3;
        let len = bytes[start] as usize | (bytes[start + 1] as usize) << 8;
        let body = &bytes[start + 2..start + 2 + len];
        assert_eq!(body[0], 0x31, "cn is 49 (QR code)");
        out.push((body[1], body[2..].to_vec()));
        i = start + 2 + len;
    }
    out
}

#[tokio::test]
async fn printer_prints_the_setup_code_and_jobs_made_while_unplugged() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, peer) = (dir.path().join("ttyPrn"), dir.path().join("printer"));
    let device_path = dev.clone();
    // No printer plugged in at first start: the setup code slip waits in the queue.
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.printer.kind = PrinterKind::Serial;
            c.printer.device = device_path;
            c.printer.baud = 19_200;
        }),
        ..Options::default()
    })
    .await;
    let token = b.admin_token().await;
    let d = wait_state(&b, &token, "printer", "waiting_for_device").await;
    assert_eq!(d["queued"], 1, "{d}");
    assert_eq!(d["handled"], 0, "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("cannot open"),
        "{d}"
    );
    assert!(b.state.config.printer.kind != PrinterKind::Off);

    // Plugged in: the slip comes out.
    let pty = Pty::plug(&dev, &peer);
    let got = pty.collect();
    let d = wait_state(&b, &token, "printer", "connected").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while device(&b, &token, "printer").await["handled"] != 1 {
        assert!(Instant::now() < deadline, "setup code not printed: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bytes = got.lock().unwrap().clone();
    assert!(bytes.starts_with(&[0x1b, 0x40]), "starts with ESC @");
    assert!(
        bytes.ends_with(&[0x1d, 0x56, 0x42, 0x00]),
        "ends with GS V cut"
    );
    let code = b.admin_code.as_bytes();
    assert!(bytes.windows(code.len()).any(|w| w == code), "code as text");
    let qr = qr_commands(&bytes);
    let functions: Vec<u8> = qr.iter().map(|q| q.0).collect();
    assert_eq!(
        functions,
        [0x41, 0x43, 0x45, 0x50, 0x51],
        "model, size, level, store, print"
    );
    assert_eq!(qr[0].1, [0x32, 0x00], "model 2");
    assert_eq!(qr[3].1[0], 0x30);
    assert_eq!(&qr[3].1[1..], code, "the QR code holds the setup code");
    assert_eq!(qr[4].1, [0x30]);
    // Still connected a while later: an idle printer is not taken for unplugged.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let d = device(&b, &token, "printer").await;
    assert_eq!(d["state"], "connected", "{d}");
    assert!(
        d["last_error"].as_str().unwrap().contains("cannot open"),
        "{d}"
    );
    assert_eq!(d["queued"], 0, "{d}");
    assert_eq!(d["bytes"], bytes.len(), "{d}");

    // Unplugged while idle: noticed; a job made now prints once it is back.
    pty.unplug();
    wait_state(&b, &token, "printer", "waiting_for_device").await;
    let job = venuebox::devices::escpos::Receipt::new()
        .line("order 42: 3 photos")
        .cut();
    b.state.printer.submit("receipt", job.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(device(&b, &token, "printer").await["queued"], 1);
    let pty = Pty::plug(&dev, &peer);
    let got = pty.collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < job.len() {
        assert!(
            Instant::now() < deadline,
            "job not printed after replugging"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*got.lock().unwrap(), job);
    let d = wait_state(&b, &token, "printer", "connected").await;
    assert_eq!(d["handled"], 2, "{d}");
    pty.unplug();
    b.stop().await;
}

#[tokio::test]
async fn simulated_printer_appends_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("printer.bin");
    let path = file.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.printer.kind = PrinterKind::Simulated;
            c.printer.device = path;
        }),
        ..Options::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bytes = std::fs::read(&file).unwrap_or_default();
        if bytes.ends_with(&[0x1d, 0x56, 0x42, 0x00]) {
            let code = b.admin_code.as_bytes();
            assert!(bytes.windows(code.len()).any(|w| w == code));
            break;
        }
        assert!(Instant::now() < deadline, "nothing printed to the file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.stop().await;
}

#[tokio::test]
async fn a_job_the_printer_was_not_back_for_in_time_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, peer) = (dir.path().join("ttyPrn"), dir.path().join("printer"));
    let device_path = dev.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.printer.kind = PrinterKind::Serial;
            c.printer.device = device_path;
            c.printer.job_max_age_secs = 1;
        }),
        ..Options::default()
    })
    .await;
    let token = b.admin_token().await;
    // The setup code slip waits, and is dropped once it is a second old.
    let deadline = Instant::now() + Duration::from_secs(10);
    let d = loop {
        let d = device(&b, &token, "printer").await;
        if d["rejected"] == 1 {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "setup code slip not dropped: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(d["state"], "waiting_for_device", "{d}");
    assert_eq!(d["queued"], 0, "{d}");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains("setup code dropped"),
        "{d}"
    );
    // Back: a fresh job prints, the stale one does not.
    let pty = Pty::plug(&dev, &peer);
    let got = pty.collect();
    wait_state(&b, &token, "printer", "connected").await;
    let job = venuebox::devices::escpos::Receipt::new()
        .line("fresh")
        .cut();
    b.state.printer.submit("receipt", job.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < job.len() {
        assert!(Instant::now() < deadline, "fresh job not printed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*got.lock().unwrap(), job, "only the fresh job");
    drop(pty);
    b.stop().await;
}

/// 256 KiB is far more than a pty's buffer (4 KiB): the box's writes come back short
/// and blocked many times over, and every byte must still arrive, in order.
#[tokio::test]
async fn a_job_larger_than_the_device_buffer_arrives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, peer) = (dir.path().join("ttyPrn"), dir.path().join("printer"));
    let pty = Pty::plug(&dev, &peer);
    let got = pty.collect();
    let device_path = dev.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.printer.kind = PrinterKind::Serial;
            c.printer.device = device_path;
        }),
        ..Options::default()
    })
    .await;
    let token = b.admin_token().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while device(&b, &token, "printer").await["handled"] != 1 {
        assert!(Instant::now() < deadline, "setup code slip not printed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slip = got.lock().unwrap().len();
    let mut receipt = venuebox::devices::escpos::Receipt::new();
    for i in 0..4096 {
        receipt = receipt.line(&format!("{i:06} {}", "x".repeat(56)));
    }
    let job = receipt.cut();
    assert!(job.len() > 256 * 1024);
    b.state.printer.submit("receipt", job.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().len() < slip + job.len() {
        assert!(Instant::now() < deadline, "large job not printed whole");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.lock().unwrap()[slip..], job[..]);
    let d = device(&b, &token, "printer").await;
    assert_eq!(d["handled"], 2, "{d}");
    assert_eq!(d["state"], "connected", "{d}");
    drop(pty);
    b.stop().await;
}
