//! The voice-of-the-customer report end to end: customers of a WeChat shop
//! ask about shipping, ask what the knowledge base does not know, and one
//! threatens a complaint about an order; an agent answers and closes it.
//! The admin API's report (JSON and CSV) counts the questions by intent and
//! scenario, the negative message, the threat and its alert, the complaint
//! by order state, groups the unknown questions, and credits the agent's
//! first response and handling; closing it invites the customer to rate
//! the service, and the rating is credited to her. Its figures come from the tallies kept as
//! the messages were decided, so they survive a restart unchanged.

use serde_json::{Value, json};
use std::time::Duration;
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const ADMIN_TOKEN: &str = "voc-report-admin-token-0123";

fn config(api: &WechatApiEmulator) -> String {
    format!(
        "{}\n{}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\nassignment = \"least-loaded\"\n\n[[agents]]\nid = \"mei\"\nshops = [\"demo-oa\"]\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\ncsat_invite = true\n",
        bot_entry(),
        plugin_entry("wechat"),
        api.base_url()
    )
}

async fn say(host: &TestHost, api: &WechatApiEmulator, openid: &str, text: &str, id: u64) {
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(openid, now);
    let pusher = WechatPusher::new("spamtest", APP_ID, None);
    let push = pusher.plaintext(
        "/hooks/wechat/demo-oa",
        &pusher.text_xml_at(openid, now, text, id),
    );
    let answer = push
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
}

