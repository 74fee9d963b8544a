//! The TMC WebSocket server: the CONNECT check and CONNECTACK, pushing due
//! messages (on connect, on pull requests, on enqueue and on a short tick
//! for redeliveries), and reading confirms, failures and pull requests.

use crate::frames::{CONNECT, CONNECTACK, Field, Frame, SEND};
use crate::signing::connect_sign;
use crate::{Confirm, Handshake, Shared, Via, lock};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use rand::distr::Alphanumeric;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// How often a connection looks for redeliveries that fell due.
const TICK: Duration = Duration::from_millis(25);

/// The listening socket and its accept loop (stopped when dropped).
pub struct TmcServer {
    addr: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl Drop for TmcServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl TmcServer {
    pub async fn start(shared: Arc<Shared>) -> anyhow::Result<TmcServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(Arc::clone(&shared), stream));
            }
        });
        Ok(TmcServer { addr, accept_loop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Check a CONNECT: `Ok(())` or the status and phrase to refuse with.
fn check_connect(shared: &Shared, frame: &Frame) -> Result<(), (u32, String)> {
    let mut state = lock(&shared.state);
    if let Some(refusal) = state.refuse_next.take() {
        return Err(refusal);
    }
    if frame.kind != CONNECT {
        return Err((400, "the first message must be CONNECT".into()));
    }
    let field = |name: &str| frame.text(name).filter(|v| !v.is_empty());
    let (Some(app_key), Some(timestamp), Some(sign)) =
        (field("app_key"), field("timestamp"), field("sign"))
    else {
        return Err((400, "CONNECT lacks app_key, timestamp or sign".into()));
    };
    let group = field("group_name").unwrap_or_else(|| "default".into());
    let config = &state.config;
    if app_key != config.app_key {
        return Err((401, format!("unknown app_key {app_key}")));
    }
    if group != config.group_name {
        return Err((404, format!("group {group} does not exist")));
    }
    let Ok(ts) = timestamp.parse::<i64>() else {
        return Err((400, "timestamp is not milliseconds".into()));
    };
    if (state.now_ms() - ts).abs() > config.timestamp_tolerance_ms {
        return Err((401, "timestamp out of range".into()));
    }
    let expected = connect_sign(&app_key, &config.app_secret, &group, &timestamp);
    if sign != expected {
        return Err((401, "invalid sign".into()));
    }
    Ok(())
}

fn data_frame(shared: &Shared, message: &crate::TmcMessage) -> Message {
    let state = lock(&shared.state);
    let frame = Frame {
        kind: SEND,
        fields: vec![
            ("__kind".into(), Field::Byte(3)),
            ("id".into(), Field::Long(message.id)),
            ("topic".into(), Field::Text(message.topic.clone())),
            ("content".into(), Field::Text(message.content.clone())),
            ("time".into(), Field::Date(message.published_ms)),
            ("nick".into(), Field::Text(state.config.seller_nick.clone())),
            ("userid".into(), Field::Long(state.config.seller_id)),
            ("publisher".into(), Field::Text("4272".into())),
        ],
        ..Frame::default()
    };
    Message::Binary(frame.to_bytes().into())
}

async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut incoming) = socket.split();
    let connection = {
        let mut state = lock(&shared.state);
        state.connections += 1;
        state.connections
    };
    // The handshake.
    let connect = loop {
        match incoming.next().await {
            Some(Ok(Message::Binary(bytes))) => break Frame::parse(&bytes),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return,
        }
    };
    let verdict = match connect {
        Ok(frame) => check_connect(&shared, &frame),
        Err(err) => Err((400, format!("unreadable frame: {err}"))),
    };
    let token: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let ack = match &verdict {
        Ok(()) => Frame {
            kind: CONNECTACK,
            token: Some(token.clone()),
            ..Frame::default()
        },
        Err((status, phrase)) => Frame {
            kind: CONNECTACK,
            status_code: Some(*status),
            status_phrase: Some(phrase.clone()),
            ..Frame::default()
        },
    };
    lock(&shared.state).handshakes.push(match &verdict {
        Ok(()) => Handshake {
            accepted: true,
            status: 0,
            phrase: String::new(),
            token: Some(token.clone()),
        },
        Err((status, phrase)) => Handshake {
            accepted: false,
            status: *status,
            phrase: phrase.clone(),
            token: None,
        },
    });
    if sink
        .send(Message::Binary(ack.to_bytes().into()))
        .await
        .is_err()
        || verdict.is_err()
    {
        let _ = sink.close().await;
        return;
    }
    lock(&shared.state).open_connections += 1;
    let mut drops = shared.drop_all.subscribe();
    let mut tick = tokio::time::interval(TICK);
    'serve: loop {
        // Push what is due.
        let due = lock(&shared.state).take_due(connection, usize::MAX);
        for message in due {
            if sink.send(data_frame(&shared, &message)).await.is_err() {
                break 'serve;
            }
            let drop_now = {
                let mut state = lock(&shared.state);
                std::mem::take(&mut state.drop_after_push)
            };
            if drop_now {
                // Gone before any confirm could be read.
                break 'serve;
            }
        }
        let enqueued = shared.enqueued.notified();
        tokio::select! {
            _ = drops.changed() => break,
            _ = tick.tick() => {}
            _ = enqueued => {}
            message = incoming.next() => {
                let bytes = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(frame) = Frame::parse(&bytes) else { continue };
                if frame.kind != SEND {
                    continue;
                }
                match frame.field("__kind").and_then(Field::number) {
                    Some(1) => lock(&shared.state).pulls += 1,
                    Some(2) => {
                        let Some(id) = frame.field("id").and_then(Field::number) else { continue };
                        let confirm = Confirm {
                            id,
                            token_valid: frame.token.as_deref() == Some(token.as_str()),
                            token: frame.token.clone(),
                            via: Via::Stream,
                        };
                        let hook = lock(&shared.state).confirm(confirm.clone());
                        if let Some(hook) = hook {
                            hook(&confirm);
                        }
                        shared.confirmed.send_modify(|n| *n += 1);
                    }
                    Some(20) => {
                        let id = frame.field("id").and_then(Field::number).unwrap_or(0);
                        let reason = frame.text("msg").unwrap_or_default();
                        lock(&shared.state).failures.push((id, reason));
                    }
                    _ => {}
                }
            }
        }
    }
    lock(&shared.state).open_connections -= 1;
    // Dropping both halves closes the TCP connection without a close frame.
    drop(sink);
    drop(incoming);
}
