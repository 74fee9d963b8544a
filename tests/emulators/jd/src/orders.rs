//! POP orders: `jingdong.pop.order.search` (orders in the asked states whose
//! modification time is in the window, oldest first, paged) and
//! `jingdong.pop.order.get`, both answering with an `apiResult`.

use crate::State;
use crate::im::number;
use crate::router::error;
use crate::signing::{format_time, parse_time};
use serde_json::{Value, json};

/// The search method.
pub const ORDER_SEARCH: &str = "jingdong.pop.order.search";
/// The get method.
pub const ORDER_GET: &str = "jingdong.pop.order.get";

/// An order as the order APIs give it.
pub(crate) fn order(
    order_id: &str,
    state: &str,
    payment: &str,
    pin: &str,
    modified_ms: i64,
) -> Value {
    json!({
        "orderId": order_id, "orderState": state, "orderPayment": payment,
        "orderTotalPrice": payment, "orderStartTime": format_time(modified_ms - 60_000),
        "modified": format_time(modified_ms), "pin": pin,
        "xid_buyer": format!("o*xid-{pin}"), "venderId": "10001",
        "waybill": if state == "WAIT_SELLER_STOCK_OUT" { "" } else { "JDV000000000001" },
        "logisticsId": "467"
    })
}

fn ok() -> Value {
    json!({"success": true, "englishErrCode": "", "chineseErrCode": "", "numberCode": 0})
}

/// `jingdong.pop.order.search`.
pub(crate) fn search(state: &State, business: &Value) -> Result<Value, Value> {
    let get = |key: &str| {
        business
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (Some(from), Some(to)) = (parse_time(get("start_date")), parse_time(get("end_date")))
    else {
        return Err(error(
            "100",
            "start_date/end_date 缺失或格式错误",
            "start_date/end_date missing or malformed",
        ));
    };
    let states: Vec<&str> = get("order_state").split(',').map(str::trim).collect();
    let mut found: Vec<(i64, Value)> = state
        .orders
        .values()
        .filter_map(|order| {
            let modified = parse_time(order["modified"].as_str()?)?;
            let in_state = states.contains(&order["orderState"].as_str()?);
            (modified >= from && modified <= to && in_state).then(|| (modified, order.clone()))
        })
        .collect();
    found.sort_by_key(|(modified, _)| *modified);
    let size = number(business, "page_size", 20) as usize;
    let page = number(business, "page", 1) as usize;
    let list: Vec<Value> = found
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|(_, o)| o.clone())
        .collect();
    Ok(
        json!({"searchorderinfo_result": {"apiResult": ok(), "orderInfoList": list, "orderTotal": found.len()}}),
    )
}

/// `jingdong.pop.order.get`.
pub(crate) fn get(state: &State, business: &Value) -> Result<Value, Value> {
    let id = match business.get("order_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(error("100", "缺少参数order_id", "order_id is required")),
    };
    Ok(match state.orders.get(&id) {
        Some(order) => json!({"orderDetailInfo": {"apiResult": ok(), "orderInfo": order}}),
        None => json!({"orderDetailInfo": {"apiResult": {
            "success": false, "numberCode": 10100042, "chineseErrCode": "订单不存在", "englishErrCode": "order does not exist"
        }}}),
    })
}
