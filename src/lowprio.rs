//! Threads for work that must give way: preview renders run here, at a lower CPU
//! priority (a higher nice value) than the ingest that hands them their photos.
//!
//! On a Pi's few cores a burst of renders would otherwise slow down a camera's FTP
//! upload or a phone's tus PATCH, and a photo not yet stored can be lost while a
//! preview can always be made later. With nice 10 the scheduler gives these threads
//! about a tenth of a core's time while ingest wants the CPU, and all of it when
//! ingest is idle. Under Linux's SCHED_IDLE policy (the default, `previews.render_idle`)
//! they get only time no other thread wants, and a woken upload thread takes the CPU
//! from them at once: with a nice value alone the scheduler may let a render run out
//! its slice first, and an FTP upload waits for every such wake-up (benches/ingest.sh:
//! about a tenth more FTP throughput on tmpfs with renders running). The priority is set once per thread, on threads of their own (not
//! tokio's blocking pool, whose threads also run ingest's writes, and whose priority
//! could not be raised back by an unprivileged service).

use std::sync::{mpsc, Arc, Mutex};

type Task = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of lower-priority worker threads.
#[derive(Clone)]
pub struct Background {
    tasks: mpsc::Sender<Task>,
}

/// The pool is gone (the box is shutting down) or the task panicked.
#[derive(Debug, thiserror::Error)]
#[error("a background task did not finish: {0}")]
pub struct Unfinished(&'static str);

impl Background {
    /// Starts `threads` workers named `name`, each at `nice` (0: as the rest of the box;
    /// 1–19: lower), and under SCHED_IDLE if `idle`. A priority that cannot be set is
    /// logged and the work still runs.
    pub fn new(threads: usize, nice: i32, idle: bool, name: &str) -> Background {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    if idle {
                        set_idle();
                    }
                    set_nice(nice);
                    loop {
                        let task = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                            Ok(task) => task,
                            Err(_) => return, // every sender dropped
                        };
                        task();
                    }
                })
                .expect("spawn a background thread");
        }
        Background { tasks: tx }
    }

    /// Runs `f` on one of the workers and waits for its result without blocking the
    /// async runtime.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Unfinished>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            // A panic stays in its task: the worker thread lives on.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result.map_err(|_| Unfinished("it panicked")));
        });
        self.tasks
            .send(task)
            .map_err(|_| Unfinished("the pool has stopped"))?;
        rx.await.map_err(|_| Unfinished("the pool has stopped"))?
    }
}

/// Puts the calling thread under SCHED_IDLE (allowed without privileges). Before the
/// nice value: setting the policy also sets nice 0, which once raised could not be
/// lowered again.
fn set_idle() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    ) {
        tracing::warn!(error = ?e, "cannot put a background thread under SCHED_IDLE");
    }
}

/// Sets the calling thread's nice value (Linux: per thread).
fn set_nice(nice: i32) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(nice, error = %e, "cannot lower a background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field `n` (1-based, as in proc(5)) of the calling thread's /proc stat line.
    fn own_stat(n: usize) -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name (field 2, which may hold spaces).
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(n - 3).unwrap().parse().unwrap()
    }

    /// The nice value of the calling thread (what the scheduler uses).
    fn own_nice() -> i64 {
        own_stat(19)
    }

    /// The scheduling policy of the calling thread (0: SCHED_OTHER, 5: SCHED_IDLE).
    fn own_policy() -> i64 {
        own_stat(41)
    }

    #[tokio::test]
    async fn tasks_run_at_the_lower_priority_and_panics_stay_in_their_task() {
        let before = own_nice();
        let pool = Background::new(2, 10, false, "test-bg");
        let worker = pool.run(own_nice).await.unwrap();
        // At nice 10; or, in a test run already niced further, as the run (a
        // process that is not root cannot lower its nice value).
        assert!(
            worker == 10 || (before > 10 && worker == before),
            "worker at nice {worker}, the test at {before}"
        );
        assert_eq!(own_nice(), before, "the caller's priority is untouched");
        assert!(pool.run(|| panic!("boom")).await.is_err());
        // Both workers still serve.
        let (a, b) = tokio::join!(pool.run(|| 1 + 1), pool.run(|| 2 + 2));
        assert_eq!((a.unwrap(), b.unwrap()), (2, 4));
        assert_eq!(
            pool.run(own_policy).await.unwrap(),
            0,
            "not idle unless asked"
        );
    }

    #[tokio::test]
    async fn idle_workers_run_under_sched_idle_and_leave_the_caller_alone() {
        let before = (own_policy(), own_nice());
        let pool = Background::new(1, 10, true, "test-idle");
        let (policy, nice) = pool.run(|| (own_policy(), own_nice())).await.unwrap();
        assert_eq!(policy, 5, "SCHED_IDLE is policy 5 in proc(5)");
        assert!(
            nice == 10 || (before.1 > 10 && nice == before.1),
            "nice {nice}"
        );
        assert_eq!((own_policy(), own_nice()), before);
    }
}
