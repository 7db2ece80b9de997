//! Streams a ZIP of files to stdout through `venuebox::delivery::zip`, as the order
//! download does (names `<dir>-<n>.<ext>`, every check passing): the venuebox side of
//! benches/zip.sh, which pipes it against `zip -0 -`.
//!
//! ```text
//! zip_stream FILE_OR_DIR... > order.zip
//! ```
//!
//! A directory stands for its regular files (not recursive), in name order. On stderr:
//! the entry count, the bytes written, and whether they match the length computed up
//! front (exit status 1 when not, 2 on a usage or I/O error).

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use venuebox::delivery::zip::{Archive, Entry};

fn files(args: impl Iterator<Item = String>) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(&path)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            inside.retain(|p| p.is_file());
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

fn entries(files: Vec<PathBuf>) -> std::io::Result<Vec<Entry>> {
    files
        .into_iter()
        .enumerate()
        .map(|(n, path)| {
            let meta = std::fs::metadata(&path)?;
            let dir = path
                .parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| "bin".into());
            let modified = meta
                .modified()?
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            Ok(Entry {
                name: venuebox::delivery::zip::entry_name(&dir, n as i64, &ext),
                len: meta.len(),
                modified_unix: modified.as_secs() as i64,
                path,
                plan: None,
            })
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0].starts_with('-') {
        eprintln!("usage: zip_stream FILE_OR_DIR... > order.zip");
        std::process::exit(2);
    }
    let archive = match files(args.into_iter()).and_then(entries) {
        Ok(entries) => Archive::new(entries),
        Err(e) => {
            eprintln!("zip_stream: {e}");
            std::process::exit(2);
        }
    };
    let planned = archive.len();
    let count = archive.entries().len();
    let mut stream = std::pin::pin!(archive.stream(|_| async { true }));
    // Stdout as a tokio file (written from the blocking pool, as tokio writes files):
    // the crate's tokio has no `io-std`, and the stream must not block a worker.
    let mut out = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => tokio::fs::File::from_std(std::fs::File::from(fd)),
        Err(e) => {
            eprintln!("zip_stream: stdout: {e}");
            std::process::exit(2);
        }
    };
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let result = match chunk {
            Ok(chunk) => {
                written += chunk.len() as u64;
                out.write_all(&chunk).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!("zip_stream: {e}");
            std::process::exit(2);
        }
    }
    if let Err(e) = out.flush().await {
        eprintln!("zip_stream: {e}");
        std::process::exit(2);
    }
    eprintln!("zip_stream: {count} entries, {written} bytes (computed {planned})");
    if written != planned {
        std::process::exit(1);
    }
}
