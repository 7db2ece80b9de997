//! The `venuebox` binary as a vendor or a script runs it: exit statuses, the one-line
//! errors, the output contracts, and CLI commands working beside a running service.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

/// A command with a clean environment: no VENUEBOX_* from the developer's shell.
fn venuebox(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("VENUEBOX_") || key == "JOURNAL_STREAM" {
            cmd.env_remove(key);
        }
    }
    // Boxes started side by side: FTP on a free port, no mDNS announcements.
    cmd.env("VENUEBOX_FTP__LISTEN", "127.0.0.1:0")
        .env("VENUEBOX_MDNS__ENABLED", "false");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `venuebox run` child process, stopped with SIGTERM when dropped.
struct Running {
    child: Child,
    stdout: Vec<String>,
}

impl Running {
    /// Starts `cmd` (a `run`) and waits until it printed its admin code line.
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let reader = BufReader::new(child.stdout.take().unwrap());
        let mut stdout = Vec::new();
        for line in reader.lines() {
            let line = line.unwrap();
            let done = line.contains("admin setup code");
            stdout.push(line);
            if done {
                break;
            }
        }
        assert!(
            stdout.iter().any(|l| l.contains("admin setup code")),
            "no start-up banner: {stdout:?}"
        );
        Running { child, stdout }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "venuebox did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut s).unwrap();
        s
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> reqwest::blocking::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reqwest::blocking::get(url) {
            Ok(r) => return r,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{url}: {e}"),
        }
    }
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = venuebox(dir.path()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("venuebox {}", env!("CARGO_PKG_VERSION"))
    );
    let help = venuebox(dir.path()).arg("--help").output().unwrap();
    let help = text(&help.stdout);
    for word in ["run", "config", "keys", "creator", "--config", "--data-dir"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
}

#[test]
fn config_check_accepts_the_shipped_file_and_lists_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/venuebox.toml");
    let ok = venuebox(dir.path())
        .args(["config", "check"])
        .arg(&shipped)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[http]\nlisten = \"0.0.0.0:99999\"\nlisen = \"x\"\n[event]\nends_on = \"tomorrow\"\n[box]\nname = \"my_box\"\n",
    )
    .unwrap();
    let out = venuebox(dir.path())
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    for key in [
        "http.listen:",
        "http.lisen: unknown key",
        "event.ends_on:",
        "box.name:",
    ] {
        assert!(stdout.contains(key), "{key} missing from:\n{stdout}");
    }
    // Environment overrides are checked too.
    let out = venuebox(dir.path())
        .args(["config", "check"])
        .arg(&shipped)
        .env("VENUEBOX_HTTP__LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("http.listen"));

    // `run` refuses the same file with the same messages.
    let out = venuebox(dir.path())
        .arg("--config")
        .arg(&bad)
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("http.lisen: unknown key"));
}

#[test]
fn run_refuses_an_unwritable_data_dir_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = venuebox(dir.path())
        .arg("--data-dir")
        .arg(file.join("data"))
        .args(["run", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("venuebox: error"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("not writable"), "{stderr}");
}

#[test]
fn run_refuses_a_port_in_use_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = venuebox(dir.path())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["run", "--http", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "venuebox: error: cannot listen for HTTP on {addr}"
        )),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_corrupt_database_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("venuebox.db");
    std::fs::write(&db, b"\x00garbage that must survive").unwrap();
    let out = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not an SQLite database"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        b"\x00garbage that must survive"
    );
}

