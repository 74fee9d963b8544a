//! tongdao's load harness: starts the real host (a subprocess, usually the
//! release build) with a loopback stand-in for the platform's API, drives it
//! with unique, correctly signed pushes over HTTP, optionally kills it with
//! SIGKILL at random moments and restarts it, and then audits the store and
//! the stand-in: messages lost, stored twice and answered twice. It also
//! measures bare hyper reading the same pushes, for the ratio.
//!
//! `cargo xtask load` runs it on the release build; the crash-loop test in
//! `host/tests/crash_loop.rs` runs it on a few hundred messages.

pub mod audit;
pub mod bare;
pub mod care;
pub mod console;
pub mod driver;
pub mod host;
pub mod platform;
pub mod report;
pub mod sends;
pub mod serve;
pub mod swaps;
pub mod tmc;
pub mod wecom;

use anyhow::Context;
use host::{HostProcess, Stopped};
use platform::Platform;
use rand::Rng;
pub use report::Report;
use sends::Sends;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The platform to drive.
    pub platform: Platform,
    /// The `tongdao` binary.
    pub tongdao: PathBuf,
    /// The workspace root (built plugins, example knowledge base).
    pub workspace: PathBuf,
    /// Concurrent connections.
    pub connections: usize,
    /// How long new messages are sent.
    pub duration: Duration,
    /// Messages per second in all; `None`: as fast as acknowledged.
    pub rate: Option<f64>,
    /// At most this many messages.
    pub max_messages: usize,
    /// Kill the host with SIGKILL about this often (0.5–1.5 ×) and restart it.
    pub kill_every: Option<Duration>,
    /// The harness binary, to run the bare-hyper baseline; `None` skips it.
    pub bare_hyper: Option<PathBuf>,
    /// How long to wait for replies after the last message was acknowledged.
    pub reply_wait: Duration,
    /// Keep the work directory (config, store, host log) here.
    pub work_dir: Option<PathBuf>,
    /// Run the host without a bot: pushes are acknowledged and stored but
    /// not answered (measures the acknowledgement path alone).
    pub ingest_only: bool,
    /// The host's retention for every kind of record, if set.
    pub retention: Option<Duration>,
    /// Agents with a live console stream each while the engine runs (one
    /// message in [`console::ANGRY_EVERY`] is then a complaint threat,
    /// handed to people); WeChat only.
    pub console_streams: usize,
    /// One message in this many is a complaint threat (with console
    /// streams; default [`console::ANGRY_EVERY`]).
    pub threats_every: Option<usize>,
    /// Time the console's pages at the end, with every conversation of the
    /// run in the store (needs console streams).
    pub console_pages: bool,
    /// Install, upgrade and roll back the shop's plugin from a marketplace
    /// over the admin API while the driver sends (WeChat, no kills).
    pub plugin_swaps: bool,
    /// TMC: leave proactive care out (each paid order is then only looked
    /// up, not also thanked).
    pub no_care: bool,
}

/// A loopback port nobody is using now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// The host's config for a run.
fn config_toml(
    options: &Options,
    side: &platform::Side,
    listen: SocketAddr,
    data: &std::path::Path,
    stand_in: &str,
    market: Option<&str>,
) -> String {
    let plugin = side.plugin();
    let retention = options
        .retention
        .map(|keep| {
            let days = keep.as_secs_f64() / 86_400.0;
            // Dedupe keys are kept at least a minute, the shortest window.
            format!(
                "[limits]\ndedupe_window_secs = {}\n\n[retention]\nevents_days = {days}\ndelivered_actions_days = {days}\ndead_letters_days = {days}\nidentities_days = {days}\n\n",
                keep.as_secs().max(60)
            )
        })
        .unwrap_or_default();
    let mut people = if options.console_streams > 0 {
        console::agents_toml(options.console_streams, platform::SHOP)
    } else {
        String::new()
    };
    if let Some(market) = market {
        // One [admin] section, with the token the swaps use.
        let token = swaps::admin_token_line();
        if people.contains("[admin]\n") {
            people = people.replacen("[admin]\n", &format!("[admin]\n{token}"), 1);
        } else {
            people.push_str(&format!("[admin]\n{token}\n"));
        }
        people.push_str(market);
    }
    format!(
        "[server]\nlisten = \"{listen}\"\ndata_dir = \"{}\"\n\n{retention}\
         {}{people}\
         [[plugins]]\nname = \"{plugin}\"\ncomponent = \"{}\"\nmanifest = \"{}\"\n\n{}",
        data.display(),
        if options.ingest_only {
            String::new()
        } else {
            format!(
                "[bot]\nknowledge_base = \"{}\"\n\n",
                options.workspace.join("examples/kb/retail.toml").display()
            )
        },
        options
            .workspace
            .join(format!("target/plugins/{plugin}.wasm"))
            .display(),
        options
            .workspace
            .join(format!("plugins/{plugin}/tongdao-plugin.toml"))
            .display(),
        side.shop_toml(stand_in),
    ) + &side
        .care_wechat()
        .map(|wechat| care::oa_toml(&options.workspace, wechat))
        .unwrap_or_default()
}

