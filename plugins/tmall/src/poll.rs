//! The HTTP fallback of TMC, poll feed `tmc`: `taobao.tmc.messages.consume`
//! takes up to `quantity` waiting messages of the group; once the page is
//! committed, `taobao.tmc.messages.confirm` confirms them (unconfirmed
//! messages are delivered again). TMC keeps no cursor: the group's queue is
//! the cursor.

use crate::SETTING_CONSUME_QUANTITY;
use crate::answer::{self, Answer};
use crate::gateway;
use crate::normalize::{self, TmcMessage};
use crate::stream::group_name;
use serde_json::Value as Json;
use tongdao_sdk::beijing_time::parse_datetime;
use tongdao_sdk::*;

/// The feed name.
pub const FEED: &str = "tmc";
/// Step label of the consume request.
pub const STEP_CONSUME: &str = "consume";
/// Step label of the confirm request (an ack).
pub const STEP_CONFIRM: &str = "confirm";
/// The consume method.
pub const CONSUME: &str = "taobao.tmc.messages.consume";
/// The confirm method.
pub const CONFIRM: &str = "taobao.tmc.messages.confirm";
/// Messages per consume unless the shop says otherwise.
const DEFAULT_QUANTITY: u32 = 100;
/// The most messages one consume (and one confirm) may name.
const MAX_QUANTITY: u32 = 200;

fn quantity(ctx: &ShopContext) -> Result<u32, PluginError> {
    match ctx.setting(SETTING_CONSUME_QUANTITY) {
        None => Ok(DEFAULT_QUANTITY),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_QUANTITY).contains(n))
            .ok_or_else(|| {
                PluginError::Misconfigured(format!(
                    "setting `{SETTING_CONSUME_QUANTITY}` is `{text}`; it must be 1..={MAX_QUANTITY}"
                ))
            }),
    }
}

/// Render the consume request of feed `tmc`.
pub fn render(ctx: &ShopContext, poll: &PollRequest) -> Result<OutboundRequest, PluginError> {
    if poll.feed != FEED {
        return Err(PluginError::Unsupported(format!(
            "this plugin polls only feed `{FEED}`, not `{}`",
            poll.feed
        )));
    }
    let request = gateway::call(
        ctx,
        CONSUME,
        None,
        &[
            ("group_name", group_name(ctx).to_string()),
            ("quantity", quantity(ctx)?.to_string()),
        ],
    )?;
    Ok(OutboundRequest {
        step: STEP_CONSUME.into(),
        request,
    })
}

