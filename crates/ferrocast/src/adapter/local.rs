//! The single-node "bus": there are no other nodes, so nothing is sent anywhere.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Adapter, BusEvent, Topic};

#[derive(Debug, Default)]
pub struct LocalAdapter;

impl Adapter for LocalAdapter {
    fn name(&self) -> &'static str {
        "local"
    }

    fn send(&self, _topic: Topic, _msg: Bytes) {}

    fn start(&self, _node: u64, events: mpsc::Sender<BusEvent>) {
        let _ = events.try_send(BusEvent::Connected);
    }
}
