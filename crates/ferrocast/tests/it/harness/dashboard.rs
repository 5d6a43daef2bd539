//! A browser stand-in for the dashboard: logs in with the admin token through the form, keeps the
//! session cookie, sends `Origin` like a browser on requests that change something, and reads
//! the debug feed's server-sent events with a deadline on every wait.

use super::{TestServer, DEADLINE};
use serde_json::Value;
use std::time::Duration;

pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
}

/// One server-sent event: its `event:` name and parsed `data:`.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: Value,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    /// Posts the login form with `token` (and this server's Origin); keeps the cookie it sets.
    pub async fn login(&mut self, token: &str) -> reqwest::Response {
        let resp = self
            .http
            .post(format!("{}/dashboard/login", self.base))
            .header("origin", &self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .expect("login");
        if let Some(c) = resp.headers().get("set-cookie") {
            let c = c.to_str().expect("ascii");
            self.cookie = c.split(';').next().map(str::to_owned);
        }
        resp
    }

    /// A request with the session cookie; `origin` is sent as `Origin` when given.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// GET with the cookie: status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        json(self.request("GET", path, None, None).await).await
    }

    /// A change sent as the dashboard's own page sends it (same Origin): status and JSON body.
    pub async fn send_json(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let origin = self.base.clone();
        json(self.request(method, path, Some(body), Some(&origin)).await).await
    }

    /// Opens an app's debug feed and reads its `ready` event.
    pub async fn feed(&self, app: &str, query: &str) -> Feed {
        let resp = self
            .request(
                "GET",
                &format!("/dashboard/api/apps/{app}/feed?{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200, "feed status");
        let mut feed = Feed {
            resp,
            buf: String::new(),
        };
        let ready = feed.next().await;
        assert_eq!(ready.event, "ready", "{ready:?}");
        feed
    }
}

pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON ({status}): {text}"));
    (status, v)
}

/// An open SSE stream.
pub struct Feed {
    resp: reqwest::Response,
    buf: String,
}

impl Feed {
    /// The next event, within the deadline.
    pub async fn next(&mut self) -> Sse {
        self.next_within(DEADLINE)
            .await
            .expect("a feed event in time")
    }

    /// The next event, or `None` when none comes within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<Sse> {
        let end = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).expect("feed data is JSON");
                return Some(Sse { event, data });
            }
            let chunk = tokio::time::timeout_at(end, self.resp.chunk()).await.ok()?;
            let chunk = chunk.expect("feed read").expect("feed still open");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf8"));
        }
    }

    /// The next `debug` event (skipping `dropped` reports).
    pub async fn next_debug(&mut self) -> Value {
        loop {
            let e = self.next().await;
            if e.event == "debug" {
                return e.data;
            }
        }
    }
}
