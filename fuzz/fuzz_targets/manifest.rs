//! Bundle manifests and detached signatures as the verifier reads them from a target
//! (sync::manifest). Invariants: a manifest that parses is its own canonical (JCS)
//! form and re-serialises to bytes that parse to the same manifest; a signature that
//! parses re-serialises and parses back equal; checking it against a fixed key never
//! panics and never verifies (the fuzzer holds no private key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::sync::manifest::{canonical, check_signature, parse_manifest, parse_signature};

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = parse_manifest(data) {
        let bytes = canonical(&manifest);
        assert_eq!(bytes, data);
        assert_eq!(parse_manifest(&bytes).unwrap(), manifest);
    }
    if let Ok(sig) = parse_signature(data) {
        let bytes = canonical(&sig);
        assert_eq!(parse_signature(&bytes).unwrap(), sig);
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert!(check_signature(data, &sig, &key).is_err());
    }
});
