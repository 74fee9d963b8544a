//! The `tongdao` command: `serve` runs the host, `replay` runs one recorded
//! webhook through a shop's plugin offline, `check` validates a config and
//! its plugins.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tongdao::config::Config;

/// tongdao (通道): one host for every commerce and messaging channel.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host: gateway, plugins, store, bot and delivery.
    Serve {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run one recorded request (a raw HTTP/1.1 message file) through a
    /// shop's plugin offline and print the result as JSON.
    Replay {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The shop whose plugin and credentials to use.
        #[arg(long)]
        shop: String,
        /// The clock for the plugin, Unix seconds (default: now). Recorded
        /// traffic carries old timestamps; set this to replay it as of then.
        #[arg(long)]
        at: Option<i64>,
        /// The recorded request.
        request: PathBuf,
    },
    /// Validate a config and load its plugins, then exit.
    Check {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let host = tongdao::server::start(config).await?;
                println!("tongdao listening on http://{}", host.addr);
                tokio::signal::ctrl_c()
                    .await
                    .context("waiting for Ctrl-C")?;
                tracing::info!("shutting down");
                host.shutdown().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Replay {
            config,
            shop,
            at,
            request,
        } => {
            let config = Config::load(&config)?;
            let raw = std::fs::read(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            let now_ms = at.map(|s| s * 1000).unwrap_or_else(tongdao::clock::now_ms);
            let document = tongdao::replay::replay(&config, &shop, &raw, now_ms)
                .with_context(|| format!("replaying {}", request.display()))?;
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(if document.get("error").is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Check { config } => {
            let config = Config::load(&config)?;
            let runtime = tongdao::runtime::Runtime::new((&config.limits).into(), None)?;
            let plugins = tongdao::server::load_plugins(&config, &runtime)?;
            println!(
                "{}: ok ({} plugin(s), {} shop(s))",
                config.path.display(),
                plugins.len(),
                config.shops.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TONGDAO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