fn text(value: &Json, field: &str) -> Option<String> {
    match value.get(field)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The messages of a consume answer (`messages` is a list, or TOP's
/// non-simplified `{"tmc_message": [...]}`).
fn messages(body: &Json) -> Result<Vec<TmcMessage>, PluginError> {
    let list = match body.get("messages") {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(list)) => list.clone(),
        Some(Json::Object(wrapped)) => match wrapped.get("tmc_message") {
            Some(Json::Array(list)) => list.clone(),
            Some(one @ Json::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        },
        Some(_) => {
            return Err(PluginError::Malformed(
                "`messages` of the consume answer is neither a list nor an object".into(),
            ));
        }
    };
    list.iter()
        .map(|item| {
            let id = text(item, "id").ok_or_else(|| {
                PluginError::Malformed("a consumed TMC message has no `id`".into())
            })?;
            let topic = text(item, "topic").ok_or_else(|| {
                PluginError::Malformed(format!("consumed TMC message {id} has no `topic`"))
            })?;
            let content = match item.get("content") {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Null) | None => "{}".into(),
                Some(other) => other.to_string(),
            };
            Ok(TmcMessage {
                published_ms: text(item, "pub_time").and_then(|t| parse_datetime(&t)),
                user_nick: text(item, "user_nick"),
                user_id: text(item, "user_id"),
                id,
                topic,
                content,
            })
        })
        .collect()
}

/// Interpret a consume answer.
pub fn parse(
    ctx: &ShopContext,
    poll: &PollRequest,
    step: &str,
    response: &HttpResponse,
) -> Result<PollResult, PluginError> {
    if poll.feed != FEED || step != STEP_CONSUME {
        return Err(PluginError::Unsupported(format!(
            "feed `{}` step `{step}` is not one this plugin renders",
            poll.feed
        )));
    }
    let body = match answer::read(CONSUME, response) {
        Answer::Success(body) => body,
        Answer::Failed(outcome) => {
            return Ok(PollResult {
                outcome: PollOutcome::Step(outcome),
                state: Vec::new(),
            });
        }
    };
    let messages = messages(&body)?;
    let events = messages
        .iter()
        .map(|m| normalize::event(m, ctx.now_ms))
        .collect();
    let acks = if messages.is_empty() {
        Vec::new()
    } else {
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        vec![OutboundRequest {
            step: STEP_CONFIRM.into(),
            request: gateway::call(
                ctx,
                CONFIRM,
                None,
                &[
                    ("group_name", group_name(ctx).to_string()),
                    ("s_message_ids", ids.join(",")),
                ],
            )?,
        }]
    };
    let has_more = messages.len() as u32 >= quantity(ctx)?;
    Ok(PollResult {
        outcome: PollOutcome::Page(PollPage {
            events,
            next_cursor: None,
            has_more,
            acks,
        }),
        state: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-tmall", 1_714_037_060_000)
            .with_credential("app_key", "12345678")
            .with_credential("app_secret", "helloworld")
    }

    fn poll() -> PollRequest {
        PollRequest {
            feed: FEED.into(),
            cursor: None,
            hint_token: None,
        }
    }

    fn form(body: &[u8]) -> Vec<(String, String)> {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    const PAGE: &str = r#"{"tmc_messages_consume_response":{"messages":{"tmc_message":[
        {"id":4380000000000001,"topic":"taobao_trade_TradeBuyerPay","pub_time":"2024-04-25 17:24:19","user_nick":"demo_shop","user_id":2200000000001,"pub_app_key":"12345678",
         "content":"{\"tid\":3000000000000000001,\"buyer_open_uid\":\"AAGM\",\"payment\":\"99.00\",\"status\":\"WAIT_SELLER_SEND_GOODS\"}"},
        {"id":4380000000000002,"topic":"taobao_refund_RefundCreated","pub_time":"2024-04-25 17:30:00",
         "content":"{\"refund_id\":7000000000000001,\"tid\":3000000000000000001,\"refund_fee\":\"99.00\"}"}
    ]},"request_id":"abc"}}"#;

    #[test]
    fn the_consume_request_names_group_and_quantity() {
        let rendered = render(&ctx(), &poll()).unwrap();
        assert_eq!(rendered.step, STEP_CONSUME);
        let params = form(&rendered.request.body);
        assert!(params.contains(&("method".into(), CONSUME.into())));
        assert!(params.contains(&("group_name".into(), "default".into())));
        assert!(params.contains(&("quantity".into(), "100".into())));
        let other = PollRequest {
            feed: "orders".into(),
            ..poll()
        };
        assert!(matches!(
            render(&ctx(), &other),
            Err(PluginError::Unsupported(_))
        ));
        let bad = ctx().with_setting(SETTING_CONSUME_QUANTITY, "500");
        assert!(matches!(
            render(&bad, &poll()),
            Err(PluginError::Misconfigured(_))
        ));
    }

    #[test]
    fn a_page_becomes_events_and_one_confirm() {
        let result = parse(
            &ctx(),
            &poll(),
            STEP_CONSUME,
            &HttpResponse::json(200, PAGE),
        )
        .unwrap();
        let PollOutcome::Page(page) = result.outcome else {
            panic!("a page")
        };
        assert_eq!(page.events.len(), 2);
        assert_eq!(
            page.events[0].platform_id,
            "taobao_trade_TradeBuyerPay:4380000000000001"
        );
        assert_eq!(page.events[0].platform_time_ms, 1_714_037_059_000);
        assert_eq!(page.events[1].conversation_id, "refund_7000000000000001");
        assert!(!page.has_more);
        assert_eq!(page.next_cursor, None);
        assert_eq!(page.acks.len(), 1);
        assert_eq!(page.acks[0].step, STEP_CONFIRM);
        let params = form(&page.acks[0].request.body);
        assert!(params.contains(&("method".into(), CONFIRM.into())));
        assert!(params.contains(&(
            "s_message_ids".into(),
            "4380000000000001,4380000000000002".into()
        )));
    }

    #[test]
    fn a_full_page_asks_for_more_and_an_empty_one_confirms_nothing() {
        let full = ctx().with_setting(SETTING_CONSUME_QUANTITY, "2");
        let result = parse(&full, &poll(), STEP_CONSUME, &HttpResponse::json(200, PAGE)).unwrap();
        assert!(matches!(result.outcome, PollOutcome::Page(p) if p.has_more));
        for empty in [
            r#"{"tmc_messages_consume_response":{"request_id":"x"}}"#,
            r#"{"tmc_messages_consume_response":{"messages":[]}}"#,
        ] {
            let result = parse(
                &ctx(),
                &poll(),
                STEP_CONSUME,
                &HttpResponse::json(200, empty),
            )
            .unwrap();
            let PollOutcome::Page(page) = result.outcome else {
                panic!("a page")
            };
            assert!(page.events.is_empty() && page.acks.is_empty() && !page.has_more);
        }
    }

    #[test]
    fn errors_become_steps() {
        let limited = r#"{"error_response":{"code":7,"msg":"App Call Limited","sub_msg":"This ban will last for 3 more seconds"}}"#;
        let result = parse(
            &ctx(),
            &poll(),
            STEP_CONSUME,
            &HttpResponse::json(200, limited),
        )
        .unwrap();
        assert!(matches!(
            result.outcome,
            PollOutcome::Step(DeliveryOutcome::QuotaExceeded(h)) if h.after_ms == Some(3_000)
        ));
        let forged = r#"{"error_response":{"code":25,"msg":"Invalid signature"}}"#;
        let result = parse(
            &ctx(),
            &poll(),
            STEP_CONSUME,
            &HttpResponse::json(200, forged),
        )
        .unwrap();
        assert!(matches!(
            result.outcome,
            PollOutcome::Step(DeliveryOutcome::Permanent(f)) if f.code == "25"
        ));
        let broken = r#"{"tmc_messages_consume_response":{"messages":[{"topic":"x"}]}}"#;
        assert!(matches!(
            parse(
                &ctx(),
                &poll(),
                STEP_CONSUME,
                &HttpResponse::json(200, broken)
            ),
            Err(PluginError::Malformed(_))
        ));
    }
}
