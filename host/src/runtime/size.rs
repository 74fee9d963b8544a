//! The size of a plugin's output, counted over its structure: every string
//! and byte list by its length, every other field, every record and every
//! list element by a small constant, so a list of a million empty elements
//! counts for its number and not as nothing. The count costs a few
//! operations per field whatever the payload size, so an oversized output is
//! rejected cheaply.

use crate::runtime::bindings::tongdao::channel::types::*;

/// Bytes a fixed-size field (number, flag, enum tag), a record's header and
/// a list element's slot count for.
const SCALAR: usize = 8;

/// A structural size measure of plugin output.
pub trait WireSize {
    /// The size in bytes, approximately what the value takes on the wire.
    fn wire_size(&self) -> usize;
}

impl WireSize for String {
    fn wire_size(&self) -> usize {
        self.len()
    }
}

impl WireSize for Vec<u8> {
    fn wire_size(&self) -> usize {
        self.len()
    }
}

impl<T: WireSize> WireSize for Option<T> {
    fn wire_size(&self) -> usize {
        self.as_ref().map_or(0, WireSize::wire_size)
    }
}

macro_rules! list_size {
    ($($t:ty),* $(,)?) => {$(
        impl WireSize for Vec<$t> {
            fn wire_size(&self) -> usize {
                self.iter().map(|element| SCALAR + element.wire_size()).sum()
            }
        }
    )*};
}

list_size!(
    String,
    IngestionShape,
    ContentKind,
    ActionName,
    Pair,
    Event,
    StateChange,
    PollHint,
    Frame,
    OutboundRequest,
    IdentityHint,
    CredentialSpec,
    crate::contract::v0_2::types::CredentialSpec,
);

macro_rules! scalar_size {
    ($($t:ty),* $(,)?) => {$(
        impl WireSize for $t {
            fn wire_size(&self) -> usize {
                SCALAR
            }
        }
    )*};
}

scalar_size!(
    bool,
    u16,
    u32,
    u64,
    i64,
    f64,
    AuthorRole,
    Direction,
    CommerceKind,
    SessionKind,
    IngestionShape,
    ContentKind,
    ActionName,
    ReplyWindow,
);

macro_rules! record_size {
    ($($t:ty { $($field:ident),* $(,)? })*) => {$(
        impl WireSize for $t {
            fn wire_size(&self) -> usize {
                SCALAR $(+ self.$field.wire_size())*
            }
        }
    )*};
}

record_size! {
    Pair { name, value }
    HttpRequest { method, url, headers, body }
    HttpResponse { status, headers, body }
    StateEntry { key, value, expires_at_ms }
    IdentityHint { kind, value }
    Identity { platform_user_id, display_name, hints }
    Media { url, media_id, mime_type, file_name, size_bytes }
    Voice { media, format, recognition }
    Location { latitude, longitude, scale, label }
    Link { title, description, url, thumb_url }
    ProductCard { product_id, title, price, url, image_url, fallback_text }
    OrderCard { order_id, title, status, amount, url, fallback_text }
    Coupon { coupon_id, title, discount, url, fallback_text }
    MiniProgram { app_id, page_path, title, thumb_media_id, fallback_text }
    RawContent { kind, content_type, data, fallback_text }
    Message { author, role, direction, content }
    CommerceEvent { kind, topic, business_key, order_id, refund_id, customer, status, amount, detail_json }
    SessionEvent { kind, customer, name, detail }
    Event { platform_id, conversation_id, platform_time_ms, route, body }
    PollHint { feed, token }
    PushResult { response, events, state, poll_hints }
    StreamConnect { url, headers, handshake, heartbeat_interval_ms }
    FrameResult { events, acks, replies, state, close }
    OutboundRequest { step, request }
    PollPage { events, next_cursor, has_more, acks }
    DeliveryReceipt { platform_id, result_json }
    RetryHint { after_ms, reason }
    Failure { code, reason }
    Interpretation { outcome, state }
    PollResult { outcome, state }
    CredentialSpec { name, description, required }
    Manifest {
        name, version, platform, ingestion, egress_hosts, content_kinds, actions,
        max_text_bytes, reply_window, credentials, idempotent_delivery, poll_interval_ms
    }
    crate::contract::v0_2::types::CredentialSpec { name, description, required, secret }
    crate::contract::v0_2::types::Manifest {
        name, version, platform, ingestion, egress_hosts, content_kinds, actions,
        max_text_bytes, reply_window, credentials, idempotent_delivery, poll_interval_ms
    }
}

