//! A hostile channel plugin for the host's sandbox tests. The shop's `mode`
//! setting picks the misbehaviour of `handle-push`:
//!
//! - `loop`: spin forever (the epoch deadline must stop it);
//! - `grow`: allocate without bound (the memory cap must stop it);
//! - `trap`: panic, which aborts to a wasm trap;
//! - `big`: return an event larger than the host's output cap;
//! - `empties`: return an event whose route holds 200,000 empty pairs
//!   (tiny strings, a huge count);
//! - `many-events`: return 40,000 near-empty events;
//! - anything else: behave, acknowledging with `ok` and no events.

use tongdao_sdk::*;

/// The hostile plugin.
pub struct Hostile;

impl Channel for Hostile {
    fn manifest() -> Manifest {
        ManifestBuilder::new("hostile", "0.1.0", "test")
            .push()
            .build()
    }

    fn handle_push(ctx: ShopContext, request: HttpRequest) -> Result<PushResult, PluginError> {
        match ctx.setting("mode").unwrap_or("ok") {
            "loop" => spin(request.body.len() as u64),
            "grow" => grow(),
            "trap" => panic!("hostile plugin panics on purpose"),
            "big" => Ok(PushResult::ack(
                HttpResponse::text(200, "ok"),
                vec![huge_event(ctx.now_ms)],
            )),
            "empties" => {
                let mut event = huge_event(ctx.now_ms);
                event.body = EventBody::Message(Message {
                    author: Identity::new("someone"),
                    role: AuthorRole::Customer,
                    direction: Direction::Inbound,
                    content: Content::Text(String::new()),
                });
                event.route = vec![Pair::new("", ""); 200_000];
                Ok(PushResult::ack(HttpResponse::text(200, "ok"), vec![event]))
            }
            "many-events" => {
                let mut event = huge_event(ctx.now_ms);
                event.body = EventBody::Message(Message {
                    author: Identity::new(""),
                    role: AuthorRole::Customer,
                    direction: Direction::Inbound,
                    content: Content::Text(String::new()),
                });
                event.platform_id.clear();
                event.conversation_id.clear();
                Ok(PushResult::ack(
                    HttpResponse::text(200, "ok"),
                    vec![event; 40_000],
                ))
            }
            _ => Ok(PushResult::ack(HttpResponse::text(200, "ok"), Vec::new())),
        }
    }
}

fn spin(seed: u64) -> ! {
    let mut x = seed;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn grow() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = hoard.len() as u8;
        hoard.push(std::hint::black_box(chunk));
    }
}

fn huge_event(now_ms: i64) -> Event {
    Event {
        platform_id: "huge".into(),
        conversation_id: "huge".into(),
        platform_time_ms: now_ms,
        route: Vec::new(),
        body: EventBody::Message(Message {
            author: Identity::new("someone"),
            role: AuthorRole::Customer,
            direction: Direction::Inbound,
            content: Content::Text("x".repeat(16 << 20)),
        }),
    }
}

export_channel!(Hostile);
