//! A real HTTP receiver on loopback for webhooks and server hooks: it records every request
//! (headers and raw body), answers with a status (or fails the first N requests), can be slow,
//! and can go down (its port refuses connections) and come back on the same port.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::eventually_async;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    fail_first: AtomicUsize,
    status: AtomicU16,
    delay_ms: AtomicU64,
    /// A JSON answer for accepted requests (server hooks); empty answers `{}`.
    answer: Mutex<Option<Value>>,
    /// Down: connections still open are answered 503 (new ones are refused).
    down: std::sync::atomic::AtomicBool,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let state = Arc::new(State {
            status: AtomicU16::new(200),
            ..State::default()
        });
        let mut r = Self {
            addr: listener.local_addr().expect("addr"),
            state,
            task: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = self.state.clone();
        let app = Router::new().route(
            "/{*path}",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(&state, headers, body).await }
            }),
        );
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_first(&self, n: usize) {
        self.state.fail_first.store(n, Ordering::SeqCst);
    }

    /// Answers every request with `status` from now on.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Waits `ms` before answering each request.
    pub fn set_delay_ms(&self, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The JSON body accepted requests are answered with.
    pub fn set_answer(&self, v: Value) {
        *self.state.answer.lock().expect("answer") = Some(v);
    }

    /// Stops listening: connections to the port are refused until `up`.
    pub fn down(&mut self) {
        self.state.down.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.state.down.store(false, Ordering::SeqCst);
        self.serve(listener);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.received.lock().expect("received").clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// The events of the accepted webhook requests, in the order they came.
    pub fn events(&self) -> Vec<Value> {
        self.accepted()
            .iter()
            .flat_map(|r| r.json()["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until at least `n` events were accepted; returns them all.
    pub async fn wait_events(&self, n: usize) -> Vec<Value> {
        eventually_async(&format!("{n} webhook events"), || async {
            self.events().len() >= n
        })
        .await;
        self.events()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

async fn handle(state: &State, headers: HeaderMap, body: Bytes) -> Response {
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let failing = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        500
    } else {
        state.status.load(Ordering::SeqCst)
    };
    state.received.lock().expect("received").push(Received {
        headers,
        body,
        status,
    });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let answer = state
        .answer
        .lock()
        .expect("answer")
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    (code, axum::Json(answer)).into_response()
}
