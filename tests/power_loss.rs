//! Power loss, not just process death: the box runs on a data dir served through
//! `tests/powerfs.py --strict-dirs`, a FUSE layer that keeps every write the box did
//! not fsync in its own memory, and every name change whose directory the box did not
//! fsync in an undo log. The box is killed (SIGKILL), the layer drops all of that (the
//! power cut), and what the disk kept must hold every acknowledged byte: a photo
//! committed on a fresh box (its store folders made at start), and the acknowledged
//! bytes of an unfinished tus upload. Needs root, /dev/fuse and Debian's
//! python3-pyfuse3 (tests/run.sh installs it); fails, never skips, without them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

mod common;
use common::{free_port, testdata};

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

/// One mount of the layer (tests/powerfs.py) until [`Layer::cut`].
struct Layer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    mountpoint: PathBuf,
}

/// The interpreter that can import pyfuse3 (Debian's python3-pyfuse3 installs it for
/// /usr/bin/python3 only).
fn layer_python() -> &'static str {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(py)
            .args(["-c", "import pyfuse3, trio"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return py;
        }
    }
    panic!("no python3 with pyfuse3: apt-get install python3-pyfuse3 fuse3 (tests/run.sh)");
}

impl Layer {
    fn mount(backing: &Path, mountpoint: &Path) -> Layer {
        std::fs::create_dir_all(backing).unwrap();
        std::fs::create_dir_all(mountpoint).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/powerfs.py");
        let mut child = Command::new(layer_python())
            .arg(script)
            .arg(backing)
            .arg(mountpoint)
            .arg("--strict-dirs")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "powerfs did not mount (needs root and /dev/fuse)"
        );
        Layer {
            child,
            stdout,
            mountpoint: mountpoint.to_path_buf(),
        }
    }

    /// The power cut: drops what was not fsynced, then unmounts. Returns the report.
    fn cut(mut self) -> serde_json::Value {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::Usr1).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let report: serde_json::Value = serde_json::from_str(&line).unwrap();
        let status = Command::new("umount")
            .arg(&self.mountpoint)
            .status()
            .unwrap();
        assert!(status.success(), "umount {}", self.mountpoint.display());
        assert!(self.child.wait().unwrap().success());
        report
    }
}

fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `venuebox run` on `data`; returns it once HTTP answers.
fn start(data: &Path, http: u16) -> Child {
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args([
            "run",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--ftp",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("VENUEBOX_MDNS__ENABLED", "false")
        .env("VENUEBOX_ADMIN_TOKEN", "power-loss-test-admin")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://127.0.0.1:{http}/healthz");
    while !reqwest::blocking::get(&url).is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the box did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Creates a tus upload of `len` bytes; returns its path.
fn create(base: &str, token: &str, len: usize) -> String {
    let c = reqwest::blocking::Client::new();
    let r = c
        .post(format!("{base}/files/"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len)
        .header("Upload-Metadata", "filename cGhvdG8uanBn")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches(base)
        .to_string()
}

fn patch(base: &str, token: &str, location: &str, offset: usize, bytes: &[u8]) {
    let r = reqwest::blocking::Client::new()
        .patch(format!("{base}{location}"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset)
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "PATCH {location} at {offset}");
}

fn corpus_photo(n: usize) -> Vec<u8> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(testdata().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    photos.sort();
    std::fs::read(&photos[n]).unwrap()
}

#[test]
fn acknowledged_photo_and_upload_bytes_survive_a_power_cut_on_a_fresh_box() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, data) = (dir.path().join("disk"), dir.path().join("data"));
    let layer = Layer::mount(&disk, &data);
    let token = cli(&data, &["creator", "add", "Phone"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    let http = free_port();
    let mut box_ = start(&data, http);
    let base = format!("http://127.0.0.1:{http}");

    // A whole photo, acknowledged (the last PATCH's 204): the first on this box, so
    // its store folders were made at this start.
    let photo = corpus_photo(0);
    let whole = create(&base, &token, photo.len());
    patch(&base, &token, &whole, 0, &photo);
    // Half of another: those bytes are acknowledged too.
    let other = corpus_photo(1);
    let half = create(&base, &token, other.len());
    let acknowledged = other.len() / 2;
    patch(&base, &token, &half, 0, &other[..acknowledged]);

    box_.kill().unwrap();
    box_.wait().unwrap();
    let report = layer.cut();
    assert!(
        report["undone"].as_u64().unwrap() > 0 || report["dropped_files"].as_u64().unwrap() > 0,
        "the cut took nothing away, so it proves nothing: {report}"
    );

    // What the disk kept, with the power back (no layer now).
    let sha = hex::encode(sha2::Sha256::digest(&photo));
    let stored = disk.join("photos/sha256").join(&sha[..2]).join(&sha);
    assert_eq!(
        std::fs::read(&stored)
            .ok()
            .map(|b| hex::encode(sha2::Sha256::digest(b))),
        Some(sha.clone()),
        "the acknowledged photo's file is gone or torn after the cut ({report})"
    );
    let db = rusqlite::Connection::open(disk.join("venuebox.db")).unwrap();
    let rows: i64 = db
        .query_row(
            "SELECT count(*) FROM photos WHERE sha256 = ?1",
            [&sha],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1, "the acknowledged photo's row is gone");
    drop(db);
    // The unfinished upload's acknowledged bytes, in its file (`uploads/<id>`).
    let id = half.rsplit('/').next().unwrap();
    let kept = std::fs::read(disk.join("uploads").join(id)).ok();
    assert!(
        kept.as_ref()
            .is_some_and(|b| b.len() >= acknowledged && b[..acknowledged] == other[..acknowledged]),
        "the unfinished upload's acknowledged bytes are gone: {:?} bytes kept ({report})",
        kept.map(|b| b.len())
    );

    let http = free_port();
    let mut box_ = start(&disk, http);
    let r = reqwest::blocking::Client::new()
        .head(format!("http://127.0.0.1:{http}{half}"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .unwrap();
    box_.kill().unwrap();
    box_.wait().unwrap();
    assert_eq!(
        r.status(),
        200,
        "the unfinished upload is gone after the cut"
    );
    let offset: usize = r.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        offset >= acknowledged,
        "offset {offset} < acknowledged {acknowledged}"
    );
}
