//! Where the Redis adapter connects: the server of `redis_url` (TLS with `rediss://`, trusting
//! a private CA when `redis_tls_ca_file` is set), or the master that Redis Sentinel names. The
//! master is looked up again on every reconnect, so a Sentinel failover is followed.

use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, ConnectionAddr, IntoConnectionInfo, RedisResult, TlsCertificates, TlsMode};
use tokio::sync::Mutex;

use crate::config::ClusterConfig;

pub(crate) enum RedisTarget {
    Direct(Client),
    Sentinel(Mutex<SentinelClient>),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password; never print it.
        f.write_str(match self {
            Self::Direct(_) => "RedisTarget::Direct",
            Self::Sentinel(_) => "RedisTarget::Sentinel",
        })
    }
}

impl RedisTarget {
    pub(crate) fn new(cfg: &ClusterConfig) -> Result<Self, String> {
        let info = cfg
            .redis_url
            .as_str()
            .into_connection_info()
            .map_err(|e| format!("redis_url: {e}"))?;
        if cfg.redis_sentinels.is_empty() {
            let client = match &cfg.redis_tls_ca_file {
                Some(path) => {
                    let root_cert = std::fs::read(path)
                        .map_err(|e| format!("redis_tls_ca_file {}: {e}", path.display()))?;
                    let certs = TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    };
                    Client::build_with_tls(info, certs)
                }
                None => Client::open(info),
            }
            .map_err(|e| format!("redis_url: {e}"))?;
            return Ok(Self::Direct(client));
        }
        if cfg.redis_sentinel_master.is_empty() {
            return Err("redis_sentinels is set but redis_sentinel_master is empty".into());
        }
        if cfg.redis_tls_ca_file.is_some() {
            return Err("redis_tls_ca_file is not supported with redis_sentinels".into());
        }
        // The master gets redis_url's credentials, database and TLS; its address comes from
        // the sentinels.
        let mut node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(info.redis_settings().clone());
        if let ConnectionAddr::TcpTls { insecure, .. } = info.addr() {
            node = node.set_tls_mode(if *insecure {
                TlsMode::Insecure
            } else {
                TlsMode::Secure
            });
        }
        let sentinel = SentinelClient::build(
            cfg.redis_sentinels.clone(),
            cfg.redis_sentinel_master.clone(),
            Some(node),
            SentinelServerType::Master,
        )
        .map_err(|e| format!("redis_sentinels: {e}"))?;
        Ok(Self::Sentinel(Mutex::new(sentinel)))
    }

    /// A client for the server to use now.
    pub(crate) async fn client(&self) -> RedisResult<Client> {
        match self {
            Self::Direct(client) => Ok(client.clone()),
            Self::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await,
        }
    }
}
