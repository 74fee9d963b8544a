//! The runtime's hard limits against the hostile test plugin, built from
//! source by `cargo xtask plugins`: a loop, unbounded memory growth, a trap
//! and oversized output each fail their own call with a clear error, and the
//! same runtime keeps serving well-behaved calls.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tongdao::runtime::bindings::tongdao::channel::types::{HttpRequest, Pair, ShopContext};
use tongdao::runtime::{CallError, Runtime, RuntimeLimits};

fn plugin_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cargo xtask plugins` (scripts/test does)",
        path.display()
    );
    path
}

fn limits() -> RuntimeLimits {
    RuntimeLimits {
        call_timeout: Duration::from_millis(200),
        memory_bytes: 48 << 20,
        max_output_bytes: 1 << 20,
        max_concurrent_calls: 4,
        reserved_work_calls: 1,
    }
}

fn ctx(mode: &str) -> ShopContext {
    ShopContext {
        shop_id: format!("hostile-{mode}"),
        credentials: vec![],
        settings: vec![Pair {
            name: "mode".into(),
            value: mode.into(),
        }],
        state: vec![],
        now_ms: 1_700_000_000_000,
    }
}

fn request() -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: "/hooks/hostile/x".into(),
        headers: vec![],
        body: b"hello".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_misbehaviour_fails_its_own_call_and_the_runtime_keeps_serving() {
    let runtime = Runtime::new(limits(), None).unwrap();
    let plugin = runtime.load(&plugin_path("hostile")).unwrap();
    assert_eq!(plugin.name, "hostile");

    let started = Instant::now();
    let err = runtime
        .handle_push(&plugin, ctx("loop"), request())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CallError::Timeout {
            limit: Duration::from_millis(200)
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the loop was stopped promptly"
    );

    let err = runtime
        .handle_push(&plugin, ctx("grow"), request())
        .await
        .unwrap_err();
    assert_eq!(err, CallError::MemoryExceeded { limit: 48 << 20 });

    let err = runtime
        .handle_push(&plugin, ctx("trap"), request())
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Trapped(_)), "{err:?}");
    assert!(err.to_string().contains("trapped"), "{err}");

    let err = runtime
        .handle_push(&plugin, ctx("big"), request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::OutputTooLarge { limit: 1_048_576, size } if size > 16 << 20),
        "{err:?}"
    );

    // Tiny elements in huge numbers count for their number, not just their
    // bytes: each element and record costs a fixed overhead.
    for mode in ["empties", "many-events"] {
        let result = runtime.handle_push(&plugin, ctx(mode), request()).await;
        // (An accepted result is far too long to print.)
        let err = result.err().unwrap_or_else(|| panic!("{mode}: accepted"));
        assert!(
            matches!(
                err,
                CallError::OutputTooLarge {
                    limit: 1_048_576,
                    ..
                }
            ),
            "{mode}: {err:?}"
        );
    }

    for _ in 0..3 {
        let ok = runtime
            .handle_push(&plugin, ctx("ok"), request())
            .await
            .unwrap();
        assert_eq!(ok.response.status, 200);
        assert_eq!(ok.response.body, b"ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_call_does_not_block_other_calls() {
    let runtime = Runtime::new(limits(), None).unwrap();
    let plugin = runtime.load(&plugin_path("hostile")).unwrap();
    let looping = {
        let (runtime, plugin) = (runtime.clone(), plugin.clone());
        tokio::spawn(async move { runtime.handle_push(&plugin, ctx("loop"), request()).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    let ok = runtime
        .handle_push(&plugin, ctx("ok"), request())
        .await
        .unwrap();
    assert_eq!(ok.response.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "a healthy call waited {:?} behind a looping one",
        started.elapsed()
    );
    assert!(matches!(
        looping.await.unwrap(),
        Err(CallError::Timeout { .. })
    ));
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(limits(), Some(cache.path().to_path_buf())).unwrap();
    runtime.load(&plugin_path("hostile")).unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "one compiled component in the cache");
    // A second runtime loads from the cache and still works.
    let again = Runtime::new(limits(), Some(cache.path().to_path_buf())).unwrap();
    let plugin = again.load(&plugin_path("hostile")).unwrap();
    let ok = again
        .handle_push_blocking(&plugin, ctx("ok"), request())
        .unwrap();
    assert_eq!(ok.response.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_webhooks_leaves_a_call_slot_for_delivery() {
    use tongdao::model::{Action, ActionKind, Content};
    let runtime = Runtime::new(limits(), None).unwrap();
    let plugin = runtime.load(&plugin_path("hostile")).unwrap();
    // More looping webhooks than there are slots.
    let flood: Vec<_> = (0..6)
        .map(|_| {
            let (runtime, plugin) = (runtime.clone(), plugin.clone());
            tokio::spawn(async move { runtime.handle_push(&plugin, ctx("loop"), request()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let action = Action {
        idempotency_key: "k".into(),
        conversation_id: "c".into(),
        recipient: "c".into(),
        route: vec![],
        kind: ActionKind::SendMessage(Content::Text("hi".into())),
        attempt: 0,
    };
    // The hostile plugin cannot send; what matters is that the call runs
    // now, in the reserved slot, while every webhook slot is looping.
    let rendered = runtime.render_action(&plugin, ctx("ok"), action).await;
    assert!(
        !matches!(rendered, Err(CallError::Timeout { .. })),
        "{rendered:?}"
    );
    assert!(
        flood.iter().filter(|task| !task.is_finished()).count() >= 3,
        "the work call ran while webhooks held their slots"
    );
    for task in flood {
        assert!(matches!(
            task.await.unwrap(),
            Err(CallError::Timeout { .. })
        ));
    }
}
