//! The load driver: N keep-alive HTTP/1 connections send unique, signed
//! pushes for a while, each resent until it is acknowledged (as platforms
//! redeliver what was not), optionally paced to a fixed rate. Latency is
//! timed from when a push was due (its slot at the paced rate, or when it
//! was first sent), so a stalled server is not hidden by a stalled client.

use crate::platform::Side;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A pause after a refused connection or an error answer.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// What to drive.
#[derive(Clone)]
pub struct Drive {
    /// The platform whose pushes are sent.
    pub side: Arc<Side>,
    /// Distinguishes this run's platform message ids from earlier runs'.
    pub run: u32,
    /// Where to send them.
    pub target: SocketAddr,
    /// Concurrent connections.
    pub connections: usize,
    /// How long new messages are sent.
    pub duration: Duration,
    /// Messages per second in all; `None` sends as fast as answers come.
    pub rate: Option<f64>,
    /// At most this many messages.
    pub max_messages: usize,
    /// How long to keep resending unacknowledged messages after `duration`.
    pub drain: Duration,
}

/// What the driver saw.
pub struct Driven {
    /// Messages sent at least once.
    pub issued: usize,
    /// Per message: acknowledged.
    pub acked: Vec<bool>,
    /// Per message: when it was first due, microseconds after the start.
    pub first_due_micros: Vec<u64>,
    /// Acknowledgement latency of the attempt that was acknowledged, µs.
    pub ack_latency: Histogram<u64>,
    /// Requests sent, resends included.
    pub requests: u64,
    /// Time from the first push to the last new one.
    pub sending: Duration,
}

/// Per message, as the run goes: whether it was acknowledged and when it
/// was first due (microseconds after the start).
pub struct Tally {
    /// Acknowledged.
    pub acked: Vec<AtomicBool>,
    /// First due.
    pub first_due: Vec<AtomicU64>,
}

impl Tally {
    /// Room for `capacity` messages.
    pub fn new(capacity: usize) -> Tally {
        Tally {
            acked: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            first_due: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// What the driver saw of the first `issued` messages.
    pub fn driven(
        &self,
        issued: usize,
        ack_latency: Histogram<u64>,
        requests: u64,
        sending: Duration,
    ) -> Driven {
        Driven {
            issued,
            acked: self.acked[..issued]
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            first_due_micros: self.first_due[..issued]
                .iter()
                .map(|t| t.load(Ordering::Relaxed))
                .collect(),
            ack_latency,
            requests,
            sending,
        }
    }
}

struct Shared {
    drive: Drive,
    start: Instant,
    next: AtomicUsize,
    resend: Mutex<VecDeque<usize>>,
    tally: Tally,
    outstanding: AtomicUsize,
    requests: AtomicU64,
    last_issue_micros: AtomicU64,
}

/// Drive pushes at `drive.target`; `start` is the run's time origin.
pub async fn run(drive: Drive, start: Instant) -> Driven {
    let capacity = drive.max_messages;
    let shared = Arc::new(Shared {
        start,
        next: AtomicUsize::new(0),
        resend: Mutex::new(VecDeque::new()),
        tally: Tally::new(capacity),
        outstanding: AtomicUsize::new(0),
        requests: AtomicU64::new(0),
        last_issue_micros: AtomicU64::new(0),
        drive,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..shared.drive.connections {
        tasks.spawn(connection(Arc::clone(&shared)));
    }
    let mut ack_latency = new_histogram();
    while let Some(done) = tasks.join_next().await {
        if let Ok(histogram) = done {
            let _ = ack_latency.add(histogram);
        }
    }
    let issued = shared.next.load(Ordering::Relaxed).min(capacity);
    shared.tally.driven(
        issued,
        ack_latency,
        shared.requests.load(Ordering::Relaxed),
        Duration::from_micros(shared.last_issue_micros.load(Ordering::Relaxed)),
    )
}

/// A histogram of microseconds from 1 µs to 10 minutes.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// What a connection does next.
enum Work {
    Send(usize),
    Wait,
    Done,
}

impl Shared {
    fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn next_work(&self) -> Work {
        if let Some(index) = self.resend.lock().expect("resend lock").pop_front() {
            return Work::Send(index);
        }
        let elapsed = self.start.elapsed();
        if elapsed < self.drive.duration {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index < self.drive.max_messages {
                self.outstanding.fetch_add(1, Ordering::Relaxed);
                let due = match self.drive.rate {
                    Some(rate) => (index as f64 / rate * 1e6) as u64,
                    None => self.micros(),
                };
                self.tally.first_due[index].store(due, Ordering::Relaxed);
                self.last_issue_micros.fetch_max(due, Ordering::Relaxed);
                return Work::Send(index);
            }
        }
        let waiting = self.outstanding.load(Ordering::Relaxed);
        if waiting == 0 || elapsed > self.drive.duration + self.drive.drain {
            Work::Done
        } else {
            Work::Wait
        }
    }
}

async fn connection(shared: Arc<Shared>) -> Histogram<u64> {
    let mut latency = new_histogram();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let expected = shared.drive.side.acknowledgement();
    loop {
        let index = match shared.next_work() {
            Work::Send(index) => index,
            Work::Wait => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Work::Done => return latency,
        };
        let due = shared.tally.first_due[index].load(Ordering::Relaxed);
        if shared.drive.rate.is_some() {
            let at = shared.start + Duration::from_micros(due);
            tokio::time::sleep_until(at.into()).await;
        }
        let sent_at = shared.micros().max(due);
        let answered = match &mut sender {
            Some(open) if !open.is_closed() => send(&shared, open, index).await,
            _ => match connect(shared.drive.target).await {
                Some(mut open) => {
                    let answered = send(&shared, &mut open, index).await;
                    sender = Some(open);
                    answered
                }
                None => Answered::Broken,
            },
        };
        shared.requests.fetch_add(1, Ordering::Relaxed);
        match answered {
            Answered::With(status, body) if status == 200 && body.as_ref() == expected => {
                shared.tally.acked[index].store(true, Ordering::Relaxed);
                shared.outstanding.fetch_sub(1, Ordering::Relaxed);
                // Resends are timed from their own send: the first due time
                // would charge the crash to the host's latency.
                let from = if shared.drive.rate.is_some() {
                    due
                } else {
                    sent_at
                };
                let _ = latency.record(shared.micros().saturating_sub(from).max(1));
            }
            Answered::With(..) => {
                shared.resend.lock().expect("resend lock").push_back(index);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Answered::Broken => {
                sender = None;
                shared.resend.lock().expect("resend lock").push_back(index);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

enum Answered {
    With(u16, Bytes),
    Broken,
}

async fn connect(target: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(target).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

async fn send(shared: &Shared, sender: &mut SendRequest<Full<Bytes>>, index: usize) -> Answered {
    let unix_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let push = shared.drive.side.push(shared.drive.run, index, unix_secs);
    let request = hyper::Request::post(push.path_and_query)
        .header(hyper::header::HOST, shared.drive.target.to_string())
        .header(hyper::header::CONTENT_TYPE, "text/xml")
        .body(Full::new(push.body))
        .expect("a valid request");
    let exchange = async {
        if sender.ready().await.is_err() {
            return Answered::Broken;
        }
        let Ok(response) = sender.send_request(request).await else {
            return Answered::Broken;
        };
        let status = response.status().as_u16();
        match response.into_body().collect().await {
            Ok(body) => Answered::With(status, body.to_bytes()),
            Err(_) => Answered::Broken,
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or(Answered::Broken)
}
