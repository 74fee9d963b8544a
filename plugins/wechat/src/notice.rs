//! Rendering WeChat's notifications, which reach a follower outside the
//! 48-hour chat window: 模板消息 (`message/template/send`) and 订阅通知
//! (`message/subscribe/bizsend`). The host hands them over as raw content
//! of kind `wechat-template` or `wechat-subscription` whose JSON names the
//! template, the link and the template's fields; the action's idempotency
//! key travels as `client_msg_id`, which WeChat uses to drop a repeat of
//! the same template message to the same openid.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use tongdao_sdk::*;

/// Raw content kind of a template message.
pub const TEMPLATE: &str = "wechat-template";
/// Raw content kind of a subscription message.
pub const SUBSCRIPTION: &str = "wechat-subscription";

/// The longest value of one template field, in characters (WeChat cuts or
/// refuses longer ones; `thing` fields take 20).
const MAX_FIELD_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notice {
    template_id: String,
    url: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// The endpoint path and JSON body of a notification, or `None` when the
/// content is not one.
pub fn request(
    touser: &str,
    idempotency_key: &str,
    content: &Content,
) -> Result<Option<(&'static str, Value)>, PluginError> {
    let Content::Raw(raw) = content else {
        return Ok(None);
    };
    let path = match raw.kind.as_str() {
        TEMPLATE => "/cgi-bin/message/template/send",
        SUBSCRIPTION => "/cgi-bin/message/subscribe/bizsend",
        _ => return Ok(None),
    };
    let notice: Notice = serde_json::from_slice(&raw.data)
        .map_err(|err| PluginError::Malformed(format!("the {} is not valid: {err}", raw.kind)))?;
    if notice.template_id.is_empty() {
        return Err(PluginError::Malformed(format!(
            "the {} names no template",
            raw.kind
        )));
    }
    let mut data = Map::new();
    for (name, value) in notice.fields {
        if value.chars().count() > MAX_FIELD_CHARS {
            return Err(PluginError::Unsupported(format!(
                "template field `{name}` is longer than {MAX_FIELD_CHARS} characters"
            )));
        }
        data.insert(name, json!({ "value": value }));
    }
    let mut body = json!({
        "touser": touser,
        "template_id": notice.template_id,
        "data": data,
    });
    if raw.kind == TEMPLATE {
        body["client_msg_id"] = json!(idempotency_key);
        if let Some(url) = notice.url {
            body["url"] = json!(url);
        }
    } else if let Some(page) = notice.url {
        body["page"] = json!(page);
    }
    Ok(Some((path, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: &str, data: Value) -> Content {
        Content::Raw(RawContent {
            kind: kind.into(),
            content_type: "application/json".into(),
            data: data.to_string().into_bytes(),
            fallback_text: Some("已发货".into()),
        })
    }

    #[test]
    fn a_template_message_carries_its_fields_and_the_key() {
        let content = raw(
            TEMPLATE,
            json!({"template_id": "TPL1", "url": "https://shop.example/o/1", "fields": {"keyword1": "3001"}}),
        );
        let (path, body) = request("OPENID", "k1", &content).unwrap().unwrap();
        assert_eq!(path, "/cgi-bin/message/template/send");
        assert_eq!(
            body,
            json!({"touser": "OPENID", "template_id": "TPL1", "client_msg_id": "k1",
                   "url": "https://shop.example/o/1", "data": {"keyword1": {"value": "3001"}}})
        );
    }

    #[test]
    fn a_subscription_message_goes_to_bizsend() {
        let content = raw(
            SUBSCRIPTION,
            json!({"template_id": "SUB1", "fields": {"thing1": "已签收"}}),
        );
        let (path, body) = request("OPENID", "k1", &content).unwrap().unwrap();
        assert_eq!(path, "/cgi-bin/message/subscribe/bizsend");
        assert_eq!(body["data"]["thing1"]["value"], "已签收");
        assert!(body.get("client_msg_id").is_none());
    }

    #[test]
    fn other_content_is_not_a_notification_and_bad_ones_are_refused() {
        assert!(
            request("O", "k", &Content::Text("hi".into()))
                .unwrap()
                .is_none()
        );
        assert!(
            request("O", "k", &raw("msgmenu", json!({})))
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            request("O", "k", &raw(TEMPLATE, json!({"template_id": ""}))),
            Err(PluginError::Malformed(_))
        ));
        assert!(matches!(
            request("O", "k", &raw(TEMPLATE, json!({"nope": 1}))),
            Err(PluginError::Malformed(_))
        ));
    }
}