async fn call(
    host: &TestHost,
    credential: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let url = format!("{}/admin/{path}", host.base_url);
    let request = match method {
        "GET" => client.get(&url),
        _ => client.post(&url).json(&body),
    };
    let response = request.bearer_auth(credential).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_what_customers_asked_felt_and_complained_about_and_how_agents_served() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    tongdao::auth::credentials::set_secret(&host.data_dir(), "mei", Some("mei-password-123"))
        .unwrap();
    let mei = "mei:mei-password-123";

    for i in 0..6u64 {
        say(
            &host,
            &api,
            &format!("oShipAsker{i:010}"),
            "今天能发货吗",
            100 + i,
        )
        .await;
    }
    say(
        &host,
        &api,
        "oOddQuestion00000001",
        "请问公司的股票代码是什么",
        200,
    )
    .await;
    say(
        &host,
        &api,
        "oOddQuestion00000002",
        "公司上市了吗股票代码多少",
        201,
    )
    .await;
    let angry = "oAngryCustomer000001";
    say(&host, &api, angry, "你们这是欺诈，我要去12315投诉！", 300).await;
    host.decided().await;

    // mei has the angry customer (least-loaded assignment): she answers and
    // closes the conversation.
    let path = |verb: &str| format!("shops/demo-oa/conversations/{angry}/{verb}");
    eventually(
        "mei to have the angry customer",
        Duration::from_secs(10),
        || {
            host.state()
                .store
                .handoff("demo-oa", angry)
                .unwrap()
                .filter(|h| matches!(h.state, tongdao::model::HandoffState::Assigned { .. }))
        },
    )
    .await;
    let (status, body) = call(
        &host,
        mei,
        "POST",
        &path("reply"),
        json!({"text": "非常抱歉，我马上为您处理"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&host, mei, "POST", &path("close"), json!({})).await;
    assert_eq!(status, 200, "{body}");

    // Closing invites the customer to rate mei's service; the answer is
    // thanked and credited to her (not counted as a question).
    eventually("the invitation to rate", Duration::from_secs(10), || {
        api.sent_messages()
            .iter()
            .any(|m| m.touser == angry && m.text.as_deref() == Some(tongdao::csat::INVITATION))
            .then_some(())
    })
    .await;
    say(&host, &api, angry, "5分，客服很耐心", 301).await;
    eventually("the thanks", Duration::from_secs(10), || {
        api.sent_messages()
            .iter()
            .any(|m| m.touser == angry && m.text.as_deref() == Some(tongdao::csat::THANKS))
            .then_some(())
    })
    .await;
    host.settled().await;

    let today = tongdao::model::date_of_day(tongdao::report::today());
    let query = format!("report?from={today}&to={today}");
    let (status, body) = call(&host, ADMIN_TOKEN, "GET", &query, Value::Null).await;
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let total = &report["total"];
    assert_eq!(total["messages"], 10, "{report:#}");
    assert_eq!(total["intents"]["ship_time"], 6, "{report:#}");
    assert_eq!(total["intents"]["(unknown)"], 2, "{report:#}");
    assert_eq!(total["scenarios"]["售前"], 6, "{report:#}");
    assert_eq!(
        (total["negative"].clone(), total["threats"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(total["alerts"], 1, "{report:#}");
    // The bot settled the six shipping questions of its eight (the threat
    // went to people, the odd questions were not answered).
    assert_eq!(total["bot_settled"], 6, "{report:#}");
    assert_eq!(total["bot_questions"], 9, "{report:#}");
    assert_eq!(
        report["complaints_by_order_state"]["(unknown)"], 1,
        "{report:#}"
    );
    let clusters = report["unknown_clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{report:#}");
    assert_eq!(clusters[0]["count"], 2, "{report:#}");
    let agent = &report["agents"][0];
    assert_eq!(agent["agent"], "mei");
    assert_eq!(
        (agent["first_responses"].clone(), agent["handled"].clone()),
        (json!(1), json!(1)),
        "{report:#}"
    );
    assert_eq!(
        (agent["ratings"].clone(), agent["csat"].clone()),
        (json!(1), json!(5.0)),
        "{report:#}"
    );

    // The same as CSV, in long form.
    let (status, csv) = call(
        &host,
        ADMIN_TOKEN,
        "GET",
        &format!("{query}&format=csv"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.starts_with("section,date,subject,key,value\n"), "{csv}");
    assert!(
        csv.contains(&format!("intent,{today},,ship_time,6\n")),
        "{csv}"
    );
    assert!(csv.contains("agent,,mei,handled,1\n"), "{csv}");

    // A bad range is refused with the reason; an agent may not read it.
    let (status, body) = call(
        &host,
        ADMIN_TOKEN,
        "GET",
        "report?from=2026-02-30",
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("YYYY-MM-DD"), "{body}");
    let (status, _) = call(&host, mei, "GET", &query, Value::Null).await;
    assert_eq!(status, 403);

    // Kept as it happened: the same figures after a restart.
    let host = host.restart().await;
    let (_, again) = call(&host, ADMIN_TOKEN, "GET", &query, Value::Null).await;
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), report);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_the_bot_answered_are_invited_once_they_are_quiet_and_rate_the_bot() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let config = config(&api).replace(
        "csat_invite = true\n",
        "csat_invite = true\ncsat_after_bot_secs = 1\n",
    );
    let host = TestHost::start(&config).await;
    let invitations = |customer: &str| {
        api.sent_messages()
            .iter()
            .filter(|m| {
                m.touser == customer && m.text.as_deref() == Some(tongdao::csat::INVITATION)
            })
            .count()
    };
    // A asks once; B asks twice (the second question pushes the
    // invitation back); C's question is one the bot cannot answer, which
    // cancels C's.
    let (a, b, c) = (
        "oQuietCustomer000001",
        "oQuietCustomer000002",
        "oQuietCustomer000003",
    );
    say(&host, &api, a, "今天能发货吗", 400).await;
    say(&host, &api, b, "今天能发货吗", 401).await;
    say(&host, &api, c, "今天能发货吗", 402).await;
    host.decided().await;
    say(&host, &api, b, "发什么快递", 403).await;
    say(&host, &api, c, "请问公司的股票代码是什么", 404).await;
    host.decided().await;
    eventually("A and B invited", Duration::from_secs(15), || {
        (invitations(a) == 1 && invitations(b) == 1).then_some(())
    })
    .await;
    let far = tongdao::clock::now_ms() + 86_400_000;
    eventually(
        "no invitation left pending",
        Duration::from_secs(10),
        || {
            host.state()
                .store
                .due_csat(far, 10)
                .unwrap()
                .is_empty()
                .then_some(())
        },
    )
    .await;
    host.settled().await;
    assert_eq!((invitations(a), invitations(b), invitations(c)), (1, 1, 0));

    // A rates the bot.
    say(&host, &api, a, "4", 405).await;
    eventually("the thanks", Duration::from_secs(10), || {
        api.sent_messages()
            .iter()
            .any(|m| m.touser == a && m.text.as_deref() == Some(tongdao::csat::THANKS))
            .then_some(())
    })
    .await;
    host.settled().await;
    let today = tongdao::model::date_of_day(tongdao::report::today());
    let (status, body) = call(
        &host,
        ADMIN_TOKEN,
        "GET",
        &format!("report?from={today}&to={today}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    let bot = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["agent"] == "(bot)")
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    assert_eq!(
        (bot["ratings"].clone(), bot["csat"].clone()),
        (json!(1), json!(4.0))
    );
    host.stop().await;
}
