//! Classify the gateway's answers. Token answers feed plugin state; the
//! order look-up becomes `delivered` with an [`OrderSummary`], or
//! token-expired / retry / quota / permanent from `code` and `sub_code` (the
//! platform's base error-code table plus the documented codes of
//! `/order/orderDetail` and `/token/refresh`).
//!
//! Reasons quote the platform's `msg` and `sub_msg`, with the app secret and
//! the shop's tokens masked should the platform ever echo them.

use crate::answer::Answer;
use crate::query::STEP_ORDER;
use crate::token::{self, STEP_CREATE, STEP_REFRESH};
use serde_json::Value;
use tongdao_sdk::money::yuan_from_fen;
use tongdao_sdk::*;

/// How long to wait after the platform's rate limit (code 60000).
pub const RATE_LIMIT_WAIT_MS: u32 = 1_000;
/// How long to wait when the platform says "busy, retry shortly".
pub const BUSY_WAIT_MS: u32 = 5_000;

/// Interpret the response to a request [`crate::query::render`] or
/// [`crate::token::prerequisite`] rendered.
pub fn interpret(
    ctx: &ShopContext,
    step: &str,
    response: &HttpResponse,
) -> Result<Interpretation, PluginError> {
    if ![STEP_CREATE, STEP_REFRESH, STEP_ORDER].contains(&step) {
        return Err(PluginError::Malformed(format!("unknown step `{step}`")));
    }
    if response.status == 429 {
        return Ok(Interpretation::outcome(DeliveryOutcome::quota(
            Some(RATE_LIMIT_WAIT_MS),
            "the gateway answered HTTP 429",
        )));
    }
    let Some(answer) = Answer::parse(&response.body) else {
        return Ok(Interpretation::outcome(DeliveryOutcome::retry(format!(
            "the gateway answered HTTP {} with a body that is not a JSON object",
            response.status
        ))));
    };
    if !answer.is_success() {
        if response.status >= 500 && answer.code.is_none() && answer.err_no.is_none() {
            return Ok(Interpretation::outcome(DeliveryOutcome::retry(format!(
                "the gateway answered HTTP {}",
                response.status
            ))));
        }
        return Ok(failure(ctx, step, &answer));
    }
    Ok(match step {
        STEP_CREATE | STEP_REFRESH => token_fetched(ctx, &answer),
        _ => match answer.data_value().and_then(order_summary) {
            Some(summary) => {
                Interpretation::outcome(DeliveryOutcome::answered(summary.to_result_json()))
            }
            None => Interpretation::outcome(DeliveryOutcome::permanent(
                "no-shop-order-detail",
                "the order answer has no `data.shop_order_detail` with an `order_id`",
            )),
        },
    })
}

fn token_fetched(ctx: &ShopContext, answer: &Answer<'_>) -> Interpretation {
    match answer
        .data_value()
        .and_then(|data| token::store(ctx, &data))
    {
        Some(changes) => Interpretation::with_state(DeliveryOutcome::NextStep, changes),
        None => Interpretation::outcome(DeliveryOutcome::retry(
            "the token answer has no `data.access_token`",
        )),
    }
}

/// Where an order stands, from `order_status` (1 待确认/待支付, 105 已支付,
/// 2 备货中, 101 部分发货, 3 已发货, 4 已取消, 5 已完成).
pub fn order_state(order_status: i64) -> OrderState {
    match order_status {
        1 => OrderState::Created,
        105 | 2 => OrderState::Paid,
        101 | 3 => OrderState::Shipped,
        5 => OrderState::Completed,
        4 => OrderState::Closed,
        _ => OrderState::Other,
    }
}

