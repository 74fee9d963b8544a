//! `send-message` through 咚咚 (JD's customer-service IM):
//! `jingdong.dongdong.packet.josChatMessage.push`. The method is in JD's
//! SDKs but its documentation and permission package are partner-only: the
//! request follows the SDK's parameter classes — `param1` an access
//! signature (`accessid`, `aspid`, `source`, `accessToken`, `version`),
//! `param2` a chat packet (`upid`, `ver`, `fromApp`, `fromClientType`,
//! `fromPin`, `toApp`, `toClientType`, `toPin`, `body`) — and what the
//! SDKs do not say (the packet's app names, client type, body shape) is
//! set by shop settings with the defaults below. See README.md.

use crate::answer::{self, Answer, business_failure, text};
use crate::token::{self, Token};
use crate::{SETTING_WAITER, action_failure, gateway};
use serde_json::json;
use tongdao_sdk::*;

/// Step label of a send.
pub const STEP_SEND: &str = "send";
/// The push method.
pub const CHAT_PUSH: &str = "jingdong.dongdong.packet.josChatMessage.push";
/// The longest text sent in one message, in bytes (JD publishes no limit;
/// this is the plugin's own conservative bound).
pub const MAX_TEXT_BYTES: usize = 1024;
/// Setting: the packet's sending app (default `im.waiter`).
pub const SETTING_FROM_APP: &str = "dongdong_from_app";
/// Setting: the packet's receiving app (default `im.customer`).
pub const SETTING_TO_APP: &str = "dongdong_to_app";
/// Setting: the packets' client type (default `pc`).
pub const SETTING_CLIENT_TYPE: &str = "dongdong_client_type";
/// Setting: `param1.source` (default `jos`).
pub const SETTING_SOURCE: &str = "dongdong_source";

fn setting<'a>(ctx: &'a ShopContext, name: &str, default: &'a str) -> &'a str {
    ctx.setting(name).map(str::trim).unwrap_or(default)
}

/// The 咚咚 account tongdao's replies go out as: the shop's `waiter`
/// setting (the chat log's lines by this account are tongdao's own).
fn waiter(ctx: &ShopContext) -> Result<&str, PluginError> {
    ctx.setting(SETTING_WAITER)
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            PluginError::Misconfigured(format!(
                "shop `{}` has no setting `{SETTING_WAITER}` (the 咚咚 account replies go out as)",
                ctx.shop_id
            ))
        })
}

fn message_text(content: &Content) -> Result<&str, PluginError> {
    let text = content.fallback_text().ok_or_else(|| {
        PluginError::Unsupported("咚咚 messages are text; this content has no text to send".into())
    })?;
    if text.trim().is_empty() {
        return Err(PluginError::Malformed("the message text is empty".into()));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(PluginError::Unsupported(format!(
            "the text is {} bytes; the plugin sends at most {MAX_TEXT_BYTES} bytes per 咚咚 message",
            text.len()
        )));
    }
    Ok(text)
}

/// Render a send.
pub fn render(ctx: &ShopContext, action: &Action) -> Result<OutboundRequest, PluginError> {
    let ActionKind::SendMessage(content) = &action.kind else {
        return Err(PluginError::Unsupported(format!(
            "the JD plugin cannot `{}`",
            action.kind.name()
        )));
    };
    let text = message_text(content)?;
    let customer = action.recipient.trim();
    if customer.is_empty() {
        return Err(PluginError::Malformed(
            "the action has no recipient (the customer's pin)".into(),
        ));
    }
    let from = waiter(ctx)?;
    let access_id = ctx.credential("dongdong_accessid")?;
    let asp_id = ctx.credential("dongdong_aspid")?;
    let access_token = match token::token(ctx)? {
        Token::Ready(token) => token,
        Token::Refresh(request) => return Ok(request),
    };
    let client_type = setting(ctx, SETTING_CLIENT_TYPE, "pc");
    let body = json!({"type": "text", "content": text}).to_string();
    let params = json!({
        "param1": {
            "accessid": access_id,
            "aspid": asp_id,
            "source": setting(ctx, SETTING_SOURCE, "jos"),
            "accessToken": access_token,
            "version": "1.0",
        },
        "param2": {
            "upid": action.idempotency_key,
            "ver": "4.1",
            "fromApp": setting(ctx, SETTING_FROM_APP, "im.waiter"),
            "fromClientType": client_type,
            "fromPin": from,
            "toApp": setting(ctx, SETTING_TO_APP, "im.customer"),
            "toClientType": client_type,
            "toPin": customer,
            "body": body,
        },
    });
    Ok(OutboundRequest {
        step: STEP_SEND.into(),
        request: gateway::call(ctx, CHAT_PUSH, access_token, &params)?,
    })
}

