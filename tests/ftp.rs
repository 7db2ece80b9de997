//! FTP/FTPS for cameras, with clients no one here wrote: curl (plain and explicit
//! FTPS), lftp (resuming a partial file with `put -c`), and Python's ftplib doing what
//! cameras do (MKD, STOR under a temporary name, RNFR/RNTO) and what attackers try.

mod common;

use std::path::{Path, PathBuf};

use common::{sha256_file, testdata, Options, TestBox};
use venuebox::db::StoreError;

struct Login {
    user: String,
    password: String,
}

async fn ftp_login(b: &TestBox, name: &str) -> Login {
    b.creator(name).await;
    let name = name.to_string();
    let creds = b
        .state
        .store
        .write(move |tx| venuebox::creators::set_ftp_credentials(tx, &name, "test"))
        .await
        .unwrap();
    Login {
        user: creds.user,
        password: creds.password,
    }
}

async fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(cmd)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{cmd} must be installed (tests/run.sh installs it): {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn photos(b: &TestBox) -> Vec<(String, String, String)> {
    b.state
        .store
        .read(|c| {
            let mut stmt =
                c.prepare("SELECT sha256, original_name, source FROM photos ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok::<_, StoreError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap()
}

fn stored(b: &TestBox, sha: &str) -> PathBuf {
    b.data_dir().join("photos/sha256").join(&sha[..2]).join(sha)
}

fn photo(name: &str) -> PathBuf {
    testdata().join("photos").join(name)
}

#[tokio::test]
async fn curl_uploads_over_implicit_ftps_like_a_canon_body() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.ftp.implicit_listen = Some("127.0.0.1:0".into())),
        ..Options::default()
    })
    .await;
    let login = ftp_login(&b, "Ana Lima").await;
    let port = b.ftps_implicit.expect("implicit FTPS listening").port();
    let cert = b.data_dir().join("keys/tls.crt");
    let file = photo("canon-350d_MG_9381.JPG");
    // curl speaks implicit FTPS for ftps:// URLs: TLS first, then PROT P data channels.
    let url = format!(
        "ftps://{}:{}@127.0.0.1:{port}/card1/",
        login.user, login.password
    );
    let out = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            cert.to_str().unwrap(),
            "--ftp-create-dirs",
            "--max-time",
            "20",
            "-T",
            file.to_str().unwrap(),
            &url,
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "implicit FTPS upload: {}",
        text(&out.stderr)
    );
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, sha256_file(&file));
    assert_eq!(sha256_file(&stored(&b, &got[0].0)), got[0].0);
    // Listing over the encrypted data channel shows it.
    let out = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            cert.to_str().unwrap(),
            "--list-only",
            "--max-time",
            "20",
            &url,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "canon-350d_MG_9381.JPG");
    // Wrong password: refused like on plain FTP.
    let out = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            cert.to_str().unwrap(),
            "--max-time",
            "20",
            "-T",
            file.to_str().unwrap(),
            &format!("ftps://{}:wrong@127.0.0.1:{port}/", login.user),
        ],
    )
    .await;
    assert!(text(&out.stderr).contains("530"), "{}", text(&out.stderr));
    // A plain-text client on the implicit port gets no FTP at all.
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "3",
            "--list-only",
            &format!("ftp://{}:{}@127.0.0.1:{port}/", login.user, login.password),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(photos(&b).await.len(), 1);
    b.stop().await;
}

