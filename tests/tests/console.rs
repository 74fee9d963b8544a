//! The agents' console over real HTTP, end to end with the WeChat Official
//! Account: an agent signs in with their own credential (HttpOnly,
//! SameSite=Strict session cookie), sees an angry customer in 待接入 with
//! the reason and wait, takes the conversation and replies (the WeChat
//! emulator receives it), transfers it to a colleague who finds it in 我的
//! and closes it. A post without the session's CSRF token is refused, a
//! signed-out page redirects to sign-in, and an agent cannot open another
//! shop's conversation. Risk alerts (a complaint threat, sustained anger)
//! reach the supervisor's stream and board and the brand's WeCom group
//! robot, once per conversation, also when many come at once.

use std::time::Duration;
use tongdao::responder::SOOTHING_REPLY;
use tongdao_e2e::harness::{CONSOLE_WECHAT, TestHost, console_config, eventually, plugin_entry};
use tongdao_emulator_wechat::api::{WechatApiConfig, WechatApiEmulator};
use tongdao_emulator_wechat::signing::WechatPusher;
use tongdao_emulator_wecom::api::{WecomApiConfig, WecomApiEmulator};

const APP_ID: &str = CONSOLE_WECHAT.0;
const SECRET: &str = CONSOLE_WECHAT.1;
const CUSTOMER: &str = "oConsoleCustomer0000001";

