//! The `profile` poll feed: the host hints it with the conversation
//! (`{open_kfid}:{external_userid}`) a customer was first met in; the plugin
//! asks `kf/customer/batchget` (after a token fetch when needed) and returns
//! one session event, `profile`, carrying the customer's identity with the
//! `wechat-unionid` hint when WeCom gives one (only after the corp bound a
//! WeChat developer account, and only for customers active in the last
//! 48 h). That hint links the customer to the same person on the Official
//! Account. Nicknames are not used: they are not unique.

use crate::api_answer;
use crate::sync_messages::{ROUTE_OPEN_KFID, conversation};
use crate::{API_HOST, token};
use serde_json::{Value, json};
use tongdao_sdk::*;

/// The feed name the host hints.
pub const FEED: &str = "profile";
/// Step label of the batchget request.
pub const STEP_PROFILE: &str = "profile";

/// The (open_kfid, external_userid) a hint names.
fn customer_of(poll: &PollRequest) -> Result<(&str, &str), PluginError> {
    poll.hint_token
        .as_deref()
        .and_then(|conversation| conversation.split_once(':'))
        .filter(|(kfid, user)| !kfid.is_empty() && !user.is_empty())
        .ok_or_else(|| {
            PluginError::Malformed(
                "a profile look-up needs the conversation `{open_kfid}:{external_userid}` as hint"
                    .into(),
            )
        })
}

/// Renders the next request of a profile look-up.
pub fn render(ctx: &ShopContext, poll: &PollRequest) -> Result<OutboundRequest, PluginError> {
    let (_, user) = customer_of(poll)?;
    let Some(access_token) = token::live(ctx) else {
        return token::request(ctx);
    };
    let body = json!({ "external_userid_list": [user], "need_enter_session_context": 0 });
    Ok(OutboundRequest {
        step: STEP_PROFILE.into(),
        request: HttpRequest::new(
            "POST",
            &format!(
                "https://{API_HOST}/cgi-bin/kf/customer/batchget?access_token={}",
                form_urlencoded::byte_serialize(access_token.as_bytes()).collect::<String>()
            ),
            body.to_string().into_bytes(),
        )
        .with_header("content-type", "application/json; charset=utf-8"),
    })
}

/// Interprets a profile look-up's answer.
pub fn parse(
    ctx: &ShopContext,
    poll: &PollRequest,
    step: &str,
    response: &HttpResponse,
) -> Result<PollResult, PluginError> {
    if step == token::STEP_TOKEN {
        return Ok(PollResult::from(token::interpret(ctx, response)));
    }
    if step != STEP_PROFILE {
        return Err(PluginError::Malformed(format!("unknown step `{step}`")));
    }
    let (open_kfid, user) = customer_of(poll)?;
    let answer = match api_answer::read(response) {
        Ok(answer) => answer,
        Err(outcome) => return Ok(PollResult::from(Interpretation::outcome(outcome))),
    };
    if answer.errcode != 0 {
        return Ok(PollResult::from(api_answer::common(&answer)));
    }
    let found = answer
        .body
        .get("customer_list")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|c| c.get("external_userid").and_then(Value::as_str) == Some(user))
        });
    let Some(customer) = found else {
        // Not active in the last 48 h, or unknown: nothing to learn.
        return Ok(PollResult {
            outcome: PollOutcome::Page(PollPage {
                events: Vec::new(),
                next_cursor: None,
                has_more: false,
                acks: Vec::new(),
            }),
            state: Vec::new(),
        });
    };
    let unionid = customer
        .get("unionid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty());
    let event = Event {
        platform_id: format!("profile:{user}:{}", unionid.unwrap_or("")),
        conversation_id: conversation(open_kfid, user),
        platform_time_ms: ctx.now_ms,
        route: vec![Pair::new(ROUTE_OPEN_KFID, open_kfid)],
        body: EventBody::Session(SessionEvent {
            kind: SessionKind::Other,
            customer: Identity {
                platform_user_id: user.to_string(),
                display_name: None,
                hints: unionid
                    .map(|value| IdentityHint {
                        kind: "wechat-unionid".into(),
                        value: value.to_string(),
                    })
                    .into_iter()
                    .collect(),
            },
            name: FEED.into(),
            detail: Vec::new(),
        }),
    };
    Ok(PollResult {
        outcome: PollOutcome::Page(PollPage {
            events: vec![event],
            next_cursor: None,
            has_more: false,
            acks: Vec::new(),
        }),
        state: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> PollRequest {
        PollRequest {
            feed: FEED.into(),
            cursor: None,
            hint_token: Some("wkABCDEF:wmEXTERNAL1".into()),
        }
    }

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-wecom", 1_700_000_000_000)
            .with_credential("corp_id", "ww12345678910")
            .with_credential("secret", "demo-kf-secret")
            .with_state(token::ACCESS_TOKEN, "TOKEN", None)
    }

    #[test]
    fn the_look_up_asks_batchget_for_the_conversations_customer() {
        let request = render(&ctx(), &poll()).unwrap();
        assert_eq!(request.step, STEP_PROFILE);
        let body: Value = serde_json::from_slice(&request.request.body).unwrap();
        assert_eq!(body["external_userid_list"], json!(["wmEXTERNAL1"]));
    }

    #[test]
    fn a_unionid_becomes_a_hint_and_an_unknown_customer_nothing() {
        let answer = HttpResponse::json(
            200,
            r#"{"errcode":0,"errmsg":"ok","customer_list":[{"external_userid":"wmEXTERNAL1","nickname":"张**","unionid":"oUnion1"}],"invalid_external_userid":[]}"#,
        );
        let result = parse(&ctx(), &poll(), STEP_PROFILE, &answer).unwrap();
        let PollOutcome::Page(page) = result.outcome else {
            panic!("a page")
        };
        let EventBody::Session(session) = &page.events[0].body else {
            panic!("a session event")
        };
        assert_eq!(session.customer.hints[0].value, "oUnion1");
        assert_eq!(
            session.customer.display_name, None,
            "nicknames are not kept"
        );
        assert_eq!(page.events[0].conversation_id, "wkABCDEF:wmEXTERNAL1");

        let inactive = HttpResponse::json(
            200,
            r#"{"errcode":0,"errmsg":"ok","customer_list":[],"invalid_external_userid":["wmEXTERNAL1"]}"#,
        );
        let result = parse(&ctx(), &poll(), STEP_PROFILE, &inactive).unwrap();
        let PollOutcome::Page(page) = result.outcome else {
            panic!("a page")
        };
        assert!(page.events.is_empty());
    }
}
