//! The bundle format (docs/bundle-format.md): manifests, their detached signatures and
//! the object keys they live under. Pure functions on bytes, no I/O, so the box that
//! writes a bundle and `bundle verify` that checks one share exactly the same rules.
//!
//! Every JSON document is stored as its RFC 8785 (JCS) canonical form: the bytes that
//! are signed and hashed are the bytes in the bucket, and any rewriting of them (even
//! reordering keys) is a detectable change.

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `format` of a manifest this build writes. Version 2 added `original_sha256` to
/// asset entries (the asset may be the original with its metadata removed); version 3
/// added `clock_trusted` to assets, consent and attendance, and `order` entries.
pub const MANIFEST_FORMAT: &str = "venuebox-bundle/3";
/// `format` of version-2 manifests, still read (no `clock_trusted`).
pub const MANIFEST_FORMAT_2: &str = "venuebox-bundle/2";
/// `format` of manifests written before version 2, still read (their assets are the
/// originals: no `original_sha256`).
pub const MANIFEST_FORMAT_1: &str = "venuebox-bundle/1";
/// `format` of a detached signature.
pub const SIGNATURE_FORMAT: &str = "venuebox-signature/1";

/// A bundle's manifest: what the bundle holds and where it sits in the box's chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The event: a random id made once per box database, and the event's name.
    pub event: EventRef,
    /// The box: the key id of its first signing key (see `vault`).
    pub box_id: String,
    /// 1, 2, 3… per box, no gaps.
    pub sequence: u64,
    /// SHA-256 (hex) of the previous manifest's bytes; `null` for sequence 1.
    pub previous: Option<String>,
    /// Key id of the key that signed this manifest.
    pub key_id: String,
    /// When the bundle was cut, seconds since the epoch.
    pub created_at: i64,
    /// What the bundle carries.
    pub entries: Vec<Entry>,
}

/// The event a bundle belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    /// Random, made once per box database.
    pub id: String,
    /// The event's name as configured.
    pub name: String,
}

/// One record in a manifest. Attendees appear only by pseudonym.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// A photo, stored at `assets/sha256/<sha256>`.
    Asset {
        /// SHA-256 of the bytes sent (the object's), lowercase hex.
        sha256: String,
        /// SHA-256 of the photo as the camera sent it, when the bytes sent are not
        /// those (by default sync sends the original with its private metadata
        /// removed, image bytes identical): provenance ties the asset to the camera
        /// file. Absent in version-1 manifests, whose assets are the originals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original_sha256: Option<String>,
        /// Bytes sent.
        size: u64,
        /// MIME type, from the magic bytes.
        media_type: String,
        /// The creator's name.
        creator: String,
        /// EXIF DateTimeOriginal as written by the camera (no time zone).
        captured_at: Option<String>,
        /// EXIF Make.
        camera_make: Option<String>,
        /// EXIF Model.
        camera_model: Option<String>,
        /// `ftp`, `tus` or `import`.
        source: String,
        /// When the box stored it, seconds since the epoch.
        received_at: i64,
        /// Whether the box's clock was trusted when it stored it (`clock::Stamp`):
        /// absent when unknown (written before version 3, or before the box recorded
        /// it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_trusted: Option<bool>,
        /// Pseudonyms of the attendees tagged on it (all of whom consented to sync).
        attendees: Vec<String>,
    },
    /// A consent event of an attendee whose current consent covers sync.
    Consent {
        /// Pseudonym.
        attendee: String,
        /// `gallery`, `receive`, `sync` or `marketing`.
        scope: String,
        /// Granted (true) or withdrawn (false).
        granted: bool,
        /// Hash of the exact notice text shown.
        notice_hash: String,
        /// `portal`, `door` or `vendor`.
        channel: String,
        /// Seconds since the epoch.
        at: i64,
        /// Whether the clock was trusted when it was recorded; absent when unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_trusted: Option<bool>,
    },
    /// An attendance record of an attendee whose current consent covers sync.
    Attendance {
        /// Pseudonym.
        attendee: String,
        /// `portal` or `door`.
        source: String,
        /// Seconds since the epoch.
        at: i64,
        /// Whether the clock was trusted when it was recorded; absent when unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_trusted: Option<bool>,
    },
    /// What happened to an order at the stall: placed, paid, given free, or cancelled,
    /// with its priced lines and the co-op split as they stood then.
    Order {
        /// The order's short code (on the receipt).
        code: String,
        /// `placed`, `paid`, `free` or `cancelled`.
        event: String,
        /// The attendee's pseudonym, when their consent covers sync; `null` otherwise
        /// (the sale is still the vendor's bookkeeping, but says nothing of who).
        attendee: Option<String>,
        /// The creator's name.
        creator: String,
        /// ISO 4217 code.
        currency: String,
        /// The order's total, in minor units.
        total_minor: i64,
        /// Its lines.
        lines: Vec<OrderLine>,
        /// Seconds since the epoch.
        at: i64,
    },
    /// Something published earlier must no longer be used: the cloud side deletes it.
    Tombstone {
        /// `asset` (then `id` is a SHA-256) or `attendee` (then `id` is a pseudonym
        /// and every record about it is meant).
        target: String,
        /// What is withdrawn.
        id: String,
        /// `consent_withdrawn`, `erasure` or `creator_opted_out`.
        reason: String,
        /// When the box noticed, seconds since the epoch.
        at: i64,
    },
}

