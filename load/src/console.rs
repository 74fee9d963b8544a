//! The console under load: `--console-streams N` signs N agents in to the
//! host's console (the first is a supervisor) and keeps one live event
//! stream (`/console/events`) open for each while the harness drives the
//! engine. One message in [`ANGRY_EVERY`] (or `--threats-every`) is a
//! complaint threat, which the bot hands to people, so every stream
//! receives a `handoff` event for it. The report says how many streams
//! stayed open to the end, how many events they received of those due, and
//! how late they arrived (from the change's commit to the stream's reader).
//! With `--console-pages`, once the replies are in, the first agent's
//! session times the console's pages with every conversation in the store.

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One message in this many is a complaint threat (handed to people).
pub const ANGRY_EVERY: usize = 50;

/// What a threatening customer writes.
pub const THREAT: &str = "你们这是欺诈，我要去12315投诉！";

/// The password every load agent gets.
const PASSWORD: &str = "load-agent-password";

/// The agents' ids.
pub fn agent_ids(streams: usize) -> Vec<String> {
    (0..streams).map(|i| format!("agent{i:03}")).collect()
}

/// The config's people: manual assignment (so conversations wait in the
/// queue and nothing else changes) and the agents, serving `shop`.
pub fn agents_toml(streams: usize, shop: &str) -> String {
    let mut toml = String::from("[admin]\nassignment = \"manual\"\n\n");
    for (i, id) in agent_ids(streams).into_iter().enumerate() {
        let role = if i == 0 { "supervisor" } else { "agent" };
        toml.push_str(&format!(
            "[[agents]]\nid = \"{id}\"\nrole = \"{role}\"\nshops = [\"{shop}\"]\n\n"
        ));
    }
    toml
}

/// Gives every load agent its password, in the host's data directory.
pub fn set_passwords(data: &std::path::Path, streams: usize) -> anyhow::Result<()> {
    for id in agent_ids(streams) {
        tongdao::auth::credentials::set_secret(data, &id, Some(PASSWORD))
            .with_context(|| format!("setting {id}'s password"))?;
    }
    Ok(())
}

/// What the streams saw.
#[derive(Debug, Default)]
pub struct Watched {
    /// Streams opened.
    pub opened: AtomicUsize,
    /// Streams that ended before the run did.
    pub ended_early: AtomicUsize,
    /// `handoff` events received, over all streams.
    pub events: AtomicU64,
    /// From each change's commit to its arrival, microseconds.
    pub lag: Mutex<Option<Histogram<u64>>>,
}

/// The streams' figures, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamReport {
    /// Streams opened.
    pub streams: usize,
    /// Still open when the run ended.
    pub open_at_end: usize,
    /// Hand-off events received over all streams.
    pub events_received: u64,
    /// Hand-offs in the store × streams.
    pub events_due: u64,
    /// Delivery lag p50, milliseconds.
    pub lag_p50_ms: f64,
    /// p99.
    pub lag_p99_ms: f64,
    /// Worst.
    pub lag_max_ms: f64,
    /// The console's pages, timed at the end (`--console-pages`).
    pub pages: Vec<PageTiming>,
}

