//! `venuebox bundle verify`: checks a bucket or directory of bundles from the outside,
//! with nothing but what is in it. Every box's key chain from its genesis key, every
//! manifest's signature by the key the chain allows for its sequence, the hash chain
//! (gaps and forks), every asset's presence and SHA-256, and objects the format does
//! not explain. Each problem names the object it is about.

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

    // Asset sha -> (size, manifest naming it); assets tombstoned later may be gone.
    let mut referenced: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut tombstoned: BTreeSet<String> = BTreeSet::new();
    let mut reports = Vec::new();
    for (box_id, objects) in &boxes {
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
        let last = objects
            .manifests
            .keys()
            .chain(objects.signatures.keys())
            .max()
            .copied()
            .unwrap_or(0);
        let mut previous: Option<String> = None;
        for n in 1..=last {
            let mkey = keys::manifest(box_id, n);
            let skey = keys::signature(box_id, n);
            let has_sig = objects.signatures.contains_key(&n);
            if !objects.manifests.contains_key(&n) {
                fail(&mkey, "missing manifest (the hash chain has a gap)".into());
                if has_sig {
                    progress.inc(1);
                }
                previous = None;
                continue;
            }
            progress.inc(1);
            let bytes = match get(mkey.clone()).await {
                Ok(b) => b,
                Err(e) => {
                    fail(&mkey, format!("cannot read: {e}"));
                    previous = None;
                    continue;
                }
            };
            let hash = manifest::sha256_hex(&bytes);
            let parsed = manifest::parse_manifest(&bytes);
            let m = match parsed {
                Ok(m) => m,
                Err(e) => {
                    fail(&mkey, e);
                    previous = Some(hash);
                    continue;
                }
            };
            if &m.box_id != box_id || m.sequence != n {
                fail(
                    &mkey,
                    format!("says it is bundle {} of box {}", m.sequence, m.box_id),
                );
            }
            // Hash chain: sequence 1 has no predecessor; others name the one before.
            match (n, &m.previous, &previous) {
                (1, None, _) => {}
                (1, Some(_), _) => fail(&mkey, "bundle 1 names a predecessor".into()),
                (_, Some(p), Some(actual)) if p == actual => {}
                (_, _, Some(_)) => fail(
                    &mkey,
                    format!("fork: its previous hash does not match bundle {}", n - 1),
                ),
                (_, _, None) => {}
            }
            previous = Some(hash);
            // The signature, by the key the chain allows for this sequence.
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
                    Ok(()) => {}
                    Err((true, e)) => fail(&mkey, e),
                    Err((false, e)) => fail(&skey, e),
                }
            }
            for entry in &m.entries {
                match entry {
                    Entry::Asset { sha256, size, .. } => {
                        tombstoned.remove(sha256);
                        referenced.insert(sha256.clone(), (*size, mkey.clone()));
                    }
                    Entry::Tombstone { target, id, .. } if target == "asset" => {
                        tombstoned.insert(id.clone());
                    }
                    _ => {}
                }
            }
        }
        reports.push(BoxReport {
            box_id: box_id.clone(),
            keys: chain.len(),
            bundles: objects.manifests.len() as u64,
            last_sequence: last,
        });
    }

    // Assets: named ones present and intact; others unexpected.
    let mut to_hash = Vec::new();
    for (sha, (size, named_by)) in &referenced {
        match assets.get(sha) {
            None if tombstoned.contains(sha) => {}
            None => fail(
                &keys::asset(sha),
                format!("missing asset (named by {named_by})"),
            ),
            Some(found) if found != size => fail(
                &keys::asset(sha),
                format!("{found} bytes, but {named_by} says {size}"),
            ),
            Some(_) => to_hash.push(sha.clone()),
        }
    }
    for (sha, _) in assets
        .iter()
        .filter(|(sha, _)| !referenced.contains_key(*sha))
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
