//! Logging: tracing to stderr, human-readable by default or one JSON object per line
//! (`[log] format = "json"`), both fit for journald. `VENUEBOX_LOG` overrides the
//! configured filter for a one-off debugging session.
//!
//! Nothing is written into the data dir: a line that cannot be written (a full disk
//! under stderr) is dropped, never retried or reported on the same stderr.
//!
//! Nothing secret is ever passed to tracing: tokens, codes and keys are logged by
//! kind or id only.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Call once, at start.
pub fn init(config: &LogConfig) {
    let mut level = config.level.clone();
    // libunftp logs every connection at info: keep it to warnings unless asked.
    if !level.contains("libunftp") {
        level.push_str(",libunftp=warn");
    }
    let filter = std::env::var("VENUEBOX_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(&level));
    // A line that cannot be written (stderr on a full disk, or a pipe whose reader
    // went away) is dropped. The builder's default reports such a failure with
    // `eprintln!` to the same stderr, which panics when that write fails too: every
    // log line would then panic the task that logged it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}
