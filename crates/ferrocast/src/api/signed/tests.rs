use super::*;
use crate::apps::Apps;
use crate::config::AppConfig;

fn apps() -> Apps {
    Apps::new(
        vec![
            AppConfig {
                id: "3".into(),
                key: "278d425bdf160c739803".into(),
                secret: "7ad3773142a6692b25b8".into(),
                ..Default::default()
            },
            AppConfig {
                id: "9".into(),
                key: "off-key".into(),
                secret: "off".into(),
                enabled: false,
                ..Default::default()
            },
        ],
        std::sync::Arc::new(crate::metrics::Metrics::default()),
    )
}

const BODY: &[u8] = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
const NOW: u64 = 1353088179;

fn check(method: &str, path: &str, query: &str, body: &[u8], now: u64) -> Result<String, ApiError> {
    let r = RequestToVerify {
        method,
        path,
        query,
        body,
        path_app_id: path.split('/').nth(2),
    };
    r.verify(&apps(), now).map(|(app, _)| app.id.clone())
}

fn signed(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> String {
    signature::signed_query(key, secret, method, path, body, NOW, extra)
}

#[test]
fn accepts_the_pusher_docs_example_and_python_style_gets() {
    let q = signed(
        "278d425bdf160c739803",
        "7ad3773142a6692b25b8",
        "POST",
        "/apps/3/events",
        BODY,
        &[],
    );
    assert_eq!(
        check("POST", "/apps/3/events", &q, BODY, NOW).expect("valid"),
        "3"
    );
    // The Python SDK sends body_md5 of the empty body on GET requests.
    let md5 = signature::body_md5(b"");
    let q = signed(
        "278d425bdf160c739803",
        "7ad3773142a6692b25b8",
        "GET",
        "/apps/3/channels",
        b"",
        &[("body_md5", &md5)],
    );
    assert_eq!(
        check("GET", "/apps/3/channels", &q, b"", NOW).expect("valid"),
        "3"
    );
}

#[test]
fn every_tampering_is_refused_with_its_own_code() {
    let q = signed(
        "278d425bdf160c739803",
        "7ad3773142a6692b25b8",
        "POST",
        "/apps/3/events",
        BODY,
        &[],
    );
    let code = |r: Result<String, ApiError>| r.expect_err("refused").code();
    assert_eq!(
        code(check("POST", "/apps/3/events", &q, b"{}", NOW)),
        "body_md5_mismatch"
    );
    assert_eq!(
        code(check("POST", "/apps/4/events", &q, BODY, NOW)),
        "invalid_signature"
    );
    assert_eq!(
        code(check("GET", "/apps/3/events", &q, BODY, NOW)),
        "invalid_signature"
    );
    assert_eq!(
        code(check("POST", "/apps/3/events", &q, BODY, NOW + 601)),
        "expired_timestamp"
    );
    assert!(check("POST", "/apps/3/events", &q, BODY, NOW + 600).is_ok());
    let wrong_secret = signed(
        "278d425bdf160c739803",
        "nope",
        "POST",
        "/apps/3/events",
        BODY,
        &[],
    );
    assert_eq!(
        code(check("POST", "/apps/3/events", &wrong_secret, BODY, NOW)),
        "invalid_signature"
    );
    let unknown = signed("nobody", "x", "POST", "/apps/3/events", BODY, &[]);
    assert_eq!(
        code(check("POST", "/apps/3/events", &unknown, BODY, NOW)),
        "invalid_auth_key"
    );
    let other_app = signed(
        "278d425bdf160c739803",
        "7ad3773142a6692b25b8",
        "POST",
        "/apps/4/events",
        BODY,
        &[],
    );
    assert_eq!(
        code(check("POST", "/apps/4/events", &other_app, BODY, NOW)),
        "app_not_found"
    );
    let disabled = signed("off-key", "off", "POST", "/apps/9/events", BODY, &[]);
    assert_eq!(
        code(check("POST", "/apps/9/events", &disabled, BODY, NOW)),
        "app_disabled"
    );
    assert_eq!(
        code(check("POST", "/apps/3/events", "auth_key=x", BODY, NOW)),
        "missing_auth_parameter"
    );
    let tampered = q.replace("auth_timestamp=1353088179", "auth_timestamp=1353088178");
    assert_eq!(
        code(check("POST", "/apps/3/events", &tampered, BODY, NOW)),
        "invalid_signature"
    );
}
