//! The cluster scenarios on the machine's NATS server.

use crate::cluster_scenarios as s;
use crate::harness::cluster::NATS;
use ferrocast::config::AdapterKind::Nats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_every_node_once() {
    s::publish_reaches_every_node_once(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_one_membership() {
    s::presence_is_one_membership(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_terminate_and_cache_are_cluster_wide() {
    s::queries_terminate_and_cache_are_cluster_wide(Nats, NATS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_counts_the_cluster() {
    s::connection_limit_counts_the_cluster(Nats, NATS).await;
}
