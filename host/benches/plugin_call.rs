//! Per-call cost of plugins with a fresh instance per call, in one run so the
//! figures are comparable on a noisy machine:
//!
//! - `hostile ok`: a plugin that parses nothing (instantiation + call floor);
//! - `wechat plaintext`: verify the signature, parse XML, normalize a text message;
//! - `wechat safe mode`: the same plus msg_signature and AES-256-CBC decryption;
//! - `wechat render send`: render a 客服消息 request with a cached token;
//! - `douyin push`: verify a 抖店 push's event-sign, parse the JSON array,
//!   normalize a paid order;
//! - `tmall tmc frame`: decode a binary top-link frame, normalize a paid
//!   trade, render its confirm;
//! - `jd chat-log page`: parse a JOS chat-log answer into a message and the
//!   next cursor;
//! - `starter push (0.1.0)` against `signer push (0.2.0)`: a small JSON push
//!   checked with a token the plugin reads, against one checked with an
//!   HMAC-SHA256 the host computes with a secret the plugin never reads
//!   (what contract 0.2.0's context split and `secrets` import cost).
//!
//! Run with `cargo bench -p tongdao --bench plugin_call` after
//! `scripts/build-plugins`. Reports mean, p50 and p99 in microseconds, single
//! caller on the calling thread, then calls/s through the async path with
//! concurrent callers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tongdao::contract::v0_1::wit::{Pair, StateEntry};
use tongdao::model::{
    Action, ActionKind, Content, Frame, HttpRequest, PollOutcome, PollRequest, ShopContext,
};
use tongdao::runtime::{LoadedPlugin, Runtime, RuntimeLimits};

const ITERATIONS: usize = 5_000;

fn plugin(runtime: &Runtime, name: &str) -> Arc<LoadedPlugin> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins")
        .join(format!("{name}.wasm"));
    runtime
        .load(&path)
        .unwrap_or_else(|err| panic!("{err}: run scripts/build-plugins first"))
}

fn pair(name: &str, value: &str) -> Pair {
    Pair {
        name: name.into(),
        value: value.into(),
    }
}

