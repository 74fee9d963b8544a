//! The starter channel plugin, made by `tongdao plugin new`: a platform
//! that pushes JSON messages to a webhook, signed with a shared token in
//! the `x-token` header, and takes replies at `POST /v1/messages`. Replace
//! the platform's details with yours; keep the shape: verify first, parse
//! into events, render requests, interpret answers. No I/O here: the host
//! does the network, the clock and the store.

use tongdao_sdk::*;

/// The plugin.
pub struct Starter;

/// The platform's API host (a shop's `api_base` may point it elsewhere).
const API_HOST: &str = "api.example.com";

/// A pushed message, as the platform sends it.
#[derive(serde::Deserialize)]
struct Pushed {
    id: String,
    from: String,
    text: String,
    time_ms: i64,
}

impl Channel for Starter {
    fn manifest() -> Manifest {
        ManifestBuilder::new("starter", env!("CARGO_PKG_VERSION"), "example-platform")
            .push()
            .egress(API_HOST)
            .content(&[ContentKind::Text])
            .action(ActionName::SendMessage)
            .max_text_bytes(2000)
            .credential(
                "token",
                "the shared token that signs pushes and calls",
                true,
            )
            .build()
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        let token = ctx.credential("token")?;
        let presented = request.header("x-token").unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            return Err(PluginError::Unauthenticated(
                "x-token does not match".into(),
            ));
        }
        let pushed: Pushed = serde_json::from_slice(&request.body)
            .map_err(|err| PluginError::Malformed(format!("not a message: {err}")))?;
        let event = Event {
            platform_id: pushed.id,
            conversation_id: pushed.from.clone(),
            platform_time_ms: pushed.time_ms,
            route: Vec::new(),
            body: EventBody::Message(Message {
                author: Identity::new(pushed.from),
                role: AuthorRole::Customer,
                direction: Direction::Inbound,
                content: Content::Text(pushed.text),
            }),
        };
        Ok(PushResult::ack(HttpResponse::text(200, "ok"), vec![event]))
    }

    fn render_action(ctx: ShopContext, action: Action) -> Result<OutboundRequest, PluginError> {
        let ActionKind::SendMessage(content) = &action.kind else {
            return Err(PluginError::Unsupported(format!(
                "action {}",
                action.kind.name()
            )));
        };
        let text = content
            .fallback_text()
            .ok_or_else(|| PluginError::Unsupported("content without text".into()))?;
        let body = serde_json::json!({
            "to": action.conversation_id,
            "text": text,
            "client_id": action.idempotency_key,
        });
        Ok(OutboundRequest {
            step: "send".into(),
            request: HttpRequest::new(
                "POST",
                &format!("https://{API_HOST}/v1/messages"),
                body.to_string().into_bytes(),
            )
            .with_header("content-type", "application/json")
            .with_header("x-token", ctx.credential("token")?),
        })
    }

    fn interpret_response(
        _ctx: ShopContext,
        _action: Action,
        _step: String,
        response: HttpResponse,
    ) -> Result<Interpretation, PluginError> {
        Ok(Interpretation::outcome(match response.status {
            200..=299 => DeliveryOutcome::delivered(None),
            429 => DeliveryOutcome::quota(None, "rate limited"),
            500..=599 => {
                DeliveryOutcome::retry(format!("the platform answered {}", response.status))
            }
            status => DeliveryOutcome::permanent(
                status.to_string(),
                String::from_utf8_lossy(&response.body),
            ),
        }))
    }
}

export_channel!(Starter);

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopContext {
        ShopContext::for_test("demo", 1_700_000_000_000).with_credential("token", "s3cret")
    }

    fn push(token: &str) -> HttpRequest {
        HttpRequest::new(
            "POST",
            "/hooks/starter/demo",
            br#"{"id":"m1","from":"u1","text":"hello","time_ms":1700000000000}"#.to_vec(),
        )
        .with_header("x-token", token)
    }

    #[test]
    fn a_signed_push_becomes_a_message() {
        let result = Starter::handle_push(shop(), push("s3cret")).unwrap();
        assert_eq!(result.events.len(), 1);
        assert_eq!(result.events[0].platform_id, "m1");
        assert_eq!(
            result.events[0].message().unwrap().author.platform_user_id,
            "u1"
        );
    }

    #[test]
    fn a_forged_push_is_refused() {
        assert!(matches!(
            Starter::handle_push(shop(), push("guess")),
            Err(PluginError::Unauthenticated(_))
        ));
    }
}
