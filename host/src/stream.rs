//! Stream ingestion: for every shop whose plugin streams (Taobao TMC's
//! top-link socket, PDD's message socket), the host holds the WebSocket the
//! plugin describes, hands each frame to the plugin, sends the plugin's
//! replies at once, commits the events, and writes the plugin's
//! acknowledgements only once the events are durable — so a platform that
//! redelivers unacknowledged messages never loses one. Broken or idle
//! connections are reopened with back-off.

use crate::backoff;
use crate::clock;
use crate::model::{Frame, FrameResult, StreamConnect};
use crate::outbound::{AddressPolicy, egress};
use crate::runtime::{CallError, refusal_kind, refusal_reason};
use crate::shops::Shop;
use crate::store::IngestBatch;
use crate::telemetry::Metrics;
use futures::stream::{FuturesOrdered, SplitSink};
use futures::{SinkExt, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What the stream holder works with.
#[derive(Clone)]
pub struct Streams {
    /// The plugin runtime.
    pub runtime: crate::runtime::Runtime,
    /// The store.
    pub store: std::sync::Arc<dyn crate::store::Store>,
    /// The durability barrier.
    pub group_commit: crate::store::GroupCommit,
    /// The shops served.
    pub shops: crate::shops::Shops,
    /// Limits.
    pub limits: crate::config::Limits,
    /// Counters.
    pub metrics: std::sync::Arc<Metrics>,
    /// Wakes the pipeline once a frame's events are committed.
    pub pipeline_wake: std::sync::Arc<tokio::sync::Notify>,
}

/// The longest a reconnect waits.
const RECONNECT_CAP: Duration = Duration::from_secs(30);
/// A connection that lived this long resets the reconnect back-off.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How often the host pings when the plugin asks for no heartbeat.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// A connection silent for this many heartbeat periods is reopened.
const IDLE_PERIODS: u32 = 3;
/// Frames whose acknowledgements may wait for durability at once; reading
/// pauses beyond this.
const MAX_PENDING_ACKS: usize = 1024;
/// How long acknowledgements still owed get at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type PendingAck = Pin<Box<dyn Future<Output = (anyhow::Result<()>, Vec<Frame>)> + Send>>;

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    /// The host is shutting down.
    Shutdown,
    /// The connection ended on its own or by the plugin's choice; reopen.
    Closed(String),
    /// Something failed; reopen after back-off.
    Failed(String),
    /// The shop's plugin is paused; reopen after it may run again.
    Paused(Duration),
}

/// Hold the streams of every shop that wants one until `shutdown` turns true.
pub async fn run(host: Arc<Streams>, shutdown: watch::Receiver<bool>) {
    let mut streams = tokio::task::JoinSet::new();
    for shop in host.shops.iter() {
        if shop.streams() {
            streams.spawn(hold(Arc::clone(&host), Arc::clone(shop), shutdown.clone()));
        }
    }
    while streams.join_next().await.is_some() {}
}

