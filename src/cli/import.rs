//! `venuebox import DIR --creator NAME`: ingests a folder (a mounted memory card)
//! through the same core as FTP and tus, with a progress bar and a summary of what was
//! new, what was already there, and what was refused and why.
//!
//! It opens the data dir like the service does, so it works whether or not the
//! service is running; SQLite arbitrates between them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::db::StoreError;
use crate::ingest::{Incoming, Ingest, IngestError, Outcome, Source};

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Photos stored for the first time.
    pub new: usize,
    /// Files whose content was already stored.
    pub duplicate: usize,
    /// Files refused, by reason, with their paths.
    pub refused: BTreeMap<String, Vec<PathBuf>>,
}

/// Every regular file under `dir`, in a stable order. Hidden files and folders (names
/// starting with `.`, e.g. macOS's `.Trashes`) are skipped.
pub fn files_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Imports every file under `dir` for `creator` through `ingest`, reporting progress.
pub async fn import(
    ingest: &Ingest,
    creator_id: i64,
    files: &[PathBuf],
    progress: &ProgressBar,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for path in files {
        progress.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let incoming = Incoming {
            creator_id,
            original_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source: Source::Import,
        };
        let received = ingest.receive(incoming, file).await;
        if let Some(refusal) = received.as_ref().err().and_then(IngestError::refusal) {
            ingest.note_refusal(Source::Import, refusal).await;
        }
        match received {
            Ok(Outcome::New(_)) => summary.new += 1,
            Ok(Outcome::Duplicate(_)) => summary.duplicate += 1,
            Err(IngestError::Refused(reason)) => summary
                .refused
                .entry(reason)
                .or_default()
                .push(path.clone()),
            // Out of space or quota: stop, nothing more will fit.
            Err(e @ (IngestError::DiskFull | IngestError::Quota { .. })) => {
                progress.abandon();
                return Err(anyhow::anyhow!("{e} (after {} new photos)", summary.new));
            }
            Err(e) => return Err(e).with_context(|| format!("importing {}", path.display())),
        }
        progress.inc(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// The `import` command.
pub fn run(config: &Config, dir: &Path, creator: &str) -> anyhow::Result<ExitCode> {
    let store = crate::db::open_store(config)?;
    let name = creator.to_string();
    let creator_id = store
        .read_blocking(move |c| crate::creators::id_by_name(c, &name).map_err(StoreError::from))
        .ok()
        .flatten()
        .ok_or_else(|| {
            anyhow::anyhow!("no creator named {creator:?} (see `venuebox creator list`)")
        })?;
    if !dir.is_dir() {
        anyhow::bail!("{} is not a folder", dir.display());
    }
    let files = files_in(dir)?;
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}")
            .expect("valid template"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let ingest = Ingest::open(
            store.clone(),
            &config.storage.data_dir,
            config.ingest.clone(),
            config.clock.trust,
        )?;
        let summary = import(&ingest, creator_id, &files, &progress).await;
        store.close().await?;
        summary
    })?;
    println!(
        "{} new, {} already stored, {} refused",
        summary.new,
        summary.duplicate,
        summary.refused.values().map(Vec::len).sum::<usize>()
    );
    for (reason, paths) in &summary.refused {
        println!("refused ({reason}):");
        for path in paths {
            println!("  {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
