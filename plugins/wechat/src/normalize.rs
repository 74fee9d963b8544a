//! Turn a push's fields into a normalized event: messages by `MsgType`,
//! events by `Event`, with the platform's recommended dedupe keys (MsgId for
//! messages, FromUserName + CreateTime for events, plus the event name).

use crate::fields::Fields;
use tongdao_sdk::*;

/// The normalized event for one push.
pub fn event(fields: &Fields) -> Result<Event, PluginError> {
    let account = fields.require("ToUserName")?;
    let openid = fields.require("FromUserName")?;
    let created: i64 = fields
        .require("CreateTime")?
        .trim()
        .parse()
        .map_err(|_| PluginError::Malformed("`CreateTime` is not a number".into()))?;
    let msg_type = fields.require("MsgType")?;
    let customer = Identity::new(openid);
    let (platform_id, body) = if msg_type == "event" {
        let name = fields.require("Event")?;
        let platform_id = format!("{openid}:{created}:{name}");
        let session = SessionEvent {
            kind: session_kind(name),
            customer,
            name: name.to_string(),
            detail: detail(fields),
        };
        (platform_id, EventBody::Session(session))
    } else {
        let platform_id = fields.require("MsgId")?.trim().to_string();
        if !platform_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PluginError::Malformed(format!(
                "`MsgId` `{platform_id}` is not a number"
            )));
        }
        let message = Message {
            author: customer,
            role: AuthorRole::Customer,
            direction: Direction::Inbound,
            content: content(msg_type, fields)?,
        };
        (platform_id, EventBody::Message(message))
    };
    Ok(Event {
        platform_id,
        conversation_id: openid.to_string(),
        platform_time_ms: created.saturating_mul(1000),
        route: vec![Pair::new("account", account)],
        body,
    })
}

