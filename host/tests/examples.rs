//! The recorded platform traffic in examples/requests, replayed through the
//! real plugins with `tongdao replay` as examples/requests/replays.toml lists
//! it: every recording is listed, yields what its entry says, and the
//! recordings of one scenario on different platforms (a customer's question,
//! a paid order) normalize to events that differ only in platform fields.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn requests_dir() -> PathBuf {
    workspace().join("examples/requests")
}

/// One entry of replays.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recording {
    file: String,
    shop: String,
    at: Option<i64>,
    feed: Option<String>,
    step: Option<String>,
    cursor: Option<String>,
    #[serde(default)]
    state: BTreeMap<String, String>,
    events: Option<usize>,
    status: Option<u16>,
    error: Option<String>,
    hints: Option<usize>,
    acks: Option<usize>,
    poll_step: Option<String>,
    closes: Option<bool>,
    conformance: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    recording: Vec<Recording>,
}

fn index() -> Index {
    let path = requests_dir().join("replays.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Runs `tongdao replay` for one entry; returns the exit code and document.
fn replay(recording: &Recording) -> (Option<i32>, Value) {
    let mut args: Vec<String> = vec![
        "replay".into(),
        "--config".into(),
        "examples/brand.toml".into(),
        "--shop".into(),
        recording.shop.clone(),
    ];
    let options = [
        ("--at", recording.at.map(|at| at.to_string())),
        ("--feed", recording.feed.clone()),
        ("--step", recording.step.clone()),
        ("--cursor", recording.cursor.clone()),
    ];
    for (flag, value) in options {
        if let Some(value) = value {
            args.push(flag.into());
            args.push(value);
        }
    }
    for (key, value) in &recording.state {
        args.push("--state".into());
        args.push(format!("{key}={value}"));
    }
    args.push(format!("examples/requests/{}", recording.file));
    let output = Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(&args)
        .current_dir(workspace())
        .env("TONGDAO_LOG", "warn")
        .output()
        .expect("running tongdao");
    let document = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{}: not JSON ({err}); stderr: {}",
            recording.file,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), document)
}

