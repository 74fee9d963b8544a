//! Constructors and conveniences for the model types generated from the WIT
//! contract.

use crate::{
    ActionKind, Content, DeliveryOutcome, DeliveryReceipt, Event, EventBody, Failure, HttpResponse,
    Identity, Interpretation, PollOutcome, PollResult, PushResult, RetryHint, StateChange,
};

impl Identity {
    /// An identity with no display name or hints.
    pub fn new(platform_user_id: impl Into<String>) -> Self {
        Identity {
            platform_user_id: platform_user_id.into(),
            display_name: None,
            hints: Vec::new(),
        }
    }
}

impl Content {
    /// The text to send where the platform cannot render this content natively.
    pub fn fallback_text(&self) -> Option<&str> {
        match self {
            Content::Text(text) => Some(text),
            Content::ProductCard(card) => Some(&card.fallback_text),
            Content::OrderCard(card) => Some(&card.fallback_text),
            Content::Coupon(coupon) => Some(&coupon.fallback_text),
            Content::MiniProgram(card) => Some(&card.fallback_text),
            Content::Link(link) => Some(&link.url),
            Content::Raw(raw) => raw.fallback_text.as_deref(),
            Content::Image(_)
            | Content::Voice(_)
            | Content::Video(_)
            | Content::File(_)
            | Content::Location(_) => None,
        }
    }
}

impl Event {
    /// The message in this event, if it is one.
    pub fn message(&self) -> Option<&crate::Message> {
        match &self.body {
            EventBody::Message(message) => Some(message),
            _ => None,
        }
    }
}

impl From<Interpretation> for PollResult {
    /// A poll answer that is not a page (a token fetched, an error): the
    /// interpretation's outcome and state changes.
    fn from(interpretation: Interpretation) -> Self {
        PollResult {
            outcome: PollOutcome::Step(interpretation.outcome),
            state: interpretation.state,
        }
    }
}

impl PushResult {
    /// Acknowledge with `response` after committing `events`.
    pub fn ack(response: HttpResponse, events: Vec<Event>) -> Self {
        PushResult {
            response,
            events,
            state: Vec::new(),
            poll_hints: Vec::new(),
        }
    }
}

impl Interpretation {
    /// An outcome with no state change.
    pub fn outcome(outcome: DeliveryOutcome) -> Self {
        Interpretation {
            outcome,
            state: Vec::new(),
        }
    }

    /// An outcome with state changes.
    pub fn with_state(outcome: DeliveryOutcome, state: Vec<StateChange>) -> Self {
        Interpretation { outcome, state }
    }
}

impl DeliveryOutcome {
    /// Delivered, with the platform's id for the result if it gave one.
    pub fn delivered(platform_id: Option<String>) -> Self {
        DeliveryOutcome::Delivered(DeliveryReceipt {
            platform_id,
            result_json: None,
        })
    }

    /// A query delivered with its result as JSON text.
    pub fn answered(result_json: String) -> Self {
        DeliveryOutcome::Delivered(DeliveryReceipt {
            platform_id: None,
            result_json: Some(result_json),
        })
    }

    /// Retry with the host's back-off.
    pub fn retry(reason: impl Into<String>) -> Self {
        DeliveryOutcome::Retry(RetryHint {
            after_ms: None,
            reason: reason.into(),
        })
    }

    /// A permanent failure with the platform's code.
    pub fn permanent(code: impl Into<String>, reason: impl Into<String>) -> Self {
        DeliveryOutcome::Permanent(Failure {
            code: code.into(),
            reason: reason.into(),
        })
    }

    /// The reply window is closed.
    pub fn window_closed(code: impl Into<String>, reason: impl Into<String>) -> Self {
        DeliveryOutcome::WindowClosed(Failure {
            code: code.into(),
            reason: reason.into(),
        })
    }

    /// A quota is exhausted; retry after `after_ms` if known.
    pub fn quota(after_ms: Option<u32>, reason: impl Into<String>) -> Self {
        DeliveryOutcome::QuotaExceeded(RetryHint {
            after_ms,
            reason: reason.into(),
        })
    }
}

impl ActionKind {
    /// The action's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::SendMessage(_) => "send-message",
            ActionKind::TransferToHuman(_) => "transfer-to-human",
            ActionKind::EndSession => "end-session",
            ActionKind::SendCoupon(_) => "send-coupon",
            ActionKind::QueryOrder(_) => "query-order",
            ActionKind::QueryLogistics(_) => "query-logistics",
            ActionKind::TagCustomer(_) => "tag-customer",
            ActionKind::ReplyToEvent(_) => "reply-to-event",
        }
    }
}
