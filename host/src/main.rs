//! The `tongdao` command: `serve` runs the host, `replay` runs one recording
//! (webhook, stream frame or poll response) through a shop's plugin offline,
//! `check` validates a config and its plugins, `kb eval` and
//! `sentiment eval` measure the bot on labelled data, `agent` manages
//! agents' own credentials, `plugin` and `market` package, sign, publish
//! and serve plugins (see `market_commands`).

mod market_commands;
mod scaffold;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tongdao::config::Config;
use tongdao::model::StateEntry;
use tongdao::replay::ReplayOptions;

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
    /// Run one recording through a shop's plugin offline and print the
    /// result as JSON: a webhook (a raw HTTP/1.1 request), a stream frame
    /// (`--frame`, or a `.frame` file: the frame's raw bytes) or a poll's
    /// answer (a raw HTTP/1.1 response, with `--feed` and `--step`).
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
        /// The recording is one binary WebSocket frame.
        #[arg(long)]
        frame: bool,
        /// For a recorded poll response: the feed polled.
        #[arg(long)]
        feed: Option<String>,
        /// For a recorded poll response: the step label of the request.
        #[arg(long)]
        step: Option<String>,
        /// For a recorded poll response: the cursor the poll was made with.
        #[arg(long)]
        cursor: Option<String>,
        /// Plugin-held state to start from, as KEY=VALUE (repeatable).
        #[arg(long = "state", value_parser = parse_state)]
        state: Vec<(String, String)>,
        /// The recording.
        recording: PathBuf,
    },
    /// Validate a config and load its plugins, then exit.
    Check {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// The knowledge base: measure how well questions are matched.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// The sentiment detector: measure how well angry messages are caught.
    Sentiment {
        #[command(subcommand)]
        command: SentimentCommand,
    },
    /// The voice-of-the-customer report over days FROM..=TO (China time):
    /// questions by intent and scenario, sentiment, complaints by product
    /// and order state, unknown questions grouped, the automation rate and
    /// each agent's figures. From the store when no host holds it, else
    /// from the running host.
    Report {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The first day, YYYY-MM-DD (default: six days before `--to`).
        #[arg(long)]
        from: Option<String>,
        /// The last day, YYYY-MM-DD (default: today).
        #[arg(long)]
        to: Option<String>,
        /// `json` or `csv` (long form: section,date,subject,key,value).
        #[arg(long, default_value = "json")]
        format: ReportFormat,
    },
    /// Write a consistent snapshot of the store to OUT. With the host
    /// running, asks it over the admin API (credential: `TONGDAO_CREDENTIAL`
    /// as `agent:secret` of an admin, else the config's `admin.token`).
    Backup {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Where to write the backup.
        out: PathBuf,
    },
    /// Bring a backup back as the store of a data directory that has none
    /// (the host must be stopped).
    Restore {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The backup to restore.
        backup: PathBuf,
    },
    /// Agents' own credentials (kept as argon2 hashes in the data
    /// directory; a running host picks changes up at once).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// For ISVs: make a signing key, pack, sign and verify plugin packages.
    Plugin {
        #[command(subcommand)]
        command: market_commands::PluginCommand,
    },
    /// A plugin marketplace: create, register publishers, publish, revoke,
    /// refresh, serve; search.
    Market {
        #[command(subcommand)]
        command: market_commands::MarketCommand,
    },
}

/// How `tongdao report` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Json,
    Csv,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Issue a credential to an agent of the config that has none: prints
    /// a new token, shown only this once.
    Add {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Read a password from standard input instead of issuing a token.
        #[arg(long)]
        password_stdin: bool,
        /// The agent's id, as in the config's `[[agents]]`.
        agent: String,
    },
    /// Replace an agent's credential (the old one stops working at once).
    Passwd {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Read a password from standard input instead of issuing a token.
        #[arg(long)]
        password_stdin: bool,
        /// The agent's id.
        agent: String,
    },
    /// Revoke an agent's credential.
    Remove {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The agent's id.
        agent: String,
    },
    /// The config's agents, their roles, and whether each has a credential.
    List {
        /// The brand config (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum KbCommand {
    /// Match labelled questions (TSV with a header: intent, question), or
    /// cross-validate the knowledge base on its own examples, and print
    /// per-intent results, ending with the automation rate, the precision of
    /// outright answers, the shares clarified and handed over, and top-1.
    Eval {
        /// The knowledge base (TOML).
        #[arg(long)]
        kb: PathBuf,
        /// The labelled questions (TSV).
        #[arg(long, required_unless_present = "folds", conflicts_with = "folds")]
        questions: Option<PathBuf>,
        /// Instead of questions: hold out each of this many folds of the
        /// examples in turn and match them against the rest.
        #[arg(long, value_parser = clap::value_parser!(u32).range(2..=50))]
        folds: Option<u32>,
    },
    /// Group the questions the bot could not answer, with the agents'
    /// replies to them, into suggested new examples and intents (from the
    /// store when no host holds it, else from the running host). Accept one
    /// with `POST /admin/kb/accept`.
    Suggest {
        /// The host's config file.
        #[arg(long)]
        config: PathBuf,
        /// Look back this many days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Smallest group worth suggesting.
        #[arg(long, default_value_t = 2)]
        min_count: usize,
    },
}

