//! The API emulator over real loopback HTTP: tokens, pulls, sends, event
//! replies, session states, profiles, injected failures and the request log.

use super::*;

const CORP: &str = "ww12345678910";
const SECRET: &str = "demo-kf-secret";
const KF: &str = "wkDEMOkf000000001";
const USER: &str = "wmCustomer0000000001";
const NOW: i64 = 1_714_037_059;

/// The emulator with its clock at [`NOW`], the kf account [`KF`], and an
/// HTTP client.
struct Api {
    emulator: WecomApiEmulator,
    client: reqwest::Client,
}

impl Api {
    async fn start(config: WecomApiConfig) -> Api {
        let emulator = WecomApiEmulator::start(config).await.unwrap();
        emulator.set_now(NOW);
        emulator.add_account(KF);
        Api {
            emulator,
            client: reqwest::Client::new(),
        }
    }

    async fn default() -> Api {
        Api::start(WecomApiConfig::new(CORP, SECRET)).await
    }

    async fn get(&self, path_and_query: &str) -> Value {
        let url = format!("{}{path_and_query}", self.emulator.base_url());
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Value {
        let url = format!("{}{path}?access_token={token}", self.emulator.base_url());
        let response = self.client.post(url).json(body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn token(&self) -> String {
        let answer = self
            .get(&format!(
                "{GETTOKEN_PATH}?corpid={CORP}&corpsecret={SECRET}"
            ))
            .await;
        assert_eq!(answer["errcode"], 0, "{answer}");
        answer["access_token"].as_str().unwrap().to_string()
    }

    async fn send_text(&self, token: &str, msgid: &str, text: &str) -> Value {
        self.post(
            SEND_MSG_PATH,
            token,
            &json!({"touser": USER, "open_kfid": KF, "msgid": msgid,
                    "msgtype": "text", "text": {"content": text}}),
        )
        .await
    }

    async fn pull(&self, token: &str, body: Value) -> Value {
        self.post(SYNC_MSG_PATH, token, &body).await
    }
}

fn code(answer: &Value) -> i64 {
    answer["errcode"].as_i64().unwrap()
}

fn msgids(page: &Value) -> Vec<String> {
    page["msg_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["msgid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn gettoken_checks_the_corp_and_keeps_a_token_until_it_expires() {
    let api = Api::default().await;
    for (query, expected) in [
        (format!("corpsecret={SECRET}"), 41002),
        (format!("corpid={CORP}"), 41004),
        (format!("corpid=wwOther&corpsecret={SECRET}"), 40013),
        (format!("corpid={CORP}&corpsecret=wrong"), 40001),
    ] {
        let answer = api.get(&format!("{GETTOKEN_PATH}?{query}")).await;
        assert_eq!(code(&answer), expected, "{query}");
    }
    let first = api
        .get(&format!(
            "{GETTOKEN_PATH}?corpid={CORP}&corpsecret={SECRET}"
        ))
        .await;
    assert_eq!(first["expires_in"], 7200);
    let token = first["access_token"].as_str().unwrap().to_string();
    api.emulator.advance(100);
    let again = api
        .get(&format!(
            "{GETTOKEN_PATH}?corpid={CORP}&corpsecret={SECRET}"
        ))
        .await;
    assert_eq!(
        again["access_token"],
        token.as_str(),
        "the same token while valid"
    );
    assert_eq!(again["expires_in"], 7100);

    let pull = json!({"open_kfid": KF, "token": api.emulator.issue_sync_token(KF)});
    assert_eq!(code(&api.pull(&token, pull.clone()).await), 0);
    assert_eq!(code(&api.pull("", pull.clone()).await), 41001);
    assert_eq!(code(&api.pull("forged", pull.clone()).await), 40014);
    api.emulator.advance(7100);
    assert_eq!(code(&api.pull(&token, pull.clone()).await), 42001);
    let fresh = api.token().await;
    assert_ne!(fresh, token);
    let pull = json!({"open_kfid": KF, "token": api.emulator.issue_sync_token(KF)});
    assert_eq!(code(&api.pull(&fresh, pull.clone()).await), 0);
    api.emulator.invalidate_current_token();
    assert_eq!(code(&api.pull(&fresh, pull.clone()).await), 40014);
    api.emulator.expire_current_token();
    let newer = api.token().await;
    api.emulator.expire_current_token();
    assert_eq!(code(&api.pull(&newer, pull).await), 42001);
}

#[tokio::test]
async fn sync_msg_pages_by_cursor_with_a_valid_sync_token() {
    let api = Api::default().await;
    let token = api.token().await;
    let ids: Vec<String> = ["一", "二", "三"]
        .iter()
        .map(|text| api.emulator.customer_says(KF, USER, text))
        .collect();
    let sync_token = api.emulator.issue_sync_token(KF);

    let first = api
        .pull(
            &token,
            json!({"open_kfid": KF, "token": sync_token, "limit": 2}),
        )
        .await;
    assert_eq!(code(&first), 0);
    assert_eq!(msgids(&first), ids[..2].to_vec());
    assert_eq!(first["has_more"], 1);
    assert_eq!(first["msg_list"][0]["origin"], 3);
    assert_eq!(first["msg_list"][0]["text"]["content"], "一");
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = api
        .pull(
            &token,
            json!({"open_kfid": KF, "token": sync_token, "cursor": cursor}),
        )
        .await;
    assert_eq!(msgids(&second), ids[2..].to_vec());
    assert_eq!(second["has_more"], 0);

    // The same cursor gives the same page; a test can make one overlap.
    let cursor2 = second["next_cursor"].as_str().unwrap().to_string();
    let empty = api
        .pull(
            &token,
            json!({"open_kfid": KF, "token": sync_token, "cursor": cursor2}),
        )
        .await;
    assert!(msgids(&empty).is_empty());
    api.emulator.overlap_next_pull(1);
    let overlapping = api
        .pull(
            &token,
            json!({"open_kfid": KF, "token": sync_token, "cursor": cursor2}),
        )
        .await;
    assert_eq!(msgids(&overlapping), ids[2..].to_vec());

    for (body, expected) in [
        (
            json!({"open_kfid": "wkUnknown", "token": sync_token}),
            95000,
        ),
        (
            json!({"open_kfid": KF, "token": sync_token, "cursor": "bogus"}),
            40035,
        ),
        (
            json!({"open_kfid": KF, "token": sync_token, "limit": 1001}),
            40035,
        ),
        (json!({"open_kfid": KF, "token": "ENCforged"}), 95007),
    ] {
        assert_eq!(
            code(&api.pull(&token, body.clone()).await),
            expected,
            "{body}"
        );
    }
    // A sync token belongs to its kf account and lives 10 minutes.
    api.emulator.add_account("wkOther");
    assert_eq!(
        code(
            &api.pull(&token, json!({"open_kfid": "wkOther", "token": sync_token}))
                .await
        ),
        95007
    );
    api.emulator.advance(600);
    assert_eq!(
        code(
            &api.pull(&token, json!({"open_kfid": KF, "token": sync_token}))
                .await
        ),
        95007
    );
}

#[tokio::test]
async fn pulls_without_a_sync_token_are_rate_limited_and_history_is_three_days() {
    let api = Api::default().await;
    api.emulator.customer_says(KF, USER, "三天前");
    api.emulator.advance(3 * 86_400 + 1);
    let token = api.token().await;
    let recent = api.emulator.customer_says(KF, USER, "刚才");
    let page = api.pull(&token, json!({"open_kfid": KF})).await;
    assert_eq!(
        msgids(&page),
        vec![recent],
        "older messages are out of reach"
    );
    for _ in 1..10 {
        assert_eq!(code(&api.pull(&token, json!({"open_kfid": KF})).await), 0);
    }
    assert_eq!(
        code(&api.pull(&token, json!({"open_kfid": KF})).await),
        45009
    );
    let hinted = json!({"open_kfid": KF, "token": api.emulator.issue_sync_token(KF)});
    assert_eq!(
        code(&api.pull(&token, hinted).await),
        0,
        "a sync token lifts it"
    );
    api.emulator.advance(60);
    assert_eq!(code(&api.pull(&token, json!({"open_kfid": KF})).await), 0);
}

#[tokio::test]
async fn send_msg_keeps_the_window_the_quota_and_the_session_state() {
    let api = Api::default().await;
    let token = api.token().await;
    assert_eq!(
        code(&api.send_text(&token, "m0", "没有来信").await),
        95018,
        "nobody wrote: the session has not started (state 4)"
    );
    api.emulator.customer_says(KF, USER, "我的快递到哪了");
    for n in 1..=5 {
        let answer = api.send_text(&token, &format!("m{n}"), "回复").await;
        assert_eq!(
            (code(&answer), answer["msgid"].as_str()),
            (0, Some(format!("m{n}").as_str()))
        );
    }
    assert_eq!(code(&api.send_text(&token, "m6", "第六条").await), 95001);
    // A resend of an accepted msgid is answered, not sent again.
    assert_eq!(code(&api.send_text(&token, "m5", "回复").await), 0);
    assert_eq!(api.emulator.sent_messages().len(), 5);
    assert_eq!(
        api.emulator.sent_messages()[0].text.as_deref(),
        Some("回复")
    );
    // Messages sent through the API are not pulled back.
    let page = api.pull(&token, json!({"open_kfid": KF})).await;
    assert_eq!(page["msg_list"].as_array().unwrap().len(), 1);

    api.emulator.customer_says(KF, USER, "还在吗");
    assert_eq!(
        code(&api.send_text(&token, "m7", "在").await),
        0,
        "the quota resets"
    );
    for (msgid, text, expected) in [
        ("bad msgid!", "x", 40035),
        ("m8", "", 44004),
        ("m9", &"字".repeat(683), 45002),
    ] {
        assert_eq!(
            code(&api.send_text(&token, msgid, text).await),
            expected,
            "{msgid}"
        );
    }
    api.emulator.add_servicer(KF, "zhangsan", true);
    api.emulator.servicer_takes_over(KF, USER, "zhangsan");
    let refused = api.send_text(&token, "m10", "机器人").await;
    assert_eq!(code(&refused), 95018);
    assert_eq!(refused["errmsg"], "send msg session status invalid");
    api.emulator.advance(48 * 3600 + 1);
    let ended = api
        .post(
            SERVICE_STATE_TRANS_PATH,
            &api.token().await,
            &json!({"open_kfid": KF, "external_userid": USER, "service_state": 4}),
        )
        .await;
    assert_eq!(code(&ended), 0);
    assert_eq!(
        code(&api.send_text(&api.token().await, "m11", "过期").await),
        95018
    );
    api.emulator.customer_says(KF, USER, "又来了");
    assert_eq!(api.emulator.session_state(KF, USER), SessionState::New);
    let token = api.token().await;
    assert_eq!(code(&api.send_text(&token, "m12", "欢迎回来").await), 0);
    api.emulator.advance(48 * 3600 + 1);
    assert_eq!(code(&api.send_text(&token, "m13", "太晚").await), 42001);
    let token = api.token().await;
    assert_eq!(code(&api.send_text(&token, "m13", "太晚").await), 95002);
}

#[tokio::test]
async fn a_repeated_msgid_can_be_refused_instead() {
    let mut config = WecomApiConfig::new(CORP, SECRET);
    config.repeated_msgid = RepeatedMsgid::Refuse {
        errcode: 40035,
        errmsg: "msgid already exist".into(),
    };
    let api = Api::start(config).await;
    let token = api.token().await;
    api.emulator.customer_says(KF, USER, "你好");
    assert_eq!(code(&api.send_text(&token, "key1", "您好").await), 0);
    let again = api.send_text(&token, "key1", "您好").await;
    assert_eq!(
        (code(&again), again["errmsg"].as_str()),
        (40035, Some("msgid already exist"))
    );
    assert_eq!(api.emulator.sent_messages().len(), 1);
}

#[tokio::test]
async fn a_welcome_code_is_used_once_within_twenty_seconds() {
    let api = Api::default().await;
    let token = api.token().await;
    let code_once = api.emulator.customer_enters(KF, USER, "123", "campaign");
    let page = api.pull(&token, json!({"open_kfid": KF})).await;
    let event = &page["msg_list"][0];
    assert_eq!(
        (event["origin"].as_i64(), event["msgtype"].as_str()),
        (Some(4), Some("event"))
    );
    assert_eq!(event["event"]["event_type"], "enter_session");
    assert_eq!(event["event"]["welcome_code"], code_once.as_str());
    assert_eq!(event["event"]["scene_param"], "campaign");
    let welcome = |code: &str| json!({"code": code, "msgid": "welcome1", "msgtype": "text", "text": {"content": "欢迎"}});
    let answer = api
        .post(SEND_MSG_ON_EVENT_PATH, &token, &welcome(&code_once))
        .await;
    assert_eq!(
        (code(&answer), answer["msgid"].as_str()),
        (0, Some("welcome1"))
    );
    assert_eq!(
        code(
            &api.post(SEND_MSG_ON_EVENT_PATH, &token, &welcome(&code_once))
                .await
        ),
        40035,
        "used"
    );
    let late = api.emulator.customer_enters(KF, "wmLate", "123", "");
    api.emulator.advance(21);
    assert_eq!(
        code(
            &api.post(SEND_MSG_ON_EVENT_PATH, &token, &welcome(&late))
                .await
        ),
        40035,
        "expired"
    );
    let replies = api.emulator.event_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(
        (
            replies[0].external_userid.as_str(),
            replies[0].text.as_deref()
        ),
        (USER, Some("欢迎"))
    );
}

#[tokio::test]
async fn session_states_follow_trans_and_profiles_carry_bound_unionids() {
    let api = Api::default().await;
    let token = api.token().await;
    api.emulator.customer_says(KF, USER, "转人工");
    let trans = |state: i64, servicer: Option<&str>| {
        let mut body = json!({"open_kfid": KF, "external_userid": USER, "service_state": state});
        if let Some(servicer) = servicer {
            body["servicer_userid"] = json!(servicer);
        }
        body
    };
    api.emulator.add_servicer(KF, "lisi", false);
    let off_duty = api
        .post(SERVICE_STATE_TRANS_PATH, &token, &trans(3, Some("lisi")))
        .await;
    assert_eq!(code(&off_duty), 95014);
    let pool = api
        .post(SERVICE_STATE_TRANS_PATH, &token, &trans(2, None))
        .await;
    assert_eq!(code(&pool), 0);
    assert!(pool["msg_code"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(
        code(
            &api.post(SERVICE_STATE_TRANS_PATH, &token, &trans(1, None))
                .await
        ),
        95016,
        "the pool does not go back to the bot"
    );
    let state = api
        .post(
            SERVICE_STATE_GET_PATH,
            &token,
            &json!({"open_kfid": KF, "external_userid": USER}),
        )
        .await;
    assert_eq!(state["service_state"], 2);
    let changes = api.emulator.state_changes();
    assert_eq!(
        (changes.len(), changes[0].from, changes[0].to),
        (1, SessionState::New, SessionState::Pool)
    );

    api.emulator.bind_unionid(USER, "oUnion0001");
    let profiles = api
        .post(
            CUSTOMER_BATCHGET_PATH,
            &token,
            &json!({"external_userid_list": [USER, "wmNobody"]}),
        )
        .await;
    assert_eq!(profiles["customer_list"][0]["unionid"], "oUnion0001");
    assert_eq!(profiles["invalid_external_userid"], json!(["wmNobody"]));
}

#[tokio::test]
async fn injected_failures_come_after_the_token_check_and_everything_is_logged() {
    let api = Api::default().await;
    let token = api.token().await;
    api.emulator.customer_says(KF, USER, "你好");
    api.emulator.fail_next(SEND_MSG_PATH, 2, -1, "system busy");
    assert_eq!(code(&api.send_text("forged", "k1", "hi").await), 40014);
    assert_eq!(code(&api.send_text(&token, "k1", "hi").await), -1);
    assert_eq!(code(&api.send_text(&token, "k1", "hi").await), -1);
    assert_eq!(code(&api.send_text(&token, "k1", "hi").await), 0);
    api.emulator
        .fail_next(GETTOKEN_PATH, 1, 45009, "api freq out of limit");
    assert_eq!(
        code(
            &api.get(&format!(
                "{GETTOKEN_PATH}?corpid={CORP}&corpsecret={SECRET}"
            ))
            .await
        ),
        45009
    );
    let log = api.emulator.requests();
    let sends: Vec<i64> = log
        .iter()
        .filter(|r| r.path == SEND_MSG_PATH)
        .map(|r| r.errcode)
        .collect();
    assert_eq!(sends, vec![40014, -1, -1, 0]);
    assert_eq!(log.last().unwrap().errcode, 45009);
    assert_eq!(
        log.iter()
            .find(|r| r.path == SEND_MSG_PATH)
            .unwrap()
            .body
            .as_ref()
            .unwrap()["msgid"],
        "k1"
    );
    assert_eq!(api.emulator.request_count(GETTOKEN_PATH), 2);
    api.emulator
        .wait_for_deliveries(1, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        api.emulator
            .wait_for_deliveries(2, Duration::from_millis(50))
            .await
            .is_err()
    );
    let unknown = api
        .client
        .get(format!("{}/cgi-bin/unknown", api.emulator.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    api.emulator.shutdown().await;
}