#[tokio::test]
async fn curl_uploads_over_ftp_and_explicit_ftps_with_the_box_certificate() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Ana Lima").await;
    let ftp = b.ftp.unwrap();
    let plain = photo("canon-350d_MG_9381.JPG");
    let secure = photo("nikon-d90_DSC_0003.JPG");
    let url = format!("ftp://{}:{}@{ftp}/", login.user, login.password);
    let out = run(
        "curl",
        &["-sS", "--ftp-pasv", "-T", plain.to_str().unwrap(), &url],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let cert = b.data_dir().join("keys/tls.crt");
    let out = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            cert.to_str().unwrap(),
            "-T",
            secure.to_str().unwrap(),
            &url,
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "FTPS with the box's certificate: {}",
        text(&out.stderr)
    );
    // A client that does not trust the certificate refuses to talk.
    let out = run(
        "curl",
        &["-sS", "--ssl-reqd", "-T", secure.to_str().unwrap(), &url],
    )
    .await;
    assert!(!out.status.success());

    let got = photos(&b).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (path, (sha, name, source)) in [plain, secure].iter().zip(&got) {
        assert_eq!(&sha256_file(path), sha);
        assert_eq!(sha256_file(&stored(&b, sha)), *sha);
        assert_eq!(name, path.file_name().unwrap().to_str().unwrap());
        assert_eq!(source, "ftp");
    }
    // The same file again (as a camera retrying) is the same photo.
    let out = run(
        "curl",
        &[
            "-sS",
            "-T",
            photo("canon-350d_MG_9381.JPG").to_str().unwrap(),
            &format!("{url}again.JPG"),
        ],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(photos(&b).await.len(), 2);

    let wrong = format!("ftp://{}:wrong@{ftp}/", login.user);
    let out = run(
        "curl",
        &[
            "-sS",
            "-T",
            photo("canon-350d_MG_9381.JPG").to_str().unwrap(),
            &wrong,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("530"), "{}", text(&out.stderr));
    b.stop().await;
}

#[tokio::test]
async fn ftplib_does_what_cameras_do() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Bo").await;
    let ftp = b.ftp.unwrap();
    let file = photo("canon-5dmk3_K6A7945.JPG");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "camera",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &login.user,
            &login.password,
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(result["size"], size);
    assert!(
        result["mdtm"].as_str().unwrap().starts_with("213 "),
        "{result}"
    );
    assert_eq!(
        result["nlst"],
        serde_json::json!(["canon-5dmk3_K6A7945.JPG"]),
        "the temporary name is gone"
    );
    assert_eq!(
        result["mlsd"],
        serde_json::json!(["canon-5dmk3_K6A7945.JPG"])
    );
    assert!(result["list"][0]
        .as_str()
        .unwrap()
        .contains(&size.to_string()));
    assert_eq!(result["after_delete"], serde_json::json!(["100CANON"]));

    // One photo: the renamed file. The temporary name and the deleted file were never
    // taken for photos.
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "canon-5dmk3_K6A7945.JPG");
    assert_eq!(got[0].0, sha256_file(&file));
    b.stop().await;
}

#[tokio::test]
async fn lftp_resumes_an_interrupted_upload_with_put_c() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Cy").await;
    let ftp = b.ftp.unwrap();
    let file = photo("canon-eos-rp_MG_0631.JPG");
    let size = std::fs::metadata(&file).unwrap().len();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    // The camera walks out of range after 40% of the file: the data connection resets.
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "partial",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &login.user,
            &login.password,
            file.to_str().unwrap(),
            "MG_0631.JPG",
            &(size * 2 / 5).to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        photos(&b).await.is_empty(),
        "an interrupted upload is not a photo"
    );

    let lftp_script = format!(
        "set ftp:passive-mode on; set ftp:ssl-allow no; set net:max-retries 1; open -u {},{} -p {} {}; put -c {} -o MG_0631.JPG; bye",
        login.user,
        login.password,
        ftp.port(),
        ftp.ip(),
        file.display()
    );
    let out = run("lftp", &["-c", &lftp_script]).await;
    assert!(
        out.status.success(),
        "lftp: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].0,
        sha256_file(&file),
        "resumed into the complete file"
    );
    b.stop().await;
}