/// One priced line of an [`Entry::Order`], in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// `photo` or `bundle`.
    pub kind: String,
    /// SHA-256 of the photo (as the camera sent it) of a `photo` line.
    pub photo: Option<String>,
    /// The price.
    pub price_minor: i64,
    /// The creator's share.
    pub creator_minor: i64,
    /// The organiser's share (the price's configured percentage, rounded down).
    pub organiser_minor: i64,
}

/// The detached signature stored beside a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachedSignature {
    /// [`SIGNATURE_FORMAT`].
    pub format: String,
    /// Always `ed25519`.
    pub alg: String,
    /// Key id of the signing key.
    pub key_id: String,
    /// SHA-256 (hex) of the signed manifest bytes.
    pub manifest_sha256: String,
    /// The signature over the manifest bytes, standard base64.
    pub signature: String,
}

/// The canonical (JCS) bytes of any document of the format.
pub fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail (no maps with non-string keys).
    serde_json_canonicalizer::to_vec(value).expect("bundle documents serialise")
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Signs a manifest with the key `key_id` (through `sign`): returns the manifest's
/// canonical bytes and the detached signature's canonical bytes.
pub fn sign(
    manifest: &Manifest,
    key_id: &str,
    sign: impl FnOnce(&[u8]) -> Signature,
) -> (Vec<u8>, Vec<u8>) {
    let bytes = canonical(manifest);
    let signature = DetachedSignature {
        format: SIGNATURE_FORMAT.into(),
        alg: "ed25519".into(),
        key_id: key_id.into(),
        manifest_sha256: sha256_hex(&bytes),
        signature: base64::engine::general_purpose::STANDARD.encode(sign(&bytes).to_bytes()),
    };
    (bytes, canonical(&signature))
}

/// Parses manifest bytes, insisting they are in canonical form (so the bytes signed
/// are the only representation of the content).
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| format!("not a manifest: {e}"))?;
    if ![MANIFEST_FORMAT, MANIFEST_FORMAT_2, MANIFEST_FORMAT_1].contains(&manifest.format.as_str())
    {
        return Err(format!("unknown format {:?}", manifest.format));
    }
    if canonical(&manifest) != bytes {
        return Err("not in canonical (RFC 8785) form".into());
    }
    Ok(manifest)
}

/// Parses a detached signature.
pub fn parse_signature(bytes: &[u8]) -> Result<DetachedSignature, String> {
    let sig: DetachedSignature =
        serde_json::from_slice(bytes).map_err(|e| format!("not a signature object: {e}"))?;
    if sig.format != SIGNATURE_FORMAT || sig.alg != "ed25519" {
        return Err(format!(
            "unknown signature format {:?}/{:?}",
            sig.format, sig.alg
        ));
    }
    Ok(sig)
}

/// Checks `signature` over `manifest_bytes` with `key` (strict ed25519).
pub fn check_signature(
    manifest_bytes: &[u8],
    signature: &DetachedSignature,
    key: &VerifyingKey,
) -> Result<(), String> {
    if signature.manifest_sha256 != sha256_hex(manifest_bytes) {
        return Err("signature names another manifest (sha256 differs)".into());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&signature.signature)
        .map_err(|_| "signature is not base64".to_string())?;
    let raw: [u8; 64] = raw
        .try_into()
        .map_err(|_| "signature is not 64 bytes".to_string())?;
    key.verify_strict(manifest_bytes, &Signature::from_bytes(&raw))
        .map_err(|_| "signature does not verify".to_string())
}