fn wechat_ctx(now_ms: i64) -> ShopContext {
    ShopContext {
        shop_id: "demo-oa".into(),
        credentials: vec![
            pair("app_id", "wx2c2769f8efd9abc2"),
            pair("app_secret", "demo-app-secret"),
            pair("token", "spamtest"),
            pair(
                "encoding_aes_key",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
        ],
        settings: vec![pair("message_mode", "compatible")],
        state: vec![StateEntry {
            key: "access_token".into(),
            value: "ACCESS_TOKEN_FOR_BENCH".into(),
            expires_at_ms: Some(now_ms + 3_600_000),
        }],
        now_ms,
    }
}

fn shop_ctx(
    shop: &str,
    credentials: &[(&str, &str)],
    state: &[(&str, &str)],
    now_ms: i64,
) -> ShopContext {
    ShopContext {
        shop_id: shop.into(),
        credentials: credentials.iter().map(|(k, v)| pair(k, v)).collect(),
        settings: vec![],
        state: state
            .iter()
            .map(|(key, value)| StateEntry {
                key: (*key).into(),
                value: (*value).into(),
                expires_at_ms: None,
            })
            .collect(),
        now_ms,
    }
}

/// The bytes of an example recording under examples/requests.
fn recording(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/requests")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// An example recorded request under examples/requests.
fn recorded(name: &str) -> HttpRequest {
    tongdao::replay::parse_raw_request(&recording(name)).unwrap()
}

struct Stats {
    mean: f64,
    p50: f64,
    p99: f64,
}

fn measure(mut call: impl FnMut()) -> Stats {
    for _ in 0..200 {
        call();
    }
    let mut samples: Vec<f64> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    Stats {
        mean: samples.iter().sum::<f64>() / samples.len() as f64,
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn report(name: &str, stats: &Stats) {
    println!(
        "{name:<24} mean {:>8.1} µs   p50 {:>8.1} µs   p99 {:>8.1} µs",
        stats.mean, stats.p50, stats.p99
    );
}

fn main() {
    let limits = RuntimeLimits {
        call_timeout: Duration::from_millis(500),
        memory_bytes: 64 << 20,
        max_output_bytes: 4 << 20,
        max_concurrent_calls: 64,
        reserved_work_calls: 16,
    };
    let runtime = Runtime::new(limits, None).unwrap();
    let hostile = plugin(&runtime, "hostile");
    let wechat = plugin(&runtime, "wechat");
    // Recorded traffic carries its own timestamp: run the clock at that time.
    let at_ms = 1_714_037_059_000;

    let ok_ctx = ShopContext {
        shop_id: "x".into(),
        credentials: vec![],
        settings: vec![],
        state: vec![],
        now_ms: at_ms,
    };
    let floor = measure(|| {
        runtime
            .handle_push_blocking(
                &hostile,
                ok_ctx.clone(),
                HttpRequest {
                    method: "POST".into(),
                    url: "/".into(),
                    headers: vec![],
                    body: vec![],
                },
            )
            .unwrap();
    });
    report("hostile ok (floor)", &floor);

    let starter = plugin(&runtime, "starter");
    let signer = plugin(&runtime, "signer");
    let message = br#"{"id":"m1","from":"u1","text":"hello","time_ms":1714037059000}"#.to_vec();
    let starter_push = HttpRequest {
        method: "POST".into(),
        url: "/hooks/starter/x".into(),
        headers: vec![pair("x-token", "s3cret")],
        body: message.clone(),
    };
    let starter_ctx = shop_ctx("x", &[("token", "s3cret")], &[], at_ms);
    let starter_stats = measure(|| {
        let result = runtime
            .handle_push_blocking(&starter, starter_ctx.clone(), starter_push.clone())
            .unwrap();
        assert_eq!(result.events.len(), 1);
    });
    report("starter push (0.1.0)", &starter_stats);
    let signature = {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"push-key").unwrap();
        mac.update(format!("{}\n", at_ms / 1000).as_bytes());
        mac.update(&message);
        hex::encode(mac.finalize().into_bytes())
    };
    let signer_push = HttpRequest {
        method: "POST".into(),
        url: "/hooks/signer/x".into(),
        headers: vec![
            pair("x-app-id", "app"),
            pair("x-timestamp", &(at_ms / 1000).to_string()),
            pair("x-signature", &signature),
        ],
        body: message,
    };
    let signer_ctx = shop_ctx(
        "x",
        &[
            ("app_id", "app"),
            ("signing_key", "push-key"),
            ("api_secret", "s"),
        ],
        &[],
        at_ms,
    );
    let signer_stats = measure(|| {
        let result = runtime
            .handle_push_blocking(&signer, signer_ctx.clone(), signer_push.clone())
            .unwrap();
        assert_eq!(result.events.len(), 1);
    });
    report("signer push (0.2.0)", &signer_stats);

    let text = recorded("wechat-text.http");
    let plain = measure(|| {
        let result = runtime
            .handle_push_blocking(&wechat, wechat_ctx(at_ms), text.clone())
            .unwrap();
        assert_eq!(result.events.len(), 1);
    });
    report("wechat plaintext", &plain);

    let safe = recorded("wechat-safe-mode.http");
    let safe_stats = measure(|| {
        let result = runtime
            .handle_push_blocking(&wechat, wechat_ctx(at_ms), safe.clone())
            .unwrap();
        assert_eq!(result.events.len(), 1);
    });
    report("wechat safe mode", &safe_stats);

    let action = Action {
        idempotency_key: "0190f5c2a3b47c1d8e9f0a1b2c3d4e5f".into(),
        conversation_id: "oyORnuP8q7ou2gfYjqLzSIWZf0rs".into(),
        recipient: "oyORnuP8q7ou2gfYjqLzSIWZf0rs".into(),
        route: vec![],
        kind: ActionKind::SendMessage(Content::Text("亲，您可以在订单详情里查看实时物流～".into())),
        attempt: 1,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let render = measure(|| {
        tokio
            .block_on(runtime.render_action(&wechat, wechat_ctx(at_ms), action.clone()))
            .unwrap();
    });
    report("wechat render send*", &render);

    let douyin = plugin(&runtime, "douyin");
    let douyin_ctx = shop_ctx(
        "demo-doudian",
        &[
            ("app_key", "7000000000000000001"),
            ("app_secret", "test_secret"),
        ],
        &[],
        at_ms,
    );
    let paid = recorded("douyin-order-paid.http");
    let douyin_push = measure(|| {
        let result = runtime
            .handle_push_blocking(&douyin, douyin_ctx.clone(), paid.clone())
            .unwrap();
        assert_eq!(result.events.len(), 1);
    });
    report("douyin push", &douyin_push);

    let tmall = plugin(&runtime, "tmall");
    let tmall_ctx = shop_ctx(
        "demo-tmall",
        &[("app_key", "12345678"), ("app_secret", "helloworld")],
        &[("tmc_token", "bench-token")],
        at_ms,
    );
    let frame = Frame::Binary(recording("tmall-order-paid.frame"));
    let tmc_frame = measure(|| {
        let result = tokio
            .block_on(runtime.handle_frame(&tmall, tmall_ctx.clone(), frame.clone()))
            .unwrap();
        assert_eq!((result.events.len(), result.acks.len()), (1, 1));
    });
    report("tmall tmc frame*", &tmc_frame);

    let jd = plugin(&runtime, "jd");
    let jd_ctx = shop_ctx(
        "demo-jd",
        &[
            ("app_key", "JDAPPKEY0001"),
            ("app_secret", "jd-app-secret"),
            ("access_token", "demo-jd-token"),
        ],
        &[],
        1_714_037_359_000,
    );
    let jd_poll = PollRequest {
        feed: "chatlog".into(),
        cursor: Some(r#"{"since":1714036759000,"round":{"from":1714036939000,"to":1714037359000,"session_page":null,"customers":["jd_buyer_0001"],"chat_page":1}}"#.into()),
        hint_token: None,
    };
    let page =
        tongdao::replay::parse_raw_response(&recording("jd-question.response.http")).unwrap();
    let jd_page = measure(|| {
        let result = tokio
            .block_on(runtime.parse_poll(
                &jd,
                jd_ctx.clone(),
                jd_poll.clone(),
                "chatlog:1714036939000:1714037359000:1".into(),
                page.clone(),
            ))
            .unwrap();
        assert!(matches!(result.outcome, PollOutcome::Page(ref p) if p.events.len() == 1));
    });
    report("jd chat-log page*", &jd_page);
    println!("  * through the async path (permit, timeout, epoch yields), one caller");

    println!(
        "ratio safe-mode / plaintext: {:.2}; plaintext / floor: {:.2}",
        safe_stats.p50 / plain.p50,
        plain.p50 / floor.p50
    );

    let handoff = measure(|| {
        tokio.block_on(async { tokio::task::spawn_blocking(|| 1).await.unwrap() });
    });
    report("spawn_blocking floor", &handoff);
    let direct_in_blocking = measure(|| {
        let (runtime, wechat, text) = (runtime.clone(), wechat.clone(), text.clone());
        tokio.block_on(async move {
            tokio::task::spawn_blocking(move || {
                runtime
                    .handle_push_blocking(&wechat, wechat_ctx(at_ms), text)
                    .unwrap()
            })
            .await
            .unwrap()
        });
    });
    report("push in spawn_blocking", &direct_in_blocking);
    let async_push = measure(|| {
        tokio
            .block_on(runtime.handle_push(&wechat, wechat_ctx(at_ms), text.clone()))
            .unwrap();
    });
    report("async push", &async_push);

    // Throughput through the async path with concurrent callers.
    for callers in [1usize, 2, 8] {
        let calls_per_caller = 2_000;
        let started = Instant::now();
        tokio.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..callers {
                let (runtime, wechat, text) = (runtime.clone(), wechat.clone(), text.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..calls_per_caller {
                        runtime
                            .handle_push(&wechat, wechat_ctx(at_ms), text.clone())
                            .await
                            .unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "async wechat plaintext, {callers} caller(s): {:>8.0} calls/s",
            (callers * calls_per_caller) as f64 / elapsed
        );
    }
}
