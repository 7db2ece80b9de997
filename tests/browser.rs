//! The captive portal in a real browser: Debian's headless Chromium driven by
//! playwright-core (tests/browser/portal.mjs) from an OS probe URL to the portal,
//! consent, the pass, my data and a withdrawal, and a decline without JavaScript.
//! Screenshots are kept in target/test-artifacts/portal/ (look at them). Afterwards
//! the database must hold exactly what the browser did.
//!
//! Needs node, npm's playwright-core (tests/run.sh runs `npm ci` in tests/browser) and
//! chromium; without them it fails, saying so.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestBox;
use venuebox::consent::{self, Scope};

#[tokio::test(flavor = "multi_thread")]
async fn portal_journey_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_dir = root.join("tests/browser");
    assert!(
        script_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in tests/browser (tests/run.sh does)"
    );
    let b = TestBox::start().await;
    let shots = root.join("target/test-artifacts/portal");
    let _ = std::fs::remove_dir_all(&shots);
    let port = b.http.port().to_string();
    let out = tokio::task::spawn_blocking({
        let shots = shots.clone();
        move || {
            Command::new("node")
                .arg("portal.mjs")
                .arg(&port)
                .arg(&shots)
                .current_dir(&script_dir)
                .output()
                .expect("node must be installed (tests/run.sh)")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser journey failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(seen["ok"], true);
    assert_eq!(seen["probeAfter"], 204);
    for shot in [
        "1-welcome-de",
        "2-welcome-en",
        "3-pass",
        "4-my-data",
        "5-withdrawn",
        "6-declined-no-js",
    ] {
        let png = shots.join(format!("{shot}.png"));
        let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(len > 5_000, "screenshot {} missing or blank", png.display());
    }

    // The pass the browser showed is a valid pass; its consent is what was clicked.
    let pass = seen["pass"].as_str().unwrap().to_string();
    let pseudonym = consent::verify_pass_code(b.state.portal.secret(), &pass).expect("valid pass");
    let id = b
        .state
        .store
        .read_sql(move |c| consent::attendee_by_pseudonym(c, &pseudonym))
        .await
        .unwrap()
        .expect("the pass's attendee")
        .id;
    let state = b
        .state
        .store
        .read_sql(move |c| consent::current(c, &id))
        .await
        .unwrap();
    assert!(!state[&Scope::Gallery].granted, "gallery withdrawn");
    assert!(state[&Scope::Receive].granted, "receive granted");
    assert!(!state.contains_key(&Scope::Sync) && !state.contains_key(&Scope::Marketing));
    let rows: (i64, i64) = b
        .state
        .store
        .read_sql(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM consent_events), (SELECT count(*) FROM attendees)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        (3, 2),
        "grant, grant, withdrawal; two passes (one declined)"
    );
    b.stop().await;
}