#[tokio::test]
async fn no_path_escapes_a_creator_tree_and_bad_names_are_refused() {
    let b = TestBox::start().await;
    let first = ftp_login(&b, "First").await;
    let mallory = ftp_login(&b, "Mallory").await;
    let ftp = b.ftp.unwrap();
    // The first creator uploads a photo; Mallory must not see or touch it.
    let url = format!("ftp://{}:{}@{ftp}/secret.JPG", first.user, first.password);
    let out = run(
        "curl",
        &[
            "-sS",
            "-T",
            photo("canon-350d_MG_9381.JPG").to_str().unwrap(),
            &url,
        ],
    )
    .await;
    assert!(out.status.success());
    let before = std::fs::read(b.data_dir().join("venuebox.db"))
        .unwrap()
        .len();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "hostile",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &mallory.user,
            &mallory.password,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "cwd_parent",
        "cwd_other_creator",
        "mkd_parent",
        "stor_parent",
        "stor_absolute_escape",
        "stor_long_name",
        "stor_control_chars",
        "stor_not_a_photo",
        "retr_database",
        "dele_parent",
        "rnfr_parent",
    ] {
        let reply = r[key].as_str().unwrap_or_default();
        assert!(
            reply.starts_with('4') || reply.starts_with('5'),
            "{key}: {reply}"
        );
    }
    assert!(
        r["stor_not_a_photo"].as_str().unwrap().starts_with("553"),
        "{r}"
    );
    assert_eq!(r["pwd_after"], "/");
    assert_eq!(
        r["root_listing"],
        serde_json::json!([]),
        "Mallory's tree is empty: {r}"
    );
    assert!(!Path::new("/tmp/escape.jpg").exists());
    assert!(
        !b.data_dir().join("escape.jpg").exists() && !b.data_dir().join("ftp/escape.jpg").exists()
    );

    // Mallory cannot read the first creator's file by name either.
    let steal = format!(
        "ftp://{}:{}@{ftp}/secret.JPG",
        mallory.user, mallory.password
    );
    let out = run("curl", &["-sS", "-o", "/dev/null", &steal]).await;
    assert!(!out.status.success());
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "nothing of Mallory's was stored: {got:?}");
    assert!(
        std::fs::read(b.data_dir().join("venuebox.db"))
            .unwrap()
            .len()
            >= before
    );
    b.stop().await;
}

#[tokio::test]
async fn failed_ftp_logins_are_limited_per_client() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.admin.login_max_failures = 2),
        ..Default::default()
    })
    .await;
    let login = ftp_login(&b, "Dee").await;
    let ftp = b.ftp.unwrap();
    for _ in 0..3 {
        let out = run(
            "curl",
            &["-sS", &format!("ftp://{}:wrong@{ftp}/", login.user)],
        )
        .await;
        assert!(!out.status.success());
    }
    // Locked out: even the right password is refused for now.
    let out = run(
        "curl",
        &[
            "-sS",
            &format!("ftp://{}:{}@{ftp}/", login.user, login.password),
        ],
    )
    .await;
    assert!(!out.status.success(), "{}", text(&out.stdout));
    b.stop().await;
}

#[tokio::test]
async fn an_upload_that_would_cross_the_disk_reserve_gets_552() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.ingest.free_disk_reserve_bytes = u64::MAX / 4),
        ..Default::default()
    })
    .await;
    let login = ftp_login(&b, "Eve").await;
    let ftp = b.ftp.unwrap();
    let url = format!("ftp://{}:{}@{ftp}/a.JPG", login.user, login.password);
    let out = run(
        "curl",
        &[
            "-sS",
            "-v",
            "-T",
            photo("canon-350d_MG_9381.JPG").to_str().unwrap(),
            &url,
        ],
    )
    .await;
    assert!(!out.status.success());
    // The server's reply, as curl's verbose log shows it (curl's exit status depends
    // on whether it was still sending when the reply came).
    let log = text(&out.stderr);
    assert!(log.lines().any(|l| l.starts_with("< 552")), "{log}");
    assert!(photos(&b).await.is_empty());
    b.stop().await;
}

