//! The command line: `venuebox run` starts the service; the other commands inspect or
//! change the box's data dir, whether or not the service is running (SQLite
//! arbitrates; the service reads what they wrote on its next request).
//!
//! Output contract, for scripts: a command that creates a secret (`creator add`,
//! `admin reset-code`) prints it alone on the last line of stdout. Errors go to stderr
//! as one line per problem; exit status 2 means bad configuration or usage, 1 any
//! other failure.

pub mod import;
pub mod render;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::auth::{self as admin, SetupCode};
use crate::config::{Config, ConfigError, Overrides};
use crate::creators;
use crate::identity::Vault;

/// venuebox: the on-site photo box. Cameras and phones upload to it over the venue
/// network, attendees find their photos through its Wi-Fi portal, and it syncs to the
/// cloud when it can.
#[derive(Debug, Parser)]
#[command(name = "venuebox", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Without it, a development box: data in
    /// ./venuebox-data, HTTP on 127.0.0.1:8080. The production file is
    /// /etc/venuebox/venuebox.toml; config/venuebox.toml documents every key.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Data directory (database, keys, photos); overrides `storage.data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the box: portal, dashboard, uploads. Prints its addresses and, on first
    /// start, the admin setup code. Stops cleanly on Ctrl-C or SIGTERM.
    Run {
        /// HTTP address to listen on, e.g. 0.0.0.0:80; overrides `http.listen`.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// FTP address for camera uploads, e.g. 0.0.0.0:21; overrides `ftp.listen`.
        #[arg(long, value_name = "ADDR")]
        ftp: Option<String>,
    },
    /// Check configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The box's device identity.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Vendors and photographers selling at the event.
    Creator {
        #[command(subcommand)]
        command: CreatorCommand,
    },
    /// Import photos from a folder (e.g. a mounted memory card) for a creator. Works
    /// whether or not the service is running; the same content is never stored twice.
    Import {
        /// The folder; searched recursively.
        dir: PathBuf,
        /// The creator the photos belong to (see `venuebox creator list`).
        #[arg(long, value_name = "NAME")]
        creator: String,
    },
    /// Render previews of photo files into a folder, using every core: one
    /// `<OUT>/<file stem>_<size>.<jpg|webp>` per file and size. Prints one line per
    /// derivative: file, size, route, decode/resize/encode milliseconds (tab-separated).
    Render {
        /// Photo files (JPEG, PNG, WebP, TIFF).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Longest edge in pixels; repeat for several sizes.
        #[arg(long = "size", value_name = "N", default_values_t = [320u32, 1280])]
        sizes: Vec<u32>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jpeg")]
        format: RenderFormat,
        /// JPEG quality, 1–100 (WebP gets the quality that matches it).
        #[arg(long, default_value_t = 85, value_parser = clap::value_parser!(u8).range(1..=100))]
        quality: u8,
    },
    /// Admin access.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Signed sync bundles.
    Bundle {
        #[command(subcommand)]
        command: crate::sync::commands::BundleCommand,
    },
    /// Sync to the configured target.
    Sync {
        #[command(subcommand)]
        command: crate::sync::commands::SyncCommand,
    },
    /// Check this machine for the event: ports, data dir and free space, storage medium,
    /// clock, hostapd/dnsmasq/nftables, door scanner, GPIO, power, uplink. One line per
    /// finding (ok, info, WARNING, ERROR) with its fix; exit status 1 if any is an error.
    Doctor {
        /// Print the report as JSON: `{"ok", "errors", "warnings", "findings": [{"check",
        /// "level", "what", "fix"}]}` (see `hw::doctor::Report`).
        #[arg(long)]
        json: bool,
    },
    /// The box's unique names from its box id: host name `venuebox-<4 hex>` and the
    /// Wi-Fi names with that suffix. Prints them; with --apply writes them (as root:
    /// /etc/hostname, /etc/hosts, /etc/hostapd/hostapd.conf, the running host name).
    Names {
        /// Write the names (idempotent; a renamed SSID is kept).
        #[arg(long)]
        apply: bool,
        /// Root of the file system to write under (a staged image); the running host
        /// name is set only when it is `/`.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
}

