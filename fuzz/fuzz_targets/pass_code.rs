//! Pass codes as the door scanner, the stall's camera and staff's typing deliver them
//! (consent::verify_pass_code, behind consent::door). The input is both a scanned
//! line, checked against a fixed event secret, and the pass id of an attendee whose
//! codes are made here. Invariants: no input panics; an attendee's own QR, typed and
//! long codes verify and name that attendee, typed in lower case and with spaces too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::consent::{load_secret, long_pass_code, pass_code, verify_pass_code};
use venuebox::consent::{Attendee, PassRef, Secret};

fn secret() -> Secret {
    // The event secret lives in the database (consent::ensure_secret); a fixed one here.
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE portal_secret (id INTEGER PRIMARY KEY, secret BLOB NOT NULL);
         INSERT INTO portal_secret VALUES (1, zeroblob(32));",
    )
    .unwrap();
    load_secret(&conn).unwrap().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let secret = secret();
    let text = String::from_utf8_lossy(data);
    let _ = verify_pass_code(&secret, &text);
    let pseudonym = secret.pseudonym(&text);
    let attendee = Attendee {
        id: text.into_owned(),
        pseudonym: pseudonym.clone(),
    };
    let code = pass_code(&secret, &attendee);
    let prefix = PassRef::Prefix(pseudonym[..10].to_string());
    assert_eq!(verify_pass_code(&secret, &code.qr), Some(prefix.clone()));
    assert_eq!(verify_pass_code(&secret, &code.typed), Some(prefix.clone()));
    let lower = code.typed.to_lowercase().replace('-', " ");
    assert_eq!(verify_pass_code(&secret, &lower), Some(prefix));
    let long = long_pass_code(&secret, &attendee);
    assert_eq!(
        verify_pass_code(&secret, &long),
        Some(PassRef::Pseudonym(pseudonym))
    );
});
