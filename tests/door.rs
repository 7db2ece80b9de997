//! Door check-in through a serial scanner: a socat pseudo-terminal pair stands in for
//! a USB QR scanner. A scanned pass records one check-in; a repeat within the debounce
//! window does not count twice; a forged code records nothing; unplugging the scanner
//! (socat gone) and plugging it back in resumes without a restart. The simulated back
//! end (lines appended to a file) works the same way.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{Options, TestBox};
use venuebox::config::ScannerKind;
use venuebox::consent;

/// A connected pty pair: the box opens `device`, the test writes to `scanner`.
struct Pty {
    child: Child,
    device: PathBuf,
    scanner: PathBuf,
}

impl Pty {
    fn plug(dir: &Path) -> Pty {
        let device = dir.join("ttyVB0");
        let scanner = dir.join("scanner");
        let child = common::socat_pty_pair(&device, &scanner);
        Pty {
            child,
            device,
            scanner,
        }
    }

    /// The scanner sends a line, with the CR+LF most scanners end codes with.
    fn scan(&self, code: &str) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.scanner)
            .unwrap();
        f.write_all(format!("{code}\r\n").as_bytes()).unwrap();
        f.flush().unwrap();
    }

    fn unplug(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A new attendee and the text of their pass QR code.
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

async fn door_checkins(b: &TestBox, pseudonym: &str) -> i64 {
    let p = pseudonym.to_string();
    b.state
        .store
        .read_sql(move |c| {
            c.query_row(
                "SELECT count(*) FROM attendance WHERE source = 'door' AND pseudonym = ?1",
                [p],
                |r| r.get(0),
            )
        })
        .await
        .unwrap()
}

async fn wait_for_checkins(b: &TestBox, pseudonym: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = door_checkins(b, pseudonym).await;
        if got == n {
            return;
        }
        assert!(got < n, "{got} check-ins, expected {n}");
        assert!(
            Instant::now() < deadline,
            "{got} check-ins after 10 s, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serial_scanner_checks_in_passes_and_survives_replugging() {
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::plug(dir.path());
    let device = pty.device.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.door.scanner = ScannerKind::Serial;
            c.door.device = device;
            c.door.baud = 115_200;
            c.portal.attendance_debounce_secs = 60;
        }),
        ..Options::default()
    })
    .await;
    let (ana, ana_code) = pass(&b).await;
    let (ben, ben_code) = pass(&b).await;

    // Give the box a moment to open the device, then scan.
    tokio::time::sleep(Duration::from_millis(300)).await;
    pty.scan(&ana_code);
    wait_for_checkins(&b, &ana.pseudonym, 1).await;
    // The scanner reads the same code twice: one check-in.
    pty.scan(&ana_code);
    // A forged code, an overlong line and binary garbage: nothing.
    pty.scan("VBX1:AAAAAAAAAAAAAAAAAAAAAA:0123456789abcdef");
    // The right shape, a wrong keyed tag: refused before any lookup.
    let (dan, dan_code) = pass(&b).await;
    let forged = format!(
        "{}{}",
        &dan_code[..18],
        if dan_code.ends_with('0') { '1' } else { '0' }
    );
    pty.scan(&forged);
    pty.scan(&"9".repeat(4000));
    pty.scan("\u{1}\u{2}\u{7f}");
    pty.scan(&ben_code);
    wait_for_checkins(&b, &ben.pseudonym, 1).await;
    assert_eq!(
        door_checkins(&b, &ana.pseudonym).await,
        1,
        "repeat scan counted once"
    );
    let total: i64 = b
        .state
        .store
        .read_sql(|c| c.query_row("SELECT count(*) FROM attendance", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(total, 2, "nothing recorded for forged or garbled codes");
    assert_eq!(
        door_checkins(&b, &dan.pseudonym).await,
        0,
        "forged short code"
    );

    // Unplug, wait, plug back in (a new pty at the same path): scanning resumes.
    pty.unplug();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (cem, cem_code) = pass(&b).await;
    let pty = Pty::plug(dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    // The box reopens the device within a second; scan until it has.
    while door_checkins(&b, &cem.pseudonym).await == 0 {
        assert!(
            Instant::now() < deadline,
            "scanner not reopened after re-plugging"
        );
        pty.scan(&cem_code);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(door_checkins(&b, &cem.pseudonym).await, 1);
    pty.unplug();
    b.stop().await;
}

#[tokio::test]
async fn simulated_scanner_reads_appended_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scans.txt");
    std::fs::write(&file, "").unwrap();
    let path = file.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.door.scanner = ScannerKind::Simulated;
            c.door.device = path;
        }),
        ..Options::default()
    })
    .await;
    let (ana, code) = pass(&b).await;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(f, "not a pass").unwrap();
    writeln!(f, "{code}").unwrap();
    wait_for_checkins(&b, &ana.pseudonym, 1).await;
    b.stop().await;
}