/// Keep one shop's stream open: connect, serve, and reconnect with back-off.
async fn hold(host: Arc<Streams>, shop: Arc<Shop>, mut shutdown: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let ended = connect_and_serve(&host, &shop, &mut shutdown).await;
        let pause = match ended {
            Ended::Shutdown => return,
            Ended::Closed(reason) => {
                tracing::info!(shop = shop.id(), reason, "stream closed; reopening");
                None
            }
            Ended::Failed(reason) => {
                Metrics::bump(&host.metrics.streams_failed);
                tracing::warn!(
                    shop = shop.id(),
                    reason,
                    "stream failed; reopening after back-off"
                );
                None
            }
            Ended::Paused(retry_after) => Some(retry_after),
        };
        failures = if started.elapsed() >= STABLE_AFTER {
            1
        } else {
            failures.saturating_add(1)
        };
        let wait = backoff::delay_within(failures, pause, RECONNECT_CAP);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One connection from handshake to close.
async fn connect_and_serve(
    host: &Streams,
    shop: &Shop,
    shutdown: &mut watch::Receiver<bool>,
) -> Ended {
    let connect = match open(host, shop).await {
        Ok(connect) => connect,
        Err(ended) => return ended,
    };
    let socket = match dial(host, shop, &connect).await {
        Ok(socket) => socket,
        Err(reason) => return Ended::Failed(reason),
    };
    Metrics::bump(&host.metrics.streams_opened);
    tracing::info!(shop = shop.id(), "stream open");
    let (mut sink, mut incoming) = socket.split();
    for frame in connect.handshake {
        if let Err(err) = sink.send(to_message(frame)).await {
            return Ended::Failed(format!("sending the handshake failed: {err}"));
        }
    }
    let period = connect
        .heartbeat_interval_ms
        .filter(|&ms| ms > 0)
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .unwrap_or(DEFAULT_HEARTBEAT);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut last_heard = Instant::now();
    let mut pending: FuturesOrdered<PendingAck> = FuturesOrdered::new();

    let ended = loop {
        tokio::select! {
            _ = shutdown.changed() => break Ended::Shutdown,
            Some((durable, acks)) = pending.next(), if !pending.is_empty() => {
                if let Err(err) = durable {
                    break Ended::Failed(format!("the store could not make frames durable, so they are not acknowledged: {err:#}"));
                }
                if let Err(reason) = send_acks(host, &mut sink, acks).await {
                    break Ended::Failed(reason);
                }
            }
            message = incoming.next(), if pending.len() < MAX_PENDING_ACKS => {
                let message = match message {
                    None => break Ended::Closed("the platform closed the connection".into()),
                    Some(Err(err)) => break Ended::Failed(format!("reading the stream failed: {err}")),
                    Some(Ok(message)) => message,
                };
                last_heard = Instant::now();
                let frame = match message {
                    Message::Binary(bytes) => Frame::Binary(bytes.to_vec()),
                    Message::Text(text) => Frame::Text(text.as_str().to_string()),
                    Message::Close(frame) => {
                        break Ended::Closed(match frame {
                            Some(frame) => format!("the platform closed the connection ({} {})", frame.code, frame.reason),
                            None => "the platform closed the connection".into(),
                        });
                    }
                    // Pings are answered by the WebSocket layer; pongs only
                    // prove the connection is alive.
                    _ => continue,
                };
                match handle(host, shop, frame).await {
                    Ok(None) => {}
                    Ok(Some(result)) => {
                        for reply in result.replies {
                            if let Err(err) = sink.send(to_message(reply)).await {
                                return Ended::Failed(format!("sending a reply failed: {err}"));
                            }
                        }
                        if !result.acks.is_empty() {
                            let barrier = host.group_commit.clone();
                            let acks = result.acks;
                            pending.push_back(Box::pin(async move { (barrier.durable().await, acks) }));
                        }
                        if let Some(reason) = result.close {
                            break Ended::Closed(format!("the plugin closed the stream: {reason}"));
                        }
                    }
                    Err(ended) => break ended,
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > period * IDLE_PERIODS {
                    break Ended::Failed(format!("nothing heard for {:?}", last_heard.elapsed()));
                }
                if let Err(reason) = send_heartbeat(host, shop, &mut sink).await {
                    break reason;
                }
            }
        }
    };
    // Acknowledge what was committed before the connection goes: the
    // platform would redeliver it otherwise (harmless, but wasteful).
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some((durable, acks)) = pending.next().await {
            if durable.is_err() || send_acks(host, &mut sink, acks).await.is_err() {
                break;
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            shop = shop.id(),
            "acknowledgements still owed when the stream closed; the platform will redeliver them"
        );
    }
    let _ = sink.send(Message::Close(None)).await;
    ended
}

/// Ask the plugin how to open the stream.
async fn open(host: &Streams, shop: &Shop) -> Result<StreamConnect, Ended> {
    let ctx = shop
        .context(host.store.as_ref(), clock::now_ms())
        .map_err(|err| Ended::Failed(format!("reading plugin state failed: {err:#}")))?;
    shop.guarded(host.runtime.open_stream(&shop.plugin(), ctx))
        .await
        .map_err(|err| call_failed(host, err, "describing the stream"))
}

/// Refuses a stream host that resolves only to addresses the shop does
/// not grant (the WebSocket client resolves on its own, so this checks
/// first; a rebinding between the two lookups is not caught).
async fn check_addresses(shop: &Shop, target: &url::Url) -> Result<(), String> {
    let host = target.host_str().unwrap_or_default().to_owned();
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 443))
        .await
        .map_err(|err| format!("resolving `{host}` failed: {err}"))?
        .collect();
    let policy = AddressPolicy {
        networks: shop.config.egress_networks.clone(),
        ..AddressPolicy::default()
    };
    policy.filter(&host, addresses).map(drop)
}

/// Connect to the stream's URL, after the egress check and the shop's API
/// base rewrite.
async fn dial(host: &Streams, shop: &Shop, connect: &StreamConnect) -> Result<Socket, String> {
    let egress::Target {
        url: target,
        configured,
    } = egress::resolve(
        &shop.config,
        &shop.egress(),
        &shop.plugin().manifest,
        &connect.url,
    )?;
    if !configured {
        check_addresses(shop, &target).await?;
    }
    if !matches!(target.scheme(), "ws" | "wss") {
        return Err(format!(
            "stream URL `{}{}` is not ws:// or wss://",
            target.scheme(),
            target.path()
        ));
    }
    let mut request = target
        .as_str()
        .into_client_request()
        .map_err(|err| format!("the stream URL is not usable: {err}"))?;
    for header in &connect.headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| format!("stream header name `{}` is invalid", header.name))?;
        let value = HeaderValue::from_str(&header.value)
            .map_err(|_| format!("stream header `{}` has an invalid value", header.name))?;
        request.headers_mut().insert(name, value);
    }
    let limit = host.limits.max_body_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let described = format!(
        "{}://{}{}",
        target.scheme(),
        target.host_str().unwrap_or_default(),
        target.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    match tokio::time::timeout(
        host.limits.outbound_timeout,
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(err)) => Err(format!("connecting to {described} failed: {err}")),
        Err(_) => Err(format!("connecting to {described} timed out")),
    }
}