/// Interpret the answer to a send (or to the token refresh before it).
pub fn interpret(
    ctx: &ShopContext,
    action: &Action,
    step: &str,
    response: &HttpResponse,
) -> Result<Interpretation, PluginError> {
    match step {
        token::STEP_REFRESH => return Ok(token::read_refresh(ctx, response)),
        STEP_SEND => {}
        other => {
            return Err(PluginError::Unsupported(format!(
                "step `{other}` is not one this plugin renders for a send"
            )));
        }
    }
    let body = match answer::read(CHAT_PUSH, response) {
        Answer::Success(body) => body,
        Answer::Failed(outcome) => return Ok(action_failure(ctx, outcome)),
    };
    if let Some(outcome) = business_failure(&body) {
        return Ok(Interpretation::outcome(outcome));
    }
    let platform_id = ["returnType", "result"]
        .iter()
        .filter_map(|key| body.get(*key))
        .find_map(|result| text(result, "msgId").or_else(|| text(result, "mid")))
        .or_else(|| Some(action.idempotency_key.clone()));
    Ok(Interpretation::outcome(DeliveryOutcome::delivered(
        platform_id,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-jd", 1_714_037_059_000)
            .with_credential("app_key", "JDAPPKEY")
            .with_credential("app_secret", "jd-secret")
            .with_credential("access_token", "jd-token")
            .with_credential("dongdong_accessid", "dd-access")
            .with_credential("dongdong_aspid", "dd-asp")
            .with_setting(SETTING_WAITER, "shop_waiter_1")
    }

    fn send(text: &str, route: Vec<Pair>) -> Action {
        Action {
            idempotency_key: "out-0001".into(),
            conversation_id: "jd_buyer_1".into(),
            recipient: "jd_buyer_1".into(),
            route,
            kind: ActionKind::SendMessage(Content::Text(text.into())),
            attempt: 1,
        }
    }

    fn param_json(request: &OutboundRequest) -> Value {
        let form: Vec<(String, String)> = form_urlencoded::parse(&request.request.body)
            .into_owned()
            .collect();
        serde_json::from_str(
            &form
                .iter()
                .find(|(k, _)| k == gateway::PARAM_JSON)
                .unwrap()
                .1,
        )
        .unwrap()
    }

    #[test]
    fn a_send_is_a_signed_chat_packet_from_the_shop_s_waiter_account() {
        let action = send(
            "亲，已为您查询",
            vec![Pair::new("waiter", "human_waiter_2")],
        );
        let request = render(&ctx(), &action).unwrap();
        assert_eq!(request.step, STEP_SEND);
        let params = param_json(&request);
        assert_eq!(params["param1"]["accessid"], "dd-access");
        assert_eq!(params["param1"]["aspid"], "dd-asp");
        assert_eq!(params["param1"]["accessToken"], "jd-token");
        assert_eq!(params["param2"]["upid"], "out-0001");
        assert_eq!(params["param2"]["fromPin"], "shop_waiter_1");
        assert_eq!(params["param2"]["toPin"], "jd_buyer_1");
        let body: Value = serde_json::from_str(params["param2"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"type": "text", "content": "亲，已为您查询"}));
        let mut no_waiter = ctx();
        no_waiter.settings.clear();
        assert!(matches!(
            render(&no_waiter, &send("hi", vec![])),
            Err(PluginError::Misconfigured(m)) if m.contains("waiter")
        ));
    }

    #[test]
    fn what_cannot_be_sent_is_refused_before_anything_goes_out() {
        let mut no_ids = ctx();
        no_ids.credentials.retain(|p| p.name != "dongdong_aspid");
        assert!(matches!(
            render(&no_ids, &send("hi", vec![])),
            Err(PluginError::Misconfigured(m)) if m.contains("dongdong_aspid")
        ));
        assert!(matches!(
            render(&ctx(), &send(&"好".repeat(400), vec![])),
            Err(PluginError::Unsupported(m)) if m.contains("1024")
        ));
        assert!(matches!(
            render(&ctx(), &send("  ", vec![])),
            Err(PluginError::Malformed(_))
        ));
        let image = Action {
            kind: ActionKind::SendMessage(Content::Image(Media {
                url: Some("https://img.example/1.png".into()),
                media_id: None,
                mime_type: None,
                file_name: None,
                size_bytes: None,
            })),
            ..send("x", vec![])
        };
        assert!(matches!(
            render(&ctx(), &image),
            Err(PluginError::Unsupported(_))
        ));
    }

    #[test]
    fn answers_are_classified() {
        let action = send("hi", vec![]);
        let ok = HttpResponse::json(
            200,
            r#"{"jingdong_dongdong_packet_josChatMessage_push_responce":{"code":"0","returnType":{"success":true,"code":200,"msg":"ok"}}}"#,
        );
        assert_eq!(
            interpret(&ctx(), &action, STEP_SEND, &ok).unwrap().outcome,
            DeliveryOutcome::delivered(Some("out-0001".into()))
        );
        let refused = HttpResponse::json(
            200,
            r#"{"jingdong_dongdong_packet_josChatMessage_push_responce":{"code":"0","returnType":{"success":false,"code":403,"msg":"no permission"}}}"#,
        );
        assert!(matches!(
            interpret(&ctx(), &action, STEP_SEND, &refused).unwrap().outcome,
            DeliveryOutcome::Permanent(f) if f.code == "403"
        ));
        let expired = HttpResponse::json(
            200,
            r#"{"error_response":{"code":"19","zh_desc":"无效access_token","en_desc":"Invalid access_token"}}"#,
        );
        let read = interpret(&ctx(), &action, STEP_SEND, &expired).unwrap();
        assert_eq!(read.outcome, DeliveryOutcome::TokenExpired);
        assert!(!read.state.is_empty());
        assert!(interpret(&ctx(), &action, "order", &ok).is_err());
    }
}
