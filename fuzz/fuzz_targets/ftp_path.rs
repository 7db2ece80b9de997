//! Names cameras and clients send: FTP paths (ftp::resolve, ftp::is_temporary_name)
//! and upload file names (ingest::clean_name). Invariants: a resolved path stays
//! inside the camera's home, with no `..`, and only normal components below it; a
//! clean name is one non-empty component of at most 255 bytes without control
//! characters or separators, and cleaning it again changes nothing.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use venuebox::ftp::{is_temporary_name, resolve};
use venuebox::ingest::clean_name;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let home = Path::new("/data/ftp/7");
    if let Ok(path) = resolve(home, Path::new(text)) {
        let rest = path.strip_prefix(home).expect("inside the home");
        assert!(
            rest.components().all(|c| matches!(c, Component::Normal(_))),
            "{path:?}"
        );
        assert!(!path.to_str().unwrap().chars().any(char::is_control));
    }
    let _ = is_temporary_name(text);
    let clean = clean_name(text);
    assert!(!clean.is_empty() && clean.len() <= 255, "{clean:?}");
    assert!(!clean.contains(['/', '\\']) && !clean.chars().any(char::is_control));
    assert_eq!(clean_name(&clean), clean);
});
