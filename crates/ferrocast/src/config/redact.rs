//! The configuration with its secrets blanked out, for `ferrocast config print` and anything
//! else that shows settings to people: app secrets (current and previous), the admin token, and
//! passwords inside the Redis, NATS and database URLs.

use super::Config;
use crate::url_parts::split_userinfo;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Query parameters of a URL whose values are credentials (`?password=` in PostgreSQL and
/// MySQL URLs, tokens some brokers take).
const SECRET_PARAMS: [&str; 4] = ["password", "pass", "secret", "token"];

impl Config {
    /// A copy with every secret replaced by `<redacted>`; everything else as loaded.
    pub fn redacted(&self) -> Config {
        let mut cfg = self.clone();
        for app in &mut cfg.apps {
            app.secret = REDACTED.into();
            if app.previous_secret.is_some() {
                app.previous_secret = Some(REDACTED.into());
            }
        }
        if cfg.admin_token.is_some() {
            cfg.admin_token = Some(REDACTED.into());
        }
        cfg.cluster.redis_url = redact_url(&cfg.cluster.redis_url);
        cfg.cluster.nats_url = redact_url(&cfg.cluster.nats_url);
        cfg.app_store = redact_url(&cfg.app_store);
        cfg
    }

    /// The redacted configuration as TOML, readable back by `--config`.
    pub fn redacted_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.redacted())
    }
}

/// Blanks the password of `scheme://user:password@host/…` (the whole user part when it has no
/// `:`, since some clients read a lone user part as the password) and credential query values.
/// Anything that is not a URL is returned as it is.
pub fn redact_url(url: &str) -> String {
    let (bare, userinfo) = split_userinfo(url);
    let Some((scheme, rest)) = bare.split_once("://") else {
        return bare;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(authority_end);
    let authority = match userinfo.map(|u| u.split_once(':')) {
        Some(Some((user, _))) => format!("{user}:{REDACTED}@{host}"),
        Some(None) => format!("{REDACTED}@{host}"),
        None => host.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                        format!("{k}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;

    #[test]
    fn passwords_in_urls_are_blanked_and_the_rest_kept() {
        for (url, want) in [
            (
                "redis://:pw@127.0.0.1:6379/2",
                "redis://:<redacted>@127.0.0.1:6379/2",
            ),
            ("redis://user:p%40ss@h:1", "redis://user:<redacted>@h:1"),
            ("nats://tok@h:4222", "nats://<redacted>@h:4222"),
            (
                "postgres://app:s3cr:et@db/ferro?sslmode=require&password=x",
                "postgres://app:<redacted>@db/ferro?sslmode=require&password=<redacted>",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("sqlite", "sqlite"),
            ("sqlite:///tmp/a@b.db", "sqlite:///tmp/a@b.db"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn every_secret_is_redacted_and_the_toml_reads_back() {
        let mut cfg = Config {
            admin_token: Some("admin-tok".into()),
            app_store: "mysql://u:dbpw@h/db".into(),
            apps: vec![AppConfig {
                id: "1".into(),
                key: "k".into(),
                secret: "cur-secret".into(),
                previous_secret: Some("old-secret".into()),
                previous_secret_expires_at: Some(5),
                ..Default::default()
            }],
            ..Default::default()
        };
        cfg.cluster.redis_url = "redis://:redispw@h:6379".into();
        cfg.cluster.nats_url = "nats://n:natspw@h:4222".into();
        let text = cfg.redacted_toml().expect("toml");
        for secret in [
            "admin-tok",
            "dbpw",
            "cur-secret",
            "old-secret",
            "redispw",
            "natspw",
        ] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        let back: Config = toml::from_str(&text).expect("parses as a config");
        assert_eq!(back, cfg.redacted());
        assert_eq!(back.apps[0].key, "k", "non-secrets are kept");
    }
}
