//! Captive portal form bodies (web::portal: the consent, scope and delete forms,
//! `application/x-www-form-urlencoded`) and the `Accept-Language` header the portal
//! picks its language from (web::portal::text::choose). Invariants: a body that parses
//! as a form names none but that form's fields (they deny unknown fields); the
//! language a form names is the one chosen when the portal speaks it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::web::portal::parse_forms;
use venuebox::web::portal::text::{choose, for_tag};

const FIELDS: [&[&str]; 3] = [
    &[
        "csrf",
        "action",
        "lang",
        "gallery",
        "receive",
        "sync",
        "marketing",
    ],
    &["csrf", "lang", "scope", "granted"],
    &["csrf", "lang", "confirm"],
];

fuzz_target!(|data: &[u8]| {
    let pairs: Option<Vec<(String, String)>> = serde_urlencoded::from_bytes(data).ok();
    for (form, fields) in parse_forms(data).into_iter().zip(FIELDS) {
        let Some(lang) = form else {
            continue;
        };
        if let Some(pairs) = &pairs {
            assert!(
                pairs.iter().all(|(k, _)| fields.contains(&k.as_str())),
                "{pairs:?}"
            );
        }
        let chosen = choose(lang.as_deref(), None, "en");
        if let Some(t) = lang.as_deref().and_then(for_tag) {
            assert_eq!(chosen.lang, t.lang);
        }
    }
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = choose(None, Some(header), "de");
    }
});
