//! The console under load: `--console-streams N` signs N agents in to the
//! host's console (the first is a supervisor) and keeps one live event
//! stream (`/console/events`) open for each while the harness drives the
//! engine. One message in [`ANGRY_EVERY`] (or `--threats-every`) is a
//! complaint threat, which the bot hands to people, so every stream
//! receives a `handoff` event for it. Streams reconnect with `Last-Event-ID`
//! when the host goes away (with `--kill-every`). The report says how many
//! events the streams received of those due, how many twice, how often they
//! reconnected, and how late events arrived (from the change's commit to
//! the stream's reader).
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
    /// Times a stream ended before the run did and was reopened.
    pub reconnects: AtomicU64,
    /// `handoff` events received, over all streams (each conversation once
    /// per stream).
    pub events: AtomicU64,
    /// Events a stream received again (an id not above the last one, or a
    /// conversation's hand-off twice).
    pub duplicates: AtomicU64,
    /// From each change's commit to its arrival, microseconds.
    pub lag: Mutex<Option<Histogram<u64>>>,
}

/// The streams' figures, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamReport {
    /// Streams opened.
    pub streams: usize,
    /// Times streams were reopened after the host went away.
    pub reconnects: u64,
    /// Hand-off events received over all streams.
    pub events_received: u64,
    /// Hand-offs of acknowledged threats × streams.
    pub events_due: u64,
    /// Events received twice by one stream.
    pub duplicates: u64,
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
            reconnects: self.reconnects.load(Ordering::SeqCst),
            events_received: self.events.load(Ordering::SeqCst),
            events_due: handoffs * opened as u64,
            duplicates: self.duplicates.load(Ordering::SeqCst),
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
/// A stream that ends (the host was killed) reconnects with the last event
/// id it saw, signing in again if its session is gone, so the report shows
/// whether every change reached every stream exactly once through crashes.
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
        let body = subscribe(target, &cookie, None)
            .await?
            .with_context(|| format!("{agent}'s stream"))?;
        watched.opened.fetch_add(1, Ordering::SeqCst);
        let follower = Follower {
            target,
            agent,
            cookie,
            last_id: None,
            seen: std::collections::HashSet::new(),
            watched: Arc::clone(&watched),
        };
        tasks.push(tokio::spawn(follower.follow(body, done.clone())));
    }
    Ok((tasks, first_cookie))
}

type EventBody = hyper::body::Incoming;

/// Opens `/console/events` (resuming after `last_id`); `None` when the
/// session is no longer signed in.
async fn subscribe(
    target: SocketAddr,
    cookie: &str,
    last_id: Option<u64>,
) -> anyhow::Result<Option<EventBody>> {
    let mut sender = connect(target).await?;
    let mut request = hyper::Request::get("/console/events")
        .header(hyper::header::HOST, target.to_string())
        .header(hyper::header::COOKIE, cookie);
    if let Some(id) = last_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::new()))?)
        .await?;
    if response.status() == hyper::StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    anyhow::ensure!(
        response.status().is_success(),
        "the stream: {}",
        response.status()
    );
    // The connection task keeps the body flowing after the sender goes.
    Ok(Some(response.into_body()))
}

/// One agent's stream, across reconnects.
struct Follower {
    target: SocketAddr,
    agent: String,
    cookie: String,
    last_id: Option<u64>,
    /// Conversations whose hand-off this stream has seen.
    seen: std::collections::HashSet<String>,
    watched: Arc<Watched>,
}

impl Follower {
    async fn follow(mut self, first: EventBody, mut done: tokio::sync::watch::Receiver<bool>) {
        let mut body = Some(first);
        loop {
            if let Some(stream) = body.take() {
                tokio::select! {
                    _ = self.read(stream) => {}
                    _ = done.changed() => return,
                }
                if *done.borrow() {
                    return;
                }
                self.watched.reconnects.fetch_add(1, Ordering::SeqCst);
            }
            // The host is down or restarting: try again shortly.
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = done.changed() => return,
            }
            body = match subscribe(self.target, &self.cookie, self.last_id).await {
                Ok(Some(stream)) => Some(stream),
                Ok(None) => {
                    if let Ok(cookie) = sign_in(self.target, &self.agent).await {
                        self.cookie = cookie;
                    }
                    None
                }
                Err(_) => None,
            };
        }
    }

    /// Reads one connection's events until it ends.
    async fn read(&mut self, mut body: EventBody) {
        let mut buffer = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                self.event(&block);
            }
        }
    }

    fn event(&mut self, block: &str) {
        let id = block
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(id) = id {
            if self.last_id.is_some_and(|last| id <= last) {
                self.watched.duplicates.fetch_add(1, Ordering::SeqCst);
                return;
            }
            self.last_id = Some(id);
        }
        if !block.contains("event: handoff") {
            return;
        }
        let data: Option<serde_json::Value> = block
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .and_then(|d| serde_json::from_str(d).ok());
        let Some(data) = data else { return };
        let conversation = data["conversation"].as_str().unwrap_or_default().to_owned();
        if !self.seen.insert(conversation) {
            self.watched.duplicates.fetch_add(1, Ordering::SeqCst);
            return;
        }
        self.watched.events.fetch_add(1, Ordering::SeqCst);
        if let Some(at_ms) = data["at_ms"].as_i64() {
            let lag_micros = (tongdao::clock::now_ms() - at_ms).max(0) as u64 * 1000;
            if let Some(h) = self.watched.lag.lock().expect("lag lock").as_mut() {
                let _ = h.record(lag_micros);
            }
        }
    }
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
