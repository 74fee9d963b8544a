//! A whole chat-log round: the session list, then each customer's log,
//! with the cursor carrying the round across pages.

use super::*;

fn ctx() -> ShopContext {
    ShopContext::for_test("demo-jd", 1_714_037_359_000)
        .with_credential("app_key", "JDAPPKEY")
        .with_credential("app_secret", "jd-secret")
        .with_credential("access_token", "jd-token")
}

fn poll(cursor: Option<&str>) -> PollRequest {
    PollRequest {
        feed: FEED.into(),
        cursor: cursor.map(String::from),
        hint_token: None,
    }
}

fn sent(request: &OutboundRequest) -> (String, Json) {
    let form: Vec<(String, String)> = form_urlencoded::parse(&request.request.body)
        .into_owned()
        .collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).unwrap().1.clone();
    (
        get("method"),
        serde_json::from_str(&get(gateway::PARAM_JSON)).unwrap(),
    )
}

fn page(result: &PollResult) -> &PollPage {
    match &result.outcome {
        PollOutcome::Page(page) => page,
        other => panic!("not a page: {other:?}"),
    }
}

fn sessions(customers: &[&str], total: usize) -> HttpResponse {
    let list: Vec<Json> = customers
        .iter()
        .map(|c| json!({"customer": c, "waiter": "shop_waiter_1", "sid": format!("sid-{c}")}))
        .collect();
    HttpResponse::json(
        200,
        &json!({"jingdong_im_pop_sessionlist_get_responce": {"code": "0",
            "ChatSessionPage": {"chatSessionList": list, "totalRecord": total}}})
        .to_string(),
    )
}

fn chat_log(entries: Json, total: usize) -> HttpResponse {
    HttpResponse::json(
        200,
        &json!({"jingdong_im_pop_chatlog_get_responce": {"code": "0",
            "ChatLogPage": {"chatLogList": entries, "totalRecord": total}}})
        .to_string(),
    )
}

/// Render and parse one step; returns the rendered request and the result.
fn step(
    ctx: &ShopContext,
    cursor: Option<&str>,
    answer: &HttpResponse,
) -> (OutboundRequest, PollResult) {
    let request = render(ctx, &poll(cursor)).unwrap();
    let result = parse(ctx, &poll(cursor), &request.step, answer).unwrap();
    (request, result)
}

