//! The database file as the box finds it on disk: upgrades from an earlier schema, and
//! files it must refuse without touching (newer schema, corrupt, someone else's).

use std::path::Path;

use rusqlite::Connection;
use venuebox::db::{Store, StoreError, StoreOptions, APPLICATION_ID, SCHEMA_VERSION};

fn opts() -> StoreOptions {
    StoreOptions::default()
}

fn user_version(path: &Path) -> u32 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// Every file of the database (main file, WAL, shared memory) with its bytes.
fn snapshot(path: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = path.parent().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn an_earlier_schema_is_migrated_and_its_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.db");
    // A box that ran schema version 1 and has a creator.
    let old = Store::open_at(&path, &opts(), 1).unwrap();
    old.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO creators (name, upload_token_hash, created_at) VALUES ('Ana', x'00', 1)",
            [],
        )?;
        Ok::<_, StoreError>(())
    })
    .unwrap();
    old.close().await.unwrap();
    drop(old);
    assert_eq!(user_version(&path), 1);

    let store = Store::open(&path, &opts()).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let (name, sessions): (String, i64) = store
        .read(|c| {
            let name = c.query_row("SELECT name FROM creators", [], |r| r.get(0))?;
            // Tables of the later migration exist.
            let sessions = c.query_row("SELECT count(*) FROM admin_sessions", [], |r| r.get(0))?;
            Ok::<_, StoreError>((name, sessions))
        })
        .await
        .unwrap();
    assert_eq!((name.as_str(), sessions), ("Ana", 0));
    let app_id: i32 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, APPLICATION_ID);
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.db");
    let store = Store::open(&path, &opts()).unwrap();
    store.close().await.unwrap();
    drop(store);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 7)
        .unwrap();
    let before = snapshot(&path);
    let err = Store::open(&path, &opts()).expect_err("refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 7),
        "{err}"
    );
    assert!(err.to_string().contains("never downgrade"), "{err}");
    assert_eq!(snapshot(&path), before);
}

#[test]
fn a_corrupt_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.db");
    std::fs::write(
        &path,
        b"this is not a database, but it is someone's data\n".repeat(100),
    )
    .unwrap();
    let before = snapshot(&path);
    let err = Store::open(&path, &opts()).expect_err("refused");
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    assert_eq!(snapshot(&path), before);
}

#[test]
fn a_damaged_database_page_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.db");
    drop(Store::open(&path, &opts()).unwrap());
    // Keep SQLite's header but wreck the schema page.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[100..4096] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("venuebox.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("venuebox.db-shm"));
    let before = snapshot(&path);
    assert!(Store::open(&path, &opts()).is_err());
    assert_eq!(snapshot(&path), before);
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);")
            .unwrap();
    }
    let before = snapshot(&path);
    let err = Store::open(&path, &opts()).expect_err("refused");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert_eq!(snapshot(&path), before);
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    // A power cut right after the file was created leaves it empty: start afresh.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.db");
    std::fs::write(&path, b"").unwrap();
    drop(Store::open(&path, &opts()).unwrap());
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}
