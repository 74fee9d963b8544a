//! `tongdao:channel@0.1.0`: its generated types ([`wit`]) and their
//! conversions to and from the host's records, field by field.

use crate::model::*;
pub use crate::runtime::bindings::tongdao::channel::types as wit;

/// A plugin's events, as the host's records.
pub fn events(events: Vec<wit::Event>) -> Vec<Event> {
    events.into_iter().map(Into::into).collect()
}

/// A plugin's state changes, as the host's records.
pub fn state(changes: Vec<wit::StateChange>) -> Vec<StateChange> {
    changes.into_iter().map(Into::into).collect()
}

/// The host's state entries, for a plugin's context.
pub fn entries(entries: Vec<StateEntry>) -> Vec<wit::StateEntry> {
    entries.into_iter().map(Into::into).collect()
}

/// Name/value pairs, for a plugin's context or an HTTP request.
pub fn pairs(pairs: Vec<Pair>) -> Vec<wit::Pair> {
    pairs.into_iter().map(Into::into).collect()
}

impl From<wit::Pair> for Pair {
    fn from(v: wit::Pair) -> Self {
        Pair {
            name: v.name,
            value: v.value,
        }
    }
}

impl From<Pair> for wit::Pair {
    fn from(v: Pair) -> Self {
        wit::Pair {
            name: v.name,
            value: v.value,
        }
    }
}

impl From<wit::StateEntry> for StateEntry {
    fn from(v: wit::StateEntry) -> Self {
        StateEntry {
            key: v.key,
            value: v.value,
            expires_at_ms: v.expires_at_ms,
        }
    }
}

impl From<StateEntry> for wit::StateEntry {
    fn from(v: StateEntry) -> Self {
        wit::StateEntry {
            key: v.key,
            value: v.value,
            expires_at_ms: v.expires_at_ms,
        }
    }
}

impl From<wit::StateChange> for StateChange {
    fn from(v: wit::StateChange) -> Self {
        match v {
            wit::StateChange::Set(x) => StateChange::Set(x.into()),
            wit::StateChange::Remove(x) => StateChange::Remove(x),
        }
    }
}

impl From<StateChange> for wit::StateChange {
    fn from(v: StateChange) -> Self {
        match v {
            StateChange::Set(x) => wit::StateChange::Set(x.into()),
            StateChange::Remove(x) => wit::StateChange::Remove(x),
        }
    }
}

impl From<wit::AuthorRole> for AuthorRole {
    fn from(v: wit::AuthorRole) -> Self {
        match v {
            wit::AuthorRole::Customer => AuthorRole::Customer,
            wit::AuthorRole::Bot => AuthorRole::Bot,
            wit::AuthorRole::Agent => AuthorRole::Agent,
            wit::AuthorRole::System => AuthorRole::System,
        }
    }
}

impl From<AuthorRole> for wit::AuthorRole {
    fn from(v: AuthorRole) -> Self {
        match v {
            AuthorRole::Customer => wit::AuthorRole::Customer,
            AuthorRole::Bot => wit::AuthorRole::Bot,
            AuthorRole::Agent => wit::AuthorRole::Agent,
            AuthorRole::System => wit::AuthorRole::System,
        }
    }
}

impl From<wit::Direction> for Direction {
    fn from(v: wit::Direction) -> Self {
        match v {
            wit::Direction::Inbound => Direction::Inbound,
            wit::Direction::Outbound => Direction::Outbound,
        }
    }
}

impl From<Direction> for wit::Direction {
    fn from(v: Direction) -> Self {
        match v {
            Direction::Inbound => wit::Direction::Inbound,
            Direction::Outbound => wit::Direction::Outbound,
        }
    }
}

impl From<wit::IdentityHint> for IdentityHint {
    fn from(v: wit::IdentityHint) -> Self {
        IdentityHint {
            kind: v.kind,
            value: v.value,
        }
    }
}

impl From<IdentityHint> for wit::IdentityHint {
    fn from(v: IdentityHint) -> Self {
        wit::IdentityHint {
            kind: v.kind,
            value: v.value,
        }
    }
}

impl From<wit::Identity> for Identity {
    fn from(v: wit::Identity) -> Self {
        Identity {
            platform_user_id: v.platform_user_id,
            display_name: v.display_name,
            hints: v.hints.into_iter().map(|x| x.into()).collect(),
        }
    }
}

impl From<Identity> for wit::Identity {
    fn from(v: Identity) -> Self {
        wit::Identity {
            platform_user_id: v.platform_user_id,
            display_name: v.display_name,
            hints: v.hints.into_iter().map(|x| x.into()).collect(),
        }
    }
}