#[tokio::test]
async fn a_file_still_arriving_over_ftp_has_an_instant_preview() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Ana").await;
    let admin = b.admin_token().await;
    let ftp = b.ftp.unwrap();
    // Orientation 8, 486 KB at 160 KB/s: about 3 s on the wire.
    let file = photo("canon-5dmk3_K6A7945.JPG");
    let url = format!("ftp://{}:{}@{ftp}/", login.user, login.password);
    let mut curl = tokio::process::Command::new("curl")
        .args(["-sS", "--ftp-pasv", "--limit-rate", "160k", "-T"])
        .arg(&file)
        .arg(&url)
        .spawn()
        .expect("curl must be installed (tests/run.sh installs it)");
    let c = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let key = loop {
        let stats: serde_json::Value = c
            .get(b.url("/api/admin/previews/stats"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ready = stats["uploads_in_progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["instant_preview"] == true)
            .map(|u| u["key"].as_str().unwrap().to_string());
        if let Some(key) = ready {
            break key;
        }
        assert!(
            curl.try_wait().unwrap().is_none(),
            "the upload ended before an instant preview: {stats}"
        );
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let r = c
        .get(b.url(&format!("/uploads/{key}/preview")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert!(
        img.height() > img.width(),
        "upright: {}×{}",
        img.width(),
        img.height()
    );
    assert!(
        curl.try_wait().unwrap().is_none(),
        "served while the file is still arriving"
    );
    assert!(curl.wait().await.unwrap().success());
    b.stop().await;
}

#[tokio::test]
async fn a_quit_sent_while_the_data_still_flows_gets_226_before_221() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Gus").await;
    let ftp = b.ftp.unwrap();
    let file = photo("canon-5dmk3_K6A7945.JPG");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "quit_mid_stor",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &login.user,
            &login.password,
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = r["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l.as_str().unwrap()[..3])
        .collect();
    // RFC 959 §4.1.1: the connection stays open for the transfer's reply, then closes.
    assert_eq!(codes, ["226", "221"], "{r}");
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, sha256_file(&file));
    b.stop().await;
}

#[tokio::test]
async fn auth_ssl_is_taken_as_auth_tls() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Hal").await;
    let ftp = b.ftp.unwrap();
    let file = photo("nikon-d90_DSC_0003.JPG");
    let cert = b.data_dir().join("keys/tls.crt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    // ftplib asks for TLS with the pre-RFC 4217 value older clients send, then does
    // the same handshake, login, PROT P and STOR as over AUTH TLS.
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "auth_ssl",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &login.user,
            &login.password,
            file.to_str().unwrap(),
            cert.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["auth"].as_str().unwrap().starts_with("234"), "{r}");
    assert!(r["stor"].as_str().unwrap().starts_with("226"), "{r}");
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, sha256_file(&file));
    b.stop().await;
}

/// Runs `plan` with `tests/ftp_camera.py steps` (see there) as `login`; each step's
/// reply, as text (a listing as its JSON).
async fn steps(b: &TestBox, login: &Login, plan: serde_json::Value) -> Vec<String> {
    let ftp = b.ftp.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "steps",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &login.user,
            &login.password,
            &plan.to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    r["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .collect()
}

/// Every file under `ftp/` (all creators' trees and the root), relative to it.
fn ftp_files(b: &TestBox) -> Vec<String> {
    let root = b.data_dir().join("ftp");
    let mut files: Vec<String> = walk(&root)
        .into_iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn file_names(files: &[String]) -> Vec<&str> {
    files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap())
        .collect()
}

#[tokio::test]
async fn files_under_temporary_names_count_against_the_quota_and_must_be_photos() {
    let first = photo("nikon-d90_DSC_0003.JPG");
    let second = photo("canon-350d_MG_9381.JPG");
    let first_size = std::fs::metadata(&first).unwrap().len();
    // Room for the first photo and 100 KB more.
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| c.ingest.creator_quota_bytes = first_size + 100_000),
        ..Default::default()
    })
    .await;
    let login = ftp_login(&b, "Ivy").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let (first, second, notes) = (
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        script.to_str().unwrap(),
    );
    let r = steps(
        &b,
        &login,
        serde_json::json!([
            ["stor", "DSC_0003.JPG", first, null],
            // 540 KB under a temporary name: over the quota like under a photo's.
            ["stor", "MG_9381.JPG.tmp", second, null],
            ["stor", "MG_9381.JPG", second, null],
            ["stor", ".MG_9381.JPG", second, null],
            // Not a photo: refused under any name.
            ["stor", "notes.tmp", notes, null],
            ["stor", "notes~", notes, null],
            // 60 KB that start like a JPEG fit, once; the second 60 KB do not.
            ["stor", "part1.JPG.part", second, 60_000],
            ["stor", "part2.JPG.part", second, 60_000],
            ["nlst", "/"],
            // Renamed to a photo's name, the file kept under a temporary name is ingested.
            ["rename", "part1.JPG.part", "part1.JPG"],
            ["nlst", "/"],
        ]),
    )
    .await;
    assert!(r[0].starts_with("226"), "{r:?}");
    for (i, code) in [(1, "552"), (2, "552"), (3, "552"), (4, "553"), (5, "553")] {
        assert!(r[i].starts_with(code), "step {i}: {r:?}");
    }
    assert!(r[6].starts_with("226"), "{r:?}");
    assert!(r[7].starts_with("552"), "{r:?}");
    assert_eq!(r[8], r#"["DSC_0003.JPG","part1.JPG.part"]"#, "{r:?}");
    assert!(r[9].starts_with("250"), "{r:?}");
    assert_eq!(r[10], r#"["DSC_0003.JPG","part1.JPG"]"#, "{r:?}");
    let got = photos(&b).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].1, "part1.JPG");
    // Nothing else on disk: no refused file, no temporary write.
    assert_eq!(
        file_names(&ftp_files(&b)),
        ["DSC_0003.JPG", "part1.JPG"],
        "{:?}",
        ftp_files(&b)
    );
    b.stop().await;
}

