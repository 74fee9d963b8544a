//! Taobao TMC for load runs: the Taobao emulator holds the TMC WebSocket the
//! host connects to and the TOP router it looks orders up through. A
//! "message" is a paid order (`taobao_trade_TradeBuyerPay`) the platform
//! pushes on the stream; it is acknowledged when the host confirms it
//! (after its commit), and answered when the host looks the order up. The
//! platform pushes what was not confirmed again after a reconnect. Each
//! paid order is also thanked by proactive care (see [`crate::care`]).

use crate::driver::{Driven, Tally, new_histogram};
use crate::sends::Sends;
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tongdao_emulator_taobao::{TaobaoConfig, TaobaoEmulator};

/// The app's key.
pub const APP_KEY: &str = "12345678";
/// The app's secret.
pub const APP_SECRET: &str = "load-tmc-secret";
/// The seller's session.
pub const SESSION: &str = "load-session";
/// The TOP method of an order look-up.
pub const LOOK_UP: &str = "taobao.trade.fullinfo.get";
const TOPIC: &str = "taobao_trade_TradeBuyerPay";
/// Order ids are this plus the message index.
const FIRST_TID: u64 = 3_100_000_000_000_000_000;
/// Messages waiting for a confirm at most, when not paced.
const WINDOW_PER_CONNECTION: usize = 4;

/// The order id of message `index`.
pub fn tid(index: usize) -> String {
    (FIRST_TID + index as u64).to_string()
}

/// The message index of an order id.
pub fn index_of_tid(tid: &str) -> Option<usize> {
    tid.parse::<u64>()
        .ok()?
        .checked_sub(FIRST_TID)
        .map(|i| i as usize)
}

/// Start the emulator; look-ups are recorded as replies in `sends`.
pub async fn start(sends: Arc<Sends>) -> anyhow::Result<TaobaoEmulator> {
    let taobao = TaobaoEmulator::start(TaobaoConfig::new(APP_KEY, APP_SECRET, SESSION)).await?;
    taobao.set_redeliver_after(Duration::from_secs(3));
    taobao.on_call(move |call| {
        if call.method != LOOK_UP || call.error_code.is_some() {
            return;
        }
        // Orders created to meet care's buyers are not the run's.
        if call.param("tid").is_some_and(crate::care::is_setup_order) {
            return;
        }
        // A look-up made again after a crash reads twice; the customer sees
        // nothing of it.
        sends.record_first(call.param("tid").and_then(index_of_tid));
    });
    Ok(taobao)
}

/// What the stream driver shares with the emulator's confirm hook.
struct Progress {
    start: Instant,
    tally: Tally,
    ids: Mutex<HashMap<i64, usize>>,
    outstanding: AtomicUsize,
    latency: Mutex<Histogram<u64>>,
}

/// Push paid orders for `duration` (paced at `rate`, or keeping
/// `connections` × 4 unconfirmed), then wait up to `drain` for the rest to
/// be confirmed.
pub async fn drive(
    taobao: &TaobaoEmulator,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
    max_messages: usize,
    drain: Duration,
) -> Driven {
    let progress = Arc::new(Progress {
        start: Instant::now(),
        tally: Tally::new(max_messages),
        ids: Mutex::new(HashMap::new()),
        outstanding: AtomicUsize::new(0),
        latency: Mutex::new(new_histogram()),
    });
    let hook = Arc::clone(&progress);
    taobao.on_confirm(move |confirm| {
        let Some(index) = hook.ids.lock().expect("ids lock").get(&confirm.id).copied() else {
            return;
        };
        if !hook.tally.acked[index].swap(true, Ordering::Relaxed) {
            hook.outstanding.fetch_sub(1, Ordering::Relaxed);
            let now = hook.start.elapsed().as_micros() as u64;
            let due = hook.tally.first_due[index].load(Ordering::Relaxed);
            let _ = hook
                .latency
                .lock()
                .expect("latency lock")
                .record(now.saturating_sub(due).max(1));
        }
    });
    let window = connections.max(1) * WINDOW_PER_CONNECTION;
    let mut issued = 0;
    let mut last_due = 0;
    while issued < max_messages && progress.start.elapsed() < duration {
        let due = match rate {
            Some(rate) => {
                let due = (issued as f64 / rate * 1e6) as u64;
                tokio::time::sleep_until((progress.start + Duration::from_micros(due)).into())
                    .await;
                due
            }
            None => {
                while progress.outstanding.load(Ordering::Relaxed) >= window {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                progress.start.elapsed().as_micros() as u64
            }
        };
        let tid = tid(issued);
        taobao.add_trade(
            &tid,
            json!({"tid": FIRST_TID + issued as u64, "status": "WAIT_SELLER_SEND_GOODS", "payment": "99.00"}),
        );
        progress.tally.first_due[issued].store(due, Ordering::Relaxed);
        progress.outstanding.fetch_add(1, Ordering::Relaxed);
        let content = json!({
            "tid": FIRST_TID + issued as u64, "oid": FIRST_TID + issued as u64,
            "buyer_nick": "t**1", "buyer_open_uid": crate::care::buyer(issued),
            "payment": "99.00", "status": "WAIT_SELLER_SEND_GOODS",
            "type": "guarantee_trade", "seller_nick": "load_shop"
        });
        // The id is known only after enqueueing; the confirm cannot come
        // before the host is handed the message, which needs the lock the
        // map insert takes first.
        let mut ids = progress.ids.lock().expect("ids lock");
        let id = taobao.enqueue(TOPIC, &content.to_string());
        ids.insert(id, issued);
        drop(ids);
        last_due = due;
        issued += 1;
    }
    let deadline = Instant::now() + drain;
    while progress.outstanding.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let latency = progress.latency.lock().expect("latency lock").clone();
    progress.tally.driven(
        issued,
        latency,
        taobao.deliveries().len() as u64,
        Duration::from_micros(last_due.max(1)),
    )
}
