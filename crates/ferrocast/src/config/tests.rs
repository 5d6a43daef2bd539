use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_are_the_embedded_server() {
    let c = Config::load(None, env(&[]), &Overrides::default()).expect("defaults");
    assert_eq!(
        (c.host.as_str(), c.port, c.metrics_port),
        ("0.0.0.0", 6001, 9601)
    );
    assert_eq!(c.apps.len(), 1);
    let a = &c.apps[0];
    assert_eq!(
        (a.id.as_str(), a.key.as_str(), a.secret.as_str()),
        ("app-id", "app-key", "app-secret")
    );
    assert!(a.client_events && !a.user_auth_required);
    assert_eq!(
        (a.max_payload_kb, a.max_channels_per_event, a.max_batch_size),
        (10, 100, 10)
    );
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    let toml =
        "port = 7000\nhost = \"127.0.0.2\"\n[[apps]]\nid = \"1\"\nkey = \"k1\"\nsecret = \"s1\"\n\
                [[apps]]\nid = \"2\"\nkey = \"k2\"\nsecret = \"s2\"\nmax_connections = 5\n";
    let flags = Overrides {
        port: Some(9000),
        ..Default::default()
    };
    let c = Config::load(
        Some((Path::new("f.toml"), toml)),
        env(&[
            ("FERROCAST_PORT", "8000"),
            ("FERROCAST_APP_SECRET", "envsecret"),
            ("OTHER", "x"),
        ]),
        &flags,
    )
    .expect("load");
    assert_eq!(c.port, 9000, "flags win over env and file");
    assert_eq!(c.host, "127.0.0.2", "file wins over defaults");
    assert_eq!(c.apps.len(), 2);
    assert_eq!(c.apps[0].secret, "envsecret", "env overrides the first app");
    assert_eq!(c.apps[1].max_connections, 5);
    assert_eq!(
        c.apps[1].max_payload_kb, 10,
        "unset app fields take defaults"
    );
}

#[test]
fn errors_name_the_field() {
    let e = Config::load(
        Some((Path::new("f.toml"), "prot = 1")),
        env(&[]),
        &Overrides::default(),
    )
    .expect_err("unknown key");
    assert!(e.to_string().contains("prot"), "{e}");
    let e = Config::load(
        None,
        env(&[("FERROCAST_PORT", "abc")]),
        &Overrides::default(),
    )
    .expect_err("bad port");
    assert!(e.to_string().contains("FERROCAST_PORT"), "{e}");
    let dup = "[[apps]]\nid=\"1\"\nkey=\"k\"\nsecret=\"s\"\n[[apps]]\nid=\"2\"\nkey=\"k\"\nsecret=\"s\"\n";
    let e = Config::load(
        Some((Path::new("f.toml"), dup)),
        env(&[]),
        &Overrides::default(),
    )
    .expect_err("duplicate key");
    assert!(e.to_string().contains("apps[1].key"), "{e}");
}

#[test]
fn every_option_and_variable_is_documented() {
    let doc = include_str!("../../../../docs/configuration.md");
    let defaults = toml::Value::try_from(Config::default()).expect("toml");
    let table = defaults.as_table().expect("table");
    for key in table.keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md lacks server key {key}"
        );
    }
    let app = toml::Value::try_from(AppConfig::default()).expect("toml");
    for key in app.as_table().expect("table").keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md lacks app key {key}"
        );
    }
    let cluster = toml::Value::try_from(ClusterConfig::default()).expect("toml");
    for key in cluster.as_table().expect("table").keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md lacks cluster key {key}"
        );
    }
    let dashboard = toml::Value::try_from(super::DashboardConfig::default()).expect("toml");
    for key in dashboard.as_table().expect("table").keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md lacks dashboard key {key}"
        );
    }
    let history = toml::Value::try_from(HistoryConfig::default()).expect("toml");
    for key in history.as_table().expect("table").keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md lacks history key {key}"
        );
    }
    let webhooks = toml::Value::try_from(WebhookSettings::default()).expect("toml");
    for key in webhooks.as_table().expect("table").keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md lacks webhooks key {key}"
        );
    }
    for var in env::ALL {
        assert!(doc.contains(var), "docs/configuration.md lacks {var}");
    }
}

#[test]
fn sizes_are_bounded_so_kib_never_overflow() {
    let e = Config::load(
        Some((Path::new("f.toml"), "max_request_kb = 18014398509481984")),
        env(&[]),
        &Overrides::default(),
    )
    .expect_err("too large");
    assert!(e.to_string().contains("max_request_kb"), "{e}");
    let app = "[[apps]]\nid=\"1\"\nkey=\"k\"\nsecret=\"s\"\nmax_payload_kb = 18014398509481984\n";
    let e = Config::load(
        Some((Path::new("f.toml"), app)),
        env(&[]),
        &Overrides::default(),
    )
    .expect_err("too large");
    assert!(e.to_string().contains("max_payload_kb"), "{e}");
}

#[test]
fn the_webhook_queue_follows_the_adapter_and_redis_needs_it() {
    let load = |toml: &str, vars: &[(&str, &str)]| {
        Config::load(
            Some((Path::new("f.toml"), toml)),
            env(vars),
            &Overrides::default(),
        )
    };
    let local = load("", &[]).expect("defaults");
    assert_eq!(local.webhooks.queue, WebhookQueueKind::Auto);
    assert_eq!(
        local.webhooks.queue.resolve(local.cluster.adapter),
        WebhookQueueKind::Sqlite
    );
    let redis = load("[cluster]\nadapter = \"redis\"\n", &[]).expect("redis");
    assert_eq!(
        redis.webhooks.queue.resolve(redis.cluster.adapter),
        WebhookQueueKind::Redis
    );
    let pinned = load(
        "[cluster]\nadapter = \"redis\"\n",
        &[("FERROCAST_WEBHOOKS_QUEUE", "sqlite")],
    )
    .expect("env");
    assert_eq!(
        pinned.webhooks.queue.resolve(pinned.cluster.adapter),
        WebhookQueueKind::Sqlite,
        "an explicit choice wins over auto"
    );
    let e = load("[webhooks]\nqueue = \"redis\"\n", &[]).expect_err("redis without its adapter");
    assert!(e.to_string().contains("webhooks.queue"), "{e}");
    let e = load(
        "[cluster]\nadapter = \"nats\"\n",
        &[("FERROCAST_WEBHOOKS_QUEUE", "redis")],
    )
    .expect_err("redis on nats");
    assert!(e.to_string().contains("webhooks.queue"), "{e}");
    let e = load("", &[("FERROCAST_WEBHOOKS_QUEUE", "postgres")]).expect_err("unknown");
    assert!(e.to_string().contains("FERROCAST_WEBHOOKS_QUEUE"), "{e}");
}
