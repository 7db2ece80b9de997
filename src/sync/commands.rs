//! The command line of sync: `venuebox keys rotate`, `venuebox bundle verify`,
//! `venuebox sync push` and `venuebox sync status`.

use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use super::target::Target;
use super::{outbox, verify, SyncHandle, Syncer};
use crate::config::Config;
use crate::db::StoreError;

/// `venuebox bundle ...`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Verify every bundle in a directory or bucket: signatures, the key-rotation
    /// chain, the hash chain (gaps, forks), every asset's presence and hash, and
    /// unexpected objects. Exits 1 on any failure. For s3:// the endpoint, region and
    /// credentials come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (or --endpoint).
    Verify {
        /// A directory, or s3://bucket/prefix.
        location: String,
        /// S3 endpoint URL, e.g. http://127.0.0.1:3900.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The box id to expect (from `venuebox keys show` on the box): pins the
        /// genesis key instead of trusting the first one found in the bucket.
        #[arg(long, value_name = "ID")]
        box_id: Option<String>,
    },
}

/// `venuebox sync ...`
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Cut bundles of what may leave now and upload everything queued to the
    /// configured target, then exit (non-zero if anything is left).
    Push,
    /// Print the outbox's state as JSON.
    Status,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `venuebox keys rotate`. Holds the database's write lock throughout, so a running
/// service cannot cut a bundle in between: the new key signs exactly from the next
/// sequence on.
pub fn rotate(config: &Config) -> anyhow::Result<ExitCode> {
    let dir = config.storage.data_dir.clone();
    anyhow::ensure!(
        crate::files::layout::keys(&dir)
            .join("signing.key")
            .is_file(),
        "{} holds no identity yet; `venuebox run` creates it on first start",
        dir.display()
    );
    let store = crate::db::open_store(config)?;
    let record = store.write_blocking(|tx| -> anyhow::Result<_> {
        let next = outbox::next_sequence(tx).map_err(StoreError::from)?;
        let record = crate::identity::rotate(&dir, next)?;
        crate::db::audit(
            tx,
            "cli",
            "keys.rotate",
            &format!("new key {}", record.statement.key_id),
        )
        .map_err(StoreError::from)?;
        Ok(record)
    })?;
    let s = &record.statement;
    println!("box id:      {}", s.box_id);
    println!(
        "old key id:  {}",
        s.previous_key_id.as_deref().unwrap_or("-")
    );
    println!("new key id:  {}", s.key_id);
    println!("signs from bundle {}", s.from_bundle);
    Ok(ExitCode::SUCCESS)
}

/// `venuebox bundle verify`.
pub fn bundle(command: &BundleCommand) -> anyhow::Result<ExitCode> {
    let BundleCommand::Verify {
        location,
        endpoint,
        json,
        box_id,
    } = command;
    let target = Target::parse(location, endpoint.clone())?;
    let progress = if *json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} objects {elapsed}")
                .expect("valid template"),
        )
    };
    let mut report = runtime()?.block_on(verify::verify(&target, &progress))?;
    if let Some(id) = box_id {
        if !report.boxes.iter().any(|b| &b.box_id == id) {
            report.failures.push(verify::Failure {
                object: super::manifest::keys::key_statement(id, 0),
                problem: "the expected box has no key chain here".into(),
            });
            report.ok = false;
        }
    }
    if *json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.failures {
            println!("FAIL {}: {}", f.object, f.problem);
        }
        for b in &report.boxes {
            println!(
                "box {}: {} bundle(s), last {}, {} key(s) in the chain",
                b.box_id, b.bundles, b.last_sequence, b.keys
            );
        }
        println!(
            "{}: {} objects, {} assets ({} bytes) hashed, {} failure(s)",
            report.location,
            report.objects,
            report.assets_checked,
            report.asset_bytes,
            report.failures.len()
        );
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `venuebox sync push|status`.
pub fn sync(config: &Config, command: &SyncCommand) -> anyhow::Result<ExitCode> {
    let store = crate::db::open_store(config)?;
    match command {
        SyncCommand::Push => {
            // The vault must exist (the first `venuebox run` makes it).
            crate::identity::Vault::open(&config.storage.data_dir, &config.device.name)?;
            let event = store
                .read_blocking(|c| crate::event::event(c).map_err(StoreError::from))?
                .map(|e| e.name)
                .unwrap_or_else(|| config.event.name.clone());
            let status = runtime()?.block_on(async {
                let syncer = Syncer::new(store.clone(), config, event, SyncHandle::default())?;
                syncer.push().await
            })?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(ExitCode::SUCCESS)
        }
        SyncCommand::Status => {
            let view = store.read_blocking(|c| super::outbox_view(c).map_err(StoreError::from))?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
