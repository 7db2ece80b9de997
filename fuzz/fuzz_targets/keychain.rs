//! The box's public key chain as a verifier reads it (identity: `chain.json` and the
//! `keys/<n>.json` records of a target). The input is either a record array or, when
//! its first byte is 0, a recipe: a valid chain of 1–4 keys is signed here and one
//! byte of its JSON is changed at an input-chosen place. Invariants: records that
//! parse re-serialise to equal records; a verified chain has one key per record, in
//! `from_bundle` order, genesis key id = box id; the valid chain verifies; a changed
//! one that still parses verifies only if its statements are unchanged.
#![no_main]

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use venuebox::identity::{key_for_bundle, key_id, verify_chain, KeyRecord, KeyStatement};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sign(key: &SigningKey, statement: &KeyStatement) -> String {
    // Over the statement's canonical (JCS) bytes, as identity signs it.
    let bytes = serde_json_canonicalizer::to_vec(statement).unwrap();
    b64(&key.sign(&bytes).to_bytes())
}

/// A valid chain of `n` keys (seeded by `seed`) rotating at bundles `from`.
fn chain(seed: u8, from: &[u8]) -> Vec<KeyRecord> {
    let keys: Vec<SigningKey> = (0..from.len().clamp(1, 4))
        .map(|i| SigningKey::from_bytes(&[seed.wrapping_add(i as u8); 32]))
        .collect();
    let box_id = key_id(&keys[0].verifying_key());
    let mut records = Vec::new();
    let mut from_bundle = 0u64;
    for (i, key) in keys.iter().enumerate() {
        from_bundle += u64::from(from.get(i).copied().unwrap_or(0)) * u64::from(i > 0);
        let statement = KeyStatement {
            format: venuebox::identity::KEY_STATEMENT_FORMAT.into(),
            box_id: box_id.clone(),
            sequence: i as u64,
            key_id: key_id(&key.verifying_key()),
            public_key: b64(key.verifying_key().as_bytes()),
            previous_key_id: (i > 0).then(|| key_id(&keys[i - 1].verifying_key())),
            from_bundle,
            at: 1_700_000_000 + i as i64,
        };
        let signed_by_previous = (i > 0).then(|| sign(&keys[i - 1], &statement));
        records.push(KeyRecord {
            signed_by_new: sign(key, &statement),
            statement,
            signed_by_previous,
        });
    }
    records
}

fn check(records: &[KeyRecord]) -> bool {
    let json = serde_json::to_vec(records).unwrap();
    let back: Vec<KeyRecord> = serde_json::from_slice(&json).unwrap();
    assert_eq!(back, records);
    let Ok(keys) = verify_chain(records) else {
        return false;
    };
    assert_eq!(keys.len(), records.len());
    assert_eq!(keys[0].key_id, records[0].statement.box_id);
    assert!(keys
        .windows(2)
        .all(|w| w[0].from_bundle <= w[1].from_bundle));
    let last = keys.last().unwrap();
    assert_eq!(
        key_for_bundle(&keys, last.from_bundle).unwrap().key_id,
        last.key_id
    );
    true
}

fuzz_target!(|data: &[u8]| {
    match data {
        [0, seed, at_hi, at_lo, byte, from @ ..] => {
            let valid = chain(*seed, from);
            assert!(check(&valid), "a chain signed here verifies");
            let mut json = serde_json::to_vec(&valid).unwrap();
            let at = usize::from(u16::from_be_bytes([*at_hi, *at_lo])) % json.len();
            json[at] = *byte;
            if let Ok(changed) = serde_json::from_slice::<Vec<KeyRecord>>(&json) {
                let same = changed
                    .iter()
                    .zip(&valid)
                    .all(|(a, b)| a.statement == b.statement);
                if check(&changed) {
                    assert!(
                        same && changed.len() == valid.len(),
                        "a changed chain verifies"
                    );
                }
            }
        }
        _ => {
            if let Ok(records) = serde_json::from_slice::<Vec<KeyRecord>>(data) {
                check(&records);
            }
            if let Ok(record) = serde_json::from_slice::<KeyRecord>(data) {
                check(&[record]);
            }
        }
    }
});
