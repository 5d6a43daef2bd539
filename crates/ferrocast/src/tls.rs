//! TLS for the main listener (wss:// and https://) with rustls: the certificate and key come
//! from PEM files and are reloaded on SIGHUP or when the files change, without dropping
//! connections; a reload that fails keeps the previous certificate.

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("invalid TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The listener's TLS state: an acceptor whose certificate can be swapped.
pub struct Tls {
    acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    cert_path: PathBuf,
    key_path: PathBuf,
    loaded_mtimes: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert_path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
        path: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    let signing = ring::sign::any_supported_type(&key)?;
    Ok(CertifiedKey::new(certs, signing))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl Tls {
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let key = load(cert_path, key_path)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(key)),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            resolver,
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            loaded_mtimes: Mutex::new((mtime(cert_path), mtime(key_path))),
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Loads the files again; on failure the current certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let mtimes = (mtime(&self.cert_path), mtime(&self.key_path));
        let key = load(&self.cert_path, &self.key_path)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        *self
            .loaded_mtimes
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mtimes;
        tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
        Ok(())
    }

    fn changed_on_disk(&self) -> bool {
        let now = (mtime(&self.cert_path), mtime(&self.key_path));
        *self
            .loaded_mtimes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            != now
    }

    /// Reloads on SIGHUP and when the files change, until the task is dropped.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(WATCH_EVERY);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let forced = tokio::select! {
                _ = hangup => true,
                _ = tick.tick() => false,
            };
            if forced || self.changed_on_disk() {
                if let Err(e) = self.reload() {
                    tracing::error!(error = %e, "TLS reload failed; keeping the previous certificate");
                }
            }
        }
    }
}
