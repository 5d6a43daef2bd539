//! Settings about client addresses: how many WebSockets one address may hold, and which proxies
//! are trusted to name the client (`X-Forwarded-For`). The `[clients]` table.

use serde::{Deserialize, Serialize};

/// The `[clients]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientsConfig {
    /// WebSockets one client address (an IPv4 address, or an IPv6 /64) may hold on this node;
    /// 0 = unlimited. Beyond it: `pusher:error` 4100 and close 4100 (pusher-js backs off and
    /// retries).
    pub max_connections_per_ip: usize,
    /// Peers (addresses or CIDR ranges) whose `X-Forwarded-For` names the client. Other peers
    /// are counted by their socket address, whatever header they send.
    pub trusted_proxies: Vec<String>,
}

impl Default for ClientsConfig {
    fn default() -> Self {
        Self {
            max_connections_per_ip: 1000,
            // The shipped nginx runs on the same host and sets X-Forwarded-For.
            trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
        }
    }
}

impl ClientsConfig {
    /// The trusted proxies as ranges; the error names the entry that is neither an address
    /// nor a CIDR range.
    pub fn proxy_ranges(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("{p:?} is not an IP address or CIDR range"))
            })
            .collect()
    }
}
