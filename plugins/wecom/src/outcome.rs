//! Classify WeCom's answers to actions: the token fetch feeds plugin state;
//! a send, event reply or session-state change becomes delivered / retry /
//! token-expired / window-closed / quota / permanent from its `errcode`.

use crate::actions::{self, STEP_REPLY, STEP_SEND, STEP_STATE};
use crate::api_answer::{self, Answer};
use crate::token;
use serde_json::json;
use tongdao_sdk::*;

/// Interpret the response to a request [`actions::render`] rendered.
pub fn interpret(
    ctx: &ShopContext,
    action: &Action,
    step: &str,
    response: &HttpResponse,
) -> Result<Interpretation, PluginError> {
    if step == token::STEP_TOKEN {
        return Ok(token::interpret(ctx, response));
    }
    if !matches!(step, STEP_SEND | STEP_REPLY | STEP_STATE) {
        return Err(PluginError::Malformed(format!(
            "unknown action step `{step}` (expected `{}`, `{STEP_SEND}`, `{STEP_REPLY}` or `{STEP_STATE}`)",
            token::STEP_TOKEN
        )));
    }
    let answer = match api_answer::read(response) {
        Ok(answer) => answer,
        Err(outcome) => return Ok(Interpretation::outcome(outcome)),
    };
    Ok(match step {
        STEP_SEND => sent(action, &answer),
        STEP_REPLY => replied(action, &answer),
        _ => state_changed(&answer),
    })
}

fn sent(action: &Action, answer: &Answer) -> Interpretation {
    let msgid = || {
        answer
            .str_field("msgid")
            .map(str::to_string)
            .unwrap_or_else(|| actions::client_msgid(&action.idempotency_key))
    };
    match answer.errcode {
        0 => Interpretation::outcome(DeliveryOutcome::delivered(Some(msgid()))),
        // The message with this msgid was accepted by an earlier attempt.
        _ if repeated_msgid(answer) => {
            Interpretation::outcome(DeliveryOutcome::delivered(Some(msgid())))
        }
        95018 => Interpretation::outcome(DeliveryOutcome::window_closed(
            "95018",
            format!(
                "the customer's session is not with the bot — it waits in the pool (2), is with a servicer (3) or has ended (4); WeCom accepts API messages only in state 0 or 1 (WeCom said: {})",
                answer.errmsg
            ),
        )),
        95001 => Interpretation::outcome(DeliveryOutcome::window_closed(
            "95001",
            format!(
                "5 messages were already sent since the customer's last message (WeCom said: {})",
                answer.errmsg
            ),
        )),
        95002 | 95024 => Interpretation::outcome(DeliveryOutcome::window_closed(
            answer.errcode.to_string(),
            format!(
                "more than 48 h have passed since the customer's last message (WeCom said: {})",
                answer.errmsg
            ),
        )),
        95025 => Interpretation::outcome(DeliveryOutcome::window_closed("95025", answer.explain())),
        _ => api_answer::common(answer),
    }
}

/// Whether WeCom refused the send because its msgid was used before. The
/// code WeCom gives for that is not documented where we could read it, so
/// this looks at what the message says (see README.md).
fn repeated_msgid(answer: &Answer) -> bool {
    let message = answer.errmsg.to_ascii_lowercase();
    message.contains("msgid")
        && ["exist", "dup", "repeat", "used", "重复", "已存在"]
            .iter()
            .any(|word| message.contains(word))
}

fn replied(action: &Action, answer: &Answer) -> Interpretation {
    match answer.errcode {
        0 => Interpretation::outcome(DeliveryOutcome::delivered(Some(
            answer
                .str_field("msgid")
                .map(str::to_string)
                .unwrap_or_else(|| actions::client_msgid(&action.idempotency_key)),
        ))),
        // Token trouble, busy, rate limits: as everywhere.
        40014 | 42001 | 41001 | 40001 | -1 | 45009 | 45033 => api_answer::common(answer),
        // Anything else means the code was refused: it is valid once, for
        // 20 s after the event — a retry cannot succeed.
        code => Interpretation::outcome(DeliveryOutcome::permanent(
            code.to_string(),
            format!(
                "the event code was refused — it may be used once, within 20 s of the event ({})",
                answer.explain()
            ),
        )),
    }
}

fn state_changed(answer: &Answer) -> Interpretation {
    match answer.errcode {
        0 => {
            // `msg_code` lets the shop send the configured reply for the new
            // state through send_msg_on_event.
            let result = answer
                .str_field("msg_code")
                .filter(|code| !code.is_empty())
                .map(|code| json!({ "msg_code": code }).to_string());
            Interpretation::outcome(DeliveryOutcome::Delivered(DeliveryReceipt {
                platform_id: None,
                result_json: result,
            }))
        }
        _ => api_answer::common(answer),
    }
}

#[cfg(test)]
mod tests;