impl WireSize for Content {
    fn wire_size(&self) -> usize {
        SCALAR
            + match self {
                Content::Text(text) => text.wire_size(),
                Content::Image(media) | Content::Video(media) | Content::File(media) => {
                    media.wire_size()
                }
                Content::Voice(voice) => voice.wire_size(),
                Content::Location(location) => location.wire_size(),
                Content::Link(link) => link.wire_size(),
                Content::ProductCard(card) => card.wire_size(),
                Content::OrderCard(card) => card.wire_size(),
                Content::Coupon(coupon) => coupon.wire_size(),
                Content::MiniProgram(card) => card.wire_size(),
                Content::Raw(raw) => raw.wire_size(),
            }
    }
}

impl WireSize for EventBody {
    fn wire_size(&self) -> usize {
        SCALAR
            + match self {
                EventBody::Message(message) => message.wire_size(),
                EventBody::Commerce(event) => event.wire_size(),
                EventBody::Session(event) => event.wire_size(),
            }
    }
}

impl WireSize for StateChange {
    fn wire_size(&self) -> usize {
        SCALAR
            + match self {
                StateChange::Set(entry) => entry.wire_size(),
                StateChange::Remove(key) => key.wire_size(),
            }
    }
}

impl WireSize for Frame {
    fn wire_size(&self) -> usize {
        SCALAR
            + match self {
                Frame::Text(text) => text.wire_size(),
                Frame::Binary(bytes) => bytes.wire_size(),
            }
    }
}

impl WireSize for DeliveryOutcome {
    fn wire_size(&self) -> usize {
        SCALAR
            + match self {
                DeliveryOutcome::Delivered(receipt) => receipt.wire_size(),
                DeliveryOutcome::NextStep | DeliveryOutcome::TokenExpired => 0,
                DeliveryOutcome::Retry(hint) | DeliveryOutcome::QuotaExceeded(hint) => {
                    hint.wire_size()
                }
                DeliveryOutcome::WindowClosed(failure) | DeliveryOutcome::Permanent(failure) => {
                    failure.wire_size()
                }
            }
    }
}

impl WireSize for PollOutcome {
    fn wire_size(&self) -> usize {
        SCALAR
            + match self {
                PollOutcome::Page(page) => page.wire_size(),
                PollOutcome::Step(outcome) => outcome.wire_size(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_bytes_count_by_length() {
        let response = HttpResponse {
            status: 200,
            headers: vec![Pair {
                name: "a".into(),
                value: "bc".into(),
            }],
            body: vec![0; 1000],
        };
        // The record, its status, the header's slot and record, and bytes.
        assert_eq!(response.wire_size(), 4 * SCALAR + 3 + 1000);
    }

    #[test]
    fn empty_elements_count_for_their_number() {
        let pairs = vec![
            Pair {
                name: String::new(),
                value: String::new(),
            };
            1000
        ];
        assert_eq!(pairs.wire_size(), 1000 * 2 * SCALAR);
        let strings = vec![String::new(); 1000];
        assert_eq!(strings.wire_size(), 1000 * SCALAR);
    }

    #[test]
    fn nested_content_is_counted() {
        let event = Event {
            platform_id: "id".into(),
            conversation_id: "c".into(),
            platform_time_ms: 0,
            route: vec![],
            body: EventBody::Message(Message {
                author: Identity {
                    platform_user_id: "u".into(),
                    display_name: None,
                    hints: vec![],
                },
                role: AuthorRole::Customer,
                direction: Direction::Inbound,
                content: Content::Text("x".repeat(5000)),
            }),
        };
        assert!(event.wire_size() > 5000);
        assert!(event.wire_size() < 5100);
    }
}