#[test]
fn a_round_reads_the_sessions_then_each_customer_s_log() {
    let ctx = ctx();
    // 1. The session list of the first window: the ten-minute look-back and
    //    the two-minute overlap every round reads again.
    let (request, result) = step(&ctx, None, &sessions(&["buyer_a", "buyer_b"], 2));
    let (method, params) = sent(&request);
    assert_eq!(method, SESSION_LIST);
    assert_eq!(params["startTime"], "2024-04-25 17:17:19");
    assert_eq!(params["endTime"], "2024-04-25 17:29:19");
    assert_eq!(params["page"], 1);
    let sessions_page = page(&result);
    assert!(sessions_page.events.is_empty());
    assert!(sessions_page.has_more);
    let cursor = sessions_page.next_cursor.clone().unwrap();

    // 2. buyer_a's log: a question and the waiter's reply.
    let entries = json!([
        {"customer": "buyer_a", "waiter": "shop_waiter_1", "content": "我的快递到哪了",
         "sid": "sid-1", "skuId": 100012043978u64, "time": 1_714_037_100_000u64, "waiterSend": false},
        {"customer": "buyer_a", "waiter": "shop_waiter_1", "content": "亲，已发货",
         "sid": "sid-1", "skuId": 100012043978u64, "time": 1_714_037_160_000u64, "waiterSend": true}
    ]);
    let mut later = ctx.clone();
    later.now_ms += 3_000;
    let (request, result) = step(&later, Some(&cursor), &chat_log(entries.clone(), 2));
    let (method, params) = sent(&request);
    assert_eq!(method, CHAT_LOG);
    assert_eq!(params["customer"], "buyer_a");
    assert_eq!(
        params["endTime"], "2024-04-25 17:29:19",
        "the round keeps its window"
    );
    let log_page = page(&result);
    assert_eq!(log_page.events.len(), 2);
    assert!(log_page.has_more, "buyer_b is still to be read");
    let question = &log_page.events[0];
    assert_eq!(question.conversation_id, "buyer_a");
    assert_eq!(question.platform_time_ms, 1_714_037_100_000);
    let message = question.message().unwrap();
    assert_eq!(message.role, AuthorRole::Customer);
    assert_eq!(message.direction, Direction::Inbound);
    assert_eq!(message.content, Content::Text("我的快递到哪了".into()));
    assert!(
        question
            .route
            .contains(&Pair::new("waiter", "shop_waiter_1"))
    );
    assert!(
        question
            .route
            .contains(&Pair::new("sku_id", "100012043978"))
    );
    let reply = log_page.events[1].message().unwrap();
    assert_eq!(
        (reply.role, reply.direction),
        (AuthorRole::Agent, Direction::Outbound)
    );
    assert_eq!(reply.author.platform_user_id, "shop_waiter_1");
    let cursor = log_page.next_cursor.clone().unwrap();

    // 3. buyer_b has nothing new: the round ends at its window's end.
    let (request, result) = step(&later, Some(&cursor), &chat_log(json!([]), 0));
    assert_eq!(sent(&request).1["customer"], "buyer_b");
    let last = page(&result);
    assert!(!last.has_more);
    assert_eq!(
        last.next_cursor.as_deref(),
        Some(r#"{"since":1714037359000}"#)
    );

    // 4. The next round starts two minutes before that, and reading the
    //    overlap again yields the same platform ids.
    let (request, _) = step(&later, last.next_cursor.as_deref(), &sessions(&[], 0));
    assert_eq!(sent(&request).1["startTime"], "2024-04-25 17:27:19");
    let again = chat_page(
        None,
        0,
        Round {
            from: 0,
            to: 1,
            session_page: None,
            customers: vec!["buyer_a".into()],
            chat_page: 1,
        },
        &json!({"ChatLogPage": {"chatLogList": entries}}),
    );
    let ids: Vec<&str> = page(&again)
        .events
        .iter()
        .map(|e| e.platform_id.as_str())
        .collect();
    assert_eq!(
        ids,
        log_page
            .events
            .iter()
            .map(|e| e.platform_id.as_str())
            .collect::<Vec<_>>()
    );
    assert!(ids[0].starts_with("sid-1:1714037100000:c:"));
    assert!(ids[1].starts_with("sid-1:1714037160000:w:"));
}

#[test]
fn long_lists_are_paged() {
    let ctx = ctx();
    let many: Vec<String> = (0..SESSION_PAGE_SIZE)
        .map(|i| format!("buyer_{i}"))
        .collect();
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    let (_, result) = step(&ctx, None, &sessions(&names, 51));
    let cursor = page(&result).next_cursor.clone().unwrap();
    // Customers first, then the second session page once the queue is read.
    let round: Cursor = serde_json::from_str(&cursor).unwrap();
    let round = round.round.unwrap();
    assert_eq!(round.customers.len(), 50);
    assert_eq!(round.session_page, Some(2));
    let full: Vec<Json> = (0..CHAT_PAGE_SIZE)
        .map(|i| json!({"customer": "buyer_0", "content": format!("第{i}条"), "sid": "s", "time": 1_714_037_000_000u64 + u64::from(i)}))
        .collect();
    let (_, result) = step(&ctx, Some(&cursor), &chat_log(json!(full), 150));
    let cursor = page(&result).next_cursor.clone().unwrap();
    let (request, _) = step(&ctx, Some(&cursor), &chat_log(json!([]), 150));
    let (_, params) = sent(&request);
    assert_eq!(
        (params["customer"].clone(), params["page"].clone()),
        (json!("buyer_0"), json!(2))
    );
}

#[test]
fn failures_and_foreign_input_are_refused_or_classified() {
    let ctx = ctx();
    let request = render(&ctx, &poll(None)).unwrap();
    let expired = HttpResponse::json(
        200,
        r#"{"error_response":{"code":"19","zh_desc":"无效access_token","en_desc":"Invalid access_token"}}"#,
    );
    let result = parse(&ctx, &poll(None), &request.step, &expired).unwrap();
    assert_eq!(
        result.outcome,
        PollOutcome::Step(DeliveryOutcome::TokenExpired)
    );
    assert_eq!(result.state.len(), 1, "the rejected token is remembered");
    // A chat-log answer needs a customer in the cursor.
    assert!(matches!(
        parse(&ctx, &poll(None), "chatlog:1:2:1", &chat_log(json!([]), 0)),
        Err(PluginError::Malformed(_))
    ));
    assert!(matches!(
        parse(&ctx, &poll(None), "other", &chat_log(json!([]), 0)),
        Err(PluginError::Unsupported(_))
    ));
    assert!(matches!(
        render(&ctx, &poll(Some("{\"since\":\"x\"}"))),
        Err(PluginError::Malformed(_))
    ));
    // Entries without text or time are skipped, not stored half-read.
    let round = Round {
        from: 0,
        to: 1,
        session_page: None,
        customers: vec!["buyer_a".into()],
        chat_page: 1,
    };
    let skipped = chat_page(
        None,
        0,
        round,
        &json!({"ChatLog": {"chatLogList": [{"customer": "buyer_a", "time": 5}, {"content": "hi"}]}}),
    );
    assert!(page(&skipped).events.is_empty());
}

#[test]
fn lines_of_the_shop_s_own_account_are_its_replies_and_skipped() {
    let round = || Round {
        from: 0,
        to: 1,
        session_page: None,
        customers: vec!["buyer_a".into()],
        chat_page: 1,
    };
    let log = json!({"ChatLogPage": {"chatLogList": [
        {"customer": "buyer_a", "waiter": "shop_bot", "content": "问题", "sid": "s", "time": 1},
        {"customer": "buyer_a", "waiter": "shop_bot", "content": "机器人的回答", "sid": "s", "time": 2, "waiterSend": true},
        {"customer": "buyer_a", "waiter": "human_7", "content": "人工的回答", "sid": "s", "time": 3, "waiterSend": true}
    ]}});
    let read = chat_page(Some("shop_bot"), 0, round(), &log);
    let kept: Vec<(AuthorRole, String)> = page(&read)
        .events
        .iter()
        .map(|e| {
            let m = e.message().unwrap();
            (m.role, m.author.platform_user_id.clone())
        })
        .collect();
    assert_eq!(
        kept,
        vec![
            (AuthorRole::Customer, "buyer_a".to_string()),
            (AuthorRole::Agent, "human_7".to_string())
        ]
    );
    assert_eq!(page(&chat_page(None, 0, round(), &log)).events.len(), 3);
}
