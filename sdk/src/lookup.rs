//! The normalized answer of order and logistics look-ups. A plugin's
//! `query-order` / `query-logistics` outcome is `delivered` with
//! `result-json` = an [`OrderSummary`] as JSON, so the host can answer a
//! customer's "where is my parcel" the same way on every platform. Keep the
//! platform's own payload in `raw` for people who need the details.

use serde::Serialize;

/// Where an order stands, in the host's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderState {
    /// Placed, not paid.
    Created,
    /// Paid, waiting to ship.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received or completed.
    Completed,
    /// Cancelled or closed.
    Closed,
    /// A refund or return is under way.
    Refunding,
    /// Anything else; see `status`.
    Other,
}

/// The latest step of a parcel's journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackingStep {
    /// When, Unix milliseconds (0 if unknown).
    pub time_ms: i64,
    /// What happened, as the carrier wrote it.
    pub description: String,
}

/// A parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipment {
    /// The carrier's name, e.g. `顺丰速运`.
    pub company: Option<String>,
    /// The tracking number.
    pub tracking_number: Option<String>,
    /// The latest step, if the platform gave the trace.
    pub latest: Option<TrackingStep>,
}

/// An order as a look-up found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderSummary {
    /// The order id.
    pub order_id: String,
    /// Where it stands.
    pub state: OrderState,
    /// The platform's own status string, e.g. `WAIT_BUYER_CONFIRM_GOODS`.
    pub status: String,
    /// The amount paid, yuan with two decimals, e.g. `99.00`.
    pub amount: Option<String>,
    /// Its parcels.
    pub shipments: Vec<Shipment>,
    /// The platform's payload, as it answered.
    pub raw: serde_json::Value,
}

impl OrderSummary {
    /// The JSON text a delivered look-up carries as `result-json`.
    pub fn to_result_json(&self) -> String {
        serde_json::to_string(self).expect("an order summary always serializes")
    }
}