#[derive(Subcommand)]
enum SentimentCommand {
    /// Assess labelled messages (TSV with a header: negative|other, text)
    /// and end with `recall: R precision: P false_positive_rate: F`.
    Eval {
        /// The labelled messages (TSV).
        #[arg(long)]
        data: PathBuf,
    },
}

/// mimalloc: under load the host allocates and frees small objects on
/// several threads at once, where glibc's malloc spent a tenth of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The report straight from the store when no host holds it, else from
/// the running host over its admin API.
fn report(
    config: &Config,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<tongdao::report::Report> {
    let (from, to) = tongdao::report::range(from, to).map_err(anyhow::Error::msg)?;
    let path = format!(
        "report?from={}&to={}",
        tongdao::model::date_of_day(from),
        tongdao::model::date_of_day(to)
    );
    from_store_or_host(config, &path, |store, bot| {
        tongdao::report::build(store, bot, from, to, |_| true)
    })
}

/// Suggestions straight from the store when no host holds it, else from
/// the running host over its admin API.
fn kb_suggestions(
    config: &Config,
    days: i64,
    min_count: usize,
) -> anyhow::Result<serde_json::Value> {
    let path = format!("kb/suggestions?days={days}&min_count={min_count}");
    from_store_or_host(config, &path, |store, bot| {
        let since_ms = tongdao::clock::now_ms() - days.max(0) * 86_400_000;
        let found = tongdao::learning::suggestions(store, bot, since_ms, min_count, |_| true)?;
        Ok(serde_json::json!({ "suggestions": found }))
    })
}

/// `direct` on the store and the config's bot when no host holds the
/// store, else the running host's answer to `GET /admin/PATH`, read as the
/// same.
fn from_store_or_host<T: serde::de::DeserializeOwned>(
    config: &Config,
    path: &str,
    direct: impl FnOnce(&tongdao::store::SledStore, &tongdao::kb::Bot) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let store_dir = config.data_dir.join("store");
    if !store_dir.exists() {
        anyhow::bail!("there is no store at {}", store_dir.display());
    }
    let held = match tongdao::store::SledStore::open_with(&store_dir, None) {
        Ok(store) => {
            let bot =
                tongdao::kb::Bot::load(config.bot.knowledge_base.as_deref(), config.bot.min_score)?;
            return direct(&store, &bot);
        }
        Err(err) => err,
    };
    let answer = ask_running_host(config, reqwest::Method::GET, path, &held)?;
    serde_json::from_value(answer)
        .with_context(|| format!("the host's answer to /admin/{path} does not read as expected"))
}

/// Asks the running host's admin API (`/admin/PATH`) as the agent in
/// `TONGDAO_CREDENTIAL` (or with the config's admin token), after the store
/// could not be opened directly (`direct`, for the message).
fn ask_running_host(
    config: &Config,
    method: reqwest::Method,
    path: &str,
    direct: &anyhow::Error,
) -> anyhow::Result<serde_json::Value> {
    ask_running_host_with(config, method, path, None, direct)
}

/// [`ask_running_host`] with a JSON body.
fn ask_running_host_with(
    config: &Config,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
    direct: &anyhow::Error,
) -> anyhow::Result<serde_json::Value> {
    let address = config.admin_listen.unwrap_or(config.listen);
    let credential = std::env::var("TONGDAO_CREDENTIAL")
        .ok()
        .or_else(|| config.admin.as_ref().and_then(|a| a.token.clone()))
        .with_context(|| {
            format!(
                "the store is in use ({direct:#}), and there is no credential to ask the running host: set TONGDAO_CREDENTIAL=agent:secret"
            )
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .request(method, format!("http://{address}/admin/{path}"))
            .bearer_auth(credential);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("asking the host at {address} (/admin/{path})"))?;
        let status = response.status();
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)
            .context("the host's answer is not JSON")?;
        if !status.is_success() {
            anyhow::bail!("the host refused /admin/{path} ({status}): {body}");
        }
        Ok(body)
    })
}