/// The events of a replay document, whatever kind of recording it was.
fn events_of(document: &Value) -> Vec<Value> {
    let events = document
        .get("events")
        .or_else(|| document.pointer("/outcome/page/events"));
    events
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn check(recording: &Recording) -> Result<(), String> {
    let (code, document) = replay(recording);
    let fail = |what: String| Err(format!("{}: {what}\n{document:#}", recording.file));
    if let Some(kind) = &recording.error {
        if code != Some(2) || document["error"]["kind"] != kind.as_str() {
            return fail(format!("expected a refusal of kind {kind}"));
        }
        if document.get("events").is_some() {
            return fail("a refusal must carry no events".into());
        }
        return Ok(());
    }
    if code != Some(0) {
        return fail(format!("exit code {code:?}"));
    }
    if let Some(expected) = recording.events {
        let got = events_of(&document).len();
        if got != expected {
            return fail(format!("{got} event(s), expected {expected}"));
        }
    }
    if let Some(status) = recording.status
        && document["response"]["status"] != status
    {
        return fail(format!("expected answer status {status}"));
    }
    if let Some(hints) = recording.hints {
        let got = document["poll_hints"].as_array().map_or(0, Vec::len);
        if got != hints {
            return fail(format!("{got} poll hint(s), expected {hints}"));
        }
    }
    if let Some(acks) = recording.acks {
        let got = document
            .get("acks")
            .or_else(|| document.pointer("/outcome/page/acks"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if got != acks {
            return fail(format!("{got} ack(s), expected {acks}"));
        }
    }
    if let Some(closes) = recording.closes
        && document["close"].is_string() != closes
    {
        return fail(format!("expected the stream to be closed: {closes}"));
    }
    if let Some(step) = &recording.poll_step {
        let got = document.pointer("/outcome/step");
        let matches = match got {
            Some(Value::String(label)) => label == step,
            Some(Value::Object(map)) => map.contains_key(step),
            _ => false,
        };
        if !matches {
            return fail(format!("expected the poll step {step}"));
        }
    }
    Ok(())
}

fn assert_plugins_built() {
    assert!(
        workspace().join("target/plugins/wechat.wasm").exists(),
        "build the plugins first with `scripts/build-plugins` (scripts/test does this)"
    );
}

#[test]
fn every_recording_is_listed_and_yields_what_its_entry_says() {
    assert_plugins_built();
    let index = index();
    let listed: BTreeSet<&str> = index.recording.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(
        listed.len(),
        index.recording.len(),
        "a file is listed twice"
    );
    for entry in std::fs::read_dir(requests_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "replays.toml" {
            assert!(
                listed.contains(name.as_str()),
                "examples/requests/{name} is not listed in replays.toml"
            );
        }
    }
    let failures: Vec<String> = index
        .recording
        .iter()
        .filter_map(|recording| check(recording).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Removes what legitimately differs between platforms: ids, times, routes,
/// the platform's own topic, status, keys and payload, and who the customer
/// is on that platform.
fn without_platform_fields(mut event: Value) -> Value {
    let object = event.as_object_mut().unwrap();
    for field in [
        "platform_id",
        "conversation_id",
        "platform_time_ms",
        "route",
    ] {
        assert!(object.remove(field).is_some(), "event without {field}");
    }
    if let Some(message) = object.get_mut("body").and_then(|b| b.get_mut("Message")) {
        message.as_object_mut().unwrap().remove("author");
    }
    if let Some(commerce) = object.get_mut("body").and_then(|b| b.get_mut("Commerce")) {
        let commerce = commerce.as_object_mut().unwrap();
        for field in [
            "topic",
            "business_key",
            "order_id",
            "refund_id",
            "customer",
            "status",
            "detail_json",
        ] {
            commerce.remove(field);
        }
    }
    event
}

#[test]
fn one_scenario_normalizes_alike_on_every_platform() {
    assert_plugins_built();
    let mut by_scenario: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for recording in index().recording {
        let Some(scenario) = recording.conformance.clone() else {
            continue;
        };
        let (code, document) = replay(&recording);
        assert_eq!(code, Some(0), "{}: {document:#}", recording.file);
        let events = events_of(&document);
        assert_eq!(events.len(), 1, "{}: {document:#}", recording.file);
        let plugin = document["plugin"].as_str().unwrap().to_owned();
        by_scenario
            .entry(scenario)
            .or_default()
            .push((plugin, events[0].clone()));
    }
    // Every platform that carries the scenario has a recording of it: the
    // chat platforms a question, the commerce platforms a paid order.
    let platforms = |scenario: &str| -> BTreeSet<String> {
        by_scenario
            .get(scenario)
            .map(|events| events.iter().map(|(plugin, _)| plugin.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        platforms("question"),
        BTreeSet::from(["jd", "wechat", "wecom"].map(String::from))
    );
    assert_eq!(
        platforms("order-paid"),
        BTreeSet::from(["douyin", "jd", "tmall"].map(String::from))
    );
    let question = &by_scenario["question"];
    let question_text = &question[0].1["body"]["Message"]["content"]["Text"];
    assert_eq!(question_text, "我的快递到哪了");
    for (scenario, events) in &by_scenario {
        let (first_plugin, first) = &events[0];
        let reference = without_platform_fields(first.clone());
        for (plugin, event) in &events[1..] {
            assert_eq!(
                without_platform_fields(event.clone()),
                reference,
                "{scenario}: {plugin} differs from {first_plugin} beyond platform fields"
            );
        }
    }
    let paid = &by_scenario["order-paid"][0].1;
    assert_eq!(paid["body"]["Commerce"]["kind"], "OrderPaid");
    assert_eq!(paid["body"]["Commerce"]["amount"], "99.00");
}