#[tokio::test]
async fn stor_onto_a_folder_is_refused_before_anything_is_written() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Jo").await;
    let file = photo("canon-350d_MG_9381.JPG");
    let file = file.to_str().unwrap();
    let names = [
        "/", ".", "..", "/DCIM/", "DCIM", "/DCIM/.", "DCIM/..", "/DCIM//",
    ];
    let mut plan = vec![serde_json::json!(["mkd", "/DCIM"])];
    plan.extend(
        names
            .iter()
            .map(|n| serde_json::json!(["stor", n, file, null])),
    );
    plan.push(serde_json::json!(["nlst", "/"]));
    let r = steps(&b, &login, serde_json::Value::Array(plan)).await;
    for (name, reply) in names.iter().zip(&r[1..]) {
        assert!(reply.starts_with("553"), "STOR {name}: {r:?}");
    }
    assert_eq!(r.last().unwrap(), r#"["DCIM"]"#);
    assert_eq!(
        ftp_files(&b),
        Vec::<String>::new(),
        "nothing written anywhere"
    );
    assert!(photos(&b).await.is_empty());
    b.stop().await;
}

#[tokio::test]
async fn a_refused_upload_leaves_nothing_and_keeps_the_file_it_would_replace() {
    let first = photo("nikon-d90_DSC_0003.JPG");
    let first_size = std::fs::metadata(&first).unwrap().len();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| c.ingest.creator_quota_bytes = first_size + 100_000),
        ..Default::default()
    })
    .await;
    let login = ftp_login(&b, "Kit").await;
    let ftp = b.ftp.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let second = photo("canon-350d_MG_9381.JPG");
    let r = steps(
        &b,
        &login,
        serde_json::json!([
            ["stor", "DSC_0003.JPG", first.to_str().unwrap(), null],
            // Not a photo, then over the quota, onto the photo's name: refused, and
            // the photo already there stays.
            ["stor", "DSC_0003.JPG", script.to_str().unwrap(), null],
            ["stor", "DSC_0003.JPG", second.to_str().unwrap(), null],
            ["retr", "DSC_0003.JPG"],
        ]),
    )
    .await;
    assert!(r[0].starts_with("226"), "{r:?}");
    assert!(r[1].starts_with("553"), "{r:?}");
    assert!(r[2].starts_with("552"), "{r:?}");
    assert_eq!(r[3], sha256_file(&first), "{r:?}");
    // A transfer cut off mid-way keeps its bytes for REST only if they start like a
    // photo.
    let out = run(
        "python3",
        &[
            script.to_str().unwrap(),
            "partial",
            &ftp.ip().to_string(),
            &ftp.port().to_string(),
            &login.user,
            &login.password,
            script.to_str().unwrap(),
            "notes.JPG",
            "3000",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        file_names(&ftp_files(&b)),
        ["DSC_0003.JPG"],
        "{:?}",
        ftp_files(&b)
    );
    assert_eq!(photos(&b).await.len(), 1);
    b.stop().await;
}

