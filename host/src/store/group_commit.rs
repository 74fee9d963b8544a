//! Group commit: callers that need their writes durable wait on a barrier;
//! one flush serves every caller that was waiting when it started, so a burst
//! of webhooks costs one fsync, not one each. Webhooks' events can also be
//! handed over to be committed here: every batch waiting is committed in one
//! transaction just before the flush, so a burst costs one transaction too,
//! and the store's work stays off the async workers.
//!
//! Commits and flushes run on a thread of their own (no hop through the
//! blocking pool) and flushes start no closer together than
//! [`MIN_FLUSH_INTERVAL`]: under load each flush then serves a bigger group,
//! while a lone caller after a quiet spell is flushed at once.

use crate::clock;
use crate::store::{
    DeliveryRecord, IngestBatch, IngestReceipt, OwnedIngestBatch, Store, StoreResult,
};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The shortest time between the end of one flush and the start of the next.
pub const MIN_FLUSH_INTERVAL: Duration = Duration::from_millis(2);

/// What can be made durable: every write made before `flush` returns Ok
/// survives a crash.
pub trait Flush: Send + Sync + 'static {
    /// Make every write so far durable.
    fn flush(&self) -> StoreResult<()>;
}

/// What the committer thread needs: commits of ingested events, and flushes.
pub trait Committer: Flush {
    /// Commit the batches in one go (see [`Store::commit_ingest_all`]).
    fn commit_all(&self, batches: &[IngestBatch<'_>]) -> StoreResult<Vec<IngestReceipt>>;
    /// Record deliveries' ends in one go (see [`Store::finish_deliveries`]).
    fn finish_all(&self, records: &[DeliveryRecord], now_ms: i64) -> StoreResult<()>;
}

impl<S: Store + ?Sized> Committer for S {
    fn commit_all(&self, batches: &[IngestBatch<'_>]) -> StoreResult<Vec<IngestReceipt>> {
        self.commit_ingest_all(batches)
    }

    fn finish_all(&self, records: &[DeliveryRecord], now_ms: i64) -> StoreResult<()> {
        self.finish_deliveries(records, now_ms)
    }
}

type Waiter = oneshot::Sender<Result<(), String>>;
type CommitWaiter = oneshot::Sender<Result<IngestReceipt, String>>;

enum Request {
    /// Make everything written so far durable, then answer.
    Flush(Waiter),
    /// Commit these events, make them durable, then answer with the receipt.
    Commit(Box<OwnedIngestBatch>, CommitWaiter),
    /// Record how a delivery ended, make it durable, then answer.
    Finish(Box<DeliveryRecord>, Waiter),
    /// Flush, then stop and let go of the store.
    Close,
}

/// A handle to the flusher thread.
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::Sender<Request>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl GroupCommit {
    /// Start the flusher thread for `store`.
    pub fn start<C: Committer + ?Sized>(store: Arc<C>) -> Self {
        let (requests, incoming) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("tongdao-flusher".into())
            .spawn(move || flush_groups(store.as_ref(), &incoming))
            .expect("starting the flusher thread");
        GroupCommit {
            requests,
            thread: Arc::new(Mutex::new(Some(thread))),
        }
    }

    /// Wait until every write made before this call is durable.
    pub async fn durable(&self) -> anyhow::Result<()> {
        self.ask(Request::Flush)
            .await?
            .map_err(|err| anyhow::anyhow!("flushing the store failed: {err}"))
    }

    /// Commit `batch` (skipping duplicates) with whatever else is waiting,
    /// and answer once it is durable.
    pub async fn commit(&self, batch: OwnedIngestBatch) -> anyhow::Result<IngestReceipt> {
        self.ask(|done| Request::Commit(Box::new(batch), done))
            .await?
            .map_err(|err| anyhow::anyhow!("{err}"))
    }

    /// Record how a delivery ended with the others ending now, and answer
    /// once it is durable.
    pub async fn finish(&self, record: DeliveryRecord) -> anyhow::Result<()> {
        self.ask(|done| Request::Finish(Box::new(record), done))
            .await?
            .map_err(|err| anyhow::anyhow!("{err}"))
    }

    /// Send the flusher a request and wait for its answer.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Request,
    ) -> anyhow::Result<Result<T, String>> {
        let (done, wait) = oneshot::channel();
        self.requests
            .send(request(done))
            .map_err(|_| anyhow::anyhow!("the store's flusher has stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the store's flusher has stopped"))
    }

    /// Flush once more, stop the flusher and wait until it has let go of the store.
    pub async fn close(&self) {
        let _ = self.requests.send(Request::Close);
        let thread = self.thread.lock().expect("flusher handle lock").take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The flusher: take every request waiting, commit the batches among them
/// in one transaction, flush once, answer them all.
fn flush_groups<C: Committer + ?Sized>(store: &C, incoming: &mpsc::Receiver<Request>) {
    let mut last_flush_ended: Option<Instant> = None;
    let mut closing = false;
    while !closing {
        let Ok(first) = incoming.recv() else {
            break;
        };
        if let Some(ended) = last_flush_ended {
            let next = ended + MIN_FLUSH_INTERVAL;
            let now = Instant::now();
            if now < next {
                std::thread::sleep(next - now);
            }
        }
        let mut waiters = Vec::new();
        let (mut batches, mut commit_waiters) = (Vec::new(), Vec::new());
        let (mut records, mut finish_waiters) = (Vec::new(), Vec::new());
        for request in std::iter::once(first).chain(std::iter::from_fn(|| incoming.try_recv().ok()))
        {
            match request {
                Request::Flush(waiter) => waiters.push(waiter),
                Request::Commit(batch, waiter) => {
                    batches.push(*batch);
                    commit_waiters.push(waiter);
                }
                Request::Finish(record, waiter) => {
                    records.push(*record);
                    finish_waiters.push(waiter);
                }
                Request::Close => closing = true,
            }
        }
        let committed = commit_group(store, &batches);
        let finished = finish_group(store, &records);
        let flushed = store.flush().map_err(|err| format!("{err:#}"));
        last_flush_ended = Some(Instant::now());
        if let Err(err) = &flushed {
            tracing::error!(error = %err, "store flush failed; writes are not acknowledged");
        }
        for waiter in waiters {
            let _ = waiter.send(flushed.clone());
        }
        answer(finish_waiters, finished, &flushed);
        answer(commit_waiters, committed, &flushed);
    }
}

/// Answer each waiter with its write's result, or with the flush's failure:
/// a write is not done until it is durable.
fn answer<T>(
    waiters: Vec<oneshot::Sender<Result<T, String>>>,
    written: Vec<Result<T, String>>,
    flushed: &Result<(), String>,
) {
    for (waiter, written) in waiters.into_iter().zip(written) {
        let answer = match flushed {
            Ok(()) => written,
            Err(err) => Err(format!("flushing the store failed: {err}")),
        };
        let _ = waiter.send(answer);
    }
}

/// Write `items` in one go with `all`; if that fails, each alone, so only
/// the item at fault fails. Errors become text for the waiters.
fn all_or_each<T, R>(
    items: &[T],
    all: impl Fn(&[T]) -> StoreResult<Vec<R>>,
) -> Vec<Result<R, String>> {
    if items.is_empty() {
        return Vec::new();
    }
    match all(items) {
        Ok(written) => written.into_iter().map(Ok).collect(),
        Err(_) if items.len() > 1 => items
            .iter()
            .map(|item| {
                all(std::slice::from_ref(item))
                    .map(|mut one| one.pop().expect("one result per item"))
                    .map_err(|err| format!("{err:#}"))
            })
            .collect(),
        Err(err) => vec![Err(format!("{err:#}"))],
    }
}

/// Commit every waiting batch in one transaction (see [`all_or_each`]).
fn commit_group<C: Committer + ?Sized>(
    store: &C,
    batches: &[OwnedIngestBatch],
) -> Vec<Result<IngestReceipt, String>> {
    let batches: Vec<IngestBatch<'_>> = batches.iter().map(OwnedIngestBatch::as_batch).collect();
    all_or_each(&batches, |batches| store.commit_all(batches))
}

/// Record every waiting delivery's end in one transaction (see
/// [`all_or_each`]).
fn finish_group<C: Committer + ?Sized>(
    store: &C,
    records: &[DeliveryRecord],
) -> Vec<Result<(), String>> {
    let now_ms = clock::now_ms();
    all_or_each(records, |records| {
        store
            .finish_all(records, now_ms)
            .map(|()| vec![(); records.len()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Condvar;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store that only flushes: each flush waits until the test opens the
    /// gate, then fails if told to; finished flushes are counted.
    #[derive(Default)]
    struct FlushOnly {
        open: Mutex<bool>,
        opened: Condvar,
        fails: bool,
        flushed: AtomicUsize,
    }

    impl FlushOnly {
        fn failing() -> Self {
            FlushOnly {
                open: Mutex::new(true),
                fails: true,
                ..FlushOnly::default()
            }
        }

        fn open_gate(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    impl Committer for FlushOnly {
        fn commit_all(&self, _: &[IngestBatch<'_>]) -> StoreResult<Vec<IngestReceipt>> {
            unreachable!("these tests only flush")
        }
        fn finish_all(&self, _: &[DeliveryRecord], _: i64) -> StoreResult<()> {
            unreachable!("these tests only flush")
        }
    }

    impl Flush for FlushOnly {
        fn flush(&self) -> StoreResult<()> {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
            if self.fails {
                return Err(anyhow::anyhow!("disk full"));
            }
            self.flushed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn waiters_are_answered_only_after_the_flush_returns_and_share_it() {
        let store = Arc::new(FlushOnly::default());
        let commit = GroupCommit::start(Arc::clone(&store));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.durable().await })
            })
            .collect();
        // Let every waiter queue its request; while the gate is shut none
        // may be told its writes are durable.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(waiters.iter().all(|w| !w.is_finished()));
        assert_eq!(store.flushed.load(Ordering::SeqCst), 0);
        store.open_gate();
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        // The first flush may have started before every waiter queued; the
        // rest share one more at most.
        assert!(store.flushed.load(Ordering::SeqCst) <= 2);
        commit.close().await;
    }

    #[tokio::test]
    async fn a_failed_flush_is_reported_to_every_waiter() {
        let commit = GroupCommit::start(Arc::new(FlushOnly::failing()));
        let err = commit.durable().await.unwrap_err();
        assert!(format!("{err:#}").contains("disk full"), "{err:#}");
        commit.close().await;
    }

    #[test]
    fn a_group_that_fails_whole_is_written_item_by_item() {
        let written = Mutex::new(Vec::new());
        let results = all_or_each(&[1, 2, 3], |items: &[i32]| {
            if items.contains(&2) {
                return Err(anyhow::anyhow!("item 2 is corrupt"));
            }
            written.lock().unwrap().extend_from_slice(items);
            Ok(items.iter().map(|i| i * 10).collect())
        });
        assert_eq!(results[0], Ok(10));
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .contains("item 2 is corrupt")
        );
        assert_eq!(results[2], Ok(30));
        assert_eq!(*written.lock().unwrap(), vec![1, 3]);
    }
}