fn last_line(out: &Output) -> String {
    text(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn cli_changes_reach_a_running_service_and_keys_show_prints_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let keys_before = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["keys", "show"])
        .output()
        .unwrap();
    assert_eq!(
        keys_before.status.code(),
        Some(1),
        "no identity before the first start"
    );

    let port = free_port();
    let code = "test-admin-code-0123";
    let mut cmd = venuebox(dir.path());
    cmd.arg("--data-dir")
        .arg(&data)
        .args(["run", "--http", &format!("127.0.0.1:{port}")])
        .env("VENUEBOX_ADMIN_TOKEN", code);
    let mut service = Running::start(cmd);
    assert!(service
        .stdout
        .iter()
        .any(|l| l.contains("from VENUEBOX_ADMIN_TOKEN")));
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/healthz")).status(),
        200
    );

    // `creator add` while the service runs: the token is alone on the last line.
    let out = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["creator", "add", "Ana Lima"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = last_line(&out);
    assert!(
        token.starts_with("vbu_") && token.len() == 4 + 43,
        "{token:?}"
    );
    let dup = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["creator", "add", "ana lima"])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(1));
    assert!(text(&dup.stderr).contains("already exists"));

    // The running service sees it.
    let client = reqwest::blocking::Client::new();
    let login: serde_json::Value = client
        .post(format!("http://127.0.0.1:{port}/api/admin/login"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let bearer = login["token"].as_str().unwrap();
    let creators: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/api/admin/creators"))
        .bearer_auth(bearer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(creators[0]["name"], "Ana Lima");

    // `admin reset-code` ends the sessions of the running service.
    let reset = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["admin", "reset-code"])
        .output()
        .unwrap();
    assert!(reset.status.success());
    let new_code = last_line(&reset);
    assert_eq!(new_code.len(), 19, "{new_code:?}");
    let after = client
        .get(format!("http://127.0.0.1:{port}/api/admin/creators"))
        .bearer_auth(bearer)
        .send()
        .unwrap();
    assert_eq!(after.status(), 401);

    let keys = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["keys", "show", "--json"])
        .output()
        .unwrap();
    assert!(keys.status.success(), "{}", text(&keys.stderr));
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert!(keys["key_id"].as_str().unwrap().starts_with("vb1-"));
    assert_eq!(keys["public_key"].as_str().unwrap().len(), 44);
    assert_eq!(keys["tls_fingerprint"].as_str().unwrap().len(), 32 * 3 - 1);
    let plain = venuebox(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["keys", "show"])
        .output()
        .unwrap();
    let plain = text(&plain.stdout);
    assert!(
        plain.contains(keys["key_id"].as_str().unwrap()) && !plain.contains("PRIVATE"),
        "{plain}"
    );

    let status = service.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let logs = service.stderr();
    assert!(logs.contains("SIGTERM"), "{logs}");
    for secret in [code, token.as_str(), new_code.as_str(), bearer] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
    let wal = data.join("venuebox.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "database flushed on stop"
    );
}

/// `venuebox run` with no arguments: a development box in ./venuebox-data on
/// 127.0.0.1:8080 that prints its URLs and admin code. Uses the fixed port 8080, as
/// the README promises.
#[test]
fn run_with_no_arguments_starts_a_development_box() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Running::start({
        let mut cmd = venuebox(dir.path());
        cmd.arg("run")
            .env_remove("VENUEBOX_FTP__LISTEN")
            .env_remove("VENUEBOX_MDNS__ENABLED");
        cmd
    });
    let banner = service.stdout.join("\n");
    assert!(
        banner.contains("http://127.0.0.1:8080/admin/login"),
        "{banner}"
    );
    let code_line = service
        .stdout
        .iter()
        .find(|l| l.contains("admin setup code:"))
        .unwrap();
    let code = code_line
        .split("admin setup code:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 19, "{code_line}");
    let health = get("http://127.0.0.1:8080/healthz");
    assert_eq!(health.status(), 200);
    assert!(dir.path().join("venuebox-data/venuebox.db").is_file());
    assert!(dir.path().join("venuebox-data/keys/signing.key").is_file());
    let login = reqwest::blocking::Client::new()
        .post("http://127.0.0.1:8080/api/admin/login")
        .json(&serde_json::json!({ "code": code }))
        .send()
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(service.terminate().success());
    assert!(
        !service.stderr().contains(&code),
        "the code is printed, never logged"
    );

    // The second start does not print a code again.
    let mut again = Running::start({
        let mut cmd = venuebox(dir.path());
        cmd.arg("run")
            .env_remove("VENUEBOX_FTP__LISTEN")
            .env_remove("VENUEBOX_MDNS__ENABLED");
        cmd
    });
    assert!(
        again
            .stdout
            .iter()
            .any(|l| l.contains("set on first start")),
        "{:?}",
        again.stdout
    );
    assert!(!again.stdout.join("\n").contains(&code));
    assert!(again.terminate().success());
}

