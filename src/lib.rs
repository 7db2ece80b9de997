//! venuebox: the firmware of an on-site photo box. Cameras and phones upload over the
//! LAN, the box renders previews, attendees consent and collect their photos through a
//! captive portal, and everything consent allows is synced to the cloud when an uplink
//! appears.
//!
//! The code is layered; imports point down only, and each table has one owner that
//! alone writes it (docs/architecture.md; `tests/layout.rs` guards both):
//!
//! | layer | modules |
//! | --- | --- |
//! | entry | `main.rs`, [`cli`] (the command line, `import`) |
//! | composition | [`app`]: prepares the data dir, binds, spawns and joins every task |
//! | edges | [`web`] (HTTP: admin, portal, previews, tus, sync API), [`ftp`] (cameras), [`hw`] (systemd, GPIO, serial devices, doctor) |
//! | engines | [`sync`]: signed bundles to object storage; [`delivery`]: view policy, galleries, tagging, orders, links |
//! | domain | [`ingest`], [`derivatives`], [`consent`], [`auth`], [`creators`], [`event`], [`dashboard`] (the dashboard's spans, alerts, host health, reads) |
//! | pure | [`media`]: JPEG segments, render, privacy scrubbing, watermark; [`metrics`]: the figures as Prometheus text |
//! | foundation | [`config`], [`db`], [`devices`], [`files`], [`identity`], [`net`], [`clock`], [`logging`], [`lowprio`] |
//!
//! The binary (`src/main.rs`) only hands over to [`cli::main`]; tests drive
//! [`app::prepare`], [`app::bind`] and [`app::run`] with their own sockets.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consent;
pub mod creators;
pub mod dashboard;
pub mod db;
pub mod delivery;
pub mod derivatives;
pub mod devices;
pub mod event;
pub mod files;
pub mod ftp;
pub mod hw;
pub mod identity;
pub mod ingest;
pub mod logging;
pub mod lowprio;
pub mod media;
pub mod metrics;
pub mod net;
pub mod sync;
pub mod web;
