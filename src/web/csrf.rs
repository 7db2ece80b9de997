//! CSRF protection for the pages' forms, one mechanism for the admin login and the
//! portal: the double-submit cookie (OWASP CSRF Prevention Cheat Sheet, "Signed
//! Double-Submit Cookie"). A random value lives in an HttpOnly cookie scoped to the
//! form's path; the form carries a token derived from it (the value itself, or its
//! keyed hash under the per-event secret); a post is accepted only when the token
//! matches the cookie, compared in constant time. Cookie-authenticated admin API calls
//! echo the session's own token instead (`auth::Session::csrf_token`).

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

/// One form family's double-submit cookie.
#[derive(Debug, Clone, Copy)]
pub struct DoubleSubmit {
    /// Cookie name, e.g. `vb_csrf`.
    pub cookie: &'static str,
    /// Cookie path: only the form's pages see it.
    pub path: &'static str,
    /// `Strict` for the admin login, `Lax` for the portal (a phone arrives at the
    /// portal from the captive sheet, a cross-site navigation).
    pub same_site: SameSite,
}

impl DoubleSubmit {
    /// The cookie (kept if the jar has one and `renew` is false, else a new random
    /// value) and the token the form must carry, `token_of(cookie value)`. `tls`
    /// marks the cookie `Secure`.
    pub fn issue(
        &self,
        jar: CookieJar,
        tls: bool,
        renew: bool,
        token_of: impl Fn(&str) -> String,
    ) -> (CookieJar, String) {
        if let (false, Some(c)) = (renew, jar.get(self.cookie)) {
            let token = token_of(c.value());
            return (jar, token);
        }
        let value = crate::identity::random_token("");
        let token = token_of(&value);
        let cookie = Cookie::build((self.cookie, value))
            .path(self.path)
            .http_only(true)
            .same_site(self.same_site)
            .secure(tls)
            .build();
        (jar.add(cookie), token)
    }

    /// Does `given` (the form's field) match the jar's cookie? False without a cookie.
    pub fn check(&self, jar: &CookieJar, given: &str, token_of: impl Fn(&str) -> String) -> bool {
        jar.get(self.cookie)
            .is_some_and(|c| crate::auth::csrf_matches(&token_of(c.value()), Some(given)))
    }

    /// The jar without the cookie (after a successful login).
    pub fn remove(&self, jar: CookieJar) -> CookieJar {
        jar.remove(Cookie::build(self.cookie).path(self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: DoubleSubmit = DoubleSubmit {
        cookie: "t",
        path: "/f",
        same_site: SameSite::Lax,
    };

    #[test]
    fn a_token_matches_only_its_own_cookie() {
        let keyed = |v: &str| format!("k{v}");
        let (jar, token) = FORM.issue(CookieJar::new(), false, false, keyed);
        assert!(FORM.check(&jar, &token, keyed));
        assert!(!FORM.check(&jar, "kother", keyed));
        assert!(
            !FORM.check(&CookieJar::new(), &token, keyed),
            "no cookie, no post"
        );
        let (same, again) = FORM.issue(jar.clone(), false, false, keyed);
        assert_eq!(again, token, "an existing cookie is kept");
        let (_, renewed) = FORM.issue(same, false, true, keyed);
        assert_ne!(renewed, token);
    }
}
