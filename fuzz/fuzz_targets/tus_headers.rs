//! tus request headers (web::tus::headers): `Upload-Metadata`, `Upload-Checksum`,
//! `Upload-Length` / `Upload-Offset`. Invariants: parsed metadata keys are non-empty
//! printable ASCII without commas, and re-encoding the pairs parses back to the same
//! map; a parsed checksum has its algorithm's digest length; an integer header parses
//! only from its own digits.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use venuebox::web::tus::headers::{parse_checksum, parse_metadata, parse_u64, Checksum};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pairs) = parse_metadata(text) {
        let mut encoded = Vec::new();
        for (key, value) in &pairs {
            assert!(!key.is_empty());
            assert!(key.bytes().all(|b| b.is_ascii_graphic() && b != b','));
            if value.is_empty() {
                encoded.push(key.clone());
            } else {
                let v = base64::engine::general_purpose::STANDARD.encode(value);
                encoded.push(format!("{key} {v}"));
            }
        }
        assert_eq!(parse_metadata(&encoded.join(",")).unwrap(), pairs);
    }
    match parse_checksum(text) {
        Ok(Checksum::Sha1(d)) => assert_eq!(d.len(), 20),
        Ok(Checksum::Sha256(d)) => assert_eq!(d.len(), 32),
        Err(_) => {}
    }
    if let Ok(Some(n)) = parse_u64("Upload-Length", Some(text)) {
        assert_eq!(n.to_string().parse::<u64>().unwrap(), n);
        assert!(text.bytes().all(|b| b.is_ascii_digit()));
    }
});
