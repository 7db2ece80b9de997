//! Checks several test binaries share: an archive tested by Info-ZIP's `unzip`, and
//! this process's memory figures.

use std::path::Path;
use std::process::Command;

/// `unzip -t -qq` on the archive: (success, what it said on stdout and stderr).
/// Panics when `unzip` is missing (tests/run.sh installs it).
pub fn unzip_test(zip: &Path) -> (bool, String) {
    let out = Command::new("unzip")
        .args(["-t", "-qq"])
        .arg(zip)
        .output()
        .expect("unzip is installed (tests/run.sh)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// A figure of /proc/self/status (`field` is e.g. `VmHWM:` or `VmRSS:`), in KiB
/// (proc(5)). Panics when the line is missing.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
