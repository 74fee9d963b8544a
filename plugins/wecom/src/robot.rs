//! The shop's group robot (群机器人): a message whose route says
//! `tongdao-target = group-robot` is not for a customer but for the
//! brand's own WeCom group, e.g. a risk alert. It is posted to
//! `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={robot_key}` as
//! text (≤ 2048 bytes, longer text is cut at a character boundary); no
//! access token is needed. WeCom answers 93000 to a wrong key (permanent)
//! and 45009 past 20 messages a minute (retry after the minute).

use crate::API_HOST;
use serde_json::json;
use tongdao_sdk::*;

/// The route name that marks a message for the shop's own group.
pub const TARGET_ROUTE: &str = "tongdao-target";
/// [`TARGET_ROUTE`]'s value for the group robot.
pub const GROUP_ROBOT: &str = "group-robot";
/// Step label of the webhook post.
pub const STEP_ROBOT: &str = "robot";
/// The longest text a robot posts, bytes.
const MAX_TEXT_BYTES: usize = 2048;
/// How long to wait after 45009: the robot's limit is per minute.
const FREQUENCY_WAIT_MS: u32 = 60_000;

/// Whether `action` is for the group robot.
pub fn is_for_robot(action: &Action) -> bool {
    action
        .route
        .iter()
        .any(|pair| pair.name == TARGET_ROUTE && pair.value == GROUP_ROBOT)
}

/// The webhook post of a message for the group.
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let ActionKind::SendMessage(content) = &action.kind else {
        return Err(PluginError::Unsupported(format!(
            "the group robot only posts messages, not `{}`",
            action.kind.name()
        )));
    };
    let mut text = content
        .fallback_text()
        .ok_or_else(|| PluginError::Unsupported("the group robot posts text only".into()))?
        .to_string();
    if text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let key = ctx.credential("robot_key")?;
    let url = format!(
        "https://{API_HOST}/cgi-bin/webhook/send?key={}",
        form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
    );
    let body = json!({"msgtype": "text", "text": {"content": text}});
    Ok(OutboundRequest {
        step: STEP_ROBOT.into(),
        request: HttpRequest::new("POST", &url, body.to_string().into_bytes())
            .with_header("content-type", "application/json; charset=utf-8"),
    })
}

/// What the webhook's answer means.
pub fn interpret(response: &HttpResponse) -> Interpretation {
    let answer = match crate::api_answer::read(response) {
        Ok(answer) => answer,
        Err(outcome) => return Interpretation::outcome(outcome),
    };
    Interpretation::outcome(match answer.errcode {
        0 => DeliveryOutcome::delivered(None),
        45009 => DeliveryOutcome::quota(Some(FREQUENCY_WAIT_MS), answer.explain()),
        -1 => DeliveryOutcome::retry(answer.explain()),
        code => DeliveryOutcome::permanent(code.to_string(), answer.explain()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Action {
        Action {
            idempotency_key: "k".into(),
            conversation_id: "tongdao-risk-alerts".into(),
            recipient: "group-robot".into(),
            route: vec![Pair::new(TARGET_ROUTE, GROUP_ROBOT)],
            kind: ActionKind::SendMessage(Content::Text("【投诉风险】".repeat(200))),
            attempt: 1,
        }
    }

    #[test]
    fn an_alert_posts_to_the_robot_cut_to_its_limit() {
        let ctx = ShopContext::for_test("kf", 0).with_credential("robot_key", "k-1/2");
        let rendered = render(&ctx, &alert()).unwrap();
        assert_eq!(
            rendered.request.url,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1%2F2"
        );
        let body: serde_json::Value = serde_json::from_slice(&rendered.request.body).unwrap();
        let content = body["text"]["content"].as_str().unwrap();
        assert!(content.len() <= MAX_TEXT_BYTES && content.starts_with("【投诉风险】"));
        assert!(is_for_robot(&alert()));
    }

    #[test]
    fn without_a_robot_key_the_shop_is_misconfigured() {
        let ctx = ShopContext::for_test("kf", 0);
        assert!(matches!(
            render(&ctx, &alert()),
            Err(PluginError::Misconfigured(_))
        ));
    }

    #[test]
    fn the_robots_answers_are_classified() {
        let answer = |body: &str| HttpResponse {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        assert!(matches!(
            interpret(&answer(r#"{"errcode":0,"errmsg":"ok"}"#)).outcome,
            DeliveryOutcome::Delivered(_)
        ));
        assert!(matches!(
            interpret(&answer(
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ))
            .outcome,
            DeliveryOutcome::QuotaExceeded(RetryHint {
                after_ms: Some(60_000),
                ..
            })
        ));
        assert!(matches!(
            interpret(&answer(
                r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#
            ))
            .outcome,
            DeliveryOutcome::Permanent(_)
        ));
    }
}
