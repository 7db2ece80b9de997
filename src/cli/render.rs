//! `venuebox render FILE... --out DIR`: the renderer run over files on every core, for
//! vendors who want derivatives of a folder and for the render benchmark
//! (benches/render.sh). The pipeline itself is `media::render`.

use std::path::Path;

use crate::media::render::{Format, Job, RenderError, Rendered, Renderer};

/// Called for every derivative [`render_files`] makes or fails to make.
pub type Report<'a> = dyn Fn(&Path, u32, Result<&Rendered, &RenderError>) + Sync + 'a;

/// Renders every file in `files` at each of `sizes` into `out`, as
/// `<out>/<stem>_<size>.<ext>` in `format`, on `threads` threads, largest file first.
/// Calls `report` for each derivative made or failed, in the order they are made.
/// Returns the number of failures.
#[allow(clippy::too_many_arguments)] // each is one CLI flag
pub fn render_files(
    files: &[std::path::PathBuf],
    sizes: &[u32],
    format: Format,
    quality: u8,
    out: &Path,
    threads: usize,
    max_pixels: u64,
    report: &Report<'_>,
) -> usize {
    // Largest first (by bytes, which track decode time): the threads finish together
    // instead of one decoding the last big file alone (longest-processing-time-first
    // scheduling, Graham 1969).
    let mut order: Vec<(u64, &std::path::PathBuf)> = files
        .iter()
        .map(|f| (std::fs::metadata(f).map_or(0, |m| m.len()), f))
        .collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.0));
    let files: Vec<&std::path::PathBuf> = order.into_iter().map(|(_, f)| f).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut renderer = match Renderer::new(max_pixels) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("venuebox: render: {e}");
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&file) = files.get(i) else { break };
                    let data = match std::fs::read(file) {
                        Ok(d) => d,
                        Err(e) => {
                            for &size in sizes {
                                report(file, size, Err(&RenderError::Decode(e.to_string())));
                            }
                            failures.fetch_add(sizes.len(), std::sync::atomic::Ordering::Relaxed);
                            continue;
                        }
                    };
                    let stem = file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let jobs: Vec<Job<'_>> = sizes.iter().map(|&s| Job::plain(s)).collect();
                    match renderer.render_jobs(&data, &jobs, &[format], quality) {
                        Ok(set) => {
                            for (&size, r) in sizes.iter().zip(&set) {
                                let path = out.join(format!("{stem}_{size}.{}", r.format.ext()));
                                match std::fs::write(&path, &r.bytes) {
                                    Ok(()) => report(file, size, Ok(r)),
                                    Err(e) => {
                                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        report(
                                            file,
                                            size,
                                            Err(&RenderError::Encode(e.to_string())),
                                        );
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            failures.fetch_add(sizes.len(), std::sync::atomic::Ordering::Relaxed);
                            for &size in sizes {
                                report(file, size, Err(&e));
                            }
                        }
                    }
                }
            });
        }
    });
    failures.into_inner()
}