impl From<wit::Media> for Media {
    fn from(v: wit::Media) -> Self {
        Media {
            url: v.url,
            media_id: v.media_id,
            mime_type: v.mime_type,
            file_name: v.file_name,
            size_bytes: v.size_bytes,
        }
    }
}

impl From<Media> for wit::Media {
    fn from(v: Media) -> Self {
        wit::Media {
            url: v.url,
            media_id: v.media_id,
            mime_type: v.mime_type,
            file_name: v.file_name,
            size_bytes: v.size_bytes,
        }
    }
}

impl From<wit::Voice> for Voice {
    fn from(v: wit::Voice) -> Self {
        Voice {
            media: v.media.into(),
            format: v.format,
            recognition: v.recognition,
        }
    }
}

impl From<Voice> for wit::Voice {
    fn from(v: Voice) -> Self {
        wit::Voice {
            media: v.media.into(),
            format: v.format,
            recognition: v.recognition,
        }
    }
}

impl From<wit::Location> for Location {
    fn from(v: wit::Location) -> Self {
        Location {
            latitude: v.latitude,
            longitude: v.longitude,
            scale: v.scale,
            label: v.label,
        }
    }
}

impl From<Location> for wit::Location {
    fn from(v: Location) -> Self {
        wit::Location {
            latitude: v.latitude,
            longitude: v.longitude,
            scale: v.scale,
            label: v.label,
        }
    }
}

impl From<wit::Link> for Link {
    fn from(v: wit::Link) -> Self {
        Link {
            title: v.title,
            description: v.description,
            url: v.url,
            thumb_url: v.thumb_url,
        }
    }
}

impl From<Link> for wit::Link {
    fn from(v: Link) -> Self {
        wit::Link {
            title: v.title,
            description: v.description,
            url: v.url,
            thumb_url: v.thumb_url,
        }
    }
}