/// Run the harness.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let temp = tempfile::tempdir().context("a work directory")?;
    let work = options
        .work_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let data = work.join("data");
    let _ = std::fs::remove_dir_all(&data);

    let origin = Instant::now();
    let sends = Arc::new(Sends::new(origin, options.max_messages));
    let (stop_servers, servers_stopped) = watch::channel(false);
    let stand_in_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let stand_in = format!("http://{}", stand_in_listener.local_addr()?);
    anyhow::ensure!(
        options.console_streams == 0 || options.platform == Platform::Wechat,
        "console streams are measured on WeChat pushes"
    );
    let mut side = platform::Side::start(options.platform, Arc::clone(&sends)).await?;
    if options.console_streams > 0 {
        side.threat_every = Some(options.threats_every.unwrap_or(console::ANGRY_EVERY).max(1));
    }
    if options.no_care {
        side.without_care();
    }
    let side = Arc::new(side);
    let answering = Arc::clone(&side);
    tokio::spawn(serve::serve(
        stand_in_listener,
        move |call| answering.answer(call),
        servers_stopped,
    ));

    anyhow::ensure!(
        !options.plugin_swaps
            || (options.platform == Platform::Wechat && options.kill_every.is_none()),
        "plugin swaps are measured on WeChat pushes without kills"
    );
    let market = if options.plugin_swaps {
        Some(swaps::prepare(&options.workspace, &work)?)
    } else {
        None
    };
    let listen = free_port()?;
    let config = work.join("load.toml");
    std::fs::write(
        &config,
        config_toml(options, &side, listen, &data, &stand_in, market.as_deref()),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    if options.console_streams > 0 {
        console::set_passwords(&data, options.console_streams)?;
    }
    let mut host = HostProcess::new(&options.tongdao, &config, &work.join("host.log"), listen);
    host.start().await?;
    let watched = Arc::new(console::Watched::default());
    let (streams_done, streams_stop) = watch::channel(false);
    let (stream_tasks, console_cookie) = if options.console_streams > 0 {
        console::open_streams(
            listen,
            options.console_streams,
            Arc::clone(&watched),
            streams_stop,
        )
        .await?
    } else {
        (Vec::new(), String::new())
    };
    // TMC: every buyer is met on Tmall and the Official Account and linked,
    // so care can thank them.
    if let (Some(taobao), Some(_)) = (side.taobao(), side.care_wechat()) {
        care::link_buyers(taobao, listen)
            .await
            .context("linking the buyers care thanks")?;
    }
    // Start-up (compiling the plugins, opening the store) is not charged to
    // the messages; restarts after kills are.
    let start_up_cpu_seconds = host.cpu_seconds();
    let host = Arc::new(Mutex::new(host));

    let run_id = rand::rng().random_range(1..400_000_000u32);
    let drive = driver::Drive {
        side: Arc::clone(&side),
        run: run_id,
        target: listen,
        connections: options.connections,
        duration: options.duration,
        rate: options.rate,
        max_messages: options.max_messages,
        drain: Duration::from_secs(60),
    };
    let (done, driving) = watch::channel(false);
    let killer = options
        .kill_every
        .map(|every| tokio::spawn(kill_loop(Arc::clone(&host), every, driving.clone())));
    let sampler = tokio::spawn(sample_memory(
        Arc::clone(&host),
        data.join("store"),
        driving.clone(),
    ));
    let swapper = options
        .plugin_swaps
        .then(|| tokio::spawn(swaps::run(listen, platform::SHOP, driving.clone())));
    let started = Instant::now();
    let driven = match side.taobao() {
        Some(taobao) => {
            tmc::drive(
                taobao,
                options.connections,
                options.duration,
                options.rate,
                options.max_messages,
                Duration::from_secs(60),
            )
            .await
        }
        None => driver::run(drive, started).await,
    };
    let _ = done.send(true);
    let kills = match killer {
        Some(killer) => killer.await.context("the kill loop")??,
        None => 0,
    };
    let plugin_swaps = match swapper {
        Some(swapper) => Some(swapper.await.context("the plugin swaps")??),
        None => None,
    };
    let (rss_samples, store_samples): (Vec<u64>, Vec<u64>) =
        sampler.await.unwrap_or_default().into_iter().unzip();

    // Wait for the replies to the acknowledged messages.
    let acked = driven.acked.iter().filter(|a| **a).count();
    let reply_wait = if options.ingest_only {
        Duration::ZERO
    } else {
        options.reply_wait
    };
    let reply_deadline = Instant::now() + reply_wait;
    while Instant::now() < reply_deadline {
        let answered = (0..driven.issued)
            .filter(|&i| driven.acked[i] && sends.count(i) > 0)
            .count();
        // TMC: and thanked by care.
        let thanked = side.care_wechat().is_none_or(|wechat| {
            let thanks = care::thanks_per_order(wechat);
            (0..driven.issued)
                .filter(|&i| driven.acked[i])
                .all(|i| thanks.contains_key(&tmc::tid(i)))
        });
        if answered >= acked && thanked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every acknowledged threat's hand-off reaches every stream, or the
    // report says how many did not.
    let threats_acked = (0..driven.issued)
        .filter(|&i| driven.acked[i] && side.is_threat(i))
        .count() as u64;
    if !stream_tasks.is_empty() {
        let due = threats_acked * options.console_streams as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        while watched.events.load(std::sync::atomic::Ordering::SeqCst) < due
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Anything more (a duplicate) would come within a poll or two.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = streams_done.send(true);
    for task in stream_tasks {
        let _ = task.await;
    }
    let mut console_streams = (options.console_streams > 0).then(|| watched.report(threats_acked));
    if let (Some(streams), true) = (console_streams.as_mut(), options.console_pages) {
        let threat = (0..driven.issued)
            .find(|&i| driven.acked[i] && side.is_threat(i))
            .context("no threat was acknowledged, so no conversation to open")?;
        streams.pages = console::time_pages(
            listen,
            &console_cookie,
            platform::SHOP,
            &side.conversation(threat),
        )
        .await?;
    }
    let mut host = Arc::try_unwrap(host)
        .map_err(|_| anyhow::anyhow!("the host is still shared"))?
        .into_inner();
    let cpu_seconds = host.cpu_seconds() - start_up_cpu_seconds;
    let peak_rss = host.peak_rss();
    let stopped = host.stop().await?;
    // Messages first due before this may have been swept by the retention.
    let audited_from_micros = options
        .retention
        .map(|keep| (started.elapsed().saturating_sub(keep)).as_micros() as u64);
    let audit = audit::audit(
        &data.join("store"),
        &side,
        &driven,
        &sends,
        audited_from_micros,
    )?;

    // TMC has no webhook to compare with bare hyper.
    let baseline = match (&options.bare_hyper, options.platform) {
        (_, Platform::Tmc) | (None, _) => None,
        (Some(binary), _) => Some(bare_hyper_rate(binary, options, run_id).await?),
    };
    let _ = stop_servers.send(true);
    Ok(Report::new(report::Inputs {
        options,
        driven: &driven,
        sends: &sends,
        offset_micros: started.duration_since(origin).as_micros() as u64,
        kills,
        cpu_seconds,
        peak_rss,
        rss_samples,
        store_samples,
        stopped: stopped == Stopped::Cleanly,
        audit,
        bare_hyper_per_sec: baseline,
        console_streams,
        plugin_swaps,
    }))
}

/// Kill the host about every `every` (0.5–1.5 ×) and start it again, until
/// the driver is done; returns how many kills.
async fn kill_loop(
    host: Arc<Mutex<HostProcess>>,
    every: Duration,
    mut done: watch::Receiver<bool>,
) -> anyhow::Result<u32> {
    let mut kills = 0;
    loop {
        let pause = every.mul_f64(rand::rng().random_range(0.5..1.5));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = done.changed() => return Ok(kills),
        }
        if *done.borrow() {
            return Ok(kills);
        }
        let mut host = host.lock().await;
        host.kill()?;
        kills += 1;
        host.start().await?;
    }
}

/// The host's resident memory and its store's size on disk, once a second
/// while the driver runs, bytes.
async fn sample_memory(
    host: Arc<Mutex<HostProcess>>,
    store: PathBuf,
    mut done: watch::Receiver<bool>,
) -> Vec<(u64, u64)> {
    let mut samples = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = done.changed() => return samples,
        }
        let rss = host.lock().await.rss();
        samples.push((rss, disk_usage(&store)));
    }
}

