//! How should blocking SQLite work leave the async executor? Compares, on the same
//! database settings (WAL, synchronous=FULL) and the same workload, the two designs
//! the foundation issue names:
//!
//! - `spawn_blocking`: what `Store::write` does — each write is a task on tokio's
//!   blocking pool that locks the single writer connection.
//! - `writer thread`: one dedicated thread owns the connection; tasks send closures
//!   over a channel and await a oneshot reply.
//!
//! Run: `cargo bench --bench store_dispatch` (prints writes/s and the ratio). Set
//! `VENUEBOX_BENCH_DIR` to put the database on another filesystem (e.g. the SD card).

use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;
use venuebox::db::{Store, StoreError, StoreOptions};

const TASKS: usize = 32;
const WRITES_PER_TASK: usize = 50;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

async fn bench_spawn_blocking(dir: &std::path::Path) -> f64 {
    let store = Store::open(&dir.join("a.db"), &StoreOptions::default()).unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..WRITES_PER_TASK {
                store
                    .write(move |tx| {
                        venuebox::db::audit(tx, "bench", "write", &format!("{t}-{i}"))?;
                        Ok::<_, StoreError>(())
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (TASKS * WRITES_PER_TASK) as f64 / started.elapsed().as_secs_f64()
}

async fn bench_writer_thread(dir: &std::path::Path) -> f64 {
    // Same schema and pragmas as the store: open it once through Store, then take a
    // plain connection with the same settings for the dedicated thread.
    let path = dir.join("b.db");
    drop(Store::open(&path, &StoreOptions::default()).unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        while let Ok(job) = rx.recv() {
            job(&mut conn);
        }
    });
    let tx = Arc::new(std::sync::Mutex::new(tx));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..WRITES_PER_TASK {
                let (done, wait) = oneshot::channel();
                let job: Job = Box::new(move |conn| {
                    let txn = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .unwrap();
                    venuebox::db::audit(&txn, "bench", "write", &format!("{t}-{i}")).unwrap();
                    txn.commit().unwrap();
                    let _ = done.send(());
                });
                tx.lock().unwrap().send(job).unwrap();
                wait.await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (TASKS * WRITES_PER_TASK) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let base = std::env::var_os("VENUEBOX_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Alternate and repeat, so neither design always runs on a cold cache.
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..3 {
            a.push(bench_spawn_blocking(dir.path()).await);
            b.push(bench_writer_thread(dir.path()).await);
            for f in ["a.db", "a.db-wal", "a.db-shm", "b.db", "b.db-wal", "b.db-shm"] {
                let _ = std::fs::remove_file(dir.path().join(f));
            }
        }
        let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
        let (a, b) = (best(&a), best(&b));
        println!("store write dispatch, {TASKS} tasks x {WRITES_PER_TASK} committed writes, WAL + synchronous=FULL, in {}", dir.path().display());
        println!("  spawn_blocking + writer mutex: {a:>9.0} writes/s");
        println!("  dedicated writer thread:       {b:>9.0} writes/s");
        println!("  ratio spawn_blocking / thread: {:.2}", a / b);
    });
}
