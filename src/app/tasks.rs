//! One owner of every long-running and periodic task: a `TaskTracker` and the root
//! `CancellationToken` (tokio-util), so shutdown is one cancel and one join with one
//! deadline, as ../shared/STYLE.md ("one shutdown path") asks. Workers get the handles
//! they need and the token; none is spawned anywhere else.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Spawns tasks that stop when [`Tasks::shutdown`] is cancelled, and joins them all.
#[derive(Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Tasks {
    /// Tasks stopped by `shutdown` (the service's root token).
    pub fn new(shutdown: CancellationToken) -> Tasks {
        Tasks {
            tracker: TaskTracker::new(),
            shutdown,
        }
    }

    /// The token every task watches; cancelled once, at shutdown.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Spawns a long-running task (`name` is for the logs). It must return soon after
    /// the token is cancelled; a task that panics is logged, not propagated.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tracker.spawn(task);
        tokio::spawn(async move {
            if let Err(e) = handle.await {
                if e.is_panic() {
                    tracing::error!(task = name, "task panicked");
                }
            }
        });
    }

    /// Runs `work` now and then every `period` until shutdown (the next run starts
    /// `period` after the last one ended, so runs never overlap). A run in progress
    /// at shutdown is finished, not cut.
    pub fn every<W, F>(&self, name: &'static str, period: Duration, mut work: W)
    where
        W: FnMut() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        self.spawn(name, async move {
            loop {
                work().await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
            }
        });
    }

    /// Waits for every task to end, at most `deadline`. Call after cancelling the
    /// token. `false`: some were still running at the deadline (they are abandoned
    /// and logged).
    pub async fn join(&self, deadline: Duration) -> bool {
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
        {
            return true;
        }
        tracing::warn!(
            running = self.tracker.len(),
            deadline_secs = deadline.as_secs(),
            "tasks still running at the shutdown deadline"
        );
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn periodic_work_runs_at_once_then_every_period_and_stops_at_shutdown() {
        let tasks = Tasks::new(CancellationToken::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        tasks.every("count", Duration::from_millis(20), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "first run is immediate");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(runs.load(Ordering::SeqCst) >= 3);
        tasks.shutdown().cancel();
        assert!(tasks.join(Duration::from_secs(1)).await);
        let after = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), after, "no run after shutdown");
    }

    #[tokio::test]
    async fn join_reports_a_task_that_ignores_shutdown() {
        let tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("stuck", std::future::pending());
        tasks.shutdown().cancel();
        assert!(!tasks.join(Duration::from_millis(50)).await);
    }
}
