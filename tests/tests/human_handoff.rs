//! Hand-off to people, end to end over the WeChat Official Account: an angry
//! customer is soothed and escalated with priority to an agent (least-loaded
//! assignment), the bot stays silent while the agent has the conversation,
//! the agent answers through the admin API (the reply reaches the loopback
//! WeChat API and joins the history as the agent's), transfers it, the
//! channel's 5-message window is enforced and surfaced, and once handed
//! back the bot answers again.

use serde_json::{Value, json};
use std::time::Duration;
use tongdao::model::{AuthorRole, Direction, EventBody};
use tongdao::responder::SOOTHING_REPLY;
use tongdao_e2e::harness::{TestHost, bot_entry, eventually, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;

const APP_ID: &str = "wx2c2769f8efd9abc2";
const SECRET: &str = "demo-app-secret";
const HOOK: &str = "/hooks/wechat/demo-oa";
const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
const CUSTOMER: &str = "oAngryCustomer000000000001";

fn config(api: &WechatApiEmulator) -> String {
    format!(
        "{}\n{}\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\nassignment = \"least-loaded\"\n\n[[agents]]\nid = \"mei\"\nname = \"小美\"\nshops = [\"demo-oa\"]\nmax_concurrent = 1\n\n[[agents]]\nid = \"lei\"\nshops = [\"demo-oa\"]\nmax_concurrent = 2\n\n[[agents]]\nid = \"boss\"\nrole = \"supervisor\"\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"{APP_ID}\", app_secret = \"{SECRET}\", token = \"spamtest\" }}\napi_base = {{ \"api.weixin.qq.com\" = \"{}\" }}\n",
        bot_entry(),
        plugin_entry("wechat"),
        api.base_url()
    )
}

fn now_secs() -> i64 {
    tongdao::clock::now_ms() / 1000
}

async fn customer_says(host: &TestHost, api: &WechatApiEmulator, text: &str, msg_id: u64) {
    let account = WechatPusher::new("spamtest", APP_ID, None).with_original_id("gh_10f6c3c3ac5a");
    api.customer_wrote(CUSTOMER, now_secs());
    let push = account.plaintext(
        HOOK,
        &account.text_xml_at(CUSTOMER, now_secs(), text, msg_id),
    );
    let answer = push
        .send(&reqwest::Client::new(), &host.base_url)
        .await
        .unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
}

/// Each agent's own password, set with what `tongdao agent passwd` uses.
fn password(agent: &str) -> String {
    format!("{agent}-password-0001")
}

fn sign_up(host: &TestHost, agents: &[&str]) {
    for agent in agents {
        tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(&password(agent)))
            .unwrap();
    }
}

