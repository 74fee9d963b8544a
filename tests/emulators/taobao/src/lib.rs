//! Taobao's side of the open platform, for tongdao's tests: one
//! [`TaobaoEmulator`] runs
//!
//! * the TMC message service over WebSocket (top-link binary frames): it
//!   checks the CONNECT's app key, timestamp and signature and answers
//!   CONNECTACK with a session token or an error status, pushes queued
//!   messages, redelivers unconfirmed ones after a settable delay or when a
//!   client reconnects, records confirms and pull requests, and can drop the
//!   connection (at once, or right after its next push);
//! * the TOP REST router (`/router/rest`): parameter, timestamp and
//!   signature checks for `md5`, `hmac` and `hmac-sha256` with TOP's error
//!   codes, the seller session check, `taobao.trade.fullinfo.get`,
//!   `taobao.logistics.trace.search`, `taobao.tmc.messages.consume` /
//!   `confirm` over the same message queue, per-method call limits (code 7)
//!   and injected error codes, with a log of every call.
//!
//! Its clock (for timestamp checks) is the system clock unless set.

pub mod frames;
pub mod router;
pub mod signing;
mod tmc;

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tongdao_loopback::LoopbackServer;

/// The app and seller the emulator serves, and its limits.
#[derive(Debug, Clone)]
pub struct TaobaoConfig {
    /// The AppKey.
    pub app_key: String,
    /// The AppSecret.
    pub app_secret: String,
    /// The seller's session that look-ups must carry.
    pub session: String,
    /// The TMC group the app may consume (`default`).
    pub group_name: String,
    /// How far a CONNECT or API timestamp may be from the clock (10 min).
    pub timestamp_tolerance_ms: i64,
    /// How long a delivered, unconfirmed message waits before it is
    /// delivered again on the same connection (60 s).
    pub redeliver_after: Duration,
    /// The seller's nick in messages.
    pub seller_nick: String,
    /// The seller's user id in messages.
    pub seller_id: i64,
}

impl TaobaoConfig {
    /// The defaults for `app_key` / `app_secret` / `session`.
    pub fn new(app_key: &str, app_secret: &str, session: &str) -> TaobaoConfig {
        TaobaoConfig {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            session: session.into(),
            group_name: "default".into(),
            timestamp_tolerance_ms: 10 * 60 * 1000,
            redeliver_after: Duration::from_secs(60),
            seller_nick: "demo_shop".into(),
            seller_id: 2_200_000_000_001,
        }
    }
}

/// A message waiting in the TMC queue.
#[derive(Debug, Clone, PartialEq)]
pub struct TmcMessage {
    /// The message id.
    pub id: i64,
    /// The topic.
    pub topic: String,
    /// The content: JSON text.
    pub content: String,
    /// When it was published, Unix milliseconds.
    pub published_ms: i64,
}

/// How a confirm reached the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A `__kind` 2 frame on the stream.
    Stream,
    /// `taobao.tmc.messages.confirm`.
    Http,
}

/// A confirm the emulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The message id confirmed.
    pub id: i64,
    /// The session token the frame carried (stream only).
    pub token: Option<String>,
    /// Whether the token was the connection's.
    pub token_valid: bool,
    /// How it came.
    pub via: Via,
}

/// A CONNECT the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Accepted (CONNECTACK without status) or refused.
    pub accepted: bool,
    /// The status code sent (0 when accepted).
    pub status: u32,
    /// Why it was refused.
    pub phrase: String,
    /// The token granted.
    pub token: Option<String>,
}

/// One delivery of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message id.
    pub id: i64,
    /// Over the stream or a consume.
    pub via: Via,
    /// The stream connection number (1 for the first), 0 for consume.
    pub connection: u64,
}

/// A TOP API call as the router saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// `method`.
    pub method: String,
    /// All parameters (query and form body).
    pub params: Vec<(String, String)>,
    /// The error code answered, `None` on success.
    pub error_code: Option<String>,
}

