//! Dashboard logins: sessions kept in memory on this node (a random token → its expiry), the
//! cookie that carries the token, and the same-origin check that, with `SameSite=Strict`,
//! keeps other sites from acting with a logged-in browser (CSRF).

use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "ferrocast_dashboard";

/// Sessions kept at most; the one closest to expiry makes room for a new login.
const MAX_SESSIONS: usize = 1000;

/// Logged-in browsers, by token.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            live: Mutex::default(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session and returns its token (256 random bits, hex).
    pub fn create(&self, now: Instant) -> String {
        let token: String = rand::random::<[u8; 32]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, expires| *expires > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(t, _)| t.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(token.clone(), now + self.ttl);
        token
    }

    /// Whether `token` is a session that has not expired; an expired one is forgotten.
    pub fn is_valid(&self, token: &str, now: Instant) -> bool {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get(token) {
            Some(expires) if *expires > now => true,
            Some(_) => {
                live.remove(token);
                false
            }
            None => false,
        }
    }

    pub fn remove(&self, token: &str) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
}

/// The session token in the request's cookies, if any.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: only sent to `/dashboard`, never readable by scripts, never
/// sent by another site's page, gone after `ttl`.
pub fn set_cookie(token: &str, ttl: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        ttl.as_secs()
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

/// Whether the request's `Origin` is the server's own (its authority equals `Host`). A request
/// without `Origin` fails: browsers send it on every POST, PATCH and DELETE.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_expire_and_can_be_removed() {
        let s = Sessions::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let a = s.create(t0);
        assert_eq!(a.len(), 64);
        assert!(s.is_valid(&a, t0 + Duration::from_secs(9)));
        assert!(!s.is_valid(&a, t0 + Duration::from_secs(10)));
        assert!(!s.is_valid(&a, t0), "an expired session is forgotten");
        let b = s.create(t0);
        assert_ne!(a, b);
        s.remove(&b);
        assert!(!s.is_valid(&b, t0));
        assert!(!s.is_valid("", t0));
    }

    #[test]
    fn sessions_are_bounded() {
        let s = Sessions::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let first = s.create(t0);
        for i in 1..=MAX_SESSIONS {
            s.create(t0 + Duration::from_millis(i as u64));
        }
        assert!(!s.is_valid(&first, t0), "the oldest session made room");
        assert_eq!(s.live.lock().map(|l| l.len()).unwrap_or(0), MAX_SESSIONS);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("abc", Duration::from_secs(60), false);
        assert_eq!(
            c,
            "ferrocast_dashboard=abc; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(set_cookie("abc", Duration::from_secs(60), true).ends_with("; Secure"));
        assert!(
            clear_cookie(false).contains("ferrocast_dashboard=; ")
                && clear_cookie(false).contains("Max-Age=0")
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn token_is_read_among_other_cookies() {
        let h = headers(&[("cookie", "a=1; ferrocast_dashboard=tok; b=2")]);
        assert_eq!(token(&h), Some("tok"));
        assert_eq!(token(&headers(&[("cookie", "ferrocast_dashboard=")])), None);
        assert_eq!(token(&headers(&[])), None);
    }

    #[test]
    fn origin_must_match_host() {
        let ok = headers(&[
            ("host", "127.0.0.1:6001"),
            ("origin", "http://127.0.0.1:6001"),
        ]);
        assert!(same_origin(&ok));
        let tls = headers(&[("host", "ex.com"), ("origin", "https://ex.com")]);
        assert!(same_origin(&tls));
        let other = headers(&[("host", "127.0.0.1:6001"), ("origin", "http://evil.test")]);
        assert!(!same_origin(&other));
        let port = headers(&[
            ("host", "127.0.0.1:6001"),
            ("origin", "http://127.0.0.1:6002"),
        ]);
        assert!(!same_origin(&port));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:6001")])));
        let null = headers(&[("host", "127.0.0.1:6001"), ("origin", "null")]);
        assert!(!same_origin(&null));
    }
}