fn content(msg_type: &str, fields: &Fields) -> Result<Content, PluginError> {
    let text = |name: &str| {
        fields
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(match msg_type {
        "text" => Content::Text(fields.get("Content").unwrap_or_default().to_string()),
        "image" => Content::Image(media(text("PicUrl"), text("MediaId"), Some("image/jpeg"))),
        "voice" => Content::Voice(Voice {
            media: media(None, text("MediaId"), None),
            format: text("Format"),
            recognition: text("Recognition"),
        }),
        "video" | "shortvideo" => Content::Video(media(None, text("MediaId"), None)),
        "location" => Content::Location(Location {
            latitude: number(fields, "Location_X")?,
            longitude: number(fields, "Location_Y")?,
            scale: fields.get("Scale").and_then(|s| s.trim().parse().ok()),
            label: text("Label"),
        }),
        "link" => Content::Link(Link {
            title: fields.get("Title").unwrap_or_default().to_string(),
            description: text("Description"),
            url: fields.require("Url")?.to_string(),
            thumb_url: None,
        }),
        other => Content::Raw(RawContent {
            kind: other.to_string(),
            content_type: "application/json".into(),
            data: serde_json::to_vec(&fields.iter().collect::<std::collections::BTreeMap<_, _>>())
                .unwrap_or_default(),
            fallback_text: None,
        }),
    })
}

fn media(url: Option<String>, media_id: Option<String>, mime_type: Option<&str>) -> Media {
    Media {
        url,
        media_id,
        mime_type: mime_type.map(str::to_string),
        file_name: None,
        size_bytes: None,
    }
}

fn number(fields: &Fields, name: &str) -> Result<f64, PluginError> {
    fields
        .require(name)?
        .trim()
        .parse()
        .map_err(|_| PluginError::Malformed(format!("`{name}` is not a number")))
}

fn session_kind(event: &str) -> SessionKind {
    match event {
        "subscribe" => SessionKind::Subscribed,
        "unsubscribe" => SessionKind::Unsubscribed,
        "SCAN" => SessionKind::Scanned,
        "LOCATION" => SessionKind::LocationReported,
        "CLICK" | "VIEW" | "view_miniprogram" | "scancode_push" | "scancode_waitmsg"
        | "pic_sysphoto" | "pic_photo_or_album" | "pic_weixin" | "location_select" => {
            SessionKind::MenuClicked
        }
        _ => SessionKind::Other,
    }
}

/// The event's own fields, without the envelope every push carries.
fn detail(fields: &Fields) -> Vec<Pair> {
    fields
        .iter()
        .filter(|(name, _)| {
            !matches!(
                *name,
                "ToUserName" | "FromUserName" | "CreateTime" | "MsgType" | "Event"
            )
        })
        .map(|(name, value)| Pair::new(name, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(inner: &str) -> Fields {
        Fields::from_xml(&format!(
            "<xml><ToUserName><![CDATA[gh_866835093fea]]></ToUserName><FromUserName><![CDATA[ogdotwSc_MmEEsJs9-ABZ1QL_4r4]]></FromUserName><CreateTime>1478317060</CreateTime>{inner}</xml>"
        ))
        .unwrap()
    }

    fn message_content(event: &Event) -> &Content {
        match &event.body {
            EventBody::Message(message) => &message.content,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn a_text_message() {
        let event = event(&xml("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>6349323426230210995</MsgId>")).unwrap();
        assert_eq!(event.platform_id, "6349323426230210995");
        assert_eq!(event.conversation_id, "ogdotwSc_MmEEsJs9-ABZ1QL_4r4");
        assert_eq!(event.platform_time_ms, 1_478_317_060_000);
        assert_eq!(event.route, vec![Pair::new("account", "gh_866835093fea")]);
        assert_eq!(message_content(&event), &Content::Text("你好".into()));
        let EventBody::Message(message) = &event.body else {
            unreachable!()
        };
        assert_eq!(
            (message.role, message.direction),
            (AuthorRole::Customer, Direction::Inbound)
        );
    }

    #[test]
    fn media_and_place_messages() {
        let image = event(&xml("<MsgType>image</MsgType><PicUrl>http://mmbiz/x.jpg</PicUrl><MediaId>m1</MediaId><MsgId>1</MsgId>")).unwrap();
        assert!(
            matches!(message_content(&image), Content::Image(m) if m.media_id.as_deref() == Some("m1") && m.url.as_deref() == Some("http://mmbiz/x.jpg"))
        );

        let voice = event(&xml("<MsgType>voice</MsgType><MediaId>v1</MediaId><Format>amr</Format><Recognition>我的快递到哪了</Recognition><MsgId>2</MsgId>")).unwrap();
        assert!(
            matches!(message_content(&voice), Content::Voice(v) if v.recognition.as_deref() == Some("我的快递到哪了") && v.format.as_deref() == Some("amr"))
        );

        let video = event(&xml("<MsgType>shortvideo</MsgType><MediaId>s1</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>3</MsgId>")).unwrap();
        assert!(
            matches!(message_content(&video), Content::Video(m) if m.media_id.as_deref() == Some("s1"))
        );

        let location = event(&xml("<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]></Label><MsgId>4</MsgId>")).unwrap();
        assert!(
            matches!(message_content(&location), Content::Location(l) if (l.latitude - 23.134521).abs() < 1e-9 && l.scale == Some(20) && l.label.as_deref() == Some("广州"))
        );

        let link = event(&xml("<MsgType>link</MsgType><Title>T</Title><Description>D</Description><Url>https://x.example/</Url><MsgId>5</MsgId>")).unwrap();
        assert!(
            matches!(message_content(&link), Content::Link(l) if l.url == "https://x.example/" && l.title == "T")
        );
    }

    #[test]
    fn unknown_message_types_are_kept_raw() {
        let event = event(&xml(
            "<MsgType>miniprogrampage</MsgType><Title>T</Title><MsgId>6</MsgId>",
        ))
        .unwrap();
        let Content::Raw(raw) = message_content(&event) else {
            panic!()
        };
        assert_eq!(raw.kind, "miniprogrampage");
        assert!(
            String::from_utf8(raw.data.clone())
                .unwrap()
                .contains("\"Title\":\"T\"")
        );
    }

    #[test]
    fn events_use_sender_time_and_name_as_their_id() {
        let subscribe = event(&xml(
            "<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_123</EventKey>",
        ))
        .unwrap();
        assert_eq!(
            subscribe.platform_id,
            "ogdotwSc_MmEEsJs9-ABZ1QL_4r4:1478317060:subscribe"
        );
        let EventBody::Session(session) = &subscribe.body else {
            panic!()
        };
        assert_eq!(session.kind, SessionKind::Subscribed);
        assert_eq!(session.detail, vec![Pair::new("EventKey", "qrscene_123")]);

        let click = event(&xml(
            "<MsgType>event</MsgType><Event>CLICK</Event><EventKey>V1001_TODAY</EventKey>",
        ))
        .unwrap();
        let EventBody::Session(session) = &click.body else {
            panic!()
        };
        assert_eq!(
            (session.kind, session.name.as_str()),
            (SessionKind::MenuClicked, "CLICK")
        );
        assert_ne!(click.platform_id, subscribe.platform_id);
    }

    #[test]
    fn missing_or_bad_fields_are_malformed() {
        for (inner, field) in [
            ("<MsgType>text</MsgType><Content>x</Content>", "MsgId"),
            ("<Content>x</Content><MsgId>1</MsgId>", "MsgType"),
            ("<MsgType>event</MsgType>", "Event"),
            (
                "<MsgType>location</MsgType><Location_X>north</Location_X><Location_Y>1</Location_Y><MsgId>1</MsgId>",
                "Location_X",
            ),
            ("<MsgType>text</MsgType><MsgId>12ab</MsgId>", "MsgId"),
        ] {
            let err = event(&xml(inner)).unwrap_err();
            assert!(
                matches!(&err, PluginError::Malformed(m) if m.contains(field)),
                "{inner}: {err:?}"
            );
        }
        let no_time = Fields::from_xml("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>").unwrap();
        assert!(
            matches!(event(&no_time), Err(PluginError::Malformed(m)) if m.contains("CreateTime"))
        );
    }
}