/// Object keys, relative to the target's prefix.
pub mod keys {
    /// Where an asset lives: `assets/sha256/<hex>`.
    pub fn asset(sha256: &str) -> String {
        format!("assets/sha256/{sha256}")
    }
    /// A box's manifest: `boxes/<box>/bundles/<sequence, 12 digits>.json`.
    pub fn manifest(box_id: &str, sequence: u64) -> String {
        format!("boxes/{box_id}/bundles/{sequence:012}.json")
    }
    /// Its detached signature: `….sig.json` beside it.
    pub fn signature(box_id: &str, sequence: u64) -> String {
        format!("boxes/{box_id}/bundles/{sequence:012}.sig.json")
    }
    /// A key statement (genesis is 0): `boxes/<box>/keys/<n, 6 digits>.json`.
    pub fn key_statement(box_id: &str, sequence: u64) -> String {
        format!("boxes/{box_id}/keys/{sequence:06}.json")
    }

    /// What an object key names, as `bundle verify` reads a listing.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Object {
        /// `assets/sha256/<hex>`.
        Asset(String),
        /// A manifest (box, sequence ≥ 1).
        Manifest(String, u64),
        /// A detached signature (box, sequence ≥ 1).
        Signature(String, u64),
        /// A key statement (box, sequence).
        KeyStatement(String, u64),
    }

    /// Classifies a key; `None` for anything the format does not define.
    pub fn parse(key: &str) -> Option<Object> {
        let parts: Vec<&str> = key.split('/').collect();
        let is_hex = |s: &str, n| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let digits = |s: &str, n| {
            (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        // Bundles count from 1; there is no bundle 0.
        let bundle = |s: &str| digits(s, 12).filter(|&n| n >= 1);
        match parts.as_slice() {
            ["assets", "sha256", hex] if is_hex(hex, 64) => Some(Object::Asset(hex.to_string())),
            ["boxes", b, "bundles", name] => {
                if let Some(n) = name.strip_suffix(".sig.json").and_then(bundle) {
                    Some(Object::Signature(b.to_string(), n))
                } else {
                    let n = name.strip_suffix(".json").and_then(bundle)?;
                    Some(Object::Manifest(b.to_string(), n))
                }
            }
            ["boxes", b, "keys", name] => {
                let n = name.strip_suffix(".json").and_then(|s| digits(s, 6))?;
                Some(Object::KeyStatement(b.to_string(), n))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            event: EventRef {
                id: "ev-1".into(),
                name: "Night Market".into(),
            },
            box_id: "vb1-00".into(),
            sequence: 1,
            previous: None,
            key_id: "vb1-00".into(),
            created_at: 1_700_000_000,
            entries: vec![Entry::Tombstone {
                target: "attendee".into(),
                id: "ps-1".into(),
                reason: "erasure".into(),
                at: 1,
            }],
        }
    }

    #[test]
    fn manifests_are_canonical_and_verify() {
        use ed25519_dalek::{Signer, SigningKey};
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let (bytes, sig) = sign(&manifest(), "vb1-00", |b| key.sign(b));
        // JCS: sorted keys, no whitespace.
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with(
                "{\"box_id\":\"vb1-00\",\"created_at\":1700000000,\"entries\":[{\"at\":1,"
            ),
            "{text}"
        );
        assert_eq!(parse_manifest(&bytes).unwrap(), manifest());
        let sig = parse_signature(&sig).unwrap();
        check_signature(&bytes, &sig, &key.verifying_key()).unwrap();
        // One changed byte, or a different key, fails.
        let mut tampered = bytes.clone();
        let i = text.find("erasure").unwrap();
        tampered[i] = b'E';
        assert!(check_signature(&tampered, &sig, &key.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[4u8; 32]);
        assert!(check_signature(&bytes, &sig, &other.verifying_key()).is_err());
        // Pretty-printed JSON of the same content is refused as non-canonical.
        let pretty = serde_json::to_vec_pretty(&manifest()).unwrap();
        assert!(parse_manifest(&pretty).unwrap_err().contains("canonical"));
    }

    #[test]
    fn object_keys_round_trip() {
        use keys::Object;
        let sha = "ab".repeat(32);
        assert_eq!(
            keys::parse(&keys::asset(&sha)),
            Some(Object::Asset(sha.clone()))
        );
        assert_eq!(
            keys::parse(&keys::manifest("vb1-x", 7)),
            Some(Object::Manifest("vb1-x".into(), 7))
        );
        assert_eq!(
            keys::parse(&keys::signature("vb1-x", 7)),
            Some(Object::Signature("vb1-x".into(), 7))
        );
        assert_eq!(
            keys::parse(&keys::key_statement("vb1-x", 0)),
            Some(Object::KeyStatement("vb1-x".into(), 0))
        );
        for bad in [
            "assets/sha256/AB",
            "x",
            "boxes/b/bundles/1.json",
            "boxes/b/bundles/000000000000.json",
            "boxes/b/bundles/000000000000.sig.json",
            "assets/sha256/",
        ] {
            assert_eq!(keys::parse(bad), None, "{bad}");
        }
    }
}
