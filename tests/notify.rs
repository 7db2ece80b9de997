//! systemd's notify protocol against the real `venuebox run` process: the test plays
//! the service manager, binding the unix datagram socket named by `NOTIFY_SOCKET`
//! and reading what the box sends (sd_notify(3)). `WATCHDOG_PID` is the child's own
//! id: the child starts as `sh`, which exports `WATCHDOG_PID=$$` and then `exec`s
//! venuebox, keeping that id (as systemd sets it for the main process).

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

/// The service manager's end: the socket and every line received, with its time.
struct Manager {
    socket: UnixDatagram,
    lines: Vec<(Instant, String)>,
}

impl Manager {
    fn bind(path: &Path) -> Manager {
        let socket = UnixDatagram::bind(path).unwrap();
        Manager {
            socket,
            lines: Vec::new(),
        }
    }

    /// Receives for `span`, collecting lines; returns the lines received in it.
    fn collect_for(&mut self, span: Duration) -> Vec<(Instant, String)> {
        let end = Instant::now() + span;
        let from = self.lines.len();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if left.is_zero() || !self.recv(left) {
                continue;
            }
        }
        self.lines[from..].to_vec()
    }

    /// Receives until a line equal to `want` arrives, at most `limit`; true if it did.
    fn wait_for(&mut self, want: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        let mut seen = self.lines.len();
        loop {
            if self.lines[seen..].iter().any(|(_, l)| l == want) {
                return true;
            }
            seen = self.lines.len();
            match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => {
                    self.recv(left);
                }
                _ => return false,
            }
        }
    }

    /// One datagram (several lines, e.g. `READY=1\nSTATUS=...`), waiting at most
    /// `limit`. False on timeout.
    fn recv(&mut self, limit: Duration) -> bool {
        self.socket
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => {
                let at = Instant::now();
                let text = std::str::from_utf8(&buf[..n]).expect("notify datagrams are UTF-8");
                for line in text.lines().filter(|l| !l.is_empty()) {
                    self.lines.push((at, line.to_string()));
                }
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

fn pings(lines: &[(Instant, String)]) -> Vec<Instant> {
    lines
        .iter()
        .filter(|(_, l)| l == "WATCHDOG=1")
        .map(|(at, _)| *at)
        .collect()
}

/// Starts `venuebox run` on free loopback ports with the notify socket `socket` and a
/// 2 s watchdog for its own pid.
fn start(data: &Path, socket: &Path, http: u16) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(r#"WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@""#)
        .arg(BIN)
        .arg("--data-dir")
        .arg(data)
        .args([
            "run",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--ftp",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", "2000000")
        .env("VENUEBOX_MDNS__ENABLED", "false")
        .env_remove("VENUEBOX_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The status code of GET /healthz, over a plain TCP connection.
fn healthz(port: u16) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("HTTP is listening");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The box's own address as Host: any other host is a captive-portal probe (302).
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

fn terminate(child: &Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::Term,
    )
    .unwrap();
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ready_after_listeners_readable_status_watchdog_at_half_interval_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify.sock");
    let mut manager = Manager::bind(&socket);
    let http = free_port();
    let mut child = KillOnDrop(start(&dir.path().join("data"), &socket, http));

    assert!(
        manager.wait_for("READY=1", Duration::from_secs(30)),
        "no READY=1; got {:?}",
        manager.lines
    );
    // READY=1 means the listeners are up: /healthz answers at once.
    assert_eq!(healthz(http), 200);

    let window = Duration::from_secs(5);
    let lines = manager.collect_for(window);
    let pings = pings(&lines);
    // WATCHDOG_USEC=2 s: a ping every second, so 4 to 6 in 5 s.
    assert!(
        (4..=6).contains(&pings.len()),
        "{} pings in 5 s: {:?}",
        pings.len(),
        lines
    );
    // About 1 s apart: the median gap within 20 %, and never a whole watchdog interval
    // (2 s) without a ping, even on a loaded machine where one round may miss.
    let mut gaps: Vec<Duration> = pings.windows(2).map(|p| p[1] - p[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median >= Duration::from_millis(800) && median <= Duration::from_millis(1200),
        "median gap {median:?} between pings (want about 1 s): {gaps:?}"
    );
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(2000)),
        "a watchdog interval without a ping: {gaps:?}"
    );
    let statuses: Vec<&str> = manager
        .lines
        .iter()
        .filter_map(|(_, l)| l.strip_prefix("STATUS="))
        .collect();
    let full = statuses
        .iter()
        .find(|s| s.contains("previews"))
        .unwrap_or_else(|| panic!("no STATUS= with the figures: {statuses:?}"));
    assert!(full.starts_with("Serving; "), "{full}");
    assert!(
        full.contains("previews up to date")
            && full.contains("sync: 0 objects queued, uplink ")
            && full.ends_with(" free"),
        "{full}"
    );
    assert!(full.chars().all(|c| !c.is_control()), "{full:?}");
    // Sent only when changed: nothing changed in the window, so no repeat.
    assert_eq!(
        statuses.iter().filter(|s| *s == full).count(),
        1,
        "{statuses:?}"
    );

    terminate(&child.0);
    assert!(
        manager.wait_for("STOPPING=1", Duration::from_secs(10)),
        "no STOPPING=1 after SIGTERM: {:?}",
        manager.lines
    );
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "did not exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn watchdog_pings_stop_while_the_database_is_locked_and_resume_after() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify.sock");
    let mut manager = Manager::bind(&socket);
    let data = dir.path().join("data");
    let http = free_port();
    let _child = KillOnDrop(start(&data, &socket, http));
    assert!(
        manager.wait_for("READY=1", Duration::from_secs(30)),
        "no READY=1"
    );
    let before = pings(&manager.collect_for(Duration::from_millis(2500)));
    assert!(before.len() >= 2, "no pings while healthy: {before:?}");

    // Another process takes the database's write lock and keeps it: the box's writes
    // wait for the busy timeout (5 s), far longer than the check's bound (0.5 s).
    let mut db = rusqlite::Connection::open(data.join("venuebox.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let lock = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let locked_at = Instant::now();
    let lines = manager.collect_for(Duration::from_secs(7));
    // A round that had passed just before the lock may still ping once.
    let late: Vec<_> = pings(&lines)
        .into_iter()
        .filter(|at| *at > locked_at + Duration::from_millis(1100))
        .collect();
    assert!(
        late.is_empty(),
        "{} pings while the database was locked: {:?}",
        late.len(),
        lines
    );
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("STATUS=UNHEALTHY") && l.contains("database")),
        "no UNHEALTHY status naming the database: {lines:?}"
    );

    lock.rollback().unwrap();
    let released_at = Instant::now();
    assert!(
        manager.wait_for("WATCHDOG=1", Duration::from_secs(4)),
        "pings did not resume within 4 s of the release"
    );
    let resumed = released_at.elapsed();
    let after = pings(&manager.collect_for(Duration::from_millis(2500)));
    assert!(
        after.len() >= 2,
        "pings resumed after {resumed:?} but then stopped"
    );
}