impl Watched {
    /// The figures, given the hand-offs the store holds.
    pub fn report(&self, handoffs: u64) -> StreamReport {
        let opened = self.opened.load(Ordering::SeqCst);
        let lag = self.lag.lock().expect("lag lock");
        let at = |q: f64| {
            lag.as_ref()
                .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        StreamReport {
            streams: opened,
            open_at_end: opened - self.ended_early.load(Ordering::SeqCst),
            events_received: self.events.load(Ordering::SeqCst),
            events_due: handoffs * opened as u64,
            lag_p50_ms: at(0.5),
            lag_p99_ms: at(0.99),
            lag_max_ms: lag.as_ref().map_or(0.0, |h| h.max() as f64 / 1000.0),
            pages: Vec::new(),
        }
    }
}

async fn connect(
    target: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(target).await?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Signs `agent` in; the session cookie.
async fn sign_in(target: SocketAddr, agent: &str) -> anyhow::Result<String> {
    let mut sender = connect(target).await?;
    let body = format!("agent={agent}&password={PASSWORD}");
    let request = hyper::Request::post("/console/sign-in")
        .header(hyper::header::HOST, target.to_string())
        .header(
            hyper::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status() == hyper::StatusCode::SEE_OTHER,
        "signing {agent} in: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get(hyper::header::SET_COOKIE)
        .context("no session cookie")?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

/// Signs every agent in and opens their streams; they run until `done`.
/// Returns the stream tasks and the first agent's (the supervisor's)
/// session cookie.
pub async fn open_streams(
    target: SocketAddr,
    streams: usize,
    watched: Arc<Watched>,
    done: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, String)> {
    *watched.lag.lock().expect("lag lock") = Some(Histogram::new(3)?);
    let mut tasks = Vec::new();
    let mut first_cookie = String::new();
    for agent in agent_ids(streams) {
        let cookie = sign_in(target, &agent).await?;
        if first_cookie.is_empty() {
            first_cookie = cookie.clone();
        }
        let mut sender = connect(target).await?;
        let request = hyper::Request::get("/console/events")
            .header(hyper::header::HOST, target.to_string())
            .header(hyper::header::COOKIE, cookie)
            .body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{agent}'s stream: {}",
            response.status()
        );
        watched.opened.fetch_add(1, Ordering::SeqCst);
        let watched = Arc::clone(&watched);
        let mut done = done.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = sender;
            let mut body = response.into_body();
            let mut buffer = String::new();
            loop {
                let frame = tokio::select! {
                    frame = body.frame() => frame,
                    _ = done.changed() => return,
                };
                let Some(Ok(frame)) = frame else {
                    watched.ended_early.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buffer.push_str(&String::from_utf8_lossy(&data));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if !block.contains("event: handoff") {
                        continue;
                    }
                    watched.events.fetch_add(1, Ordering::SeqCst);
                    let at_ms = block
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                        .and_then(|v| v["at_ms"].as_i64());
                    if let Some(at_ms) = at_ms {
                        let lag_micros = (tongdao::clock::now_ms() - at_ms).max(0) as u64 * 1000;
                        if let Some(h) = watched.lag.lock().expect("lag lock").as_mut() {
                            let _ = h.record(lag_micros);
                        }
                    }
                }
            }
        }));
    }
    Ok((tasks, first_cookie))
}

/// How long one console page took, server to client over loopback.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PageTiming {
    /// The page.
    pub page: String,
    /// Bytes of HTML.
    pub bytes: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// Slowest of the samples, milliseconds.
    pub max_ms: f64,
}

/// Samples per page.
const PAGE_SAMPLES: usize = 30;

/// Times the console's pages for the session `cookie`: the queue, all
/// conversations, one thread (`conversation` of `shop`) and the supervisor's
/// view.
pub async fn time_pages(
    target: SocketAddr,
    cookie: &str,
    shop: &str,
    conversation: &str,
) -> anyhow::Result<Vec<PageTiming>> {
    let pages = [
        "/console?tab=queue".to_owned(),
        "/console?tab=all".to_owned(),
        format!("/console?tab=queue&shop={shop}&conversation={conversation}"),
        "/console/supervisor".to_owned(),
    ];
    let mut timings = Vec::new();
    let mut sender = connect(target).await?;
    for page in pages {
        let mut samples = Vec::with_capacity(PAGE_SAMPLES);
        let mut bytes = 0;
        for _ in 0..PAGE_SAMPLES {
            let request = hyper::Request::get(page.as_str())
                .header(hyper::header::HOST, target.to_string())
                .header(hyper::header::COOKIE, cookie)
                .body(Full::new(Bytes::new()))?;
            sender.ready().await?;
            let started = std::time::Instant::now();
            let response = sender.send_request(request).await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{page}: {}",
                response.status()
            );
            let body = response.into_body().collect().await?.to_bytes();
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            bytes = body.len();
        }
        samples.sort_by(f64::total_cmp);
        timings.push(PageTiming {
            page,
            bytes,
            p50_ms: samples[samples.len() / 2],
            max_ms: samples[samples.len() - 1],
        });
    }
    Ok(timings)
}
