//! An HTTP API client that signs requests exactly as the official Pusher SDKs do.

use ferrocast::config::AppConfig;
use ferrocast_protocol::signature;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct ApiClient {
    base: String,
    pub app: AppConfig,
    http: reqwest::Client,
}

/// The current unix time in seconds, as the SDKs stamp `auth_timestamp`.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

impl ApiClient {
    pub fn new(base: String, app: AppConfig) -> Self {
        Self {
            base,
            app,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request signed at unix time `ts` with the app's key and `secret`.
    pub async fn request_as(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: Option<&Value>,
        secret: &str,
        ts: u64,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let query = signature::signed_query(
            &self.app.key,
            secret,
            method,
            path,
            body.as_bytes(),
            ts,
            params,
        );
        let url = format!("{}{path}?{query}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        };
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
        (status, v)
    }

    /// Sends exactly `path_and_query` with `body`, unsigned unless the query carries a signature.
    pub async fn raw(&self, method: &str, path_and_query: &str, body: Vec<u8>) -> (u16, Value) {
        send(
            &self.http,
            method,
            &format!("{}{path_and_query}", self.base),
            body,
        )
        .await
    }

    /// POSTs raw `body` bytes to `/apps/{id}{path}`, signed correctly (for malformed bodies).
    pub async fn post_bytes(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let path = format!("/apps/{}{path}", self.app.id);
        let query = signature::signed_query(
            &self.app.key,
            &self.app.secret,
            "POST",
            &path,
            body,
            now(),
            &[],
        );
        self.raw("POST", &format!("{path}?{query}"), body.to_vec())
            .await
    }

    /// GETs `/apps/{id}{path}` until `done` holds for a 200 body; returns that body.
    pub async fn get_until(
        &self,
        path: &str,
        params: &[(&str, &str)],
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = tokio::time::Instant::now() + super::DEADLINE;
        loop {
            let (status, body) = self.get(path, params).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "GET {path} {params:?}: still {status} {body} at the deadline"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let path = format!("/apps/{}{path}", self.app.id);
        self.request_as("GET", &path, params, None, &self.app.secret.clone(), now())
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let path = format!("/apps/{}{path}", self.app.id);
        self.request_as(
            "POST",
            &path,
            &[],
            Some(&body),
            &self.app.secret.clone(),
            now(),
        )
        .await
    }

    /// Publishes `data` (a string) to one channel; asserts success.
    pub async fn publish(&self, channel: &str, event: &str, data: &str) -> Value {
        let (status, body) = self
            .post(
                "/events",
                json!({"name": event, "channels": [channel], "data": data}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Signs exactly `params` (nothing added) as the SDKs would; returns the full query string.
pub fn sign_exact(secret: &str, method: &str, path: &str, params: &[(&str, &str)]) -> String {
    let query = signature::canonical_query(params.iter().copied());
    let sig = signature::sign(secret, &signature::api_string_to_sign(method, path, &query));
    format!("{query}&{}={sig}", signature::SIGNATURE_PARAM)
}

/// Sends a request to a full URL; answers the status and the JSON body (panics on non-JSON).
pub async fn send(http: &reqwest::Client, method: &str, url: &str, body: Vec<u8>) -> (u16, Value) {
    let req = match method {
        "GET" => http.get(url),
        "POST" => http
            .post(url)
            .header("content-type", "application/json")
            .body(body),
        other => http.request(other.parse().expect("method"), url).body(body),
    };
    let resp = req.send().await.expect("http request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
    (status, v)
}

/// An unsigned GET of `url` (probes, unknown paths).
pub async fn http_get(url: &str) -> (u16, Value) {
    send(&reqwest::Client::new(), "GET", url, Vec::new()).await
}

/// Asserts an API error answer: the status, the stable `code`, and a non-empty message.
#[track_caller]
pub fn assert_error(resp: &(u16, Value), status: u16, code: &str) {
    let (got, body) = resp;
    assert_eq!(
        (*got, body["code"].as_str()),
        (status, Some(code)),
        "expected {status} {code}, got {got} {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error message missing: {body}"
    );
}
