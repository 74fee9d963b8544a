//! `tongdao-load`: the load harness's command line (see the library's
//! documentation). `cargo xtask load …` builds the release host and plugins
//! and runs it.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tongdao_load::platform::Platform;

#[derive(Parser)]
#[command(
    name = "tongdao-load",
    about = "Drive the real tongdao host with signed platform pushes and audit what happened"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The platform whose pushes are sent.
    #[arg(long, value_enum, default_value = "wechat")]
    platform: Platform,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Messages per second in all (default: as fast as acknowledged).
    #[arg(long)]
    rate: Option<f64>,
    /// At most this many messages.
    #[arg(long, default_value_t = 2_000_000)]
    max_messages: usize,
    /// SIGKILL the host about every MS milliseconds and restart it.
    #[arg(long, value_name = "MS")]
    kill_every: Option<u64>,
    /// Skip the bare-hyper baseline.
    #[arg(long)]
    no_baseline: bool,
    /// The tongdao binary (default: target/release/tongdao).
    #[arg(long)]
    tongdao: Option<PathBuf>,
    /// Keep the config, store and host log here.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// No bot: measure acknowledging and storing alone (nothing is answered).
    #[arg(long)]
    ingest_only: bool,
    /// Keep history, delivered actions and dead letters this many seconds
    /// (the host's retention), and report the store's size on disk: flat
    /// once the retention is reached. Messages older than this are audited
    /// for their replies only.
    #[arg(long, value_name = "SECS")]
    retention_secs: Option<f64>,
    /// Sign this many agents in to the console, each with a live event
    /// stream, while the engine runs; one message in 50 is then a complaint
    /// threat handed to people (WeChat; with kills, streams reconnect with
    /// Last-Event-ID).
    #[arg(long, default_value_t = 0, value_name = "N")]
    console_streams: usize,
    /// With console streams: one message in N is a complaint threat.
    #[arg(long, value_name = "N")]
    threats_every: Option<usize>,
    /// With console streams: time the console's pages at the end, with
    /// every conversation of the run in the store.
    #[arg(long)]
    console_pages: bool,
    /// Install the shop's plugin from a marketplace made for the run, then
    /// upgrade and roll it back in turn while sending (WeChat, no kills).
    #[arg(long)]
    plugin_swaps: bool,
    /// TMC: leave proactive care out (paid orders are looked up, not also
    /// thanked through a linked WeChat follower).
    #[arg(long)]
    no_care: bool,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bare-hyper baseline (used by the harness itself).
    BareHyper {
        #[arg(long)]
        listen: SocketAddr,
        /// Answer as this platform's webhook expects.
        #[arg(long, value_enum, default_value = "wechat")]
        platform: Platform,
    },
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("load/ sits in the workspace")
        .to_path_buf()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::BareHyper { listen, platform }) = cli.command {
        let sends = std::sync::Arc::new(tongdao_load::sends::Sends::new(
            std::time::Instant::now(),
            0,
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(async {
            let side = tongdao_load::platform::Side::start(platform, sends).await?;
            tongdao_load::bare::run(listen, side.acknowledgement()).await
        });
    }
    let workspace = workspace();
    let options = tongdao_load::Options {
        platform: cli.platform,
        tongdao: cli
            .tongdao
            .unwrap_or_else(|| workspace.join("target/release/tongdao")),
        workspace,
        connections: cli.connections,
        duration: Duration::from_secs_f64(cli.seconds),
        rate: cli.rate,
        max_messages: cli.max_messages,
        kill_every: cli.kill_every.map(Duration::from_millis),
        bare_hyper: (!cli.no_baseline).then(std::env::current_exe).transpose()?,
        reply_wait: Duration::from_secs(120),
        work_dir: cli.work_dir,
        ingest_only: cli.ingest_only,
        retention: cli.retention_secs.map(Duration::from_secs_f64),
        console_streams: cli.console_streams,
        threats_every: cli.threats_every,
        console_pages: cli.console_pages,
        plugin_swaps: cli.plugin_swaps,
        no_care: cli.no_care,
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(tongdao_load::run(&options))?;
    print!("{report}");
    if cli.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
