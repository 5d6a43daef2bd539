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

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};
    use std::path::Path;

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_and_a_bad_one_is_named() {
        let load = |toml: &str| {
            Config::load(
                Some((Path::new("f.toml"), toml)),
                Vec::new(),
                &Overrides::default(),
            )
        };
        let ok = load("[clients]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7\"]\n")
            .expect("valid");
        assert_eq!(ok.clients.proxy_ranges().map(|r| r.len()), Ok(3));
        let e = load("[clients]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").expect_err("bad range");
        assert!(e.to_string().contains("clients.trusted_proxies"), "{e}");
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
    }
}
