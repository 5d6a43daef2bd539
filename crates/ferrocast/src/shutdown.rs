//! The drain signal: once raised, new connections are refused with 4200, `/ready` answers 503,
//! and every connection sends `pusher:error` 4200 and closes so clients reconnect elsewhere.

use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            tx: watch::channel(false).0,
        }
    }
}

impl Shutdown {
    pub fn begin(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once draining has begun.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so `wait_for` can only end when the value is true.
        let _ = rx.wait_for(|draining| *draining).await;
    }
}
