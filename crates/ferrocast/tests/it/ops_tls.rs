//! TLS: wss:// and https:// from PEM files, and a certificate replaced on disk is served to new
//! connections without a restart.

use crate::harness::{config, test_app, DEADLINE};
use ferrocast::config::TlsConfig;
use futures_util::StreamExt;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Cert {
    pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn self_signed() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("cert");
    Cert {
        pem: c.cert.pem(),
        key_pem: c.signing_key.serialize_pem(),
        der: c.cert.der().clone(),
    }
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrocast-tls-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn write(dir: &std::path::Path, cert: &Cert) {
    std::fs::write(dir.join("cert.pem"), &cert.pem).expect("cert file");
    std::fs::write(dir.join("key.pem"), &cert.key_pem).expect("key file");
}

/// Connects over TLS trusting `roots`, and returns the certificate the server presented.
async fn tls_connect(
    addr: std::net::SocketAddr,
    roots: &[&Cert],
) -> (
    tokio_rustls::client::TlsStream<TcpStream>,
    CertificateDer<'static>,
) {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.der.clone()).expect("root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = tokio::time::timeout(
        DEADLINE,
        TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .expect("handshake deadline")
    .expect("handshake");
    let presented = tls.get_ref().1.peer_certificates().expect("certs")[0]
        .clone()
        .into_owned();
    (tls, presented)
}

#[tokio::test]
async fn wss_works_and_a_new_certificate_is_picked_up_from_disk() {
    let dir = temp_dir();
    let first = self_signed();
    write(&dir, &first);
    let mut cfg = config(vec![test_app()]);
    cfg.tls = Some(TlsConfig {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
    });
    let server = crate::harness::TestServer::with_config(cfg).await;

    let (tls, presented) = tls_connect(server.addr, &[&first]).await;
    assert_eq!(presented, first.der);
    let url = format!(
        "wss://localhost:{}/app/test-key?protocol=7",
        server.addr.port()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("wss handshake");
    let msg = tokio::time::timeout(DEADLINE, ws.next())
        .await
        .expect("deadline")
        .expect("frame")
        .expect("ok");
    assert!(msg
        .to_text()
        .expect("text")
        .contains("pusher:connection_established"));

    let second = self_signed();
    write(&dir, &second);
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, presented) = tls_connect(server.addr, &[&first, &second]).await;
        if presented == second.der {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connection opened before the swap is still served.
    assert!(ws.next().now_or_never_is_pending());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn plain_http_on_a_tls_port_does_not_get_through() {
    let dir = temp_dir();
    write(&dir, &self_signed());
    let mut cfg = config(vec![test_app()]);
    cfg.tls = Some(TlsConfig {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
    });
    let server = crate::harness::TestServer::with_config(cfg).await;
    let r = reqwest::get(format!("http://{}/health", server.addr)).await;
    assert!(r.is_err(), "plain HTTP must not be served on the TLS port");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn missing_certificate_files_stop_the_start_with_a_clear_error() {
    let mut cfg = config(vec![test_app()]);
    cfg.tls = Some(TlsConfig {
        cert_file: "/nonexistent/cert.pem".into(),
        key_file: "/nonexistent/key.pem".into(),
    });
    let err = ferrocast::Server::bind(cfg).await.err().expect("refused");
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}

trait PendingExt {
    fn now_or_never_is_pending(&mut self) -> bool;
}

impl<F: std::future::Future + Unpin> PendingExt for F {
    /// True when the future has nothing ready yet (the socket is open and quiet).
    fn now_or_never_is_pending(&mut self) -> bool {
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        std::pin::Pin::new(self).poll(&mut cx).is_pending()
    }
}
