//! The console's words, in Chinese (the default) and English (`?lang=en`,
//! remembered in a cookie).

/// Every label the console shows, in one language.
#[derive(Debug)]
pub struct Text {
    /// The page's `lang`.
    pub lang: &'static str,
    /// The other language's code and name, for the switch.
    pub other_lang: &'static str,
    /// The other language's name.
    pub other_lang_name: &'static str,
    /// The page title.
    pub title: &'static str,
    /// Sign in.
    pub sign_in: &'static str,
    /// Sign out.
    pub sign_out: &'static str,
    /// The agent id field.
    pub agent_id: &'static str,
    /// The password field.
    pub password: &'static str,
    /// A failed sign-in.
    pub wrong_credentials: &'static str,
    /// 待接入.
    pub queue: &'static str,
    /// 我的.
    pub mine: &'static str,
    /// 全部.
    pub all: &'static str,
    /// An empty list.
    pub empty: &'static str,
    /// Queue position.
    pub position: &'static str,
    /// Time waited.
    pub waited: &'static str,
    /// Why the conversation is with people.
    pub why: &'static str,
    /// The customer.
    pub customer: &'static str,
    /// The bot.
    pub bot: &'static str,
    /// An agent.
    pub agent: &'static str,
    /// Take the conversation.
    pub take: &'static str,
    /// Hand it back to the bot.
    pub hand_back: &'static str,
    /// Close it.
    pub close: &'static str,
    /// Transfer it.
    pub transfer: &'static str,
    /// The reply box's placeholder.
    pub reply_placeholder: &'static str,
    /// Send.
    pub send: &'static str,
    /// Messages left in the window.
    pub messages_left: &'static str,
    /// The window is closed.
    pub window_closed: &'static str,
    /// How long the customer has waited for a reply.
    pub customer_waiting: &'static str,
    /// Time left in the channel's reply window.
    pub window_left: &'static str,
    /// Send the shop's coupon.
    pub send_coupon: &'static str,
    /// Rows beyond the ones shown.
    pub more_rows: &'static str,
    /// Colleagues viewing the same conversation.
    pub also_viewing: &'static str,
    /// Today's figures on the supervisor's view.
    pub today: &'static str,
    /// Average first-response time.
    pub first_response: &'static str,
    /// Average handling time.
    pub handling: &'static str,
    /// The bot's automation rate.
    pub automation: &'static str,
    /// Conversations people closed or handed back.
    pub conversations_handled: &'static str,
    /// The bot's decision, inline in the thread.
    pub decision: &'static str,
    /// Who linked two identities by hand.
    pub linked_by: &'static str,
    /// Undo a link.
    pub unlink: &'static str,
    /// Link another identity.
    pub link: &'static str,
    /// The other identity's platform id.
    pub link_user: &'static str,
    /// Orders from look-ups.
    pub orders: &'static str,
    /// An order.
    pub order: &'static str,
    /// No order looked up yet.
    pub no_orders: &'static str,
    /// The customer's conversations.
    pub conversations: &'static str,
    /// No shop filter.
    pub every_shop: &'static str,
    /// No platform filter.
    pub every_platform: &'static str,
    /// Apply the filters.
    pub filter: &'static str,
    /// No conversation picked.
    pub pick: &'static str,
    /// The customer's identities.
    pub identities: &'static str,
    /// A post without the session's token.
    pub csrf_refused: &'static str,
    /// An action refused.
    pub refused: &'static str,
    /// No such page.
    pub not_found: &'static str,
    /// The console is off (no admin API configured).
    pub off: &'static str,
    /// Priorities: threat, angry, normal.
    pub priorities: [&'static str; 3],
    /// Statuses: online, break, offline.
    pub statuses: [&'static str; 3],
    /// The status form's button.
    pub set_status: &'static str,
    /// A private note.
    pub note: &'static str,
    /// The note box's placeholder.
    pub note_placeholder: &'static str,
    /// The note button.
    pub add_note: &'static str,
    /// Canned replies.
    pub canned: &'static str,
    /// The canned reply name field.
    pub canned_name: &'static str,
    /// The canned reply text field.
    pub canned_text: &'static str,
    /// Save.
    pub save: &'static str,
    /// Delete.
    pub delete: &'static str,
    /// Back to the workbench.
    pub back: &'static str,
    /// The transfer note's placeholder.
    pub transfer_note: &'static str,
    /// The wrap-up note's placeholder.
    pub wrap_up: &'static str,
    /// The supervisor's view.
    pub supervisor: &'static str,
    /// Complaint-threat alerts.
    pub alerts: &'static str,
    /// No alerts.
    pub no_alerts: &'static str,
    /// Risk alerts raised (threats and sustained anger).
    pub risk_alerts: &'static str,
    /// No risk alerts.
    pub no_risk_alerts: &'static str,
    /// Queues per shop.
    pub queues: &'static str,
    /// Shop.
    pub shop: &'static str,
    /// Waiting.
    pub waiting: &'static str,
    /// Longest wait.
    pub longest_wait: &'static str,
    /// With agents.
    pub with_agents: &'static str,
    /// Agents.
    pub agents: &'static str,
    /// Status.
    pub status: &'static str,
    /// Load and cap.
    pub load: &'static str,
}

impl Text {
    /// The label of a priority name (`threat`, `angry`, `normal`).
    pub fn priority(&self, name: &str) -> &'static str {
        match name {
            "threat" => self.priorities[0],
            "angry" => self.priorities[1],
            _ => self.priorities[2],
        }
    }
}

/// 中文.
pub static ZH: Text = Text {
    lang: "zh-CN",
    other_lang: "en",
    other_lang_name: "English",
    title: "通道 · 客服工作台",
    sign_in: "登录",
    sign_out: "退出",
    agent_id: "客服账号",
    password: "密码",
    wrong_credentials: "账号或密码不对",
    queue: "待接入",
    mine: "我的",
    all: "全部",
    empty: "暂无会话",
    position: "排队第",
    waited: "已等待",
    why: "转人工原因",
    customer: "客户",
    bot: "机器人",
    agent: "客服",
    take: "接入",
    hand_back: "交还机器人",
    close: "结束会话",
    transfer: "转接",
    reply_placeholder: "输入回复",
    send: "发送",
    messages_left: "窗口内还可发送",
    window_closed: "现在不能回复",
    customer_waiting: "客户待回复",
    window_left: "回复窗口剩余",
    send_coupon: "发送优惠券",
    more_rows: "更多会话未显示：",
    also_viewing: "同时在看：",
    today: "今日指标",
    first_response: "平均首次响应",
    handling: "平均处理时长",
    automation: "机器人解决率",
    conversations_handled: "人工接待完成",
    decision: "机器人判断",
    linked_by: "关联人",
    unlink: "解除关联",
    link: "关联",
    link_user: "对方平台账号",
    orders: "订单",
    order: "订单",
    no_orders: "暂无查询过的订单",
    conversations: "历史会话",
    every_shop: "全部店铺",
    every_platform: "全部平台",
    filter: "筛选",
    pick: "从左侧选择一个会话",
    identities: "客户身份",
    csrf_refused: "请求缺少有效的表单令牌，已拒绝",
    refused: "操作被拒绝",
    not_found: "没有这个页面",
    off: "未配置管理接口",
    priorities: ["投诉风险", "情绪激动", "普通"],
    statuses: ["在线", "小休", "离线"],
    set_status: "切换",
    note: "内部备注（客户看不到）",
    note_placeholder: "写一条内部备注",
    add_note: "添加备注",
    canned: "管理快捷回复（在回复框输入 / 使用）",
    canned_name: "名称",
    canned_text: "内容",
    save: "保存",
    delete: "删除",
    back: "返回工作台",
    transfer_note: "转接说明（选填）",
    wrap_up: "结束小结（选填）",
    supervisor: "主管看板",
    alerts: "投诉风险告警",
    no_alerts: "暂无告警",
    risk_alerts: "风险预警",
    no_risk_alerts: "暂无风险预警",
    queues: "各店排队",
    shop: "店铺",
    waiting: "排队中",
    longest_wait: "最长等待",
    with_agents: "接待中",
    agents: "客服",
    status: "状态",
    load: "接待量 / 上限",
};

/// English.
pub static EN: Text = Text {
    lang: "en",
    other_lang: "zh",
    other_lang_name: "中文",
    title: "tongdao · agent workbench",
    sign_in: "Sign in",
    sign_out: "Sign out",
    agent_id: "Agent id",
    password: "Password",
    wrong_credentials: "Wrong agent id or password",
    queue: "Waiting",
    mine: "Mine",
    all: "All",
    empty: "No conversations",
    position: "Position",
    waited: "waited",
    why: "Why with people",
    customer: "Customer",
    bot: "Bot",
    agent: "Agent",
    take: "Take",
    hand_back: "Hand back to the bot",
    close: "Close",
    transfer: "Transfer",
    reply_placeholder: "Type a reply",
    send: "Send",
    messages_left: "messages left in the window:",
    window_closed: "You cannot reply now",
    customer_waiting: "awaiting reply",
    window_left: "reply window closes in",
    send_coupon: "Send coupon",
    more_rows: "More conversations not shown:",
    also_viewing: "Also viewing:",
    today: "Today",
    first_response: "Average first response",
    handling: "Average handling time",
    automation: "Bot automation rate",
    conversations_handled: "Conversations handled by people",
    decision: "Bot decision",
    linked_by: "linked by",
    unlink: "Unlink",
    link: "Link",
    link_user: "their platform id",
    orders: "Orders",
    order: "Order",
    no_orders: "No orders looked up yet",
    conversations: "Conversations",
    every_shop: "Every shop",
    every_platform: "Every platform",
    filter: "Filter",
    pick: "Pick a conversation on the left",
    identities: "Customer identities",
    csrf_refused: "The form's token is missing or wrong: refused",
    refused: "Refused",
    not_found: "No such page",
    off: "The admin API is not configured",
    priorities: ["complaint threat", "angry", "normal"],
    statuses: ["online", "on a break", "offline"],
    set_status: "Set",
    note: "Private note (the customer never sees it)",
    note_placeholder: "Write a private note",
    add_note: "Add note",
    canned: "Manage canned replies (type / in the reply box)",
    canned_name: "Name",
    canned_text: "Text",
    save: "Save",
    delete: "Delete",
    back: "Back to the workbench",
    transfer_note: "Note for the colleague (optional)",
    wrap_up: "Wrap-up (optional)",
    supervisor: "Supervisor's view",
    alerts: "Complaint-threat alerts",
    no_alerts: "No alerts",
    risk_alerts: "Risk alerts",
    no_risk_alerts: "No risk alerts",
    queues: "Queues per shop",
    shop: "Shop",
    waiting: "Waiting",
    longest_wait: "Longest wait",
    with_agents: "With agents",
    agents: "Agents",
    status: "Status",
    load: "Load / cap",
};

/// The cookie that remembers an agent's choice of language.
pub const LANG_COOKIE: &str = "tongdao_lang";

/// The language a request asks for: `lang=en` or `lang=zh` in the query,
/// else the one chosen before (its cookie), else Chinese.
pub fn for_request(query: &str, headers: &hyper::HeaderMap) -> &'static Text {
    let asked = url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "lang")
        .map(|(_, value)| value.into_owned())
        .or_else(|| {
            headers
                .get(hyper::header::COOKIE)
                .and_then(|v| v.to_str().ok())?
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == LANG_COOKIE)
                .map(|(_, value)| value.to_owned())
        });
    match asked.as_deref() {
        Some("en") => &EN,
        _ => &ZH,
    }
}

/// The `Set-Cookie` value remembering a language chosen in the query, if
/// one was.
pub fn remember(query: &str) -> Option<String> {
    let lang = url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "lang")
        .map(|(_, value)| value.into_owned())?;
    let lang = if lang == "en" { "en" } else { "zh" };
    Some(format!(
        "{LANG_COOKIE}={lang}; Path=/console; SameSite=Strict; Max-Age=31536000"
    ))
}
