//! The emulator over loopback HTTP, driven by hand-built requests: it
//! enforces the gateway's checks (signature, timestamp, token), answers
//! chat-log windows and pages, takes 咚咚 pushes only with the partner ids,
//! and refreshes tokens only for the current refresh token.

use serde_json::{Value, json};
use tongdao_emulator_jd::signing::{expected_sign, format_time};
use tongdao_emulator_jd::{JdConfig, JdEmulator};

const NOW: i64 = 1_714_037_359_000;

async fn emulator() -> JdEmulator {
    let jd = JdEmulator::start(JdConfig::new(
        "JDAPPKEY",
        "jd-secret",
        "jd-token",
        "jd-refresh",
    ))
    .await
    .unwrap();
    jd.set_clock_ms(Some(NOW));
    jd
}

fn timestamp(ms: i64) -> String {
    format!("{}.000+0800", format_time(ms))
}

async fn call(
    jd: &JdEmulator,
    method: &str,
    token: &str,
    business: Value,
    at_ms: i64,
    secret: &str,
) -> Value {
    let mut params: Vec<(String, String)> = vec![
        ("method".into(), method.into()),
        ("app_key".into(), "JDAPPKEY".into()),
        ("access_token".into(), token.into()),
        ("timestamp".into(), timestamp(at_ms)),
        ("v".into(), "2.0".into()),
        ("360buy_param_json".into(), business.to_string()),
    ];
    let sign = expected_sign(secret, &params);
    params.push(("sign".into(), sign));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let response = reqwest::Client::new()
        .post(format!("{}/routerjson", jd.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

fn code(answer: &Value) -> &str {
    answer["error_response"]["code"].as_str().unwrap_or("none")
}

#[tokio::test]
async fn the_gateway_refuses_forged_stale_and_unauthorised_calls() {
    let jd = emulator().await;
    let window = json!({"startTime": format_time(NOW - 60_000), "endTime": format_time(NOW)});
    let method = "jingdong.im.pop.sessionlist.get";
    assert_eq!(
        code(&call(&jd, method, "jd-token", window.clone(), NOW, "wrong-secret").await),
        "12"
    );
    assert_eq!(
        code(
            &call(
                &jd,
                method,
                "jd-token",
                window.clone(),
                NOW - 7 * 60_000,
                "jd-secret"
            )
            .await
        ),
        "8"
    );
    assert_eq!(
        code(&call(&jd, method, "other-token", window.clone(), NOW, "jd-secret").await),
        "19"
    );
    assert_eq!(
        code(
            &call(
                &jd,
                "jingdong.unknown",
                "jd-token",
                window.clone(),
                NOW,
                "jd-secret"
            )
            .await
        ),
        "15"
    );
    let ok = call(&jd, method, "jd-token", window, NOW, "jd-secret").await;
    assert_eq!(ok["jingdong_im_pop_sessionlist_get_responce"]["code"], "0");
    let codes: Vec<Option<String>> = jd.calls().into_iter().map(|c| c.error_code).collect();
    assert_eq!(
        codes,
        vec![
            Some("12".into()),
            Some("8".into()),
            Some("19".into()),
            Some("15".into()),
            None
        ]
    );
}

#[tokio::test]
async fn chat_logs_are_windowed_and_paged_and_pushes_need_the_partner_ids() {
    let jd = emulator().await;
    for i in 0..3 {
        jd.customer_says(
            "buyer_a",
            "waiter_1",
            "sid-1",
            &format!("问题{i}"),
            NOW - 30_000 + i,
        );
    }
    jd.customer_says(
        "buyer_b",
        "waiter_1",
        "sid-2",
        "早先的问题",
        NOW - 8 * 24 * 3600 * 1000,
    );
    let method = "jingdong.im.pop.chatlog.get";
    let args = |page: u32| json!({"customer": "buyer_a", "startTime": format_time(NOW - 60_000), "endTime": format_time(NOW), "page": page, "pageSize": 2});
    let first = call(&jd, method, "jd-token", args(1), NOW, "jd-secret").await;
    let page = &first["jingdong_im_pop_chatlog_get_responce"]["ChatLogPage"];
    assert_eq!(page["totalRecord"], 3);
    assert_eq!(page["chatLogList"].as_array().unwrap().len(), 2);
    let second = call(&jd, method, "jd-token", args(2), NOW, "jd-secret").await;
    assert_eq!(
        second["jingdong_im_pop_chatlog_get_responce"]["ChatLogPage"]["chatLogList"][0]["content"],
        "问题2"
    );
    let too_long =
        json!({"startTime": format_time(NOW - 8 * 24 * 3600 * 1000), "endTime": format_time(NOW)});
    assert_eq!(
        code(
            &call(
                &jd,
                "jingdong.im.pop.sessionlist.get",
                "jd-token",
                too_long,
                NOW,
                "jd-secret"
            )
            .await
        ),
        "100"
    );

    let push = |accessid: &str| {
        json!({
            "param1": {"accessid": accessid, "aspid": "dd-asp-1", "source": "jos", "accessToken": "jd-token", "version": "1.0"},
            "param2": {"upid": "u1", "fromPin": "waiter_1", "toPin": "buyer_a", "body": "{\"type\":\"text\",\"content\":\"您好\"}"}
        })
    };
    let refused = call(
        &jd,
        "jingdong.dongdong.packet.josChatMessage.push",
        "jd-token",
        push("someone-else"),
        NOW,
        "jd-secret",
    )
    .await;
    assert_eq!(
        refused["jingdong_dongdong_packet_josChatMessage_push_responce"]["returnType"]["success"],
        false
    );
    assert!(jd.pushes().is_empty());
    let sent = call(
        &jd,
        "jingdong.dongdong.packet.josChatMessage.push",
        "jd-token",
        push("dd-access-1"),
        NOW,
        "jd-secret",
    )
    .await;
    assert_eq!(
        sent["jingdong_dongdong_packet_josChatMessage_push_responce"]["returnType"]["success"],
        true
    );
    assert_eq!(jd.pushes()[0].text, "您好");
    let echoed = jd.chat_log().into_iter().last().unwrap();
    assert!(echoed.waiter_send && echoed.content == "您好" && echoed.sid == "sid-1");
}

#[tokio::test]
async fn a_refresh_token_buys_one_new_pair() {
    let jd = emulator().await;
    jd.expire_access_tokens();
    let refresh = |token: &str| {
        let url = format!(
            "{}/oauth2/refresh_token?app_key=JDAPPKEY&app_secret=jd-secret&grant_type=refresh_token&refresh_token={token}",
            jd.base_url()
        );
        async move {
            serde_json::from_str::<Value>(&reqwest::get(url).await.unwrap().text().await.unwrap())
                .unwrap()
        }
    };
    let fresh = refresh("jd-refresh").await;
    assert_eq!(fresh["access_token"], "jd-access-1");
    assert_eq!(fresh["refresh_token"], "jd-refresh-1");
    let spent = refresh("jd-refresh").await;
    assert_eq!(spent["code"], 2011);
    assert_eq!(jd.refreshes(), vec![true, false]);
    assert_eq!(jd.valid_access_tokens(), vec!["jd-access-1".to_string()]);
}