/// Hand one frame to the plugin and commit what it returned. A refused
/// frame is skipped unacknowledged (`None`: the platform redelivers it); a
/// plugin fault or a store failure ends the connection.
async fn handle(host: &Streams, shop: &Shop, frame: Frame) -> Result<Option<FrameResult>, Ended> {
    let now_ms = clock::now_ms();
    let ctx = shop
        .context(host.store.as_ref(), now_ms)
        .map_err(|err| Ended::Failed(format!("reading plugin state failed: {err:#}")))?;
    let mut result = match shop
        .guarded(host.runtime.handle_frame(&shop.plugin(), ctx, frame))
        .await
    {
        Ok(result) => result,
        Err(CallError::Refused(refusal)) => {
            Metrics::bump(&host.metrics.frames_refused);
            tracing::warn!(
                shop = shop.id(),
                kind = refusal_kind(&refusal),
                reason = refusal_reason(&refusal),
                "stream frame refused; nothing stored or acknowledged"
            );
            return Ok(None);
        }
        Err(err) => return Err(call_failed(host, err, "handling a frame")),
    };
    // What is committed is not needed again: only the acks, replies and
    // close go back to the connection.
    let events = crate::contract::v0_1::events(std::mem::take(&mut result.events));
    let state = crate::contract::v0_1::state(std::mem::take(&mut result.state));
    let batch = IngestBatch {
        shop: shop.id(),
        plugin: &shop.plugin().name,
        received_ms: now_ms,
        events: &events,
        state: &state,
        cursor: None,
        dedupe_until_ms: now_ms.saturating_add(host.limits.dedupe_window.as_millis() as i64),
    };
    let receipt = host.store.commit_ingest(&batch).map_err(|err| {
        Ended::Failed(format!(
            "committing a frame's events failed, so it is not acknowledged: {err:#}"
        ))
    })?;
    Metrics::bump(&host.metrics.frames_handled);
    Metrics::add(&host.metrics.events_stored, receipt.stored.len() as u64);
    Metrics::add(&host.metrics.events_duplicate, receipt.duplicates as u64);
    if receipt.replayed {
        tracing::warn!(
            shop = shop.id(),
            "a frame carried a replay claim taken before; none of its events were stored"
        );
    }
    if !receipt.stored.is_empty() {
        host.pipeline_wake.notify_one();
    }
    Ok(Some(result))
}

async fn send_acks(
    host: &Streams,
    sink: &mut SplitSink<Socket, Message>,
    acks: Vec<Frame>,
) -> Result<(), String> {
    for ack in acks {
        sink.send(to_message(ack))
            .await
            .map_err(|err| format!("sending an acknowledgement failed: {err}"))?;
        Metrics::bump(&host.metrics.frame_acks_sent);
    }
    Ok(())
}

/// The plugin's heartbeat frames, then a WebSocket ping.
async fn send_heartbeat(
    host: &Streams,
    shop: &Shop,
    sink: &mut SplitSink<Socket, Message>,
) -> Result<(), Ended> {
    let ctx = shop
        .context(host.store.as_ref(), clock::now_ms())
        .map_err(|err| Ended::Failed(format!("reading plugin state failed: {err:#}")))?;
    let frames = shop
        .guarded(host.runtime.stream_heartbeat(&shop.plugin(), ctx))
        .await
        .map_err(|err| call_failed(host, err, "rendering a heartbeat"))?;
    for frame in frames
        .into_iter()
        .map(to_message)
        .chain([Message::Ping(Bytes::new())])
    {
        sink.send(frame)
            .await
            .map_err(|err| Ended::Failed(format!("sending a heartbeat failed: {err}")))?;
    }
    Ok(())
}

fn call_failed(host: &Streams, err: CallError, doing: &str) -> Ended {
    match err {
        CallError::CircuitOpen { retry_after } => Ended::Paused(retry_after),
        CallError::ShuttingDown => Ended::Shutdown,
        other => {
            if other.is_plugin_fault() {
                Metrics::bump(&host.metrics.plugin_faults);
            }
            Ended::Failed(format!("{doing}: {other}"))
        }
    }
}

fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Binary(bytes) => Message::Binary(bytes.into()),
        Frame::Text(text) => Message::Text(text.into()),
    }
}
