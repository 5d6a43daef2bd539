//! What the fuzz targets that reach into the server crate check. A failure here is a finding
//! in `crates/ferrocast`, reported rather than fixed by the fuzzing work.

use ferrocast::api::signed::RequestToVerify;
use ferrocast::apps::Apps;
use ferrocast::config::{AppConfig, Config, Overrides};
use ferrocast::metrics::Metrics;
use ferrocast_protocol::signature;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::protocol_checks::{ApiInput, RESERVED_PARAMS};

/// The line that separates the TOML text from the environment in a `config` input.
pub const ENV_SEPARATOR: &str = "--- env ---";

/// Splits a `config` input: the TOML text, then (after a line `--- env ---`) one `NAME=VALUE`
/// variable per line. A name without the `FERROCAST_` prefix gets it, so short mutations
/// still hit the variables the server reads. Invalid UTF-8 is replaced (U+FFFD).
pub fn split_config_input(data: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(data);
    let (toml, env) = match text.split_once(&format!("\n{ENV_SEPARATOR}\n")) {
        Some((t, e)) => (t.to_owned(), e),
        None => match text.strip_prefix(&format!("{ENV_SEPARATOR}\n")) {
            Some(e) => (String::new(), e),
            None => (text.clone().into_owned(), ""),
        },
    };
    let env = env
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            let k = if k.starts_with("FERROCAST_") {
                k.to_owned()
            } else {
                format!("FERROCAST_{k}")
            };
            (k, v.to_owned())
        })
        .collect();
    (toml, env)
}

/// `Config::load` with arbitrary TOML text and environment never panics; what it accepts is
/// valid (the checks `validate` promises), and survives a TOML round trip unchanged.
pub fn config(data: &[u8]) {
    let (text, env) = split_config_input(data);
    let flags = Overrides::default();
    let Ok(cfg) = Config::load(Some((Path::new("fuzz.toml"), &text)), env, &flags) else {
        return;
    };
    assert!(cfg.activity_timeout > 0 && cfg.pong_timeout > 0 && cfg.outbox_capacity > 0);
    assert!(!cfg.apps.is_empty(), "no app");
    let mut ids = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for app in &cfg.apps {
        assert!(!app.id.is_empty() && !app.key.is_empty() && !app.secret.is_empty());
        assert!(ids.insert(app.id.as_str()), "duplicate app id {:?}", app.id);
        assert!(
            keys.insert(app.key.as_str()),
            "duplicate app key {:?}",
            app.key
        );
        assert!(app.max_channel_name_length > 0 && app.max_event_name_length > 0);
    }
    // What was loaded, written back as TOML, loads as the same configuration.
    let written = toml::to_string(&cfg).expect("a loaded config serialises");
    let again = Config::load(
        Some((Path::new("again.toml"), &written)),
        std::iter::empty(),
        &flags,
    )
    .unwrap_or_else(|e| panic!("re-loading {written:?}: {e}"));
    assert_eq!(again, cfg, "TOML round trip changed the configuration");
}

/// One metrics registry for every run (building a Prometheus recorder per input would
/// dominate the run time).
fn metrics() -> Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(Arc::default).clone()
}

/// The same input as `protocol_checks::api_signature`, through the server's real request
/// verifier (`api::signed::RequestToVerify`):
/// - the request as given never panics it, and whatever it accepts also verifies by the
///   protocol-level rules (or only through the percent-decoded path);
/// - a query made by `signed_query` for the app's key and secret, at the server's clock, is
///   accepted.
pub fn signed_request(data: &[u8]) {
    let input = ApiInput::split(data);
    let params = input.params();
    let key = params
        .iter()
        .find(|(k, _)| k == "auth_key")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "278d425bdf160c739803".to_owned());
    let timestamp = params
        .iter()
        .find(|(k, _)| k == "auth_timestamp")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(input.body.len() as u64);
    let apps = Apps::new(
        vec![AppConfig {
            id: "fuzz".into(),
            key: key.clone(),
            secret: input.secret.clone(),
            ..Default::default()
        }],
        metrics(),
    );

    let as_given = RequestToVerify {
        method: &input.method,
        path: &input.path,
        query: &input.query,
        body: input.body,
        path_app_id: None,
    };
    if as_given.verify(&apps, timestamp).is_ok() {
        let by_protocol = crate::protocol_checks::verify_request(
            &input.secret,
            &input.method,
            &input.path,
            &input.query,
            input.body,
        );
        assert!(
            by_protocol || input.path.contains('%') || input.path.contains('+'),
            "the server accepted a request the protocol rules refuse"
        );
    }

    let extra: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, _)| !RESERVED_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .collect();
    let query = signature::signed_query(
        &key,
        &input.secret,
        &input.method,
        &input.path,
        input.body,
        timestamp,
        &extra,
    );
    let signed = RequestToVerify {
        method: &input.method,
        path: &input.path,
        query: &query,
        body: input.body,
        path_app_id: None,
    };
    if let Err(e) = signed.verify(&apps, timestamp) {
        panic!("the server refuses signed_query's {query:?}: {e}");
    }
}