/// Bytes of the files under `dir` (as allocated on disk).
fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_usage(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Acknowledged pushes per second from bare hyper, same connections, same
/// pushes, for up to 10 s.
async fn bare_hyper_rate(
    binary: &std::path::Path,
    options: &Options,
    run_id: u32,
) -> anyhow::Result<f64> {
    let listen = free_port()?;
    let mut child = tokio::process::Command::new(binary)
        .args(["bare-hyper", "--listen", &listen.to_string(), "--platform"])
        .arg(format!("{:?}", options.platform).to_lowercase())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} bare-hyper", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(listen).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "bare hyper did not listen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let duration = options.duration.min(Duration::from_secs(10));
    let bare_sends = Arc::new(Sends::new(Instant::now(), 0));
    let drive = driver::Drive {
        side: Arc::new(platform::Side::start(options.platform, bare_sends).await?),
        run: run_id.wrapping_add(1),
        target: listen,
        connections: options.connections,
        duration,
        rate: None,
        max_messages: options.max_messages.max(2_000_000),
        drain: Duration::from_secs(5),
    };
    let driven = driver::run(drive, Instant::now()).await;
    let _ = child.kill().await;
    let acked = driven.acked.iter().filter(|a| **a).count();
    Ok(acked as f64 / driven.sending.as_secs_f64().max(1e-3))
}
