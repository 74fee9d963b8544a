//! The `profile` poll feed: the host hints it with the conversation a
//! customer was first met in (for the Official Account, the openid); the plugin fetches `cgi-bin/user/info` (after a
//! token fetch when needed) and returns one session event, `profile`,
//! carrying the customer's identity with the `wechat-unionid` hint when the
//! account is bound to an Open Platform account. That hint is how the host
//! links this customer to the same person on WeCom 微信客服.

use crate::API_HOST;
use crate::outcome;
use crate::send::{ACCESS_TOKEN, STEP_TOKEN, encode, token_request};
use serde::Deserialize;
use tongdao_sdk::*;

/// The feed name the host hints.
pub const FEED: &str = "profile";
/// Step label of the user/info request.
pub const STEP_PROFILE: &str = "profile";

#[derive(Debug, Deserialize)]
struct UserInfo {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    subscribe: i64,
    openid: Option<String>,
    unionid: Option<String>,
    subscribe_time: Option<i64>,
}

/// Renders the next request of a profile look-up.
pub fn render(ctx: &ShopContext, poll: &PollRequest) -> Result<OutboundRequest, PluginError> {
    if poll.feed != FEED {
        return Err(PluginError::Unsupported(format!(
            "no poll feed `{}` (only `{FEED}`)",
            poll.feed
        )));
    }
    let openid = openid_of(poll)?;
    match ctx.state_value(ACCESS_TOKEN) {
        Some(token) => Ok(OutboundRequest {
            step: STEP_PROFILE.into(),
            request: HttpRequest::new(
                "GET",
                &format!(
                    "https://{API_HOST}/cgi-bin/user/info?access_token={}&openid={}&lang=zh_CN",
                    encode(token),
                    encode(openid)
                ),
                Vec::new(),
            ),
        }),
        None => token_request(ctx),
    }
}

/// Interprets a profile look-up's answer.
pub fn parse(
    ctx: &ShopContext,
    poll: &PollRequest,
    step: &str,
    response: &HttpResponse,
) -> Result<PollResult, PluginError> {
    if step == STEP_TOKEN {
        return Ok(outcome::interpret(ctx, step, response)?.into());
    }
    if step != STEP_PROFILE {
        return Err(PluginError::Malformed(format!("unknown step `{step}`")));
    }
    let openid = openid_of(poll)?;
    let info: UserInfo = match serde_json::from_slice(&response.body) {
        Ok(info) if response.status == 200 => info,
        _ => {
            return Ok(PollResult {
                outcome: PollOutcome::Step(DeliveryOutcome::retry(format!(
                    "user/info answered HTTP {} without a JSON profile",
                    response.status
                ))),
                state: Vec::new(),
            });
        }
    };
    if info.errcode != 0 {
        return Ok(outcome::interpret_error(info.errcode, &info.errmsg).into());
    }
    if info.openid.as_deref().is_some_and(|id| id != openid) {
        return Err(PluginError::Malformed(
            "user/info answered about another openid".into(),
        ));
    }
    let hints: Vec<IdentityHint> = info
        .unionid
        .iter()
        .filter(|u| !u.is_empty())
        .map(|unionid| IdentityHint {
            kind: "wechat-unionid".into(),
            value: unionid.clone(),
        })
        .collect();
    let event = Event {
        // One profile event per (openid, unionid): a later look-up that
        // learns nothing new is a duplicate.
        platform_id: format!("profile:{openid}:{}", info.unionid.as_deref().unwrap_or("")),
        conversation_id: openid.to_string(),
        platform_time_ms: info
            .subscribe_time
            .map_or(ctx.now_ms, |secs| secs.saturating_mul(1000)),
        route: Vec::new(),
        body: EventBody::Session(SessionEvent {
            kind: SessionKind::Other,
            customer: Identity {
                platform_user_id: openid.to_string(),
                display_name: None,
                hints,
            },
            name: FEED.into(),
            detail: vec![Pair::new("subscribed", (info.subscribe == 1).to_string())],
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

fn openid_of(poll: &PollRequest) -> Result<&str, PluginError> {
    poll.hint_token
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| PluginError::Malformed("a profile look-up needs the openid as hint".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> PollRequest {
        PollRequest {
            feed: FEED.into(),
            cursor: None,
            hint_token: Some("oOpenid1".into()),
        }
    }

    fn ctx() -> ShopContext {
        ShopContext::for_test("demo-oa", 1_000_000)
            .with_credential("app_id", "wx1")
            .with_credential("app_secret", "secret")
    }

    #[test]
    fn without_a_token_the_look_up_fetches_one_first() {
        let request = render(&ctx(), &poll()).unwrap();
        assert_eq!(request.step, STEP_TOKEN);
        let with_token = ctx().with_state(ACCESS_TOKEN, "tok", None);
        let request = render(&with_token, &poll()).unwrap();
        assert_eq!(request.step, STEP_PROFILE);
        assert!(
            request
                .request
                .url
                .ends_with("access_token=tok&openid=oOpenid1&lang=zh_CN")
        );
    }

    #[test]
    fn a_bound_account_gives_the_unionid_as_a_hint() {
        let answer = HttpResponse::json(
            200,
            r#"{"subscribe":1,"openid":"oOpenid1","unionid":"uUnion1","subscribe_time":1700000000}"#,
        );
        let result = parse(&ctx(), &poll(), STEP_PROFILE, &answer).unwrap();
        let PollOutcome::Page(page) = result.outcome else {
            panic!("a page")
        };
        let EventBody::Session(session) = &page.events[0].body else {
            panic!("a session event")
        };
        assert_eq!(session.customer.hints[0].kind, "wechat-unionid");
        assert_eq!(session.customer.hints[0].value, "uUnion1");
        assert_eq!(page.events[0].platform_id, "profile:oOpenid1:uUnion1");
    }

    #[test]
    fn an_unbound_account_gives_no_hint_and_errors_are_classified() {
        let answer = HttpResponse::json(200, r#"{"subscribe":1,"openid":"oOpenid1"}"#);
        let result = parse(&ctx(), &poll(), STEP_PROFILE, &answer).unwrap();
        let PollOutcome::Page(page) = result.outcome else {
            panic!("a page")
        };
        let EventBody::Session(session) = &page.events[0].body else {
            panic!("a session event")
        };
        assert!(session.customer.hints.is_empty());

        let expired =
            HttpResponse::json(200, r#"{"errcode":42001,"errmsg":"access_token expired"}"#);
        let result = parse(&ctx(), &poll(), STEP_PROFILE, &expired).unwrap();
        assert_eq!(
            result.outcome,
            PollOutcome::Step(DeliveryOutcome::TokenExpired)
        );
    }
}
