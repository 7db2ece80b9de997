//! `venuebox bundle verify`: checks a bucket or directory of bundles from the outside,
//! with nothing but what is in it. Every box's key chain from its genesis key, every
//! manifest's signature by the key the chain allows for its sequence, the hash chain
//! (gaps and forks), every asset's presence and SHA-256, and objects the format does
//! not explain. Each problem names the object it is about.
//!
//! A box's result depends only on what lies under its own prefix and on the shared
//! assets: which assets it must have, and which it may have withdrawn, is kept per
//! box, so nothing another box's prefix holds (its tombstones, its asset entries, its
//! keys) can excuse, satisfy or change it. A tombstone excuses a missing asset only
//! if it is in a manifest the box's own key chain signed.
//!
//! Work follows the listing: only listed objects are visited, and a run of missing
//! sequence numbers is one failure, so a name like `…/bundles/999999999999.json`
//! costs no more than any other object.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::manifest::{self, keys, keys::Object, Entry};
use super::target::Target;
use crate::identity::{self, KeyRecord};

/// One problem, naming the object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The object key below the prefix.
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// What was checked for one box.
#[derive(Debug, Clone, Serialize)]
pub struct BoxReport {
    /// The box id.
    pub box_id: String,
    /// Keys in its chain that verified.
    pub keys: usize,
    /// Manifests found.
    pub bundles: u64,
    /// Highest sequence found.
    pub last_sequence: u64,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No failures.
    pub ok: bool,
    /// What was verified.
    pub location: String,
    /// Objects listed.
    pub objects: u64,
    /// Per box.
    pub boxes: Vec<BoxReport>,
    /// Assets whose bytes were hashed.
    pub assets_checked: u64,
    /// Their bytes.
    pub asset_bytes: u64,
    /// Every problem found.
    pub failures: Vec<Failure>,
}

#[derive(Default)]
struct BoxObjects {
    keys: BTreeMap<u64, String>,
    manifests: BTreeMap<u64, String>,
    signatures: BTreeMap<u64, String>,
}

/// What one box's own manifests say about one asset, in sequence order.
struct Named {
    /// Bytes, as the latest `asset` entry naming it says.
    size: u64,
    /// The manifest of that entry.
    named_by: String,
    /// Withdrawn since by a tombstone in a manifest the box's key chain signed: the
    /// asset may be gone.
    withdrawn: bool,
}

/// The sequences in `1..=last` missing from `present` (ascending, each at least 1), as
/// inclusive ranges. At most one range more than `present` has numbers, however large
/// the numbers are: nothing is done per missing sequence.
fn missing_ranges(present: impl IntoIterator<Item = u64>, last: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut next = 1;
    for n in present {
        if n > next {
            ranges.push((next, n - 1));
        }
        next = n.saturating_add(1);
    }
    if next <= last {
        ranges.push((next, last));
    }
    ranges
}

