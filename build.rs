//! Build script: embeds the build time as `BUILT_AT_UNIX` (seconds since the epoch),
//! which `venuebox doctor` uses as a floor for the clock: a box whose clock
//! reads earlier than the day its firmware was built has lost time (a Raspberry Pi has
//! no real-time clock). Reproducible builds set `SOURCE_DATE_EPOCH` and get that value
//! (reproducible-builds.org/specs/source-date-epoch). Not named `VENUEBOX_*`: cargo
//! also sets it in the environment of tests, and a box they start would read it as a
//! configuration override and refuse to start.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=BUILT_AT_UNIX={built}");
}