/// A backup straight from the store when no host holds it, else from the
/// running host over its admin API.
fn backup(
    config: &Config,
    out: &std::path::Path,
) -> anyhow::Result<tongdao::store::backup::BackupSummary> {
    use tongdao::store::Store;
    let store_dir = config.data_dir.join("store");
    if !store_dir.exists() {
        anyhow::bail!("there is no store at {}", store_dir.display());
    }
    let direct = match tongdao::store::SledStore::open_with(&store_dir, None) {
        Ok(store) => return store.backup(out),
        Err(err) => err,
    };
    let answer = ask_running_host(config, reqwest::Method::POST, "backup", &direct)?;
    let written = PathBuf::from(answer["path"].as_str().context("the host named no file")?);
    if std::fs::rename(&written, out).is_err() {
        std::fs::copy(&written, out)
            .with_context(|| format!("copying {} to {}", written.display(), out.display()))?;
        std::fs::remove_file(&written)?;
    }
    Ok(tongdao::store::backup::BackupSummary {
        trees: answer["trees"].as_u64().unwrap_or(0) as usize,
        entries: answer["entries"].as_u64().unwrap_or(0),
        bytes: answer["bytes"].as_u64().unwrap_or(0),
    })
}

fn run_agent(command: AgentCommand) -> anyhow::Result<ExitCode> {
    use tongdao::auth::credentials;
    let (config_path, agent, password_stdin, replace) = match command {
        AgentCommand::List { config } => {
            let config = Config::load(&config)?;
            let issued: std::collections::BTreeMap<String, i64> =
                credentials::list(&config.data_dir)?.into_iter().collect();
            for agent in &config.agents {
                let credential = match issued.get(&agent.id) {
                    Some(at_ms) => format!("credential set at {at_ms} (Unix ms)"),
                    None => "no credential".into(),
                };
                println!("{}\t{}\t{}", agent.id, agent.role.as_str(), credential);
            }
            return Ok(ExitCode::SUCCESS);
        }
        AgentCommand::Remove { config, agent } => {
            let config = Config::load(&config)?;
            if credentials::remove(&config.data_dir, &agent)? {
                println!("revoked the credential of `{agent}`");
                return Ok(ExitCode::SUCCESS);
            }
            anyhow::bail!("`{agent}` has no credential");
        }
        AgentCommand::Add {
            config,
            password_stdin,
            agent,
        } => (config, agent, password_stdin, false),
        AgentCommand::Passwd {
            config,
            password_stdin,
            agent,
        } => (config, agent, password_stdin, true),
    };
    let config = Config::load(&config_path)?;
    if !config.agents.iter().any(|a| a.id == agent) {
        anyhow::bail!(
            "{}: no agent `{agent}` in `[[agents]]` (define the agent there first)",
            config_path.display()
        );
    }
    let has = credentials::list(&config.data_dir)?
        .iter()
        .any(|(id, _)| *id == agent);
    if has && !replace {
        anyhow::bail!("`{agent}` has a credential already; `tongdao agent passwd` replaces it");
    }
    if !has && replace {
        anyhow::bail!("`{agent}` has no credential yet; `tongdao agent add` issues one");
    }
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    match credentials::set_secret(&config.data_dir, &agent, password.as_deref())? {
        Some(token) => {
            println!("{agent}:{token}");
            eprintln!(
                "the token above is shown only now; the agent sends `Authorization: Bearer {agent}:<token>`"
            );
        }
        None => eprintln!("password set for `{agent}`"),
    }
    Ok(ExitCode::SUCCESS)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Plugin { command } => market_commands::run_plugin(command),
        Command::Market { command } => market_commands::run_market(command),
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let host = tongdao::server::start(config).await?;
                println!("tongdao listening on http://{}", host.addr);
                let signal = loop {
                    tokio::select! {
                        signal = stop_signal() => break signal?,
                        () = reload_signal() => match host.reload().await {
                            Ok(swapped) => tracing::info!(?swapped, "SIGHUP: plugins reloaded"),
                            Err(err) => tracing::error!(error = %format!("{err:#}"), "SIGHUP: reload refused; the shops keep what they had"),
                        },
                    }
                };
                tracing::info!(
                    signal,
                    "shutting down: draining calls and deliveries, then flushing"
                );
                host.shutdown().await;
                tracing::info!("stopped");
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Replay {
            config,
            shop,
            at,
            frame,
            feed,
            step,
            cursor,
            state,
            recording,
        } => {
            let config = Config::load(&config)?;
            let raw = std::fs::read(&recording)
                .with_context(|| format!("reading {}", recording.display()))?;
            let options = ReplayOptions {
                now_ms: at.map(|s| s * 1000).unwrap_or_else(tongdao::clock::now_ms),
                state: state
                    .into_iter()
                    .map(|(key, value)| StateEntry {
                        key,
                        value,
                        expires_at_ms: None,
                    })
                    .collect(),
                frame: frame || recording.extension().is_some_and(|ext| ext == "frame"),
                feed,
                step,
                cursor,
            };
            let document = tongdao::replay::replay(&config, &shop, &raw, &options)
                .with_context(|| format!("replaying {}", recording.display()))?;
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(if document.get("error").is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Kb {
            command:
                KbCommand::Eval {
                    kb,
                    questions,
                    folds,
                },
        } => {
            let knowledge_base = tongdao_bot::KnowledgeBase::load(&kb)?;
            let report = match (questions, folds) {
                (Some(questions), _) => {
                    let rows = tongdao_bot::eval::read_labelled(&questions)?;
                    let matcher = tongdao_bot::Matcher::new(knowledge_base);
                    tongdao_bot::eval::evaluate_kb(&matcher, &rows)
                }
                (None, folds) => {
                    let folds = folds.expect("clap requires --questions or --folds");
                    tongdao_bot::eval::cross_validate(&knowledge_base, folds as usize)
                }
            };
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb {
            command:
                KbCommand::Suggest {
                    config,
                    days,
                    min_count,
                },
        } => {
            let config = Config::load(&config)?;
            let suggestions = kb_suggestions(&config, days, min_count)?;
            println!("{}", serde_json::to_string_pretty(&suggestions)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            config,
            from,
            to,
            format,
        } => {
            let config = Config::load(&config)?;
            let report = report(&config, from.as_deref(), to.as_deref())?;
            match format {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                ReportFormat::Csv => print!("{}", report.to_csv()?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent { command } => run_agent(command),
        Command::Backup { config, out } => {
            let config = Config::load(&config)?;
            let summary = backup(&config, &out)?;
            println!(
                "backed up {} entries in {} trees to {} ({} bytes)",
                summary.entries,
                summary.trees,
                out.display(),
                summary.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { config, backup } => {
            let config = Config::load(&config)?;
            let store_dir = config.data_dir.join("store");
            let summary = tongdao::store::backup::restore(&backup, &store_dir)?;
            println!(
                "restored {} entries in {} trees into {}",
                summary.entries,
                summary.trees,
                store_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sentiment {
            command: SentimentCommand::Eval { data },
        } => {
            let rows = tongdao_bot::eval::read_labelled(&data)?;
            let detector = tongdao_bot::SentimentDetector::new();
            println!(
                "{}",
                tongdao_bot::eval::evaluate_sentiment(&detector, &rows)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let config = Config::load(&config)?;
            let runtime = tongdao::runtime::Runtime::new((&config.limits).into(), None)?;
            let plugins = tongdao::server::load_plugins(&config, &runtime)?;
            // Care's channels, among the shops whose plugin is configured
            // here (installed ones are checked when the host starts).
            let mut shops = tongdao::shops::Shops::default();
            for shop in config.shops.values() {
                if let Some(plugin) = plugins.get(&shop.plugin) {
                    shops.insert(tongdao::shops::Shop::new(
                        shop.clone(),
                        std::sync::Arc::clone(plugin),
                        &config.limits,
                    ));
                }
            }
            tongdao::care::check_channels(&shops, &config.path)?;
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

/// Wait for SIGTERM (service managers, `docker stop`) or SIGINT (Ctrl-C);
/// returns the signal's name.
/// Waits for SIGHUP (never, where there is none).
async fn reload_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangup) => {
                hangup.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

async fn stop_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        Ok(tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        })
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        Ok("Ctrl-C")
    }
}

/// `KEY=VALUE` for `--state`.
fn parse_state(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
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