/// Under systemd (JOURNAL_STREAM set, stdout not a terminal) the code goes to a 0600
/// file in the data dir, not to the journal, and the file goes at the first login.
#[test]
fn under_systemd_the_setup_code_is_left_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut cmd = venuebox(dir.path());
    cmd.arg("--data-dir")
        .arg(&data)
        .args(["run", "--http", &format!("127.0.0.1:{port}")])
        .env("JOURNAL_STREAM", "8:12345");
    let mut service = Running::start(cmd);
    let file = data.join("admin-setup-code");
    let code = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!service.stdout.join("\n").contains(&code));
    get(&format!("http://127.0.0.1:{port}/healthz"));
    let login = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/admin/login"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(!file.exists(), "the file is removed at the first login");
    assert!(service.terminate().success());
}

/// `[log] format = "json"`: every log line on stderr is one JSON object, with the
/// request id on request lines (fit for journald and collectors).
#[test]
fn json_logs_are_one_object_per_line_with_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = venuebox(dir.path());
    cmd.arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["run", "--http", &format!("127.0.0.1:{port}")])
        .env("VENUEBOX_LOG__FORMAT", "json");
    let mut service = Running::start(cmd);
    let response = get(&format!("http://127.0.0.1:{port}/healthz"));
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(service.terminate().success());
    let logs = service.stderr();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["timestamp"].is_string()));
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["id"] == request_id.as_str() && l["span"]["path"] == "/healthz"),
        "no request line with id {request_id}: {logs}"
    );
}

/// `venuebox creator logo NAME FILE` and `--remove` beside a running service: the
/// logo reaches the service's vendor API, the creator's rendered watermarked previews
/// are deleted (to be rendered again with it), a bad file is refused in one line and
/// leaves the logo as it was.
#[test]
fn creator_logo_sets_and_removes_a_logo_beside_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let port = free_port();
    let mut cmd = venuebox(dir.path());
    cmd.arg("--data-dir")
        .arg(&data)
        .args(["run", "--http", &format!("127.0.0.1:{port}")])
        .env("VENUEBOX_ADMIN_TOKEN", "test-admin-code-0123");
    let _service = Running::start(cmd);
    let cli = |args: &[&str]| {
        venuebox(dir.path())
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&["creator", "add", "Ana"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = last_line(&out);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let logo_of_ana = || {
        http.get(format!("{base}/api/vendor/logo"))
            .bearer_auth(&token)
            .send()
            .unwrap()
    };
    assert_eq!(get(&format!("{base}/healthz")).status(), 200);
    assert_eq!(logo_of_ana().status(), 404);

    // A photo of Ana's, rendered by the service.
    let photo =
        std::fs::read(common::testdata().join("photos/sony-ilce6400_DSC00007.JPG")).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo));
    let r = http
        .post(format!("{base}/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", photo.len())
        .header("Content-Type", "application/offset+octet-stream")
        .body(photo)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let derivative = |ext: &str| {
        data.join("derivatives")
            .join(&sha[..2])
            .join(format!("{sha}-watermarked.{ext}"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(derivative("jpg").exists() && derivative("webp").exists()) {
        assert!(Instant::now() < deadline, "not rendered after 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the render finish its bookkeeping before the files are deleted.
    std::thread::sleep(Duration::from_millis(500));

    let png = {
        use image::ImageEncoder;
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                &[255, 0, 0, 255].repeat(60 * 30),
                60,
                30,
                image::ExtendedColorType::Rgba8,
            )
            .unwrap();
        out
    };
    let file = dir.path().join("logo.png");
    std::fs::write(&file, &png).unwrap();
    let out = cli(&["creator", "logo", "Ana", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("60×30 px"), "{said}");
    assert!(
        said.contains("Deleted 2 stale watermarked previews of 1 photos"),
        "{said}"
    );
    assert!(!derivative("jpg").exists() && !derivative("webp").exists());
    let served = logo_of_ana();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().unwrap().to_vec(), png);

    // Refused in one line, the logo kept.
    let bad = dir.path().join("logo.jpg");
    std::fs::write(&bad, b"\xFF\xD8\xFF\xE0 not a png").unwrap();
    for (args, says) in [
        (
            vec!["creator", "logo", "Ana", bad.to_str().unwrap()],
            "not a PNG",
        ),
        (
            vec!["creator", "logo", "Nobody", file.to_str().unwrap()],
            "no creator named",
        ),
        (vec!["creator", "logo", "Ana"], "FILE"),
    ] {
        let out = cli(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(logo_of_ana().bytes().unwrap().to_vec(), png);

    let out = cli(&["creator", "logo", "Ana", "--remove"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Removed the logo"));
    assert_eq!(logo_of_ana().status(), 404);
}
