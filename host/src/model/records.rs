//! The host's own records of what plugins report and what it asks them to do:
//! the shapes of `tongdao:channel@0.1.0`'s event, action and state types,
//! owned by the host so the store never depends on a contract version.
//! [`crate::contract`] converts them to and from each contract version.
//! Field and variant names match the contract's, and so does their JSON,
//! so records stored before they were the host's own still read.

use serde::{Deserialize, Serialize};

/// A name/value pair: an HTTP header, a credential, a setting, routing data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
}

/// One entry of plugin-held state (access tokens, stream tokens, flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    /// `key`.
    pub key: String,
    /// `value`.
    pub value: String,
    /// Unix time in milliseconds after which the host drops the entry.
    pub expires_at_ms: Option<i64>,
}

/// A change to plugin-held state. The host applies a call's state changes in
/// the same commit as the call's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StateChange {
    /// `Set`.
    Set(StateEntry),
    /// `Remove`.
    Remove(String),
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorRole {
    /// `customer`.
    Customer,
    /// `bot`.
    Bot,
    /// `agent`.
    Agent,
    /// `system`.
    System,
}

/// Whether a message came from the platform to the shop or went out from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// `inbound`.
    Inbound,
    /// `outbound`.
    Outbound,
}

/// A hint that links a platform-scoped identity to others, as the platform
/// really provides it. Well-known kinds: `wechat-unionid` (WeChat Open
/// Platform unionid, shared by OA and WeCom 微信客服), `doudian-union-id`
/// (抖店 brand member id), `taobao-ouid`, `taobao-omid`, `jd-xid-buyer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityHint {
    /// `kind`.
    pub kind: String,
    /// `value`.
    pub value: String,
}

/// A person as one platform knows them, within the shop's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The platform's id for the person (openid, external_userid,
    /// buyer_open_uid, open_id_buyer, …).
    pub platform_user_id: String,
    /// Display name where the platform gives one (often masked: never merge on it).
    pub display_name: Option<String>,
    /// `hints`.
    pub hints: Vec<IdentityHint>,
}

/// A media object held by the platform or reachable by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    /// `url`.
    pub url: Option<String>,
    /// `media-id`.
    pub media_id: Option<String>,
    /// `mime-type`.
    pub mime_type: Option<String>,
    /// `file-name`.
    pub file_name: Option<String>,
    /// `size-bytes`.
    pub size_bytes: Option<u64>,
}

/// A voice message; `recognition` is the platform's speech-to-text, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voice {
    /// `media`.
    pub media: Media,
    /// `format`.
    pub format: Option<String>,
    /// `recognition`.
    pub recognition: Option<String>,
}

/// A geographic location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// `latitude`.
    pub latitude: f64,
    /// `longitude`.
    pub longitude: f64,
    /// `scale`.
    pub scale: Option<u32>,
    /// `label`.
    pub label: Option<String>,
}

/// A link with a title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: Option<String>,
    /// `url`.
    pub url: String,
    /// `thumb-url`.
    pub thumb_url: Option<String>,
}

/// A product card. `fallback-text` is sent where the platform cannot render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductCard {
    /// `product-id`.
    pub product_id: String,
    /// `title`.
    pub title: String,
    /// Price as the platform writes it, e.g. `99.00`.
    pub price: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// `image-url`.
    pub image_url: Option<String>,
    /// `fallback-text`.
    pub fallback_text: String,
}

/// An order card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCard {
    /// `order-id`.
    pub order_id: String,
    /// `title`.
    pub title: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `amount`.
    pub amount: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// `fallback-text`.
    pub fallback_text: String,
}

/// A coupon offered to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    /// `coupon-id`.
    pub coupon_id: String,
    /// `title`.
    pub title: String,
    /// `discount`.
    pub discount: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// `fallback-text`.
    pub fallback_text: String,
}

/// A mini-program card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiniProgram {
    /// `app-id`.
    pub app_id: String,
    /// `page-path`.
    pub page_path: String,
    /// `title`.
    pub title: Option<String>,
    /// `thumb-media-id`.
    pub thumb_media_id: Option<String>,
    /// `fallback-text`.
    pub fallback_text: String,
}

/// Content tongdao does not model; kept as the platform sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawContent {
    /// The platform's own type name, e.g. `business_card`, `msgmenu`.
    pub kind: String,
    /// Media type of `data`, e.g. `application/json`.
    pub content_type: String,
    /// `data`.
    pub data: Vec<u8>,
    /// `fallback-text`.
    pub fallback_text: Option<String>,
}