/// `data.shop_order_detail` of `/order/orderDetail` as the host's order
/// summary: the id, the state, the paid amount in yuan and the parcels
/// (`logistics_info`), with the platform's detail kept in `raw`.
fn order_summary(data: Value) -> Option<OrderSummary> {
    let detail = data.get("shop_order_detail")?.clone();
    let order_id = scalar_text(detail.get("order_id")?)?;
    let status_value = detail.get("order_status");
    let status_code = status_value.and_then(|v| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let status = status_value.and_then(scalar_text).unwrap_or_default();
    let amount = detail.get("pay_amount").and_then(|v| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let shipments = detail
        .get("logistics_info")
        .and_then(Value::as_array)
        .map(|parcels| {
            parcels
                .iter()
                .map(|parcel| Shipment {
                    company: ["company_name", "company"]
                        .iter()
                        .find_map(|field| parcel.get(*field).and_then(scalar_text)),
                    tracking_number: parcel.get("tracking_no").and_then(scalar_text),
                    latest: None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(OrderSummary {
        order_id,
        state: status_code.map_or(OrderState::Other, order_state),
        status,
        amount: amount.map(yuan_from_fen),
        shipments,
        raw: detail,
    })
}

/// A non-empty string or a number, as text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a failed answer means.
fn failure(ctx: &ShopContext, step: &str, answer: &Answer<'_>) -> Interpretation {
    let words = redact(ctx, &answer.platform_words());
    let code = redact(ctx, &answer.failure_code());
    let sub = answer.sub_code.as_str();
    let permanent =
        |meaning: &str| DeliveryOutcome::permanent(code.clone(), format!("{meaning} ({words})"));

    // The access token has expired: drop it, so the next render refreshes
    // it with the refresh token.
    if sub == "isv.access-token-expired" {
        return Interpretation::with_state(DeliveryOutcome::TokenExpired, token::expire_access());
    }
    // The gateway does not know the token (or it belongs to another app):
    // a refresh could hand back the same one, so start over.
    if matches!(
        sub,
        "isv.access-token-no-existed" | "isv.access-token-invalid"
    ) {
        return Interpretation::with_state(DeliveryOutcome::TokenExpired, token::forget());
    }
    if step == STEP_REFRESH {
        if sub == "isv.business-failed:31012" {
            return Interpretation::outcome(DeliveryOutcome::Retry(RetryHint {
                after_ms: Some(BUSY_WAIT_MS),
                reason: format!("another refresh of this token was in flight ({words})"),
            }));
        }
        if sub.starts_with("dop.token-generate-failed:token-") || sub == "isv.business-failed:31009"
        {
            // The refresh token is spent or unknown: start over with /token/create.
            return Interpretation::with_state(DeliveryOutcome::TokenExpired, token::forget());
        }
    }
    if sub.starts_with("dop.token-generate-failed") {
        return Interpretation::with_state(
            permanent("the platform would not issue a token for this shop"),
            token::forget(),
        );
    }
    if matches!(
        sub,
        "dop.authorization-no-existed" | "dop.authorization-closed" | "dop.app-forbidden"
    ) {
        return Interpretation::with_state(
            permanent("the shop's authorization of this app is gone or the app is disabled"),
            token::forget(),
        );
    }
    if let Some(wait) = retryable_business_failure(step, sub) {
        return Interpretation::outcome(DeliveryOutcome::Retry(RetryHint {
            after_ms: Some(wait),
            reason: format!("the platform asks to retry later ({words})"),
        }));
    }
    let Some(main) = answer.code else {
        return Interpretation::outcome(permanent("the gateway refused the call"));
    };
    let outcome = match main {
        20000 | 20001 | 50000 => DeliveryOutcome::retry(format!(
            "the platform is unavailable or timed out ({words})"
        )),
        60000 => DeliveryOutcome::quota(
            Some(RATE_LIMIT_WAIT_MS),
            format!("the app's call rate limit was hit ({words})"),
        ),
        30001 => {
            permanent("the app lacks permission for this API (apply for its permission package)")
        }
        30002 => permanent("the calling IP is not on the app's IP whitelist"),
        40001 | 40003 => permanent(platform_check_meaning(sub)),
        40002 | 40004 => permanent("the platform refused the parameters"),
        50001 | 50002 | 10001 => permanent("the platform could not do it"),
        70000 => permanent("the API is offline or does not exist"),
        80000 => permanent("the platform's security check refused the call"),
        _ => permanent("the gateway refused the call"),
    };
    Interpretation::outcome(outcome)
}

/// Business failures `/order/orderDetail` documents as "retry" (`50002`
/// with sub-code 20004 系统繁忙, 20045 / 20055 查询失败).
fn retryable_business_failure(step: &str, sub: &str) -> Option<u32> {
    let retry = step == STEP_ORDER
        && matches!(
            sub,
            "isv.business-failed:20004" | "isv.business-failed:20045" | "isv.business-failed:20055"
        );
    retry.then_some(BUSY_WAIT_MS)
}

fn platform_check_meaning(sub: &str) -> &'static str {
    match sub {
        "isv.signature-invalid" | "isv.signature-missing" => {
            "the request signature was refused (is app_secret right?)"
        }
        "isv.app-id-invalid" | "isv.app-id-missing" => "the app_key is not valid",
        "isv.app-id-expired" => "the app_key has expired (upgrade the app on the open platform)",
        "isv.timestamp-invalid" | "isv.timestamp-format-error" => {
            "the request timestamp was refused (is the host's clock right?)"
        }
        "isv.access-token-missing" => "the request carried no access token",
        "isv.parameter-format-invalid" => "param_json could not be parsed",
        "isv.authorization-type-invalid" => "the authorization does not match this API",
        _ => "the platform refused the request",
    }
}

/// `text` with the app secret and the shop's tokens masked.
fn redact(ctx: &ShopContext, text: &str) -> String {
    let secrets = [
        ctx.optional_credential("app_secret"),
        ctx.state_value(token::ACCESS_TOKEN),
        ctx.state_value(token::REFRESH_TOKEN),
    ];
    let mut out = text.to_string();
    for secret in secrets.into_iter().flatten() {
        if secret.len() >= 4 {
            out = out.replace(secret, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests;
