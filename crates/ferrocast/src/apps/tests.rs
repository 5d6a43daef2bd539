use super::*;

fn app(id: &str, key: &str) -> AppConfig {
    AppConfig {
        id: id.into(),
        key: key.into(),
        secret: "s".into(),
        ..Default::default()
    }
}

#[test]
fn connection_slots_respect_the_limit_and_are_returned() {
    let config = AppConfig {
        max_connections: 1,
        ..Default::default()
    };
    let app = Arc::new(App::new(config, &Metrics::default()));
    let first = app.try_connect().expect("first fits");
    assert!(app.try_connect().is_none());
    assert_eq!(
        app.connections(),
        1,
        "a refused attempt gives its slot back"
    );
    drop(first);
    assert_eq!(app.connections(), 0);
    assert!(app.try_connect().is_some());
}

#[test]
fn applying_records_keeps_live_state_and_follows_key_changes() {
    let apps = Apps::new(
        vec![app("1", "k1"), app("2", "k2")],
        Arc::new(Metrics::default()),
    );
    let one = apps.by_id("1").expect("app 1");
    let _slot = one.try_connect().expect("slot");
    let changed = AppConfig {
        key: "k1-new".into(),
        max_connections: 7,
        ..app("1", "k1")
    };
    let applied = apps.apply(vec![changed, app("3", "k3")]);
    assert_eq!(
        applied,
        Applied {
            added: 1,
            updated: 1,
            removed: 1
        }
    );
    let same = apps.by_id("1").expect("app 1 stays");
    assert!(Arc::ptr_eq(&one, &same), "the app keeps its live state");
    assert_eq!(same.connections(), 1);
    assert_eq!(same.config().max_connections, 7);
    assert!(
        apps.by_key("k1").is_none(),
        "the old key no longer resolves"
    );
    assert!(apps.by_key("k1-new").is_some());
    assert!(apps.by_id("2").is_none());
    assert_eq!(
        apps.apply(vec![same.config().config.clone(), app("3", "k3")]),
        Applied::default()
    );
}