fn config(api: &WechatApiEmulator) -> String {
    console_config(&api.base_url())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in browser: its session cookie.
struct Browser {
    base: String,
    cookie: String,
}

impl Browser {
    async fn sign_in(host: &TestHost, agent: &str) -> Browser {
        let response = client()
            .post(format!("{}/console/sign-in", host.base_url))
            .form(&[("agent", agent), ("password", &password(agent))])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(response.headers()["location"], "/console");
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        Browser {
            base: host.base_url.clone(),
            cookie: set_cookie.split(';').next().unwrap().to_owned(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = client()
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The CSRF token of the workbench's forms.
    async fn csrf(&self) -> String {
        let (status, page) = self.get("/console").await;
        assert_eq!(status, 200, "{page}");
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
        page[start..start + 64].to_owned()
    }
}

fn password(agent: &str) -> String {
    format!("{agent}-console-password")
}

/// A host on `config` whose `agents` have their console passwords.
async fn host_for(config: &str, agents: &[&str]) -> TestHost {
    let host = TestHost::start(config).await;
    for agent in agents {
        tongdao::auth::credentials::set_secret(&host.data_dir(), agent, Some(&password(agent)))
            .unwrap();
    }
    host
}

/// The console config with a supervisor, `boss`, besides the agents.
fn config_with_boss(api: &WechatApiEmulator) -> String {
    config(api).replacen(
        "[[shops]]",
        "[[agents]]\nid = \"boss\"\nrole = \"supervisor\"\n\n[[shops]]",
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_signs_in_takes_replies_and_transfers_and_a_colleague_closes() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_for(&config(&api), &["mei", "lei", "zhou"]).await;

    // Signed out: the console sends you to sign in; a wrong password says so.
    let response = client()
        .get(format!("{}/console", host.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/console/sign-in");
    let response = client()
        .post(format!("{}/console/sign-in", host.base_url))
        .form(&[("agent", "mei"), ("password", "not-her-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.text().await.unwrap().contains("账号或密码不对"));

    let mei = Browser::sign_in(&host, "mei").await;

    // An angry customer: soothed by the bot, waiting in 待接入 with why.
    customer_says(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        "什么破服务，再不处理我就去12315投诉！",
        7001,
    )
    .await;
    api.wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(api.sent_messages()[0].text.as_deref(), Some(SOOTHING_REPLY));
    let queue = eventually("the customer in 待接入", Duration::from_secs(10), || {
        let page = futures_lite_block(mei.get("/console?tab=queue"));
        page.1.contains(CUSTOMER).then_some(page.1)
    })
    .await;
    assert!(queue.contains("投诉风险"), "{queue}");
    assert!(queue.contains("排队第 1"), "{queue}");

    // Forms need the session's token.
    let take = format!("/console/conversations/demo-oa/{CUSTOMER}/take");
    let (status, body) = mei.post(&take, &[]).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = mei.post(&take, &[("csrf", "forged")]).await;
    assert_eq!(status, 403, "{body}");
    let csrf = mei.csrf().await;
    let (status, body) = mei.post(&take, &[("csrf", &csrf)]).await;
    assert_eq!(status, 303, "{body}");

    // The thread shows the customer's message and the bot's reply; the
    // reply reaches WeChat.
    let (status, thread) = mei
        .get(&format!(
            "/console?tab=mine&shop=demo-oa&conversation={CUSTOMER}"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(thread.contains("12315投诉"), "{thread}");
    assert!(thread.contains(SOOTHING_REPLY), "{thread}");
    assert!(thread.contains("id=\"reply-text\""), "{thread}");
    let reply = format!("/console/conversations/demo-oa/{CUSTOMER}/reply");
    let (status, body) = mei
        .post(
            &reply,
            &[("csrf", &csrf), ("text", "非常抱歉，我马上为您处理")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let sent = api
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sent[1].text.as_deref(), Some("非常抱歉，我马上为您处理"));

    // Transferred to lei, who finds it in 我的 and closes it.
    let transfer = format!("/console/conversations/demo-oa/{CUSTOMER}/transfer");
    let (status, body) = mei
        .post(
            &transfer,
            &[
                ("csrf", &csrf),
                ("to", "lei"),
                ("remark", "客户要求今天内回电"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let lei = Browser::sign_in(&host, "lei").await;
    let (_, mine) = lei.get("/console?tab=mine").await;
    assert!(mine.contains(CUSTOMER), "{mine}");
    let lei_csrf = lei.csrf().await;
    let close = format!("/console/conversations/demo-oa/{CUSTOMER}/close");
    let (status, body) = mei.post(&close, &[("csrf", &csrf)]).await;
    assert_eq!(status, 403, "mei no longer holds it: {body}");
    let (_, thread) = lei
        .get(&format!(
            "/console?tab=mine&shop=demo-oa&conversation={CUSTOMER}"
        ))
        .await;
    assert!(
        thread.contains("转接说明：客户要求今天内回电"),
        "the transfer's note: {thread}"
    );
    let (status, body) = lei
        .post(
            &close,
            &[("csrf", &lei_csrf), ("remark", "已退款，客户满意")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(
        host.state()
            .store
            .handoff("demo-oa", CUSTOMER)
            .unwrap()
            .is_none()
    );
    let notes = host.state().store.notes("demo-oa", CUSTOMER).unwrap();
    assert_eq!(notes.last().unwrap().text, "结束小结：已退款，客户满意");
    assert_eq!(notes.last().unwrap().agent, "lei");
    assert_eq!(api.sent_messages().len(), 2, "notes are never sent");

    // An agent of another shop cannot open the conversation.
    let zhou = Browser::sign_in(&host, "zhou").await;
    let (status, _) = zhou
        .get(&format!("/console?shop=demo-oa&conversation={CUSTOMER}"))
        .await;
    assert_eq!(status, 403);
    let (_, list) = zhou.get("/console?tab=all").await;
    assert!(!list.contains(CUSTOMER));

    // Signed out, the session is gone.
    let zhou_csrf = zhou.csrf().await;
    let (status, _) = zhou
        .post("/console/sign-out", &[("csrf", &zhou_csrf)])
        .await;
    assert_eq!(status, 303);
    let (status, _) = zhou.get("/console").await;
    assert_eq!(status, 303);
    host.stop().await;
}

/// Runs a future to completion from a synchronous probe.
fn futures_lite_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// A console's event stream, read as it comes.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One server-sent event: (id, event name, data).
type Sse = (u64, String, String);

impl EventStream {
    async fn open(browser: &Browser, last_event_id: Option<u64>) -> EventStream {
        Self::open_viewing(browser, None, last_event_id).await
    }

    /// A tab's stream that shows conversation `viewing` (`SHOP/ID`).
    async fn open_viewing(
        browser: &Browser,
        viewing: Option<&str>,
        last_event_id: Option<u64>,
    ) -> EventStream {
        let query = viewing
            .map(|v| format!("?viewing={}", v.replace('/', "%2F")))
            .unwrap_or_default();
        let mut request = client()
            .get(format!("{}/console/events{query}", browser.base))
            .header("cookie", &browser.cookie);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next stored event (comments, `retry` and presence skipped),
    /// within `within`.
    async fn next(&mut self, within: Duration) -> Sse {
        loop {
            let (id, name, data) = self.next_any(within).await;
            if let Some(id) = id {
                return (id, name, data);
            }
        }
    }

    /// The next `presence` event's data, within `within`.
    async fn next_presence(&mut self, within: Duration) -> String {
        loop {
            let (id, name, data) = self.next_any(within).await;
            if name == "presence" {
                assert_eq!(id, None, "presence is not a stored change");
                return data;
            }
        }
    }

    /// The next event of any kind, within `within`.
    async fn next_any(&mut self, within: Duration) -> (Option<u64>, String, String) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                if id.is_some() || !name.is_empty() {
                    return (id, name, data);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the stream open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// A customer of the shop behind `hook` (app id, token) writes `text`.
#[allow(clippy::too_many_arguments)]
async fn customer_says(
    host: &TestHost,
    api: &WechatApiEmulator,
    app: (&str, &str),
    hook: &str,
    customer: &str,
    text: &str,
    id: u64,
) {
    let now = tongdao::clock::now_ms() / 1000;
    api.customer_wrote(customer, now);
    let pusher = WechatPusher::new(app.1, app.0, None);
    let push = pusher.plaintext(hook, &pusher.text_xml_at(customer, now, text, id));
    assert_eq!(
        push.send(&client(), &host.base_url).await.unwrap().status,
        200
    );
}

/// A customer threatens a complaint.
async fn angry_push(
    host: &TestHost,
    api: &WechatApiEmulator,
    app: (&str, &str),
    hook: &str,
    customer: &str,
    id: u64,
) {
    let text = "你们这是欺诈，我要去12315投诉！";
    customer_says(host, api, app, hook, customer, text, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_arrive_in_order_and_resume_after_a_disconnect_without_loss() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_for(&config(&api), &["mei", "zhou"]).await;
    let mei = Browser::sign_in(&host, "mei").await;
    let signed_out = client()
        .get(format!("{}/console/events", host.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 401);

    // A new angry customer appears on mei's stream within a second or so.
    let mut stream = EventStream::open(&mei, None).await;
    angry_push(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        8001,
    )
    .await;
    let (first, name, data) = stream.next(Duration::from_secs(5)).await;
    assert_eq!(name, "handoff");
    assert!(data.contains(CUSTOMER), "{data}");
    drop(stream);

    // While mei is disconnected: mei takes it (another tab), the customer
    // writes again, mei replies.
    let csrf = mei.csrf().await;
    let take = format!("/console/conversations/demo-oa/{CUSTOMER}/take");
    assert_eq!(mei.post(&take, &[("csrf", &csrf)]).await.0, 303);
    customer_says(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        "好的，我等你们处理",
        8002,
    )
    .await;
    host.decided().await;
    let reply = format!("/console/conversations/demo-oa/{CUSTOMER}/reply");
    assert_eq!(
        mei.post(&reply, &[("csrf", &csrf), ("text", "在的，马上处理")])
            .await
            .0,
        303
    );

    // Reconnecting with Last-Event-ID gives exactly what was missed, in order.
    let mut resumed = EventStream::open(&mei, Some(first)).await;
    let mut missed = Vec::new();
    for _ in 0..4 {
        missed.push(resumed.next(Duration::from_secs(5)).await);
    }
    let names: Vec<&str> = missed.iter().map(|(_, name, _)| name.as_str()).collect();
    // The threat's alert (a change of its own, after its hand-off), then
    // the take, the customer's message and mei's reply.
    assert_eq!(
        names,
        ["alert", "handoff", "message", "reply"],
        "{missed:?}"
    );
    assert!(missed.iter().all(|(id, _, _)| *id > first), "{missed:?}");
    assert!(
        missed.windows(2).all(|w| w[0].0 < w[1].0),
        "in order: {missed:?}"
    );

    // zhou serves only other-oa: replaying everything from the start, the
    // first event zhou sees is about his own shop.
    let zhou = Browser::sign_in(&host, "zhou").await;
    let mut zhou_stream = EventStream::open(&zhou, Some(0)).await;
    angry_push(
        &host,
        &api,
        ("wx0000000000other", "othertoken"),
        "/hooks/wechat/other-oa",
        "oOtherShopCustomer0001",
        8003,
    )
    .await;
    let (_, name, data) = zhou_stream.next(Duration::from_secs(5)).await;
    assert_eq!(name, "handoff");
    assert!(
        data.contains("other-oa") && !data.contains(CUSTOMER),
        "{data}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_a_break_gets_no_new_customers_and_cannot_go_offline_holding_one() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let least_loaded =
        config(&api).replace("assignment = \"manual\"", "assignment = \"least-loaded\"");
    let host = host_for(&least_loaded, &["mei", "lei"]).await;
    let mei = Browser::sign_in(&host, "mei").await;
    let lei = Browser::sign_in(&host, "lei").await;

    // mei (first in config order, so least-loaded's choice on a tie) takes
    // a break: the next customer goes to lei.
    let csrf = mei.csrf().await;
    let (status, body) = mei
        .post("/console/status", &[("csrf", &csrf), ("status", "break")])
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(
        mei.get("/console")
            .await
            .1
            .contains("value=\"break\" selected")
    );
    angry_push(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        9101,
    )
    .await;
    eventually(
        "the customer to be assigned",
        Duration::from_secs(10),
        || {
            let handoff = host.state().store.handoff("demo-oa", CUSTOMER).unwrap()?;
            handoff.agent().map(str::to_owned)
        },
    )
    .await;
    let handoff = host
        .state()
        .store
        .handoff("demo-oa", CUSTOMER)
        .unwrap()
        .unwrap();
    assert_eq!(
        handoff.agent(),
        Some("lei"),
        "not to mei, who is on a break"
    );

    // lei cannot go offline while holding a customer; after closing, can.
    let lei_csrf = lei.csrf().await;
    let (status, body) = lei
        .post(
            "/console/status",
            &[("csrf", &lei_csrf), ("status", "offline")],
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("still holds 1"), "{body}");
    let close = format!("/console/conversations/demo-oa/{CUSTOMER}/close");
    assert_eq!(lei.post(&close, &[("csrf", &lei_csrf)]).await.0, 303);
    let (status, body) = lei
        .post(
            "/console/status",
            &[("csrf", &lei_csrf), ("status", "offline")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let (status, _) = lei.post("/console/status", &[("status", "online")]).await;
    assert_eq!(status, 403, "the status form needs the token too");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_sees_threats_queues_and_agents_and_agents_do_not() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_for(&config_with_boss(&api), &["mei", "boss"]).await;
    let mei = Browser::sign_in(&host, "mei").await;
    assert_eq!(mei.get("/console/supervisor").await.0, 403);
    let boss = Browser::sign_in(&host, "boss").await;
    let (status, calm) = boss.get("/console/supervisor").await;
    assert_eq!(status, 200, "{calm}");
    assert!(calm.contains("暂无告警"), "{calm}");
    assert!(boss.get("/console").await.1.contains("id=\"supervisor\""));

    // A complaint threat reaches the supervisor's stream, then the board.
    let mut stream = EventStream::open(&boss, None).await;
    angry_push(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        9201,
    )
    .await;
    let (_, name, data) = stream.next(Duration::from_secs(5)).await;
    assert_eq!(name, "handoff");
    assert!(data.contains(CUSTOMER), "{data}");
    let (_, board) = boss.get("/console/supervisor").await;
    let alerts = &board[board.find("id=\"alerts\"").unwrap()..board.find("id=\"queues\"").unwrap()];
    assert!(alerts.contains(CUSTOMER), "{board}");
    let queue_row = &board[board.find("data-shop=\"demo-oa\"").unwrap()..];
    assert!(
        queue_row.starts_with("data-shop=\"demo-oa\"><td>demo-oa"),
        "{board}"
    );
    assert!(queue_row.contains("<td>1</td>"), "one waiting: {board}");
    let mei_row = &board[board.find("data-agent=\"mei\"").unwrap()..];
    assert!(
        mei_row.contains("在线") && mei_row.contains("0 / 5"),
        "{board}"
    );

    // Today's figures: the bot settled one of its two questions; mei's
    // thread shows why the bot handed the first over; she answers and
    // closes it, which gives a first response and a handling time.
    customer_says(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        "oConsoleCalmCustomer001",
        "今天能发货吗",
        9202,
    )
    .await;
    host.decided().await;
    let csrf = mei.csrf().await;
    let base = format!("/console/conversations/demo-oa/{CUSTOMER}");
    assert_eq!(
        mei.post(&format!("{base}/take"), &[("csrf", &csrf)])
            .await
            .0,
        303
    );
    let (_, thread) = mei
        .get(&format!(
            "/console?tab=mine&shop=demo-oa&conversation={CUSTOMER}"
        ))
        .await;
    assert!(thread.contains("机器人判断：negative"), "{thread}");
    assert_eq!(
        mei.post(
            &format!("{base}/reply"),
            &[("csrf", &csrf), ("text", "您好，我来处理")]
        )
        .await
        .0,
        303
    );
    assert_eq!(
        mei.post(&format!("{base}/close"), &[("csrf", &csrf)])
            .await
            .0,
        303
    );
    let (_, board) = boss.get("/console/supervisor").await;
    let today = &board[board.find("id=\"today\"").unwrap()..];
    let today = &today[today.find("data-shop=\"demo-oa\"").unwrap()..];
    let today = &today[..today.find("</tr>").unwrap()];
    assert!(today.contains("50.0%（2）"), "{today}");
    assert!(today.contains("class=\"handled\">1<"), "{today}");
    assert!(
        !today.contains("—"),
        "a first response and a handling time: {today}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colleagues_see_each_other_timers_run_coupons_go_out_and_a_lost_agent_s_customers_move() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let config = config(&api)
        .replace("assignment = \"manual\"", "assignment = \"least-loaded\"")
        .replacen(
            "api_base = {",
            "coupon = { id = \"c10\", title = \"满199减10\", discount = \"10.00\" }\napi_base = {",
            1,
        )
        + "\n[console]\nreassign_after_secs = 2\n";
    let host = host_for(&config, &["mei", "lei"]).await;
    let mei = Browser::sign_in(&host, "mei").await;
    let lei = Browser::sign_in(&host, "lei").await;
    let key = format!("demo-oa/{CUSTOMER}");
    let thread = format!("/console?tab=all&shop=demo-oa&conversation={CUSTOMER}");

    // An angry customer goes to mei (least loaded, first on a tie).
    angry_push(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        9301,
    )
    .await;
    let holder = eventually(
        "the customer to be assigned",
        Duration::from_secs(10),
        || {
            let handoff = host.state().store.handoff("demo-oa", CUSTOMER).unwrap()?;
            handoff.agent().map(str::to_owned)
        },
    )
    .await;
    assert_eq!(holder, "mei");

    // Both open the conversation; each sees the other.
    let mut mei_tab = EventStream::open_viewing(&mei, Some(&key), None).await;
    let (_, page) = lei.get(&thread).await;
    assert!(page.contains("id=\"presence\""), "{page}");
    let presence_of = |page: &str| {
        let start = page.find("id=\"presence\"").unwrap();
        page[start..start + page[start..].find("</p>").unwrap()].to_owned()
    };
    assert!(presence_of(&page).contains("mei"), "{}", presence_of(&page));
    let mut lei_tab = EventStream::open_viewing(&lei, Some(&key), None).await;
    let seen = mei_tab.next_presence(Duration::from_secs(5)).await;
    assert!(seen.contains("lei"), "{seen}");
    let (_, page) = mei.get(&thread).await;
    assert!(presence_of(&page).contains("lei"), "{}", presence_of(&page));
    assert!(!presence_of(&page).contains("mei"), "not oneself");

    // mei's list shows the customer's wait against WeChat's thresholds, the
    // thread the 48-hour window counting down and the shop's coupon.
    let (_, page) = mei
        .get(&format!(
            "/console?tab=mine&shop=demo-oa&conversation={CUSTOMER}"
        ))
        .await;
    assert!(page.contains("class=\"timer t-ok\""), "{page}");
    assert!(
        page.contains("data-warn=\"60\" data-alert=\"180\""),
        "{page}"
    );
    assert!(page.contains("id=\"window-left\""), "{page}");
    assert!(
        page.contains("47小时59分") || page.contains("48小时0分"),
        "{page}"
    );
    assert!(page.contains("满199减10"), "{page}");
    let csrf = mei.csrf().await;
    let coupon = format!("/console/conversations/demo-oa/{CUSTOMER}/coupon");
    assert_eq!(
        lei.post(&coupon, &[("csrf", &lei.csrf().await)]).await.0,
        403,
        "lei does not hold it"
    );
    assert_eq!(mei.post(&coupon, &[("csrf", &csrf)]).await.0, 303);
    let sent = eventually(
        "the coupon to reach WeChat",
        Duration::from_secs(10),
        || {
            api.sent_messages().into_iter().find(|m| {
                m.touser == CUSTOMER && m.text.as_deref().is_some_and(|t| t.contains("满199减10"))
            })
        },
    )
    .await;
    assert_eq!(
        sent.msgtype, "text",
        "WeChat has no coupon message: the card goes as its text"
    );
    let (_, page) = mei.get("/console?tab=mine").await;
    assert!(!page.contains("data-since-ms"), "answered: no timer");

    // mei's connection is lost: within the configured 2 s plus a tick, her
    // customer goes to lei (online, connected) and she goes offline. Not
    // while her tab is still open.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let handoff = host
        .state()
        .store
        .handoff("demo-oa", CUSTOMER)
        .unwrap()
        .unwrap();
    assert_eq!(
        handoff.agent(),
        Some("mei"),
        "connected agents keep their customers"
    );
    drop(mei_tab);
    let gone = lei_tab.next_presence(Duration::from_secs(5)).await;
    assert!(!gone.contains("mei"), "{gone}");
    let moved = eventually(
        "the customer to move to lei",
        Duration::from_secs(10),
        || {
            let handoff = host.state().store.handoff("demo-oa", CUSTOMER).unwrap()?;
            (handoff.agent() == Some("lei")).then_some(handoff)
        },
    )
    .await;
    assert_eq!(
        moved.priority,
        tongdao::model::Priority::Threat,
        "keeps its urgency"
    );
    assert_eq!(
        host.state().store.agent_status("mei").unwrap(),
        tongdao::model::AgentStatus::Offline
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stays_signed_in_across_a_restart_until_signing_out() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_for(&config(&api), &["mei"]).await;
    let mei = Browser::sign_in(&host, "mei").await;
    let csrf = mei.csrf().await;

    // The host restarts (an upgrade): mei's tab carries on with the same
    // cookie and the same form token.
    let host = host.restart().await;
    let mei = Browser {
        base: host.base_url.clone(),
        cookie: mei.cookie,
    };
    let (status, page) = mei.get("/console").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&csrf), "the same session");
    let (status, body) = mei
        .post("/console/status", &[("csrf", &csrf), ("status", "break")])
        .await;
    assert_eq!(status, 303, "{body}");

    // Signing out ends it for good, restart or not.
    assert_eq!(
        mei.post("/console/sign-out", &[("csrf", &csrf)]).await.0,
        303
    );
    let host = host.restart().await;
    let mei = Browser {
        base: host.base_url.clone(),
        cookie: mei.cookie,
    };
    let response = client()
        .get(format!("{}/console", mei.base))
        .header("cookie", &mei.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/console/sign-in");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_links_a_customer_across_shops_and_the_thread_shows_both_channels() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let host = host_for(&config_with_boss(&api), &["mei", "boss"]).await;
    let other = "oOtherShopCustomer0002";
    angry_push(
        &host,
        &api,
        (APP_ID, "spamtest"),
        "/hooks/wechat/demo-oa",
        CUSTOMER,
        9401,
    )
    .await;
    customer_says(
        &host,
        &api,
        ("wx0000000000other", "othertoken"),
        "/hooks/wechat/other-oa",
        other,
        "你好，我在另一个公众号也问过",
        9402,
    )
    .await;
    host.decided().await;
    let boss = Browser::sign_in(&host, "boss").await;
    let mei = Browser::sign_in(&host, "mei").await;
    let thread = format!("/console?tab=all&shop=demo-oa&conversation={CUSTOMER}");
    let (_, before) = boss.get(&thread).await;
    assert!(!before.contains("另一个公众号"), "not linked yet");

    // An agent cannot link; the supervisor can, and the thread then holds
    // both channels, the other one badged.
    let link = [
        ("a_shop", "demo-oa"),
        ("a_user", CUSTOMER),
        ("b_shop", "other-oa"),
        ("b_user", other),
        ("back", thread.as_str()),
    ];
    let mei_csrf = mei.csrf().await;
    let mut mei_form = link.to_vec();
    mei_form.push(("csrf", &mei_csrf));
    assert_eq!(mei.post("/console/customers/link", &mei_form).await.0, 403);
    let csrf = boss.csrf().await;
    let mut form = link.to_vec();
    form.push(("csrf", &csrf));
    assert_eq!(boss.post("/console/customers/link", &form).await.0, 303);
    let (_, linked) = boss.get(&thread).await;
    assert!(linked.contains("另一个公众号"), "{linked}");
    assert!(linked.contains("wechat · other-oa"), "badged: {linked}");
    let identities = &linked[linked.find("id=\"identities\"").unwrap()..];
    let identities = &identities[..identities.find("</ul>").unwrap()];
    assert!(
        identities.contains(CUSTOMER) && identities.contains(other),
        "{identities}"
    );
    assert!(linked.contains("关联人 boss"), "{linked}");
    let conversations = &linked[linked.find("id=\"conversations\"").unwrap()..];
    assert!(
        conversations.contains(&format!("conversation={other}")),
        "{conversations}"
    );

    // mei serves demo-oa only: she sees the other identity, not its messages.
    let (_, hers) = mei.get(&thread).await;
    assert!(hers.contains(other), "the identity is listed");
    assert!(
        !hers.contains("另一个公众号"),
        "other shops' messages stay there"
    );

    // Unlinking takes the other channel out again.
    assert_eq!(boss.post("/console/customers/unlink", &form).await.0, 303);
    let (_, unlinked) = boss.get(&thread).await;
    assert!(!unlinked.contains("另一个公众号"), "{unlinked}");
    let unknown = [
        ("a_shop", "demo-oa"),
        ("a_user", CUSTOMER),
        ("b_shop", "other-oa"),
        ("b_user", "oNobody"),
        ("csrf", csrf.as_str()),
    ];
    let (status, body) = boss.post("/console/customers/link", &unknown).await;
    assert_eq!(status, 404, "{body}");

    // The list filters by shop and by platform.
    let row = format!("data-conversation=\"{CUSTOMER}\"");
    assert!(
        boss.get("/console?tab=all&platform_filter=wechat")
            .await
            .1
            .contains(&row)
    );
    let (_, jd_only) = boss.get("/console?tab=all&platform_filter=jd").await;
    assert!(
        !jd_only.contains(&row) && jd_only.contains("id=\"empty\""),
        "{jd_only}"
    );
    let (_, other_shop) = boss.get("/console?tab=all&shop_filter=other-oa").await;
    assert!(!other_shop.contains(&row), "{other_shop}");
    assert!(
        boss.get("/console?tab=all&shop_filter=demo-oa")
            .await
            .1
            .contains(&row)
    );
    host.stop().await;
}

/// The console config with a supervisor and a WeCom shop, `kf`, whose
/// group robot carries risk alerts.
fn config_with_alerts(api: &WechatApiEmulator, wecom: &WecomApiEmulator) -> String {
    format!(
        "{}\n{}\n[[shops]]\nid = \"kf\"\nplugin = \"wecom\"\negress = [\"qyapi.weixin.qq.com\"]\n\
         credentials = {{ corp_id = \"ww12345678910\", secret = \"kf-secret\", token = \"wecomtoken\", \
         encoding_aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\", robot_key = \"{ROBOT_KEY}\" }}\n\
         api_base = {{ \"qyapi.weixin.qq.com\" = \"{}\" }}\n\n[alerts]\nvia_shop = \"kf\"\n",
        config_with_boss(api),
        plugin_entry("wecom"),
        wecom.base_url()
    )
}

const ROBOT_KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_alerts_reach_the_supervisor_and_the_group_robot_once_per_conversation() {
    let api = WechatApiEmulator::start(WechatApiConfig::new(APP_ID, SECRET))
        .await
        .unwrap();
    let mut wecom_config = WecomApiConfig::new("ww12345678910", "kf-secret");
    wecom_config.robot_key = Some(ROBOT_KEY.into());
    let wecom = WecomApiEmulator::start(wecom_config).await.unwrap();
    let host = host_for(&config_with_alerts(&api, &wecom), &["boss"]).await;
    let boss = Browser::sign_in(&host, "boss").await;
    let (_, calm) = boss.get("/console/supervisor").await;
    assert!(calm.contains("暂无风险预警"), "{calm}");
    let mut stream = EventStream::open(&boss, None).await;
    let hook = "/hooks/wechat/demo-oa";
    let app = (APP_ID, "spamtest");

    // A threat: the hand-off and the alert reach the supervisor's stream,
    // the board lists it, and the group robot posts it.
    let sent_at = std::time::Instant::now();
    angry_push(&host, &api, app, hook, CUSTOMER, 9301).await;
    let (_, first, _) = stream.next(Duration::from_secs(5)).await;
    let (_, second, data) = stream.next(Duration::from_secs(5)).await;
    assert_eq!((first.as_str(), second.as_str()), ("handoff", "alert"));
    assert!(data.contains(CUSTOMER), "{data}");
    let posted = eventually("the robot to post", Duration::from_secs(10), || {
        (!wecom.robot_messages().is_empty()).then(|| sent_at.elapsed())
    })
    .await;
    println!("from the threat's push to the group robot: {posted:?}");
    let (_, board) = boss.get("/console/supervisor").await;
    let listed =
        &board[board.find("id=\"risk-alerts\"").unwrap()..board.find("id=\"queues\"").unwrap()];
    assert!(
        listed.contains("data-kind=\"complaint-threat\"") && listed.contains(CUSTOMER),
        "{listed}"
    );
    // Threatening again raises nothing new.
    angry_push(&host, &api, app, hook, CUSTOMER, 9302).await;

    // Sustained anger: the third negative message within the window.
    let grumbler = "oConsoleGrumbler0000001";
    for (i, text) in [
        "什么破东西，质量太差了，气死我了",
        "等了一个星期还没发货，太让人失望了",
        "客服一直不回复，服务太差劲了",
    ]
    .iter()
    .enumerate()
    {
        customer_says(&host, &api, app, hook, grumbler, text, 9310 + i as u64).await;
        host.decided().await;
    }

    // Ten customers threaten at once: ten alerts, one each.
    let mut pushes = tokio::task::JoinSet::new();
    for i in 0..10u64 {
        let customer = format!("oConsoleThreat{i:09}");
        let now = tongdao::clock::now_ms() / 1000;
        api.customer_wrote(&customer, now);
        let base = host.base_url.clone();
        pushes.spawn(async move {
            let pusher = WechatPusher::new("spamtest", APP_ID, None);
            let text = "再不给我退款，我就去12315投诉你们，还要曝光！";
            let push = pusher.plaintext(
                "/hooks/wechat/demo-oa",
                &pusher.text_xml_at(&customer, now, text, 9400 + i),
            );
            push.send(&client(), &base).await.unwrap().status
        });
    }
    while let Some(status) = pushes.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let posted = eventually("twelve alerts posted", Duration::from_secs(20), || {
        let posted = wecom.robot_messages();
        (posted.len() >= 12).then_some(posted)
    })
    .await;
    host.settled().await;
    let posted_now = wecom.robot_messages();
    assert_eq!(posted_now.len(), 12, "{posted:?}");
    let threats = posted_now
        .iter()
        .filter(|m| m.content.starts_with("【投诉风险】"))
        .count();
    let anger: Vec<_> = posted_now
        .iter()
        .filter(|m| m.content.starts_with("【客户持续不满】"))
        .collect();
    assert_eq!((threats, anger.len()), (11, 1), "{posted_now:?}");
    assert!(anger[0].content.contains(grumbler), "{:?}", anger[0]);
    let alerts = host.state().store.risk_alerts(100).unwrap();
    assert_eq!(alerts.len(), 12);
    let conversations: std::collections::BTreeSet<_> =
        alerts.iter().map(|a| a.conversation.clone()).collect();
    assert_eq!(conversations.len(), 12, "one alert per conversation");
    host.stop().await;
}