/// Output formats of `venuebox render`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RenderFormat {
    /// JPEG (every browser).
    Jpeg,
    /// Lossy WebP.
    Webp,
}

/// `venuebox config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file: prints every problem with its key path and exits
    /// non-zero if there is any. Environment overrides (VENUEBOX_SECTION__KEY) count.
    Check {
        /// The file to check (default: the --config file).
        file: Option<PathBuf>,
        /// Where hostapd.conf, dnsmasq.conf and nftables.conf are (default: beside the
        /// file). Those present are checked against it.
        #[arg(long)]
        network: Option<PathBuf>,
    },
}

/// `venuebox keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the public signing key, its key id and the TLS certificate fingerprint.
    /// Nothing secret is printed.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replace the signing key: a new key, a rotation statement signed by the old and
    /// the new key (published with the next bundle), and the old private key
    /// destroyed. Bundles from the next one on are signed with the new key.
    Rotate,
}

/// `venuebox creator ...`
#[derive(Debug, Subcommand)]
pub enum CreatorCommand {
    /// Add a creator and print their upload token (alone, on the last line).
    Add {
        /// Display name, unique on this box, e.g. "Ana Lima Studio".
        name: String,
    },
    /// List creators.
    List,
    /// Give a creator an FTP login for their cameras (a new password if they had
    /// one). Prints the user name, then the password alone on the last line.
    Ftp {
        /// The creator's name.
        name: String,
    },
    /// Set, replace or remove a creator's logo on the watermark: a PNG of at most 1 MiB
    /// and 2048 × 2048 px. Their watermarked previews already rendered are deleted and
    /// rendered again on demand (a running service may serve its memory's copy of a
    /// few until they leave its cache: the vendor page and API forget those too).
    Logo {
        /// The creator's name.
        name: String,
        /// The PNG file.
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        file: Option<PathBuf>,
        /// Remove the creator's logo instead.
        #[arg(long)]
        remove: bool,
    },
}

/// `venuebox admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a new admin setup code (ending every admin session) and print it alone on
    /// the last line. For a vendor who lost the first one.
    ResetCode,
}

/// Parses the command line and runs the command. The exit status is the contract
/// described in the module comment.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(config_error) = e.downcast_ref::<ConfigError>() {
                eprintln!("venuebox: {config_error}");
                return ExitCode::from(2);
            }
            eprintln!("venuebox: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, http: Option<String>, ftp: Option<String>) -> anyhow::Result<Config> {
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        http_listen: http,
        ftp_listen: ftp,
    };
    Ok(Config::load(
        cli.config.as_deref(),
        std::env::vars(),
        &overrides,
    )?)
}