impl ApiCall {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An error to answer instead of the real result.
#[derive(Debug, Clone)]
struct Injected {
    method: String,
    remaining: u32,
    code: String,
    msg: String,
    sub_code: Option<String>,
    sub_msg: Option<String>,
}

#[derive(Debug)]
struct Queued {
    message: TmcMessage,
    confirmed: bool,
    /// When it was last delivered, and on which connection (0 = consume).
    delivered: Option<(Instant, u64)>,
}

type ConfirmHook = Arc<dyn Fn(&Confirm) + Send + Sync>;
type CallHook = Arc<dyn Fn(&ApiCall) + Send + Sync>;

struct State {
    config: TaobaoConfig,
    clock_ms: Option<i64>,
    queue: Vec<Queued>,
    next_id: i64,
    connections: u64,
    open_connections: u64,
    drop_after_push: bool,
    refuse_next: Option<(u32, String)>,
    handshakes: Vec<Handshake>,
    deliveries: Vec<Delivery>,
    confirms: Vec<Confirm>,
    failures: Vec<(i64, String)>,
    pulls: u32,
    calls: Vec<ApiCall>,
    injected: VecDeque<Injected>,
    call_limits: HashMap<String, u32>,
    trades: HashMap<String, Value>,
    traces: HashMap<String, Value>,
    on_confirm: Option<ConfirmHook>,
    on_call: Option<CallHook>,
}

impl State {
    fn now_ms(&self) -> i64 {
        self.clock_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        })
    }

    /// Messages due on connection `connection` (0 = consume), marked
    /// delivered.
    fn take_due(&mut self, connection: u64, limit: usize) -> Vec<TmcMessage> {
        let now = Instant::now();
        let wait = self.config.redeliver_after;
        let mut due = Vec::new();
        for queued in self.queue.iter_mut().filter(|q| !q.confirmed) {
            if due.len() >= limit {
                break;
            }
            let ready = match queued.delivered {
                None => true,
                // A new connection gets what an earlier one left unconfirmed.
                Some((at, on)) => on != connection || now.duration_since(at) >= wait,
            };
            if ready {
                queued.delivered = Some((now, connection));
                due.push(queued.message.clone());
                self.deliveries.push(Delivery {
                    id: queued.message.id,
                    via: if connection == 0 {
                        Via::Http
                    } else {
                        Via::Stream
                    },
                    connection,
                });
            }
        }
        due
    }

    fn confirm(&mut self, confirm: Confirm) -> Option<ConfirmHook> {
        if confirm.token_valid || confirm.via == Via::Http {
            for queued in self.queue.iter_mut().filter(|q| q.message.id == confirm.id) {
                queued.confirmed = true;
            }
        }
        self.confirms.push(confirm);
        self.on_confirm.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Shared between the emulator handle and its servers.
struct Shared {
    state: Mutex<State>,
    /// Wakes connections when messages are enqueued.
    enqueued: Notify,
    /// Bumped to drop every open connection.
    drop_all: watch::Sender<u64>,
    /// Bumped on every confirm (for waiting).
    confirmed: watch::Sender<usize>,
}

/// The running emulator. Stops when dropped.
pub struct TaobaoEmulator {
    shared: Arc<Shared>,
    router: LoopbackServer,
    tmc: tmc::TmcServer,
}

impl TaobaoEmulator {
    /// Start the TMC socket and the REST router on loopback ports.
    pub async fn start(config: TaobaoConfig) -> anyhow::Result<TaobaoEmulator> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                config,
                clock_ms: None,
                queue: Vec::new(),
                next_id: 4_380_000_000_000_001,
                connections: 0,
                open_connections: 0,
                drop_after_push: false,
                refuse_next: None,
                handshakes: Vec::new(),
                deliveries: Vec::new(),
                confirms: Vec::new(),
                failures: Vec::new(),
                pulls: 0,
                calls: Vec::new(),
                injected: VecDeque::new(),
                call_limits: HashMap::new(),
                trades: HashMap::new(),
                traces: HashMap::new(),
                on_confirm: None,
                on_call: None,
            }),
            enqueued: Notify::new(),
            drop_all: watch::channel(0).0,
            confirmed: watch::channel(0).0,
        });
        let for_router = Arc::clone(&shared);
        let router =
            LoopbackServer::start_sync(move |request| router::handle(&for_router, &request))
                .await?;
        let tmc = tmc::TmcServer::start(Arc::clone(&shared)).await?;
        Ok(TaobaoEmulator {
            shared,
            router,
            tmc,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// `http://127.0.0.1:PORT`: the router, instead of
    /// `https://gw.api.taobao.com`.
    pub fn api_base_url(&self) -> String {
        self.router.base_url()
    }

    /// `ws://127.0.0.1:PORT`: the TMC socket, instead of
    /// `ws://mc.api.taobao.com`.
    pub fn stream_url(&self) -> String {
        format!("ws://{}", self.tmc.addr())
    }

    /// Set the clock used for timestamp checks (Unix ms); `None` = system.
    pub fn set_clock_ms(&self, ms: Option<i64>) {
        self.with(|s| s.clock_ms = ms);
    }

    /// How long a delivered, unconfirmed message waits before redelivery.
    pub fn set_redeliver_after(&self, wait: Duration) {
        self.with(|s| s.config.redeliver_after = wait);
    }

    /// Queue a message on `topic` with `content` (JSON text); returns its id.
    pub fn enqueue(&self, topic: &str, content: &str) -> i64 {
        let id = self.with(|s| {
            let id = s.next_id;
            s.next_id += 1;
            let published_ms = s.now_ms();
            s.queue.push(Queued {
                message: TmcMessage {
                    id,
                    topic: topic.into(),
                    content: content.into(),
                    published_ms,
                },
                confirmed: false,
                delivered: None,
            });
            id
        });
        self.shared.enqueued.notify_waiters();
        id
    }

    /// Close the stream right after its next push, before reading any
    /// confirm (the client must redeliver-proof itself).
    pub fn drop_after_next_push(&self) {
        self.with(|s| s.drop_after_push = true);
    }

    /// Drop every open stream connection now.
    pub fn drop_connections(&self) {
        self.shared.drop_all.send_modify(|n| *n += 1);
    }

    /// Refuse the next CONNECT with `status` and `phrase`, whatever it says.
    pub fn refuse_next_connect(&self, status: u32, phrase: &str) {
        self.with(|s| s.refuse_next = Some((status, phrase.into())));
    }

    /// Call `hook` whenever the router has answered a TOP call (after it is
    /// recorded), e.g. to time it.
    pub fn on_call(&self, hook: impl Fn(&ApiCall) + Send + Sync + 'static) {
        self.with(|s| s.on_call = Some(Arc::new(hook)));
    }

    /// Call `hook` whenever a confirm arrives, before anything else happens.
    pub fn on_confirm(&self, hook: impl Fn(&Confirm) + Send + Sync + 'static) {
        self.with(|s| s.on_confirm = Some(Arc::new(hook)));
    }

    /// Answer the next `times` calls of `method` with error `code`.
    pub fn fail_next(
        &self,
        method: &str,
        times: u32,
        code: &str,
        msg: &str,
        sub_code: Option<&str>,
        sub_msg: Option<&str>,
    ) {
        self.with(|s| {
            s.injected.push_back(Injected {
                method: method.into(),
                remaining: times,
                code: code.into(),
                msg: msg.into(),
                sub_code: sub_code.map(str::to_string),
                sub_msg: sub_msg.map(str::to_string),
            })
        });
    }

    /// Allow `method` `calls` more successful calls, then answer code 7.
    pub fn limit_calls(&self, method: &str, calls: u32) {
        self.with(|s| s.call_limits.insert(method.into(), calls));
    }

    /// A trade `taobao.trade.fullinfo.get` returns for `tid`.
    pub fn add_trade(&self, tid: &str, trade: Value) {
        self.with(|s| s.trades.insert(tid.into(), trade));
    }

    /// A trace `taobao.logistics.trace.search` returns for `tid`.
    pub fn add_trace(&self, tid: &str, trace: Value) {
        self.with(|s| s.traces.insert(tid.into(), trace));
    }

    /// Every CONNECT answered, in order.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.with(|s| s.handshakes.clone())
    }

    /// Every delivery, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.with(|s| s.deliveries.clone())
    }

    /// Every confirm, in order.
    pub fn confirms(&self) -> Vec<Confirm> {
        self.with(|s| s.confirms.clone())
    }

    /// `__kind` 20 failures reported by the client: (id, reason).
    pub fn failures(&self) -> Vec<(i64, String)> {
        self.with(|s| s.failures.clone())
    }

    /// Pull requests received.
    pub fn pull_requests(&self) -> u32 {
        self.with(|s| s.pulls)
    }

    /// Stream connections accepted so far (refused ones included).
    pub fn connections(&self) -> u64 {
        self.with(|s| s.connections)
    }

    /// Every API call, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.with(|s| s.calls.clone())
    }

    /// The calls of `method`.
    pub fn calls_of(&self, method: &str) -> Vec<ApiCall> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }

    /// Whether message `id` is confirmed.
    pub fn is_confirmed(&self, id: i64) -> bool {
        self.with(|s| s.queue.iter().any(|q| q.message.id == id && q.confirmed))
    }

    /// Wait until `count` confirms arrived, or `timeout`.
    pub async fn wait_for_confirms(
        &self,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Confirm>> {
        let mut seen = self.shared.confirmed.subscribe();
        let wait = async {
            loop {
                if self.with(|s| s.confirms.len()) >= count {
                    return;
                }
                if seen.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            anyhow::anyhow!(
                "{count} confirms did not arrive within {timeout:?}: {:?}",
                self.confirms()
            )
        })?;
        Ok(self.confirms())
    }
}