/// Verifies everything under the target. `progress` is advanced once per object.
pub async fn verify(target: &Target, progress: &indicatif::ProgressBar) -> anyhow::Result<Report> {
    let store = target.store();
    let listed: Vec<object_store::ObjectMeta> = store
        .list(target.prefix_path().as_ref())
        .try_collect()
        .await?;
    progress.set_length(listed.len() as u64);
    let mut failures = Vec::new();
    let mut fail = |object: &str, problem: String| {
        failures.push(Failure {
            object: object.to_string(),
            problem,
        })
    };
    let mut boxes: BTreeMap<String, BoxObjects> = BTreeMap::new();
    let mut assets: BTreeMap<String, u64> = BTreeMap::new();
    for meta in &listed {
        let Some(key) = target.key_of(&meta.location) else {
            continue;
        };
        match keys::parse(&key) {
            Some(Object::Asset(sha)) => {
                assets.insert(sha, meta.size);
            }
            Some(Object::Manifest(b, n)) => {
                boxes.entry(b).or_default().manifests.insert(n, key);
            }
            Some(Object::Signature(b, n)) => {
                boxes.entry(b).or_default().signatures.insert(n, key);
            }
            Some(Object::KeyStatement(b, n)) => {
                boxes.entry(b).or_default().keys.insert(n, key);
            }
            None => {
                fail(
                    &key,
                    "unexpected object (not part of the bundle format)".into(),
                );
                progress.inc(1);
            }
        }
    }
    let get = |key: String| async move {
        let bytes = store.get(&target.path(&key)).await?.bytes().await?;
        Ok::<_, object_store::Error>(bytes)
    };

    // Per box: asset sha -> what that box's own manifests say about it.
    let mut named_per_box: Vec<BTreeMap<String, Named>> = Vec::new();
    let mut reports = Vec::new();
    for (box_id, objects) in &boxes {
        let mut named: BTreeMap<String, Named> = BTreeMap::new();
        // The key chain, from the genesis statement.
        let mut records: Vec<KeyRecord> = Vec::new();
        for (expected, (n, key)) in objects.keys.iter().enumerate() {
            progress.inc(1);
            if *n != expected as u64 {
                fail(
                    &keys::key_statement(box_id, expected as u64),
                    "missing key statement (the chain has a gap)".into(),
                );
                break;
            }
            let parsed = get(key.clone())
                .await
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<KeyRecord>(&b)
                        .map_err(|e| format!("not a key statement: {e}"))
                });
            match parsed {
                Ok(record) if &record.statement.box_id == box_id => records.push(record),
                Ok(_) => {
                    fail(key, "statement of another box".into());
                    break;
                }
                Err(e) => {
                    fail(key, e);
                    break;
                }
            }
        }
        let chain = match identity::verify_chain(&records) {
            Ok(chain) => chain,
            Err((i, why)) => {
                fail(
                    &keys::key_statement(box_id, i),
                    format!("key chain broken: {why}"),
                );
                identity::verify_chain(&records[..i as usize]).unwrap_or_default()
            }
        };
        // Sequence numbers come from object names and may be anything up to 10^12:
        // only the ones listed are visited, and each run of missing ones is one range.
        let last = objects
            .manifests
            .keys()
            .chain(objects.signatures.keys())
            .max()
            .copied()
            .unwrap_or(0);
        for (first, end) in missing_ranges(objects.manifests.keys().copied(), last) {
            let problem = if first == end {
                "missing manifest (the hash chain has a gap)".to_string()
            } else {
                format!("bundles {first}–{end} missing (the hash chain has a gap)")
            };
            fail(&keys::manifest(box_id, first), problem);
        }
        // Signatures whose manifest is missing: counted in the gaps above.
        progress.inc(
            objects
                .signatures
                .keys()
                .filter(|n| !objects.manifests.contains_key(n))
                .count() as u64,
        );
        // The sequence and hash of the manifest read last.
        let mut previous: Option<(u64, String)> = None;
        for (&n, mkey) in &objects.manifests {
            let skey = keys::signature(box_id, n);
            let has_sig = objects.signatures.contains_key(&n);
            progress.inc(1);
            // The hash of bundle n - 1, if it was read just before.
            let before = previous
                .take()
                .filter(|(p, _)| p + 1 == n)
                .map(|(_, hash)| hash);
            let bytes = match get(mkey.clone()).await {
                Ok(b) => b,
                Err(e) => {
                    fail(mkey, format!("cannot read: {e}"));
                    continue;
                }
            };
            let hash = manifest::sha256_hex(&bytes);
            previous = Some((n, hash));
            let parsed = manifest::parse_manifest(&bytes);
            let m = match parsed {
                Ok(m) => m,
                Err(e) => {
                    fail(mkey, e);
                    continue;
                }
            };
            if &m.box_id != box_id || m.sequence != n {
                fail(
                    mkey,
                    format!("says it is bundle {} of box {}", m.sequence, m.box_id),
                );
            }
            // Hash chain: sequence 1 has no predecessor; others name the one before.
            match (n, &m.previous, &before) {
                (1, None, _) => {}
                (1, Some(_), _) => fail(mkey, "bundle 1 names a predecessor".into()),
                (_, Some(p), Some(actual)) if p == actual => {}
                (_, _, Some(_)) => fail(
                    mkey,
                    format!("fork: its previous hash does not match bundle {}", n - 1),
                ),
                (_, _, None) => {}
            }
            // The signature, by the key the chain allows for this sequence.
            let mut signed = false;
            if !has_sig {
                fail(&skey, "missing signature".into());
            } else {
                progress.inc(1);
                let checked = async {
                    let sig = manifest::parse_signature(
                        &get(skey.clone()).await.map_err(|e| (false, e.to_string()))?,
                    )
                    .map_err(|e| (false, e))?;
                    if sig.manifest_sha256 != manifest::sha256_hex(&bytes) {
                        // The manifest is not the one that was signed.
                        return Err((true, "altered after signing: its SHA-256 is not the one its signature covers".to_string()));
                    }
                    let allowed = identity::key_for_bundle(&chain, n)
                        .ok_or_else(|| (false, "no verified key may sign this bundle".to_string()))?;
                    if sig.key_id != allowed.key_id || m.key_id != allowed.key_id {
                        return Err((false, format!(
                            "signed by {} but the key chain allows only {} for bundle {n}",
                            sig.key_id, allowed.key_id
                        )));
                    }
                    manifest::check_signature(&bytes, &sig, &allowed.key).map_err(|e| (false, e))
                }
                .await;
                match checked {
                    Ok(()) => signed = true,
                    Err((true, e)) => fail(mkey, e),
                    Err((false, e)) => fail(&skey, e),
                }
            }
            // An asset entry can only add to what must be there, so it counts from any
            // of the box's manifests; a tombstone excuses, so it counts only from one
            // the box's chain signed as this very bundle of this box.
            let own = signed && &m.box_id == box_id && m.sequence == n;
            for entry in &m.entries {
                match entry {
                    Entry::Asset { sha256, size, .. } => {
                        named.insert(
                            sha256.clone(),
                            Named {
                                size: *size,
                                named_by: mkey.clone(),
                                withdrawn: false,
                            },
                        );
                    }
                    Entry::Tombstone { target, id, .. } if target == "asset" && own => {
                        if let Some(asset) = named.get_mut(id) {
                            asset.withdrawn = true;
                        }
                    }
                    _ => {}
                }
            }
        }
        named_per_box.push(named);
        reports.push(BoxReport {
            box_id: box_id.clone(),
            keys: chain.len(),
            bundles: objects.manifests.len() as u64,
            last_sequence: last,
        });
    }

    // Assets: each box's own ones present (unless it withdrew them) with the size it
    // names; each present one hashed once; one no box names is unexpected.
    let mut to_hash = BTreeSet::new();
    for named in &named_per_box {
        for (sha, asset) in named {
            let Named {
                size,
                named_by,
                withdrawn,
            } = asset;
            match assets.get(sha) {
                None if *withdrawn => {}
                None => fail(
                    &keys::asset(sha),
                    format!("missing asset (named by {named_by})"),
                ),
                Some(found) if found != size => fail(
                    &keys::asset(sha),
                    format!("{found} bytes, but {named_by} says {size}"),
                ),
                Some(_) => {
                    to_hash.insert(sha.clone());
                }
            }
        }
    }
    let named_anywhere: BTreeSet<&str> = named_per_box
        .iter()
        .flat_map(|named| named.keys().map(String::as_str))
        .collect();
    for (sha, _) in assets
        .iter()
        .filter(|(sha, _)| !named_anywhere.contains(sha.as_str()))
    {
        fail(
            &keys::asset(sha),
            "unexpected object: an asset no manifest names".into(),
        );
        progress.inc(1);
    }
    /// An asset's key, and its actual SHA-256 and length (or why it could not be read).
    type Hashed = (String, Result<(String, u64), String>);
    let hashed: Vec<Hashed> = futures_util::stream::iter(to_hash)
        .map(|sha| async move {
            let result = async {
                let mut stream = store
                    .get(&target.path(&keys::asset(&sha)))
                    .await
                    .map_err(|e| e.to_string())?
                    .into_stream();
                let mut hasher = Sha256::new();
                let mut n = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| e.to_string())?;
                    n += chunk.len() as u64;
                    hasher.update(&chunk);
                }
                Ok((hex::encode(hasher.finalize()), n))
            }
            .await;
            progress.inc(1);
            (sha, result)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut assets_checked = 0;
    let mut asset_bytes = 0;
    for (sha, result) in hashed {
        match result {
            Ok((actual, n)) if actual == sha => {
                assets_checked += 1;
                asset_bytes += n;
            }
            Ok((actual, _)) => fail(
                &keys::asset(&sha),
                format!("content does not match its name (SHA-256 is {actual})"),
            ),
            Err(e) => fail(&keys::asset(&sha), format!("cannot read: {e}")),
        }
    }
    progress.finish();
    failures.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(Report {
        ok: failures.is_empty(),
        location: target.describe.clone(),
        objects: listed.len() as u64,
        boxes: reports,
        assets_checked,
        asset_bytes,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::identity::{KeyStatement, KEY_STATEMENT_FORMAT};
    use crate::sync::manifest::{EventRef, Manifest, MANIFEST_FORMAT};

    /// A box as the bucket sees it: a key of a fixed seed, its genesis statement, and
    /// the manifests it has signed so far (chained by hash).
    struct TestBox {
        key: SigningKey,
        id: String,
        sequence: u64,
        previous: Option<String>,
    }

    impl TestBox {
        /// A box whose key is made from `seed`, with its genesis statement in `target`.
        async fn new(target: &Target, seed: u8) -> TestBox {
            let key = SigningKey::from_bytes(&[seed; 32]);
            let id = identity::key_id(&key.verifying_key());
            let statement = KeyStatement {
                format: KEY_STATEMENT_FORMAT.into(),
                box_id: id.clone(),
                sequence: 0,
                key_id: id.clone(),
                public_key: base64::engine::general_purpose::STANDARD
                    .encode(key.verifying_key().as_bytes()),
                previous_key_id: None,
                from_bundle: 1,
                at: 1_700_000_000,
            };
            let signed_by_new = base64::engine::general_purpose::STANDARD
                .encode(key.sign(&manifest::canonical(&statement)).to_bytes());
            let record = KeyRecord {
                statement,
                signed_by_new,
                signed_by_previous: None,
            };
            put(
                target,
                &keys::key_statement(&id, 0),
                manifest::canonical(&record),
            )
            .await;
            TestBox {
                key,
                id,
                sequence: 0,
                previous: None,
            }
        }

        /// Signs its next bundle of `entries` and puts manifest and signature; returns
        /// the manifest's key.
        async fn bundle(&mut self, target: &Target, entries: Vec<Entry>) -> String {
            self.sequence += 1;
            let m = Manifest {
                format: MANIFEST_FORMAT.into(),
                event: EventRef {
                    id: "ev-1".into(),
                    name: "Night Market".into(),
                },
                box_id: self.id.clone(),
                sequence: self.sequence,
                previous: self.previous.clone(),
                key_id: self.id.clone(),
                created_at: 1_700_000_000,
                entries,
            };
            let (bytes, sig) = manifest::sign(&m, &self.id, |b| self.key.sign(b));
            self.previous = Some(manifest::sha256_hex(&bytes));
            let mkey = keys::manifest(&self.id, self.sequence);
            put(target, &keys::signature(&self.id, self.sequence), sig).await;
            put(target, &mkey, bytes).await;
            mkey
        }
    }

    async fn put(target: &Target, key: &str, bytes: Vec<u8>) {
        target
            .store()
            .put(&target.path(key), bytes.into())
            .await
            .unwrap();
    }

    /// An asset entry for `bytes`, and its SHA-256.
    fn asset(bytes: &[u8]) -> (String, Entry) {
        let sha256 = manifest::sha256_hex(bytes);
        let entry = Entry::Asset {
            original_sha256: None,
            sha256: sha256.clone(),
            size: bytes.len() as u64,
            media_type: "image/jpeg".into(),
            creator: "Ana".into(),
            captured_at: None,
            camera_make: None,
            camera_model: None,
            source: "import".into(),
            received_at: 1_700_000_000,
            clock_trusted: Some(true),
            attendees: vec![],
        };
        (sha256, entry)
    }

    fn tombstone(sha256: &str) -> Entry {
        Entry::Tombstone {
            target: "asset".into(),
            id: sha256.into(),
            reason: "consent_withdrawn".into(),
            at: 1_700_000_000,
        }
    }

    async fn run(target: &Target) -> Report {
        verify(target, &indicatif::ProgressBar::hidden())
            .await
            .unwrap()
    }

    fn missing(report: &Report, sha256: &str) -> bool {
        report
            .failures
            .iter()
            .any(|f| f.object == keys::asset(sha256) && f.problem.starts_with("missing asset"))
    }

    /// An empty local bucket with the genesis statements of box `a`, the one under
    /// test, and box `b`, which must not change `a`'s result.
    async fn bucket(a_seed: u8, b_seed: u8) -> (tempfile::TempDir, Target, TestBox, TestBox) {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::local(dir.path().to_path_buf(), "").unwrap();
        let a = TestBox::new(&target, a_seed).await;
        let b = TestBox::new(&target, b_seed).await;
        (dir, target, a, b)
    }

    #[tokio::test]
    async fn another_boxs_tombstone_does_not_excuse_a_missing_asset() {
        // Both orders of the box ids: the one that sorts first, and the one after.
        for (a_seed, b_seed) in [(1, 2), (2, 1)] {
            let (_dir, target, mut a, mut b) = bucket(a_seed, b_seed).await;
            let (kept, kept_entry) = asset(b"kept photo");
            let (gone, gone_entry) = asset(b"deleted photo");
            put(&target, &keys::asset(&kept), b"kept photo".to_vec()).await;
            a.bundle(&target, vec![kept_entry, gone_entry]).await;
            // Box b is sound: a valid genesis and one signed manifest.
            b.bundle(&target, vec![tombstone(&gone)]).await;
            let report = run(&target).await;
            assert!(!report.ok, "{:?}", report.failures);
            assert!(missing(&report, &gone), "{:?}", report.failures);
            assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
            // Box a's own signed tombstone does excuse it.
            a.bundle(&target, vec![tombstone(&gone)]).await;
            let report = run(&target).await;
            assert!(report.ok, "{:?}", report.failures);
        }
    }

    #[tokio::test]
    async fn another_boxs_asset_entry_does_not_satisfy_or_revive() {
        for (a_seed, b_seed) in [(1, 2), (2, 1)] {
            let (_dir, target, mut a, mut b) = bucket(a_seed, b_seed).await;
            let photo = b"photo".to_vec();
            let (sha, entry) = asset(&photo);
            put(&target, &keys::asset(&sha), photo.clone()).await;
            // Box a names the photo with a wrong size; box b with the right one.
            let mut wrong = entry.clone();
            if let Entry::Asset { size, .. } = &mut wrong {
                *size += 1;
            }
            let named_by = a.bundle(&target, vec![wrong]).await;
            b.bundle(&target, vec![entry.clone()]).await;
            let report = run(&target).await;
            assert!(
                report
                    .failures
                    .iter()
                    .any(|f| f.object == keys::asset(&sha) && f.problem.contains(&named_by)),
                "{:?}",
                report.failures
            );

            // Box a withdrew a photo that box b still names: gone is fine for a, not for
            // b; b's entry does not make a's withdrawn photo required of a, or the reverse.
            let (_dir, target, mut a, mut b) = bucket(a_seed, b_seed).await;
            a.bundle(&target, vec![entry.clone()]).await;
            a.bundle(&target, vec![tombstone(&sha)]).await;
            let b_named = b.bundle(&target, vec![entry]).await;
            let report = run(&target).await;
            let about: Vec<_> = report
                .failures
                .iter()
                .filter(|f| f.object == keys::asset(&sha))
                .collect();
            assert_eq!(about.len(), 1, "{:?}", report.failures);
            assert!(about[0].problem.contains(&b_named), "{about:?}");
        }
    }

    #[tokio::test]
    async fn a_tombstone_the_chain_did_not_sign_excuses_nothing() {
        let (_dir, target, mut a, _b) = bucket(1, 2).await;
        let (gone, gone_entry) = asset(b"deleted photo");
        a.bundle(&target, vec![gone_entry]).await;
        // Bundle 2, tombstoning it, signed by a key that is not in a's chain.
        let mut forger = TestBox {
            key: SigningKey::from_bytes(&[9; 32]),
            ..a
        };
        forger.bundle(&target, vec![tombstone(&gone)]).await;
        let report = run(&target).await;
        assert!(missing(&report, &gone), "{:?}", report.failures);
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.object == keys::signature(&forger.id, 2)),
            "{:?}",
            report.failures
        );
    }

    #[tokio::test]
    async fn gaps_are_ranges_whatever_the_sequence_numbers() {
        let (_dir, target, mut a, _b) = bucket(1, 2).await;
        a.bundle(&target, vec![]).await;
        a.bundle(&target, vec![]).await;
        // A signature far ahead of its box's last manifest: one gap, one failure.
        put(&target, &keys::signature(&a.id, 100_000), b"{}".to_vec()).await;
        let report = run(&target).await;
        assert_eq!(
            report.failures,
            vec![Failure {
                object: keys::manifest(&a.id, 3),
                problem: "bundles 3–100000 missing (the hash chain has a gap)".into(),
            }]
        );

        // The reproduction: one 3-byte object named as bundle 999 999 999 999 of a box
        // with nothing else. Time and memory follow the listing, not the number.
        put(
            &target,
            "boxes/x/bundles/999999999999.json",
            b"abc".to_vec(),
        )
        .await;
        let report = run(&target).await;
        let about_x: Vec<&Failure> = report
            .failures
            .iter()
            .filter(|f| f.object.starts_with("boxes/x/"))
            .collect();
        assert_eq!(about_x.len(), 3, "{about_x:?}");
        assert!(about_x
            .iter()
            .any(|f| f.object == "boxes/x/keys/000000.json"));
        assert!(about_x
            .iter()
            .any(|f| f.object == "boxes/x/bundles/000000000001.json"
                && f.problem == "bundles 1–999999999998 missing (the hash chain has a gap)"));
        assert!(about_x
            .iter()
            .any(|f| f.object == "boxes/x/bundles/999999999999.json"
                && f.problem.starts_with("not a manifest")));
        let x = report.boxes.iter().find(|b| b.box_id == "x").unwrap();
        assert_eq!((x.bundles, x.last_sequence), (1, 999_999_999_999));

        // Bundle 0 does not exist in the format: an unexpected object, not ignored.
        put(&target, &keys::manifest(&a.id, 0), b"{}".to_vec()).await;
        let report = run(&target).await;
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.object == keys::manifest(&a.id, 0)
                    && f.problem.starts_with("unexpected object")),
            "{:?}",
            report.failures
        );
    }
}
