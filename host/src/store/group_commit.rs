//! Group commit: callers that need their writes durable wait on a barrier;
//! one flush serves every caller that was waiting when it started, so a burst
//! of webhooks costs one fsync, not one each.

use crate::store::Store;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Waiter = oneshot::Sender<Result<(), String>>;

enum Request {
    /// Make everything written so far durable, then answer.
    Flush(Waiter),
    /// Flush, then stop and let go of the store.
    Close,
}

/// A handle to the flusher task.
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::UnboundedSender<Request>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl GroupCommit {
    /// Start the flusher task for `store` on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        let task = tokio::spawn(async move {
            let mut closing = false;
            while !closing {
                let Some(first) = incoming.recv().await else {
                    break;
                };
                let mut waiters = Vec::new();
                for request in
                    std::iter::once(first).chain(std::iter::from_fn(|| incoming.try_recv().ok()))
                {
                    match request {
                        Request::Flush(waiter) => waiters.push(waiter),
                        Request::Close => closing = true,
                    }
                }
                let store = Arc::clone(&store);
                let result = tokio::task::spawn_blocking(move || store.flush())
                    .await
                    .map_err(|err| format!("the flush task failed: {err}"))
                    .and_then(|flushed| flushed.map_err(|err| format!("{err:#}")));
                if let Err(err) = &result {
                    tracing::error!(error = %err, "store flush failed; writes are not acknowledged");
                }
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        GroupCommit {
            requests,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Wait until every write made before this call is durable.
    pub async fn durable(&self) -> anyhow::Result<()> {
        let (done, wait) = oneshot::channel();
        self.requests
            .send(Request::Flush(done))
            .map_err(|_| anyhow::anyhow!("the store's flusher has stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the store's flusher has stopped"))?
            .map_err(|err| anyhow::anyhow!("flushing the store failed: {err}"))
    }

    /// Flush once more, stop the flusher and wait until it has let go of the store.
    pub async fn close(&self) {
        let _ = self.requests.send(Request::Close);
        let task = self.task.lock().expect("flusher handle lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
