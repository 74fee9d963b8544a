//! Learning from agents, end to end over the WeChat Official Account:
//! questions the bot cannot answer go to an agent, who answers them through
//! the admin API; the supervisor's suggestions group them, with the agent's
//! reply as the proposed answer; accepting the suggestion edits the
//! knowledge-base file in place (its comments kept) and the running host
//! answers the same question from then on, without a restart.

use serde_json::{Value, json};
use std::time::Duration;
use tongdao::responder::HAND_OVER_REPLY;
use tongdao_e2e::harness::{TestHost, eventually, example_knowledge_base, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const HOOK: &str = "/hooks/wechat/demo-oa";
const ANSWER: &str = "亲，这款是100%纯棉面料的，亲肤透气～";

fn config(api: &WechatApiEmulator, knowledge_base: &std::path::Path) -> String {
    format!(
        "[bot]\nknowledge_base = \"{}\"\n\n{}\n[admin]\nassignment = \"least-loaded\"\n\n[[agents]]\nid = \"mei\"\nshops = [\"demo-oa\"]\nmax_concurrent = 10\n\n[[agents]]\nid = \"boss\"\nrole = \"supervisor\"\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        knowledge_base.display(),
        plugin_entry("wechat"),
        api.base_url()
    )
}

async fn customer_says(
    host: &TestHost,
    api: &WechatApiEmulator,
    openid: &str,
    text: &str,
    id: u64,
) {
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(openid, now);
    let pusher = WechatPusher::new("spamtest", APP_ID, None);
    let push = pusher.plaintext(HOOK, &pusher.text_xml_at(openid, now, text, id));
    let answer = push
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
}

async fn admin(host: &TestHost, who: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/admin/{path}", host.base_url);
    let request = match method {
        "GET" => client.get(&url),
        _ => client.post(&url).json(&body),
    };
    let credential = format!("{who}:{who}-password-0001");
    let response = request.bearer_auth(credential).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_questions_answered_by_agents_become_an_intent_the_bot_answers() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let knowledge_base = dir.path().join("retail.toml");
    std::fs::copy(example_knowledge_base(), &knowledge_base).unwrap();
    let host = TestHost::start(&config(&api, &knowledge_base)).await;
    for agent in ["mei", "boss"] {
        let password = format!("{agent}-password-0001");
        tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(&password)).unwrap();
    }

    // Three customers ask what the knowledge base does not cover: each is
    // told a person will answer, and is handed to mei.
    let asked = [
        ("oCotton0000000000001", "这件卫衣是纯棉的吗"),
        ("oCotton0000000000002", "面料是不是纯棉的"),
        ("oCotton0000000000003", "纯棉吗这款T恤"),
    ];
    for (n, (customer, question)) in asked.iter().enumerate() {
        customer_says(&host, &api, customer, question, 5001 + n as u64).await;
    }
    let sent = api
        .wait_for_messages(3, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        sent.iter()
            .all(|m| m.text.as_deref() == Some(HAND_OVER_REPLY)),
        "{sent:#?}"
    );
    for (customer, _) in &asked {
        eventually("the customer to reach mei", Duration::from_secs(10), || {
            let handoff = host.state().store.handoff("demo-oa", customer).unwrap()?;
            (handoff.agent() == Some("mei")).then_some(())
        })
        .await;
    }

    // mei answers two of them; the third gets a different wording.
    for (n, (customer, _)) in asked.iter().enumerate() {
        let text = if n < 2 { ANSWER } else { "是纯棉的亲" };
        let (status, body) = admin(
            &host,
            "mei",
            "POST",
            &format!("shops/demo-oa/conversations/{customer}/reply"),
            json!({ "agent": "mei", "text": text }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    api.wait_for_messages(6, Duration::from_secs(10))
        .await
        .unwrap();

    // The supervisor sees one suggested intent: the three questions, with
    // the reply given most often as its answer. Agents may not ask.
    let (status, _) = admin(&host, "mei", "GET", "kb/suggestions", json!({})).await;
    assert_eq!(status, 403);
    let (status, body) = admin(
        &host,
        "boss",
        "GET",
        "kb/suggestions?min_count=2",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let suggestions = body["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{body}");
    let suggestion = &suggestions[0];
    assert_eq!(suggestion["kind"], "new-intent", "{body}");
    assert_eq!(suggestion["count"], 3, "{body}");
    assert_eq!(suggestion["answer"], ANSWER, "{body}");
    assert_eq!(suggestion["answer_count"], 2, "{body}");

    // Accepted under a proper name: the file gains the intent and keeps
    // its comments; a broken edit is refused and changes nothing.
    let (status, body) = admin(
        &host,
        "boss",
        "POST",
        "kb/accept",
        json!({ "kind": "new-intent", "id": "ship_time", "answer": "x", "questions": ["y"] }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = admin(
        &host,
        "boss",
        "POST",
        "kb/accept",
        json!({
            "kind": "new-intent",
            "id": "fabric",
            "scenario": "售前",
            "name": "面料材质",
            "answer": suggestion["answer"],
            "questions": suggestion["questions"],
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let text = std::fs::read_to_string(&knowledge_base).unwrap();
    assert!(
        text.starts_with("# A retail knowledge base"),
        "comments kept"
    );
    assert!(text.contains("id = \"fabric\""), "{text}");

    // A new customer asking the same thing is answered by the bot, at once.
    customer_says(
        &host,
        &api,
        "oCotton0000000000004",
        "这件卫衣是纯棉的吗",
        5010,
    )
    .await;
    let sent = api
        .wait_for_messages(7, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[6].text.as_deref(), Some(ANSWER), "{sent:#?}");
    host.stop().await;
}
