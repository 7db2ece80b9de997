//! The tus 1.0.0 request headers, parsed as pure functions on strings (no I/O), so
//! every malformed value a client can send is unit-tested here: `Upload-Metadata`,
//! `Upload-Checksum`, and the integer headers `Upload-Length` / `Upload-Offset`
//! (tus 1.0.0 protocol, "Headers" and the checksum extension).

use std::collections::HashMap;

use base64::Engine;

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs (value optional).
/// Keys must be non-empty ASCII without spaces or commas, and unique.
pub fn parse_metadata(header: &str) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut pairs = HashMap::new();
    if header.trim().is_empty() {
        return Ok(pairs);
    }
    for item in header.split(',') {
        let item = item.trim();
        let mut parts = item.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if parts.next().is_some() {
            return Err(format!(
                "Upload-Metadata item {item:?} has more than a key and a value"
            ));
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(format!("Upload-Metadata key {key:?} is not valid"));
        }
        let value = match value {
            Some(v) => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| format!("Upload-Metadata value of {key:?} is not base64"))?,
            None => Vec::new(),
        };
        if pairs.insert(key.to_string(), value).is_some() {
            return Err(format!("Upload-Metadata key {key:?} appears twice"));
        }
    }
    Ok(pairs)
}

/// A checksum the client sent for a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-1 digest.
    Sha1(Vec<u8>),
    /// SHA-256 digest.
    Sha256(Vec<u8>),
}

/// Parses `Upload-Checksum: <algorithm> <base64 digest>`.
pub fn parse_checksum(header: &str) -> Result<Checksum, String> {
    let (algorithm, digest) = header
        .trim()
        .split_once(' ')
        .ok_or("Upload-Checksum must be '<algorithm> <base64 digest>'")?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| "Upload-Checksum digest is not base64".to_string())?;
    match algorithm {
        "sha1" if digest.len() == 20 => Ok(Checksum::Sha1(digest)),
        "sha256" if digest.len() == 32 => Ok(Checksum::Sha256(digest)),
        "sha1" | "sha256" => Err(format!(
            "Upload-Checksum {algorithm} digest has the wrong length"
        )),
        other => Err(format!(
            "Upload-Checksum algorithm {other:?} is not supported (sha1, sha256)"
        )),
    }
}

/// Parses a non-negative integer header (Upload-Length, Upload-Offset).
pub fn parse_u64(name: &str, value: Option<&str>) -> Result<Option<u64>, String> {
    match value {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is out of range")),
        Some(v) => Err(format!("{name} {v:?} is not a non-negative integer")),
    }
}

/// Whether a request that carries the vendor session cookie comes from the box's own
/// page, so the cookie may stand for the creator (CSRF defence in depth beside the
/// cookie's `SameSite=Strict`; OWASP CSRF Prevention Cheat Sheet, "Verifying Origin
/// with standard headers").
///
/// - `Origin` (RFC 6454 §7), when given, must be exactly `http://<Host>` (`https://`
///   when `tls`), compared without regard to ASCII case; `null` never matches.
/// - A request that changes something (anything but GET, HEAD, OPTIONS) must carry
///   `Origin`: browsers send it on every such request (Fetch standard, "append a
///   request `Origin` header"). A same-origin HEAD (tus-js-client's resume) comes
///   without one.
/// - `Sec-Fetch-Site` (W3C Fetch Metadata), when given, must be `same-origin`.
pub fn same_origin_request(
    method: &axum::http::Method,
    origin: Option<&str>,
    host: Option<&str>,
    fetch_site: Option<&str>,
    tls: bool,
) -> bool {
    if fetch_site.is_some_and(|s| !s.trim().eq_ignore_ascii_case("same-origin")) {
        return false;
    }
    match origin {
        Some(origin) => {
            let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
                return false;
            };
            let scheme = if tls { "https" } else { "http" };
            origin
                .trim()
                .eq_ignore_ascii_case(&format!("{scheme}://{host}"))
        }
        None => method.is_safe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn metadata_parses_and_rejects_bad_items() {
        let m = parse_metadata("filename d29ybGQuanBn,is_confidential, filetype aW1hZ2UvanBlZw==")
            .unwrap();
        assert_eq!(m["filename"], b"world.jpg");
        assert_eq!(m["is_confidential"], b"");
        assert_eq!(m["filetype"], b"image/jpeg");
        assert!(parse_metadata("").unwrap().is_empty());
        assert!(parse_metadata("filename !!!").is_err());
        assert!(parse_metadata("a YQ==,a YQ==").is_err());
        assert!(parse_metadata(" ,x").is_err());
        assert!(parse_metadata("a YQ== extra").is_err());
    }

    #[test]
    fn checksums_parse() {
        let sha1 = base64::engine::general_purpose::STANDARD.encode([0u8; 20]);
        assert_eq!(
            parse_checksum(&format!("sha1 {sha1}")).unwrap(),
            Checksum::Sha1(vec![0; 20])
        );
        assert!(
            parse_checksum(&format!("sha256 {sha1}")).is_err(),
            "wrong length"
        );
        assert!(parse_checksum(&format!("md5 {sha1}"))
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_checksum("sha1").is_err());
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_u64("L", Some("0")).unwrap(), Some(0));
        assert_eq!(parse_u64("L", None).unwrap(), None);
        for bad in ["-1", "", "1e3", " 5", "99999999999999999999", "+3"] {
            assert!(parse_u64("L", Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_session_cookie_counts_from_the_box_own_origin_only() {
        use axum::http::Method;
        let host = Some("192.168.4.1:8080");
        let ok = |m: &Method, o: Option<&str>, site: Option<&str>, tls: bool| {
            same_origin_request(m, o, host, site, tls)
        };
        let own = Some("http://192.168.4.1:8080");
        for m in [Method::POST, Method::PATCH, Method::DELETE, Method::HEAD] {
            assert!(ok(&m, own, None, false), "{m}");
            assert!(ok(&m, Some("HTTP://192.168.4.1:8080"), None, false), "{m}");
            assert!(ok(&m, own, Some("same-origin"), false), "{m}");
            // Another port of the same host is the same site, not the same origin.
            assert!(!ok(&m, Some("http://192.168.4.1:9000"), None, false), "{m}");
            assert!(!ok(&m, Some("http://evil.example"), None, false), "{m}");
            assert!(!ok(&m, Some("null"), None, false), "{m}");
            assert!(
                !ok(&m, own, None, true),
                "{m}: http origin on the TLS listener"
            );
            assert!(!ok(&m, own, Some("same-site"), false), "{m}");
            assert!(!ok(&m, own, Some("cross-site"), false), "{m}");
            assert!(
                !same_origin_request(&m, own, None, None, false),
                "{m}: no Host"
            );
        }
        assert!(ok(&Method::HEAD, None, None, false));
        assert!(!ok(&Method::HEAD, None, Some("cross-site"), false));
        for m in [Method::POST, Method::PATCH, Method::DELETE] {
            assert!(!ok(&m, None, None, false), "{m} without Origin");
        }
        assert!(same_origin_request(
            &Method::PATCH,
            Some("https://venuebox.local"),
            Some("venuebox.local"),
            None,
            true
        ));
    }
}
