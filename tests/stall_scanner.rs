//! A pass scanner plugged into the box at a creator's stall (`[[tagging.scanners]]`),
//! through a real `venuebox run`: a socat pseudo-terminal pair stands in for Anna's
//! USB scanner, a plain file for Cem's simulated one. Attendees get their passes
//! through the portal; the test "scans" a pass by writing what its QR holds, CR LF,
//! into the pty; Anna then uploads photos over tus, and `GET /api/vendor/tags` must
//! show the photos after the scan tagged to that attendee and none before it. Garbage,
//! a forged and a foreign code tag nothing and do not end the run; unplugging the
//! scanner (socat killed) and plugging it back in (a new socat at the same link) works
//! without a restart; another creator's photos are untouched; a scanner of a creator
//! added after the start works from their first scan. No code reaches the log.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, hidden, phone, socat_pty_pair};

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");
/// The admin code, given as `VENUEBOX_ADMIN_TOKEN` (at least 12 characters).
const ADMIN_CODE: &str = "stall-scanner-test-admin";

/// A connected pty pair: the box opens `device`, the test writes to `peer`.
struct Pty {
    child: Child,
    device: PathBuf,
    peer: PathBuf,
}

impl Pty {
    fn plug(device: &Path, peer: &Path) -> Pty {
        Pty {
            child: socat_pty_pair(device, peer),
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
}

impl Drop for Pty {
    /// Unplugs: socat killed and its links removed, as udev removes a vanished
    /// device's symlink.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.device);
        let _ = std::fs::remove_file(&self.peer);
    }
}

/// `venuebox run` as a child process, killed when dropped.
struct Venuebox {
    child: Child,
    base: String,
    data: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Venuebox {
    fn start(dir: &Path, config: &Path) -> Venuebox {
        let (http, ftp) = (free_port(), free_port());
        let data = dir.join("data");
        let log = dir.join("venuebox.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "run",
                "--http",
                &format!("127.0.0.1:{http}"),
                "--ftp",
                &format!("127.0.0.1:{ftp}"),
            ])
            .env("VENUEBOX_ADMIN_TOKEN", ADMIN_CODE)
            .env("VENUEBOX_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let b = Venuebox {
            child,
            base: format!("http://127.0.0.1:{http}"),
            data,
            config: config.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
            assert!(Instant::now() < deadline, "venuebox did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `venuebox creator add NAME` while the service runs; returns the upload token.
    fn add_creator(&self, name: &str) -> String {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data)
            .args(["creator", "add", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let token = stdout.trim().lines().last().unwrap().trim().to_string();
        assert!(token.starts_with("vbu_"), "{stdout}");
        token
    }

    /// Read-only, beside the running service (WAL): only to learn photo ids and how
    /// many photos the tagger has searched, which no API answers.
    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.data.join("venuebox.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    async fn admin_token(&self) -> String {
        let r = reqwest::Client::new()
            .post(self.url("/api/admin/login"))
            .json(&serde_json::json!({ "code": ADMIN_CODE }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// Consents through the portal on `phone` and returns the pass code the pass page
    /// shows (the typeable form, `XXXX-XXXX-XXXX-XXXX`).
    async fn pass(&self, phone: &reqwest::Client) -> String {
        let page = phone
            .get(self.url("/portal"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden(&page, "csrf");
        let r = phone
            .post(self.url("/portal/consent"))
            .form(&[("csrf", csrf.as_str()), ("action", "accept")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let pass = phone
            .get(self.url("/portal/pass"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let marker = "<code class=\"pass\">";
        let start = pass.find(marker).expect("pass code shown") + marker.len();
        pass[start..].split('<').next().unwrap().to_string()
    }

    /// Uploads `bytes` in one tus creation-with-upload as the creator of `token`;
    /// returns the stored photo's id.
    async fn upload(&self, token: &str, bytes: &[u8]) -> i64 {
        let r = reqwest::Client::new()
            .post(self.url("/files/"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", bytes.len())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        self.db()
            .query_row("SELECT id FROM photos WHERE sha256 = ?1", [sha], |r| {
                r.get(0)
            })
            .expect("the photo is stored")
    }

    /// Waits until the tagger has searched `n` photos (tags exist only after that).
    async fn searched(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done: i64 = self
                .db()
                .query_row("SELECT count(*) FROM delivery_frames", [], |r| r.get(0))
                .unwrap();
            if done >= n {
                return;
            }
            assert!(Instant::now() < deadline, "{done} of {n} photos searched");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /api/vendor/tags` as the creator of `token`: (photo, attendee, source).
    async fn tags(&self, token: &str) -> Vec<(i64, String, String)> {
        let r = reqwest::Client::new()
            .get(self.url("/api/vendor/tags"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        let mut rows: Vec<_> = body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["photo_id"].as_i64().unwrap(),
                    t["attendee"].as_str().unwrap().to_string(),
                    t["source"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        rows.sort();
        rows
    }

    /// The devices endpoint's entry for `name`.
    async fn device(&self, admin: &str, name: &str) -> serde_json::Value {
        let r = phone(1)
            .get(self.url("/api/admin/devices"))
            .bearer_auth(admin)
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

    /// Waits until `name`'s entry satisfies `ok`; returns it.
    async fn wait_device(
        &self,
        admin: &str,
        name: &str,
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let d = self.device(admin, name).await;
            if ok(&d) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: not {what} after 15 s: {d}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Venuebox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a pass's QR code holds (and so what a scanner types): `VB1` and the 16
/// characters the pass page shows in groups of four (`consent::pass_code`).
fn qr_text(typed: &str) -> String {
    format!("VB1{}", typed.replace('-', ""))
}

/// The first 10 hex digits of the attendee's pseudonym (the form the audit log and
/// the logs show): the short code's first 8 characters are its first 40 bits in
/// Crockford's base32.
fn pseudonym_prefix(typed: &str) -> String {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
    let id = &typed.replace('-', "")[..8];
    hex::encode(spec.encoding().unwrap().decode(id.as_bytes()).unwrap())
}

/// A small photo with no QR code in it, different for each `seed`.
fn photo(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([
            (x / 3) as u8 ^ seed,
            (y / 2) as u8,
            seed.wrapping_mul(37).wrapping_add((x ^ y) as u8),
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .unwrap();
    out
}

/// The photos of `rows` and whose they are.
fn of(rows: &[(i64, String, String)]) -> Vec<(i64, String)> {
    rows.iter()
        .map(|(p, a, s)| {
            assert_eq!(s, "scan", "{rows:?}");
            (*p, a[..10].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_scanner_tags_the_creators_next_photos_and_survives_replugging() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, peer) = (dir.path().join("ttyStallAnna"), dir.path().join("anna"));
    let cem_scans = dir.path().join("cem-scans.txt");
    std::fs::write(&cem_scans, "").unwrap();
    let config = dir.path().join("venuebox.toml");
    std::fs::write(
        &config,
        format!(
            "[mdns]\nenabled = false\n\
             [ingest]\nfree_disk_reserve_bytes = 16777216\n\
             [tagging]\ngap_secs = 300\n\
             [[tagging.scanners]]\ncreator = \"anna\"\nscanner = \"serial\"\ndevice = \"{}\"\nbaud = 9600\n\
             [[tagging.scanners]]\ncreator = \"cem\"\nscanner = \"simulated\"\ndevice = \"{}\"\n",
            dev.display(),
            cem_scans.display()
        ),
    )
    .unwrap();
    let pty = Pty::plug(&dev, &peer);
    let b = Venuebox::start(dir.path(), &config);
    let admin = b.admin_token().await;
    let anna = b.add_creator("anna");
    let bert = b.add_creator("bert");
    let ben = b.pass(&phone(2)).await;
    let dia = b.pass(&phone(3)).await;
    let (ben_id, dia_id) = (pseudonym_prefix(&ben), pseudonym_prefix(&dia));
    assert_ne!(ben_id, dia_id);
    let stall = "stall-scanner:anna";
    let d = b
        .wait_device(&admin, stall, "connected", |d| d["state"] == "connected")
        .await;
    assert_eq!(d["backend"], "serial");
    assert_eq!(d["device"], dev.display().to_string());

    // Before any scan: garbage, a forged code (the right shape, a wrong keyed tag) and
    // a foreign QR code are refused, each counted with its reason; nothing is tagged.
    let p0 = b.upload(&anna, &photo(0)).await;
    let last = ben.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &qr_text(&ben)[..18],
        if last == '0' { '1' } else { '0' }
    );
    pty.send(b"\x1b[2J\r\n");
    pty.send(format!("hello\r\n{forged}\r\nhttps://example.org/VB1\r\n").as_bytes());
    let d = b
        .wait_device(&admin, stall, "4 rejected", |d| d["rejected"] == 4)
        .await;
    assert_eq!(d["handled"], 0, "{d}");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains("line rejected: not a pass of this event"),
        "{d}"
    );
    let p1 = b.upload(&anna, &photo(1)).await;

    // Ben's pass at Anna's stall: her next photos are his; Bert's are nobody's.
    pty.send(format!("{}\r\n", qr_text(&ben)).as_bytes());
    b.wait_device(&admin, stall, "1 handled", |d| d["handled"] == 1)
        .await;
    let p2 = b.upload(&anna, &photo(2)).await;
    let b1 = b.upload(&bert, &photo(3)).await;
    // Junk in the middle of a run does not end it.
    pty.send(format!("{forged}\r\n").as_bytes());
    b.wait_device(&admin, stall, "5 rejected", |d| d["rejected"] == 5)
        .await;
    let p3 = b.upload(&anna, &photo(4)).await;

    // Unplugged: shown as waiting; plugged back in at the same path: reconnected and
    // Dia's pass starts her run, no restart.
    drop(pty);
    b.wait_device(&admin, stall, "waiting", |d| {
        d["state"] == "waiting_for_device"
    })
    .await;
    let pty = Pty::plug(&dev, &peer);
    b.wait_device(&admin, stall, "connected again", |d| {
        d["state"] == "connected"
    })
    .await;
    pty.send(format!("{}\r\n", qr_text(&dia)).as_bytes());
    b.wait_device(&admin, stall, "2 handled", |d| d["handled"] == 2)
        .await;
    let p4 = b.upload(&anna, &photo(5)).await;

    // Cem's simulated scanner, before Cem is on the box: refused, with the reason.
    let cem_stall = "stall-scanner:cem";
    let mut scans = std::fs::OpenOptions::new()
        .append(true)
        .open(&cem_scans)
        .unwrap();
    writeln!(scans, "{}", qr_text(&ben)).unwrap();
    let d = b
        .wait_device(&admin, cem_stall, "1 rejected", |d| d["rejected"] == 1)
        .await;
    assert_eq!(d["backend"], "simulated");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains("no creator named"),
        "{d}"
    );
    // Added while the box runs: the next scan works, typed form and all.
    let cem = b.add_creator("cem");
    writeln!(scans, "{}", ben.to_lowercase()).unwrap();
    b.wait_device(&admin, cem_stall, "1 handled", |d| d["handled"] == 1)
        .await;
    let c1 = b.upload(&cem, &photo(6)).await;

    b.searched(7).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let want_anna = vec![
        (p2, ben_id.clone()),
        (p3, ben_id.clone()),
        (p4, dia_id.clone()),
    ];
    while of(&b.tags(&anna).await) != want_anna && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        of(&b.tags(&anna).await),
        want_anna,
        "p0 {p0} and p1 {p1} came before any pass"
    );
    assert_eq!(of(&b.tags(&cem).await), vec![(c1, ben_id.clone())]);
    assert!(
        b.tags(&bert).await.is_empty(),
        "Bert's photo {b1} untouched"
    );

    // The codes never reached the log; the short pseudonym did.
    drop(pty);
    let log = b.log.clone();
    drop(b);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("stall scan"), "{log}");
    assert!(log.contains(&ben_id), "the short pseudonym is logged");
    for code in [&ben, &dia] {
        let body = code.replace('-', "");
        assert!(!log.contains(&body), "a pass code in the log");
        assert!(!log.to_lowercase().contains(&body.to_lowercase()));
    }
    assert!(!log.contains(&forged[3..]), "a forged code in the log");
}

#[test]
fn a_misconfigured_stall_scanner_is_refused_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[door]\nscanner = \"serial\"\ndevice = \"/dev/venuebox-scanner\"\n\
         [[tagging.scanners]]\ncreator = \"anna\"\ndevice = \"/dev/venuebox-stall-anna\"\n\
         [[tagging.scanners]]\ncreator = \"bert\"\ndevice = \"/dev/venuebox-stall-anna\"\nbuad = 9600\n\
         [[tagging.scanners]]\ncreator = \"\"\ndevice = \"/dev/venuebox-scanner\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&bad)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for key in [
        "tagging.scanners.1.buad: unknown key",
        "tagging.scanners.1.device: /dev/venuebox-stall-anna is already read by tagging.scanners.0",
        "tagging.scanners.2.creator:",
        "tagging.scanners.2.device: /dev/venuebox-scanner is the door scanner's",
    ] {
        assert!(stdout.contains(key), "{key} missing from:\n{stdout}");
    }
    // Fixed, it passes.
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[tagging.scanners]]\ncreator = \"anna\"\ndevice = \"/dev/venuebox-stall-anna\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