/// Quiet logging for one-shot commands: warnings only, so stdout stays clean.
fn init_quiet_logging() {
    let log = crate::config::LogConfig {
        level: "warn".into(),
        ..Default::default()
    };
    crate::logging::init(&log);
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Run { http, ftp } => {
            let config = load_config(&cli, http.clone(), ftp.clone())?;
            run(config)
        }
        Command::Config {
            command: ConfigCommand::Check { file, network },
        } => {
            let file = file.clone().or_else(|| cli.config.clone());
            let Some(file) = file else {
                anyhow::bail!("config check needs a FILE (or --config FILE)");
            };
            let overrides = Overrides {
                data_dir: cli.data_dir.clone(),
                ..Default::default()
            };
            match Config::load(Some(&file), std::env::vars(), &overrides) {
                Ok(config) => {
                    println!("{}: ok", file.display());
                    let dir = network
                        .clone()
                        .or_else(|| file.parent().map(Path::to_path_buf))
                        .unwrap_or_default();
                    let mut errors = 0;
                    for report in crate::net::netcheck::check_dir(&dir, &config) {
                        let name = report.file.display();
                        for e in &report.errors {
                            println!("{name}: {e}");
                        }
                        for w in &report.warnings {
                            println!("{name}: warning: {w}");
                        }
                        if report.errors.is_empty() {
                            println!("{name}: ok");
                        }
                        errors += report.errors.len();
                    }
                    if errors > 0 {
                        eprintln!("venuebox: {errors} error(s) in the network configs");
                        return Ok(ExitCode::from(2));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    for issue in &e.issues {
                        println!("{}: {issue}", file.display());
                    }
                    eprintln!(
                        "venuebox: {} error(s) in {}",
                        e.issues.len(),
                        file.display()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Keys {
            command: KeysCommand::Show { json },
        } => {
            init_quiet_logging();
            let config = load_config(&cli, None, None)?;
            let dir = &config.storage.data_dir;
            if !crate::files::layout::keys(dir)
                .join("signing.key")
                .is_file()
            {
                anyhow::bail!(
                    "{} holds no identity yet; `venuebox run` creates it on first start",
                    dir.display()
                );
            }
            let identity = Vault::open(dir, &config.device.name)?.public_identity();
            let box_id = crate::identity::box_id(dir)?;
            if *json {
                let mut value = serde_json::to_value(&identity)?;
                value["box_id"] = box_id.into();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("box id:          {box_id} (sync bundles)");
                println!("key id:          {}", identity.key_id);
                println!("public key:      {} (ed25519, base64)", identity.public_key);
                println!("TLS fingerprint: SHA256 {}", identity.tls_fingerprint);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            init_quiet_logging();
            crate::sync::commands::rotate(&load_config(&cli, None, None)?)
        }
        Command::Bundle { command } => {
            init_quiet_logging();
            crate::sync::commands::bundle(command)
        }
        Command::Sync { command } => {
            init_quiet_logging();
            crate::sync::commands::sync(&load_config(&cli, None, None)?, command)
        }
        Command::Creator { command } => {
            init_quiet_logging();
            let config = load_config(&cli, None, None)?;
            let store = crate::db::open_store(&config)?;
            match command {
                CreatorCommand::Add { name } => {
                    let name = name.clone();
                    let made = store.write_blocking(|tx| creators::add(tx, &name, "cli"))?;
                    println!(
                        "Added creator {:?} (id {}).",
                        made.creator.name, made.creator.id
                    );
                    println!("Upload token (shown once):");
                    println!("{}", made.upload_token);
                }
                CreatorCommand::Ftp { name } => {
                    let name = name.clone();
                    let login = store
                        .write_blocking(|tx| creators::set_ftp_credentials(tx, &name, "cli"))?;
                    println!("FTP user: {}", login.user);
                    println!("FTP password (shown once):");
                    println!("{}", login.password);
                }
                CreatorCommand::Logo { name, file, remove } => {
                    creator_logo(&config, &store, name, file.as_deref(), *remove)?;
                }
                CreatorCommand::List => {
                    let list = store.read_blocking(|c| {
                        creators::list(c).map_err(crate::db::StoreError::from)
                    })?;
                    for c in list {
                        println!("{}\t{}", c.id, c.name);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Names { apply, root } => {
            init_quiet_logging();
            let config = load_config(&cli, None, None)?;
            let box_id = crate::identity::box_id(&config.storage.data_dir).map_err(|e| {
                anyhow::anyhow!(
                    "no box id in {} yet (venuebox makes its keys at first start): {e}",
                    config.storage.data_dir.display()
                )
            })?;
            let suffix = crate::hw::names::suffix(&box_id)
                .ok_or_else(|| anyhow::anyhow!("box id {box_id} has no hex suffix"))?;
            println!("box id     {box_id}");
            println!("host name  {}", crate::hw::names::host_name(&suffix));
            for ssid in crate::hw::names::SHIPPED_SSIDS {
                println!("wi-fi      {ssid} {suffix}");
            }
            if *apply {
                let running = root.as_path() == std::path::Path::new("/");
                let applied = crate::hw::names::apply(root, &suffix, running)?;
                match &applied.host_name {
                    Some(name) => println!("set        host name {name}"),
                    None => println!("kept       host name"),
                }
                match &applied.hostapd {
                    Some(path) => println!("set        Wi-Fi names in {}", path.display()),
                    None => println!("kept       Wi-Fi names"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => {
            init_quiet_logging();
            let config = load_config(&cli, None, None)?;
            let report = crate::hw::doctor::examine(&config, cli.config.as_deref());
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Import { dir, creator } => {
            init_quiet_logging();
            let config = load_config(&cli, None, None)?;
            import::run(&config, dir, creator)
        }
        Command::Render {
            files,
            out,
            sizes,
            format,
            quality,
        } => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            let stdout = std::sync::Mutex::new(std::io::stdout());
            let failures = render::render_files(
                files,
                sizes,
                match format {
                    RenderFormat::Jpeg => crate::media::render::Format::Jpeg,
                    RenderFormat::Webp => crate::media::render::Format::Webp,
                },
                *quality,
                out,
                threads,
                crate::media::render::DEFAULT_MAX_PIXELS,
                &|file, size, result| match result {
                    Ok(r) => {
                        use std::io::Write;
                        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
                        let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = writeln!(
                            out,
                            "{}\t{size}\t{}\t{:.2}\t{:.2}\t{:.2}",
                            file.display(),
                            r.route.as_str(),
                            ms(r.decode),
                            ms(r.resize),
                            ms(r.encode)
                        );
                    }
                    Err(e) => eprintln!("venuebox: {}: {e}", file.display()),
                },
            );
            if failures > 0 {
                eprintln!("venuebox: {failures} derivative(s) failed");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command: AdminCommand::ResetCode,
        } => {
            init_quiet_logging();
            let config = load_config(&cli, None, None)?;
            let store = crate::db::open_store(&config)?;
            let code = store.write_blocking(|tx| {
                admin::replace_setup_code(tx, "cli").map_err(crate::db::StoreError::from)
            })?;
            println!("New admin setup code (every admin session was ended):");
            println!("{code}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `venuebox run`: start-up in order, each step failing with one clear line.
fn run(config: Config) -> anyhow::Result<ExitCode> {
    crate::logging::init(&config.log);
    let admin_token = std::env::var("VENUEBOX_ADMIN_TOKEN").ok();
    let prepared = crate::app::prepare(config, admin_token.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("venuebox")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let state = prepared.state;
        let sockets = crate::app::bind(&state).await?;
        let http = sockets.web.http.local_addr()?;
        let https = match &sockets.web.https {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        // Handlers first: a SIGTERM right after the banner must stop the box cleanly.
        let shutdown = CancellationToken::new();
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        tokio::spawn(stop_on_signal(term, int, shutdown.clone()));
        announce(&state, http, https, &prepared.setup_code)?;
        tracing::info!(%http, "serving");
        crate::app::run(state, sockets, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints where the box can be reached and the setup code. Under systemd with no one
/// at the console, the code goes to a 0600 file in the data dir instead of the
/// journal (secrets stay out of logs); the file disappears at the first login.
fn announce(
    state: &crate::web::AppState,
    http: SocketAddr,
    https: Option<SocketAddr>,
    setup_code: &SetupCode,
) -> anyhow::Result<()> {
    let config = &state.config;
    println!(
        "venuebox {} · box {:?} · data in {}",
        env!("CARGO_PKG_VERSION"),
        config.device.name,
        config.storage.data_dir.display()
    );
    for base in base_urls("http", http) {
        println!("  portal    {base}/");
        println!("  admin     {base}/admin/login");
        println!("  health    {base}/healthz");
    }
    if let Some(https) = https {
        for base in base_urls("https", https) {
            println!("  https     {base}/");
        }
        println!(
            "  TLS certificate SHA256 {}",
            state.vault.public_identity().tls_fingerprint
        );
    }
    match setup_code {
        SetupCode::New(code) => {
            let console =
                std::io::stdout().is_terminal() || std::env::var_os("JOURNAL_STREAM").is_none();
            if console {
                println!("  admin setup code: {code}   (shown once; `venuebox admin reset-code` makes a new one)");
            } else {
                let path = admin::leave_setup_code(&config.storage.data_dir, code)?;
                println!(
                    "  admin setup code: in {} (removed at first login)",
                    path.display()
                );
            }
        }
        SetupCode::FromEnvironment => println!("  admin setup code: from VENUEBOX_ADMIN_TOKEN"),
        SetupCode::Existing => {
            println!("  admin setup code: set on first start (`venuebox admin reset-code` makes a new one)")
        }
    }
    Ok(())
}

/// The URLs a listener is reachable at: its address, or every interface's address
/// when it listens on all of them.
fn base_urls(scheme: &str, addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let fmt = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{port}"),
        v4 => format!("{scheme}://{v4}:{port}"),
    };
    if !addr.ip().is_unspecified() {
        return vec![fmt(addr.ip())];
    }
    let mut urls: Vec<String> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.ip().is_ipv4() == addr.is_ipv4() && !i.is_link_local())
        .map(|i| fmt(i.ip()))
        .collect();
    urls.dedup();
    urls
}

/// Cancels `shutdown` on SIGTERM (systemd) or SIGINT (Ctrl-C).
async fn stop_on_signal(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("interrupted: shutting down"),
    }
    shutdown.cancel();
}

/// `venuebox creator logo NAME FILE` / `--remove`: checks the PNG whole before
/// anything is written, stores it (one transaction), then deletes the creator's stale
/// watermarked previews.
fn creator_logo(
    config: &Config,
    store: &crate::db::Store,
    name: &str,
    file: Option<&Path>,
    remove: bool,
) -> anyhow::Result<()> {
    use crate::media::logo;
    let wanted = name.to_string();
    let id = store
        .read_blocking(|c| creators::id_by_name(c, &wanted).map_err(crate::db::StoreError::from))?
        .ok_or_else(|| {
            anyhow::anyhow!("no creator named {name:?} (see `venuebox creator list`)")
        })?;
    let changed = match (file, remove) {
        (_, true) => {
            let removed = store.write_blocking(|tx| {
                creators::remove_logo(tx, id, "cli").map_err(crate::db::StoreError::from)
            })?;
            if removed {
                println!("Removed the logo of creator {name:?}.");
            } else {
                println!("Creator {name:?} has no logo.");
            }
            removed
        }
        (Some(file), false) => {
            // Not read past the limit: a larger file is refused by its length.
            let len = std::fs::metadata(file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            if len > logo::MAX_LOGO_BYTES as u64 {
                anyhow::bail!(
                    "{}: {}",
                    file.display(),
                    logo::LogoError::TooLarge(len as usize)
                );
            }
            let png =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let checked =
                logo::check(png).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (w, h, bytes) = (checked.width, checked.height, checked.png.len());
            let set = store.write_blocking(|tx| {
                creators::set_logo(tx, id, &checked, "cli").map_err(crate::db::StoreError::from)
            })?;
            if !set {
                anyhow::bail!("creator {name:?} is disabled");
            }
            println!("Set the logo of creator {name:?}: {w}×{h} px, {bytes} bytes.");
            true
        }
        (None, false) => anyhow::bail!("give a PNG file, or --remove"),
    };
    if changed {
        let photos = store.read_blocking(|c| {
            crate::derivatives::stale::photo_shas_of(c, id).map_err(crate::db::StoreError::from)
        })?;
        let shas: Vec<String> = photos.into_iter().map(|(_, sha)| sha).collect();
        let removed = crate::derivatives::stale::remove_watermarked_files(
            &config.storage.data_dir,
            &shas,
            None,
        )
        .context("cannot delete the stale watermarked previews")?;
        println!(
            "Deleted {removed} stale watermarked previews of {} photos.",
            shas.len()
        );
    }
    Ok(())
}
