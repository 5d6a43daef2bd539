//! Who a client is and how many WebSockets it holds on this node. The client's address is the
//! socket's peer or — only when the peer is a trusted proxy — the nearest untrusted address in
//! `X-Forwarded-For`. IPv6 clients are counted per /64, the block one subscriber usually holds,
//! so walking through a /64 does not multiply the cap.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::ClientsConfig;

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The per-address connection cap (`clients.max_connections_per_ip`).
#[derive(Debug)]
pub struct PeerLimits {
    max: usize,
    trusted: Vec<IpNet>,
    counts: Counts,
}

/// One WebSocket counted against its address; dropping it gives the place back.
#[derive(Debug)]
pub struct PeerSlot {
    counts: Counts,
    key: IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl PeerLimits {
    /// From validated settings (an entry that is not an address or range trusts nothing).
    pub fn new(cfg: &ClientsConfig) -> Self {
        Self {
            max: cfg.max_connections_per_ip,
            trusted: cfg.proxy_ranges().unwrap_or_default(),
            counts: Counts::default(),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request from `peer`: the peer itself unless it is a trusted proxy;
    /// then `X-Forwarded-For` read from the right, skipping trusted hops, up to the first
    /// address a trusted proxy vouches for. An entry that does not parse ends the walk.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer.ip());
        if !self.is_trusted(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop.trim()) else {
                break;
            };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }

    /// Counts one more WebSocket for `client`, or `None` when it already holds the maximum.
    pub fn try_acquire(&self, client: IpAddr) -> Option<PeerSlot> {
        let key = counting_key(client);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(key).or_insert(0);
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            counts: self.counts.clone(),
            key,
        })
    }

    /// WebSockets `client` holds now.
    pub fn count(&self, client: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&counting_key(client)).copied().unwrap_or(0)
    }
}

/// IPv4-mapped IPv6 addresses are the IPv4 client they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An IPv4 address counts alone; an IPv6 address counts as its /64.
fn counting_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, trusted: &[&str]) -> PeerLimits {
        PeerLimits::new(&ClientsConfig {
            max_connections_per_ip: max,
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let l = limits(10, &["10.0.0.0/8", "::1"]);
        let peer = |s: &str| SocketAddr::new(ip(s), 1234);
        let spoofed = xff(&["6.6.6.6"]);
        assert_eq!(l.client_ip(peer("8.8.8.8"), &spoofed), ip("8.8.8.8"));
        assert_eq!(l.client_ip(peer("10.1.2.3"), &spoofed), ip("6.6.6.6"));
        // The client may prepend anything; the nearest untrusted hop is the one that counts.
        let chain = xff(&["1.1.1.1, 2.2.2.2", "10.0.0.5"]);
        assert_eq!(l.client_ip(peer("10.1.2.3"), &chain), ip("2.2.2.2"));
        assert_eq!(
            l.client_ip(peer("::1"), &xff(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            l.client_ip(peer("10.1.2.3"), &xff(&["junk"])),
            ip("10.1.2.3")
        );
        assert_eq!(
            l.client_ip(peer("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
        assert_eq!(
            l.client_ip(peer("::ffff:9.9.9.9"), &spoofed),
            ip("9.9.9.9"),
            "IPv4-mapped peers are IPv4 clients"
        );
    }

    #[test]
    fn the_cap_is_per_address_and_per_ipv6_64_and_places_come_back() {
        let l = limits(2, &[]);
        let a = l.try_acquire(ip("1.1.1.1")).expect("first");
        let _b = l.try_acquire(ip("1.1.1.1")).expect("second");
        assert!(l.try_acquire(ip("1.1.1.1")).is_none());
        assert!(l.try_acquire(ip("1.1.1.2")).is_some(), "another address");
        drop(a);
        assert!(l.try_acquire(ip("1.1.1.1")).is_some(), "a place came back");
        let _v6 = l.try_acquire(ip("2001:db8:0:1::1")).expect("v6");
        let _v6b = l.try_acquire(ip("2001:db8:0:1::2")).expect("same /64");
        assert!(l.try_acquire(ip("2001:db8:0:1::3")).is_none());
        assert!(l.try_acquire(ip("2001:db8:0:2::1")).is_some());
        let unlimited = limits(0, &[]);
        let many: Vec<_> = (0..100)
            .filter_map(|_| unlimited.try_acquire(ip("3.3.3.3")))
            .collect();
        assert_eq!(many.len(), 100);
        drop(many);
        assert_eq!(unlimited.count(ip("3.3.3.3")), 0, "no entry is left behind");
    }
}