impl From<wit::ProductCard> for ProductCard {
    fn from(v: wit::ProductCard) -> Self {
        ProductCard {
            product_id: v.product_id,
            title: v.title,
            price: v.price,
            url: v.url,
            image_url: v.image_url,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<ProductCard> for wit::ProductCard {
    fn from(v: ProductCard) -> Self {
        wit::ProductCard {
            product_id: v.product_id,
            title: v.title,
            price: v.price,
            url: v.url,
            image_url: v.image_url,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<wit::OrderCard> for OrderCard {
    fn from(v: wit::OrderCard) -> Self {
        OrderCard {
            order_id: v.order_id,
            title: v.title,
            status: v.status,
            amount: v.amount,
            url: v.url,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<OrderCard> for wit::OrderCard {
    fn from(v: OrderCard) -> Self {
        wit::OrderCard {
            order_id: v.order_id,
            title: v.title,
            status: v.status,
            amount: v.amount,
            url: v.url,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<wit::Coupon> for Coupon {
    fn from(v: wit::Coupon) -> Self {
        Coupon {
            coupon_id: v.coupon_id,
            title: v.title,
            discount: v.discount,
            url: v.url,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<Coupon> for wit::Coupon {
    fn from(v: Coupon) -> Self {
        wit::Coupon {
            coupon_id: v.coupon_id,
            title: v.title,
            discount: v.discount,
            url: v.url,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<wit::MiniProgram> for MiniProgram {
    fn from(v: wit::MiniProgram) -> Self {
        MiniProgram {
            app_id: v.app_id,
            page_path: v.page_path,
            title: v.title,
            thumb_media_id: v.thumb_media_id,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<MiniProgram> for wit::MiniProgram {
    fn from(v: MiniProgram) -> Self {
        wit::MiniProgram {
            app_id: v.app_id,
            page_path: v.page_path,
            title: v.title,
            thumb_media_id: v.thumb_media_id,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<wit::RawContent> for RawContent {
    fn from(v: wit::RawContent) -> Self {
        RawContent {
            kind: v.kind,
            content_type: v.content_type,
            data: v.data,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<RawContent> for wit::RawContent {
    fn from(v: RawContent) -> Self {
        wit::RawContent {
            kind: v.kind,
            content_type: v.content_type,
            data: v.data,
            fallback_text: v.fallback_text,
        }
    }
}

impl From<wit::Content> for Content {
    fn from(v: wit::Content) -> Self {
        match v {
            wit::Content::Text(x) => Content::Text(x),
            wit::Content::Image(x) => Content::Image(x.into()),
            wit::Content::Voice(x) => Content::Voice(x.into()),
            wit::Content::Video(x) => Content::Video(x.into()),
            wit::Content::File(x) => Content::File(x.into()),
            wit::Content::Location(x) => Content::Location(x.into()),
            wit::Content::Link(x) => Content::Link(x.into()),
            wit::Content::ProductCard(x) => Content::ProductCard(x.into()),
            wit::Content::OrderCard(x) => Content::OrderCard(x.into()),
            wit::Content::Coupon(x) => Content::Coupon(x.into()),
            wit::Content::MiniProgram(x) => Content::MiniProgram(x.into()),
            wit::Content::Raw(x) => Content::Raw(x.into()),
        }
    }
}

impl From<Content> for wit::Content {
    fn from(v: Content) -> Self {
        match v {
            Content::Text(x) => wit::Content::Text(x),
            Content::Image(x) => wit::Content::Image(x.into()),
            Content::Voice(x) => wit::Content::Voice(x.into()),
            Content::Video(x) => wit::Content::Video(x.into()),
            Content::File(x) => wit::Content::File(x.into()),
            Content::Location(x) => wit::Content::Location(x.into()),
            Content::Link(x) => wit::Content::Link(x.into()),
            Content::ProductCard(x) => wit::Content::ProductCard(x.into()),
            Content::OrderCard(x) => wit::Content::OrderCard(x.into()),
            Content::Coupon(x) => wit::Content::Coupon(x.into()),
            Content::MiniProgram(x) => wit::Content::MiniProgram(x.into()),
            Content::Raw(x) => wit::Content::Raw(x.into()),
        }
    }
}

impl From<wit::Message> for Message {
    fn from(v: wit::Message) -> Self {
        Message {
            author: v.author.into(),
            role: v.role.into(),
            direction: v.direction.into(),
            content: v.content.into(),
        }
    }
}

impl From<Message> for wit::Message {
    fn from(v: Message) -> Self {
        wit::Message {
            author: v.author.into(),
            role: v.role.into(),
            direction: v.direction.into(),
            content: v.content.into(),
        }
    }
}

impl From<wit::CommerceKind> for CommerceKind {
    fn from(v: wit::CommerceKind) -> Self {
        match v {
            wit::CommerceKind::OrderCreated => CommerceKind::OrderCreated,
            wit::CommerceKind::OrderPaid => CommerceKind::OrderPaid,
            wit::CommerceKind::OrderShipped => CommerceKind::OrderShipped,
            wit::CommerceKind::OrderCompleted => CommerceKind::OrderCompleted,
            wit::CommerceKind::OrderClosed => CommerceKind::OrderClosed,
            wit::CommerceKind::RefundCreated => CommerceKind::RefundCreated,
            wit::CommerceKind::RefundUpdated => CommerceKind::RefundUpdated,
            wit::CommerceKind::LogisticsUpdated => CommerceKind::LogisticsUpdated,
            wit::CommerceKind::ReviewCreated => CommerceKind::ReviewCreated,
            wit::CommerceKind::Other => CommerceKind::Other,
        }
    }
}

impl From<CommerceKind> for wit::CommerceKind {
    fn from(v: CommerceKind) -> Self {
        match v {
            CommerceKind::OrderCreated => wit::CommerceKind::OrderCreated,
            CommerceKind::OrderPaid => wit::CommerceKind::OrderPaid,
            CommerceKind::OrderShipped => wit::CommerceKind::OrderShipped,
            CommerceKind::OrderCompleted => wit::CommerceKind::OrderCompleted,
            CommerceKind::OrderClosed => wit::CommerceKind::OrderClosed,
            CommerceKind::RefundCreated => wit::CommerceKind::RefundCreated,
            CommerceKind::RefundUpdated => wit::CommerceKind::RefundUpdated,
            CommerceKind::LogisticsUpdated => wit::CommerceKind::LogisticsUpdated,
            CommerceKind::ReviewCreated => wit::CommerceKind::ReviewCreated,
            CommerceKind::Other => wit::CommerceKind::Other,
        }
    }
}

impl From<wit::CommerceEvent> for CommerceEvent {
    fn from(v: wit::CommerceEvent) -> Self {
        CommerceEvent {
            kind: v.kind.into(),
            topic: v.topic,
            business_key: v.business_key,
            order_id: v.order_id,
            refund_id: v.refund_id,
            customer: v.customer.map(|x| x.into()),
            status: v.status,
            amount: v.amount,
            detail_json: v.detail_json,
        }
    }
}

impl From<CommerceEvent> for wit::CommerceEvent {
    fn from(v: CommerceEvent) -> Self {
        wit::CommerceEvent {
            kind: v.kind.into(),
            topic: v.topic,
            business_key: v.business_key,
            order_id: v.order_id,
            refund_id: v.refund_id,
            customer: v.customer.map(|x| x.into()),
            status: v.status,
            amount: v.amount,
            detail_json: v.detail_json,
        }
    }
}

impl From<wit::SessionKind> for SessionKind {
    fn from(v: wit::SessionKind) -> Self {
        match v {
            wit::SessionKind::Subscribed => SessionKind::Subscribed,
            wit::SessionKind::Unsubscribed => SessionKind::Unsubscribed,
            wit::SessionKind::Scanned => SessionKind::Scanned,
            wit::SessionKind::MenuClicked => SessionKind::MenuClicked,
            wit::SessionKind::LocationReported => SessionKind::LocationReported,
            wit::SessionKind::EnteredSession => SessionKind::EnteredSession,
            wit::SessionKind::SessionStateChanged => SessionKind::SessionStateChanged,
            wit::SessionKind::SendFailed => SessionKind::SendFailed,
            wit::SessionKind::Other => SessionKind::Other,
        }
    }
}

impl From<SessionKind> for wit::SessionKind {
    fn from(v: SessionKind) -> Self {
        match v {
            SessionKind::Subscribed => wit::SessionKind::Subscribed,
            SessionKind::Unsubscribed => wit::SessionKind::Unsubscribed,
            SessionKind::Scanned => wit::SessionKind::Scanned,
            SessionKind::MenuClicked => wit::SessionKind::MenuClicked,
            SessionKind::LocationReported => wit::SessionKind::LocationReported,
            SessionKind::EnteredSession => wit::SessionKind::EnteredSession,
            SessionKind::SessionStateChanged => wit::SessionKind::SessionStateChanged,
            SessionKind::SendFailed => wit::SessionKind::SendFailed,
            SessionKind::Other => wit::SessionKind::Other,
        }
    }
}

impl From<wit::SessionEvent> for SessionEvent {
    fn from(v: wit::SessionEvent) -> Self {
        SessionEvent {
            kind: v.kind.into(),
            customer: v.customer.into(),
            name: v.name,
            detail: v.detail.into_iter().map(|x| x.into()).collect(),
        }
    }
}

impl From<SessionEvent> for wit::SessionEvent {
    fn from(v: SessionEvent) -> Self {
        wit::SessionEvent {
            kind: v.kind.into(),
            customer: v.customer.into(),
            name: v.name,
            detail: v.detail.into_iter().map(|x| x.into()).collect(),
        }
    }
}

impl From<wit::EventBody> for EventBody {
    fn from(v: wit::EventBody) -> Self {
        match v {
            wit::EventBody::Message(x) => EventBody::Message(x.into()),
            wit::EventBody::Commerce(x) => EventBody::Commerce(x.into()),
            wit::EventBody::Session(x) => EventBody::Session(x.into()),
        }
    }
}

impl From<EventBody> for wit::EventBody {
    fn from(v: EventBody) -> Self {
        match v {
            EventBody::Message(x) => wit::EventBody::Message(x.into()),
            EventBody::Commerce(x) => wit::EventBody::Commerce(x.into()),
            EventBody::Session(x) => wit::EventBody::Session(x.into()),
        }
    }
}

impl From<wit::Event> for Event {
    fn from(v: wit::Event) -> Self {
        Event {
            platform_id: v.platform_id,
            conversation_id: v.conversation_id,
            platform_time_ms: v.platform_time_ms,
            route: v.route.into_iter().map(|x| x.into()).collect(),
            body: v.body.into(),
        }
    }
}

impl From<Event> for wit::Event {
    fn from(v: Event) -> Self {
        wit::Event {
            platform_id: v.platform_id,
            conversation_id: v.conversation_id,
            platform_time_ms: v.platform_time_ms,
            route: v.route.into_iter().map(|x| x.into()).collect(),
            body: v.body.into(),
        }
    }
}

impl From<wit::DeliveryReceipt> for DeliveryReceipt {
    fn from(v: wit::DeliveryReceipt) -> Self {
        DeliveryReceipt {
            platform_id: v.platform_id,
            result_json: v.result_json,
        }
    }
}

impl From<DeliveryReceipt> for wit::DeliveryReceipt {
    fn from(v: DeliveryReceipt) -> Self {
        wit::DeliveryReceipt {
            platform_id: v.platform_id,
            result_json: v.result_json,
        }
    }
}

impl From<wit::EventReply> for EventReply {
    fn from(v: wit::EventReply) -> Self {
        EventReply {
            code: v.code,
            content: v.content.into(),
        }
    }
}

impl From<EventReply> for wit::EventReply {
    fn from(v: EventReply) -> Self {
        wit::EventReply {
            code: v.code,
            content: v.content.into(),
        }
    }
}

impl From<wit::ActionKind> for ActionKind {
    fn from(v: wit::ActionKind) -> Self {
        match v {
            wit::ActionKind::SendMessage(x) => ActionKind::SendMessage(x.into()),
            wit::ActionKind::TransferToHuman(x) => ActionKind::TransferToHuman(x),
            wit::ActionKind::EndSession => ActionKind::EndSession,
            wit::ActionKind::SendCoupon(x) => ActionKind::SendCoupon(x.into()),
            wit::ActionKind::QueryOrder(x) => ActionKind::QueryOrder(x),
            wit::ActionKind::QueryLogistics(x) => ActionKind::QueryLogistics(x),
            wit::ActionKind::TagCustomer(x) => ActionKind::TagCustomer(x),
            wit::ActionKind::ReplyToEvent(x) => ActionKind::ReplyToEvent(x.into()),
        }
    }
}

impl From<ActionKind> for wit::ActionKind {
    fn from(v: ActionKind) -> Self {
        match v {
            ActionKind::SendMessage(x) => wit::ActionKind::SendMessage(x.into()),
            ActionKind::TransferToHuman(x) => wit::ActionKind::TransferToHuman(x),
            ActionKind::EndSession => wit::ActionKind::EndSession,
            ActionKind::SendCoupon(x) => wit::ActionKind::SendCoupon(x.into()),
            ActionKind::QueryOrder(x) => wit::ActionKind::QueryOrder(x),
            ActionKind::QueryLogistics(x) => wit::ActionKind::QueryLogistics(x),
            ActionKind::TagCustomer(x) => wit::ActionKind::TagCustomer(x),
            ActionKind::ReplyToEvent(x) => wit::ActionKind::ReplyToEvent(x.into()),
        }
    }
}

impl From<wit::Action> for Action {
    fn from(v: wit::Action) -> Self {
        Action {
            idempotency_key: v.idempotency_key,
            conversation_id: v.conversation_id,
            recipient: v.recipient,
            route: v.route.into_iter().map(|x| x.into()).collect(),
            kind: v.kind.into(),
            attempt: v.attempt,
        }
    }
}

impl From<Action> for wit::Action {
    fn from(v: Action) -> Self {
        wit::Action {
            idempotency_key: v.idempotency_key,
            conversation_id: v.conversation_id,
            recipient: v.recipient,
            route: v.route.into_iter().map(|x| x.into()).collect(),
            kind: v.kind.into(),
            attempt: v.attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract_event() -> wit::Event {
        wit::Event {
            platform_id: "24612345678901234".into(),
            conversation_id: "oCustomer".into(),
            platform_time_ms: 1_714_037_059_000,
            route: vec![wit::Pair {
                name: "open_kfid".into(),
                value: "wk1".into(),
            }],
            body: wit::EventBody::Message(wit::Message {
                author: wit::Identity {
                    platform_user_id: "oCustomer".into(),
                    display_name: Some("小王".into()),
                    hints: vec![wit::IdentityHint {
                        kind: "unionid".into(),
                        value: "u1".into(),
                    }],
                },
                role: wit::AuthorRole::Customer,
                direction: wit::Direction::Inbound,
                content: wit::Content::Image(wit::Media {
                    url: Some("https://mmbiz/x.jpg".into()),
                    media_id: Some("m1".into()),
                    mime_type: None,
                    file_name: None,
                    size_bytes: Some(1024),
                }),
            }),
        }
    }

    #[test]
    fn records_convert_both_ways_and_store_as_the_contract_types_did() {
        let original = contract_event();
        let host = Event::from(original.clone());
        // The JSON the store wrote when it kept the contract's own types is
        // the JSON it writes now, so earlier records read as they are.
        assert_eq!(
            serde_json::to_string(&original).unwrap(),
            serde_json::to_string(&host).unwrap()
        );
        assert_eq!(wit::Event::from(host), original);

        let action = wit::Action {
            idempotency_key: "k".into(),
            conversation_id: "c".into(),
            recipient: "r".into(),
            route: vec![],
            kind: wit::ActionKind::TransferToHuman(Some("mei".into())),
            attempt: 2,
        };
        let host = Action::from(action.clone());
        assert_eq!(
            serde_json::to_string(&action).unwrap(),
            serde_json::to_string(&host).unwrap()
        );
        assert_eq!(wit::Action::from(host), action);
    }
}