#[tokio::test]
async fn a_photo_uploaded_again_under_another_name_is_linked_not_copied() {
    use std::os::unix::fs::MetadataExt;
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Lu").await;
    let file = photo("canon-350d_MG_9381.JPG");
    let file = file.to_str().unwrap();
    let r = steps(
        &b,
        &login,
        serde_json::json!([
            ["stor", "a.JPG", file, null],
            ["stor", "b.JPG", file, null],
            ["stor", "c.JPG.tmp", file, null],
            ["rename", "c.JPG.tmp", "c.JPG"],
        ]),
    )
    .await;
    assert!(r.iter().all(|r| r.starts_with('2')), "{r:?}");
    let got = photos(&b).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let stored = std::fs::metadata(stored(&b, &got[0].0)).unwrap();
    let root = b.data_dir().join("ftp");
    for path in walk(&root) {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            meta.ino(),
            stored.ino(),
            "{} is the stored photo, not a copy",
            path.display()
        );
    }
    assert_eq!(stored.nlink(), 4, "the store and three names in the tree");
    b.stop().await;
}

#[tokio::test]
async fn files_that_are_not_photos_expire_at_start() {
    let b = TestBox::start().await;
    let login = ftp_login(&b, "Max").await;
    let file = photo("canon-350d_MG_9381.JPG");
    let r = steps(
        &b,
        &login,
        serde_json::json!([
            ["stor", "old.JPG.tmp", file.to_str().unwrap(), null],
            ["stor", "new.JPG.tmp", file.to_str().unwrap(), null],
            ["stor", "photo.JPG", file.to_str().unwrap(), null],
        ]),
    )
    .await;
    assert!(r.iter().all(|r| r.starts_with("226")), "{r:?}");
    let root = b.data_dir().join("ftp");
    let old = walk(&root)
        .into_iter()
        .find(|p| p.ends_with("old.JPG.tmp"))
        .unwrap();
    // Last written two days ago: past the default day, it goes at the next start.
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let b = b.restart().await;
    // Once the server answers, its start (the sweep) is done.
    let r = steps(&b, &login, serde_json::json!([["nlst", "/"]])).await;
    assert_eq!(r[0], r#"["new.JPG.tmp","photo.JPG"]"#);
    assert_eq!(
        file_names(&ftp_files(&b)),
        ["new.JPG.tmp", "photo.JPG"],
        "{:?}",
        ftp_files(&b)
    );
    b.stop().await;
}

#[tokio::test]
async fn files_that_are_not_photos_expire_while_the_box_runs() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.ftp.expire_after_secs = 1),
        ..Default::default()
    })
    .await;
    let login = ftp_login(&b, "Ned").await;
    let file = photo("canon-350d_MG_9381.JPG");
    let r = steps(
        &b,
        &login,
        serde_json::json!([
            ["mkd", "DCIM"],
            ["stor", "DCIM/a.JPG.tmp", file.to_str().unwrap(), null],
            ["stor", "DCIM/a.JPG", file.to_str().unwrap(), null],
        ]),
    )
    .await;
    assert!(r[1..].iter().all(|r| r.starts_with("226")), "{r:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file_names(&ftp_files(&b)) != ["a.JPG"] {
        assert!(
            std::time::Instant::now() < deadline,
            "the temporary file is still there: {:?}",
            ftp_files(&b)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The photo and the camera's folder stay.
    assert!(b.data_dir().join("ftp").read_dir().unwrap().count() == 1);
    assert_eq!(photos(&b).await.len(), 1);
    b.stop().await;
}