/// A request under `credential` (`agent:secret`, or the admin token).
async fn admin_with(
    host: &TestHost,
    credential: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/admin/{path}", host.base_url);
    let request = match method {
        "GET" => client.get(&url),
        _ => client.post(&url).json(&body.unwrap_or(json!({}))),
    };
    let response = request.bearer_auth(credential).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A request signed in as the agent the body names, else as the supervisor.
async fn admin(host: &TestHost, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let agent = body
        .as_ref()
        .and_then(|b| b["agent"].as_str())
        .unwrap_or("boss")
        .to_owned();
    let credential = format!("{agent}:{}", password(&agent));
    admin_with(host, &credential, method, path, body).await
}

fn conversation_path(verb: &str) -> String {
    format!("shops/demo-oa/conversations/{CUSTOMER}/{verb}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_angry_customer_goes_to_an_agent_who_answers_while_the_bot_stays_silent() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = TestHost::start(&config(&api)).await;
    sign_up(&host, &["mei", "lei", "boss"]);

    // Without the token the admin API refuses.
    let anonymous = reqwest::get(format!("{}/admin/agents", host.base_url))
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // 1. The angry message: soothed at once, queued with priority, assigned.
    customer_says(
        &host,
        &api,
        "你们什么破服务，再不解决我就打12315投诉！",
        1001,
    )
    .await;
    let sent = api
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[0].text.as_deref(), Some(SOOTHING_REPLY));
    eventually(
        "the conversation to be assigned",
        Duration::from_secs(10),
        || {
            let handoff = host.state().store.handoff("demo-oa", CUSTOMER).unwrap()?;
            handoff.agent().map(|_| ())
        },
    )
    .await;
    let (status, queue) = admin(&host, "GET", "shops/demo-oa/queue", None).await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue["waiting"].as_array().unwrap().len(), 0, "{queue}");
    let assigned = &queue["assigned"][0];
    assert_eq!(assigned["conversation"], CUSTOMER);
    assert_eq!(assigned["priority"], "threat");
    assert_eq!(assigned["state"]["state"], "assigned");
    assert_eq!(
        assigned["state"]["agent"], "mei",
        "least loaded, config order on ties"
    );

    // 2. The customer asks something the bot knows: the bot stays silent.
    customer_says(&host, &api, "我的快递到哪了", 1002).await;
    host.decided().await;
    host.settled().await;
    assert_eq!(api.sent_messages().len(), 1, "the bot must not answer");

    // 3. Agents are themselves: a wrong secret is refused, a body naming
    //    someone else is refused, and the config's admin token is nobody's
    //    hands. Only the agent who has it may reply; the reply reaches the
    //    customer.
    let reply_as_mei = json!({ "agent": "mei", "text": "冒名" });
    let (status, _) = admin_with(
        &host,
        "mei:not-her-password",
        "POST",
        &conversation_path("reply"),
        Some(reply_as_mei.clone()),
    )
    .await;
    assert_eq!(status, 401);
    let lei = format!("lei:{}", password("lei"));
    let (status, body) = admin_with(
        &host,
        &lei,
        "POST",
        &conversation_path("reply"),
        Some(reply_as_mei.clone()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot act as `mei`")
    );
    let (status, body) = admin_with(
        &host,
        ADMIN_TOKEN,
        "POST",
        &conversation_path("reply"),
        Some(json!({ "text": "管理员" })),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = admin_with(&host, &lei, "GET", "agents", None).await;
    assert_eq!(status, 403, "an agent does not list agents: {body}");
    let (status, refused) = admin(
        &host,
        "POST",
        &conversation_path("reply"),
        Some(json!({ "agent": "lei", "text": "我来看看" })),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    // The acting agent comes from the credential: no `agent` in the body.
    let (status, queued) = admin_with(
        &host,
        &format!("mei:{}", password("mei")),
        "POST",
        &conversation_path("reply"),
        Some(json!({ "text": "您好，我是小美，马上为您查询处理", "request_id": "r1" })),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[1].text.as_deref(),
        Some("您好，我是小美，马上为您查询处理")
    );
    assert_eq!(sent[1].touser, CUSTOMER);
    // The same request id again queues nothing new.
    let (status, again) = admin(
        &host,
        "POST",
        &conversation_path("reply"),
        Some(json!({ "agent": "mei", "text": "您好，我是小美，马上为您查询处理", "request_id": "r1" })),
    )
    .await;
    assert_eq!(status, 409, "{again}");

    // 4. The conversation view: history with the agent's message, window
    //    (once the delivery is recorded, which follows the platform's answer).
    host.settled().await;
    let (status, view) = admin(
        &host,
        "GET",
        &format!("shops/demo-oa/conversations/{CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["window"]["open"], true, "{view}");
    let history = host.history("demo-oa", CUSTOMER);
    let roles: Vec<(AuthorRole, Direction)> = history
        .iter()
        .filter_map(|stored| match &stored.event.body {
            EventBody::Message(m) => Some((m.role, m.direction)),
            _ => None,
        })
        .collect();
    assert!(
        roles.contains(&(AuthorRole::Agent, Direction::Outbound)),
        "{roles:?}"
    );

    // 5. Transfer to the other agent; the first may no longer reply.
    let (status, moved) = admin(
        &host,
        "POST",
        &conversation_path("transfer"),
        Some(json!({ "agent": "mei", "to": "lei" })),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["handoff"]["state"]["agent"], "lei");

    // 6. The 5-message window: one reply went out since the customer's last
    // message; 4 more fill it, then the API refuses and says why.
    for n in 0..4 {
        let (status, body) = admin(
            &host,
            "POST",
            &conversation_path("reply"),
            Some(json!({ "agent": "lei", "text": format!("处理进度 {n}") })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        api.wait_for_messages(3 + n, Duration::from_secs(10))
            .await
            .unwrap();
    }
    eventually("the window to fill", Duration::from_secs(10), || {
        let conversation = host
            .state()
            .store
            .conversation("demo-oa", CUSTOMER)
            .unwrap()?;
        (conversation.replies_since_inbound >= 5).then_some(())
    })
    .await;
    let (status, refused) = admin(
        &host,
        "POST",
        &conversation_path("reply"),
        Some(json!({ "agent": "lei", "text": "还有一条" })),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["kind"], "window-closed");
    let (_, view) = admin(
        &host,
        "GET",
        &format!("shops/demo-oa/conversations/{CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(view["window"]["open"], false);
    assert_eq!(view["window"]["messages_left"], 0);

    // 7. Handed back: the bot answers the next question again.
    let (status, released) = admin(
        &host,
        "POST",
        &conversation_path("hand-back"),
        Some(json!({ "agent": "lei" })),
    )
    .await;
    assert_eq!(status, 200, "{released}");
    assert!(
        host.state()
            .store
            .handoff("demo-oa", CUSTOMER)
            .unwrap()
            .is_none()
    );
    customer_says(&host, &api, "我的快递到哪了", 1003).await;
    let sent = api
        .wait_for_messages(7, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sent[6].text.as_deref(),
        Some(tongdao_e2e::harness::first_reply_for("logistics").as_str())
    );

    // 8. Every action is in the audit log, by who did it; only admins read it.
    let (status, _) = admin(&host, "GET", "audit", None).await;
    assert_eq!(status, 403, "a supervisor does not read the audit log");
    let (status, audit) = admin_with(&host, ADMIN_TOKEN, "GET", "audit", None).await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["conversation"], CUSTOMER, "{e}");
            (
                e["who"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("mei", "reply"),
        ("mei", "transfer"),
        ("lei", "reply"),
        ("lei", "reply"),
        ("lei", "reply"),
        ("lei", "reply"),
        ("lei", "hand-back"),
    ]
    .iter()
    .map(|(who, what)| (who.to_string(), what.to_string()))
    .collect();
    assert_eq!(actions, expected);
    host.stop().await;
}