/// The body of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Content {
    /// `Text`.
    Text(String),
    /// `Image`.
    Image(Media),
    /// `Voice`.
    Voice(Voice),
    /// `Video`.
    Video(Media),
    /// `File`.
    File(Media),
    /// `Location`.
    Location(Location),
    /// `Link`.
    Link(Link),
    /// `ProductCard`.
    ProductCard(ProductCard),
    /// `OrderCard`.
    OrderCard(OrderCard),
    /// `Coupon`.
    Coupon(Coupon),
    /// `MiniProgram`.
    MiniProgram(MiniProgram),
    /// `Raw`.
    Raw(RawContent),
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `author`.
    pub author: Identity,
    /// `role`.
    pub role: AuthorRole,
    /// `direction`.
    pub direction: Direction,
    /// `content`.
    pub content: Content,
}

/// Commerce event kinds the platforms expose publicly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommerceKind {
    /// `order-created`.
    OrderCreated,
    /// `order-paid`.
    OrderPaid,
    /// `order-shipped`.
    OrderShipped,
    /// `order-completed`.
    OrderCompleted,
    /// `order-closed`.
    OrderClosed,
    /// `refund-created`.
    RefundCreated,
    /// `refund-updated`.
    RefundUpdated,
    /// `logistics-updated`.
    LogisticsUpdated,
    /// `review-created`.
    ReviewCreated,
    /// `other`.
    Other,
}

/// An order, refund, logistics or review event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommerceEvent {
    /// `kind`.
    pub kind: CommerceKind,
    /// The platform's topic or tag as delivered, e.g. `taobao_trade_TradeCreate`.
    pub topic: String,
    /// The business key for coalescing several events about one object,
    /// e.g. `trade_3000000000000000001`.
    pub business_key: String,
    /// `order-id`.
    pub order_id: Option<String>,
    /// `refund-id`.
    pub refund_id: Option<String>,
    /// `customer`.
    pub customer: Option<Identity>,
    /// `status`.
    pub status: Option<String>,
    /// Amount as the platform writes it, e.g. `99.00`.
    pub amount: Option<String>,
    /// The platform's payload as JSON text.
    pub detail_json: String,
}

/// Session and account events (follow, menu click, entering a chat, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionKind {
    /// `subscribed`.
    Subscribed,
    /// `unsubscribed`.
    Unsubscribed,
    /// `scanned`.
    Scanned,
    /// `menu-clicked`.
    MenuClicked,
    /// `location-reported`.
    LocationReported,
    /// `entered-session`.
    EnteredSession,
    /// `session-state-changed`.
    SessionStateChanged,
    /// `send-failed`.
    SendFailed,
    /// `other`.
    Other,
}

/// A session event about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// `kind`.
    pub kind: SessionKind,
    /// `customer`.
    pub customer: Identity,
    /// The platform's event name, e.g. `subscribe`, `CLICK`, `enter_session`.
    pub name: String,
    /// Event fields as delivered (`EventKey`, `welcome_code`, …).
    pub detail: Vec<Pair>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
    /// `Message`.
    Message(Message),
    /// `Commerce`.
    Commerce(CommerceEvent),
    /// `Session`.
    Session(SessionEvent),
}

/// A normalized event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The platform's id for this event: the dedupe key, scoped to the shop by
    /// the host (WeChat `MsgId`, or `FromUserName+CreateTime+Event` for events).
    pub platform_id: String,
    /// The conversation the event belongs to (the customer's chat, or the
    /// business key for commerce events without a customer).
    pub conversation_id: String,
    /// The platform's timestamp, Unix milliseconds.
    pub platform_time_ms: i64,
    /// Routing data the plugin needs back when acting on this conversation
    /// (e.g. WeCom `open_kfid`); the host keeps the latest on the conversation.
    pub route: Vec<Pair>,
    /// `body`.
    pub body: EventBody,
}

/// What the platform's answer meant for a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// The platform's id for what was delivered, if it returns one.
    pub platform_id: Option<String>,
    /// The result of a query action, as JSON text.
    pub result_json: Option<String>,
}

/// A WeCom-style event reply (welcome message) that quotes the event's code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReply {
    /// `code`.
    pub code: String,
    /// `content`.
    pub content: Content,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ActionKind {
    /// `SendMessage`.
    SendMessage(Content),
    /// Hand the session to a person on the platform's side, optionally a named one.
    TransferToHuman(Option<String>),
    /// `EndSession`.
    EndSession,
    /// `SendCoupon`.
    SendCoupon(Coupon),
    /// `QueryOrder`.
    QueryOrder(String),
    /// `QueryLogistics`.
    QueryLogistics(String),
    /// `TagCustomer`.
    TagCustomer(Vec<String>),
    /// `ReplyToEvent`.
    ReplyToEvent(EventReply),
}

/// Something the host asks the plugin to do on the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Unique per action; platforms that accept a client id get it.
    pub idempotency_key: String,
    /// `conversation-id`.
    pub conversation_id: String,
    /// The customer the action concerns.
    pub recipient: String,
    /// The conversation's routing data from its latest event.
    pub route: Vec<Pair>,
    /// `kind`.
    pub kind: ActionKind,
    /// 1 for the first attempt.
    pub attempt: u32,
}
