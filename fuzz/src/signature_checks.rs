//! What the `api_signature` fuzz target checks: the HTTP API's request signing, from the
//! protocol's side (canonical query, string to sign, HMAC, tokens, body MD5). Part of
//! `protocol_checks` (and, like it, compiled into the protocol crate's replay tests), so it may
//! only use `ferrocast_protocol`, `serde_json` and `form_urlencoded`.

use ferrocast_protocol::signature;

/// The parameters `signed_query` sets itself; extra parameters with these names are the
/// caller's mistake and are left out of the round trip.
pub const RESERVED_PARAMS: [&str; 5] = [
    "auth_key",
    "auth_timestamp",
    "auth_version",
    "body_md5",
    signature::SIGNATURE_PARAM,
];

/// An HTTP API request, split out of a fuzz input.
pub struct ApiInput<'a> {
    pub method: String,
    pub path: String,
    /// The query string as sent (URL-encoded).
    pub query: String,
    pub secret: String,
    pub body: &'a [u8],
}

impl<'a> ApiInput<'a> {
    /// Input: four lines — method, path, query string as sent, secret — then the body (all
    /// the remaining bytes). Missing lines are empty; invalid UTF-8 is replaced (U+FFFD).
    pub fn split(data: &'a [u8]) -> Self {
        let mut rest = data;
        let mut line = || {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let l = String::from_utf8_lossy(&rest[..end]).into_owned();
            rest = rest.get(end + 1..).unwrap_or(&[]);
            l
        };
        let (method, path, query, secret) = (line(), line(), line(), line());
        Self {
            method,
            path,
            query,
            secret,
            body: rest,
        }
    }

    /// The query's parameters, decoded as the server decodes them.
    pub fn params(&self) -> Vec<(String, String)> {
        decode_query(&self.query)
    }
}

/// `application/x-www-form-urlencoded` decoding, as the server's verifier does it.
pub fn decode_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Verifies a request as the server does (minus the app lookup, the timestamp window and the
/// percent-decoded path fallback): decode the query, check `body_md5`, then the signature over
/// `METHOD\nPATH\ncanonical query`.
pub fn verify_request(secret: &str, method: &str, path: &str, query: &str, body: &[u8]) -> bool {
    let params = decode_query(query);
    let first = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let Some(sig) = first(signature::SIGNATURE_PARAM) else {
        return false;
    };
    match first("body_md5") {
        Some(md5) if *md5 != signature::body_md5(body) => return false,
        None if !body.is_empty() => return false,
        _ => {}
    }
    let canonical =
        signature::canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    signature::verify(
        secret,
        &signature::api_string_to_sign(method, path, &canonical),
        sig,
    )
}

/// Every signature function on arbitrary inputs, and the round trips:
/// - `canonical_query` ignores the order of the parameters and the case of the keys, and never
///   contains `auth_signature`;
/// - `body_md5` is 32 lower-case hex digits;
/// - `verify(sign(m))` and `verify_token(token(m))` hold; a changed signature fails;
/// - `signed_query(...)` with the input's method, path, body, key, timestamp and (non-reserved)
///   parameters verifies, decoded as the server decodes it, and carries exactly those values.
pub fn api_signature(data: &[u8]) {
    let input = ApiInput::split(data);
    let params = input.params();
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));

    // Canonical query.
    let canonical = signature::canonical_query(pairs());
    assert_eq!(
        canonical,
        signature::canonical_query(pairs().rev()),
        "order changed the canonical query"
    );
    let lowered: Vec<(String, &str)> = pairs().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    assert_eq!(
        canonical,
        signature::canonical_query(lowered.iter().map(|(k, v)| (k.as_str(), *v))),
        "key case changed the canonical query"
    );
    let without_sig: Vec<(&str, &str)> = pairs()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(signature::SIGNATURE_PARAM))
        .collect();
    assert_eq!(
        canonical,
        signature::canonical_query(without_sig.iter().copied()),
        "auth_signature was signed"
    );

    // Body digest.
    let md5 = signature::body_md5(input.body);
    assert!(
        md5.len() == 32
            && md5
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );

    // The request as given: must not panic, whatever it says.
    let to_sign = signature::api_string_to_sign(&input.method, &input.path, &canonical);
    let given_sig = params
        .iter()
        .find(|(k, _)| k == signature::SIGNATURE_PARAM)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let _ = signature::verify(&input.secret, &to_sign, given_sig);
    let key = params
        .iter()
        .find(|(k, _)| k == "auth_key")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "278d425bdf160c739803".to_owned());
    let _ = signature::verify_token(&key, &input.secret, given_sig, &to_sign);
    let _ = verify_request(
        &input.secret,
        &input.method,
        &input.path,
        &input.query,
        input.body,
    );

    // sign/verify and token/verify_token round trips, and a tampered signature.
    let sig = signature::sign(&input.secret, &to_sign);
    assert!(signature::verify(&input.secret, &to_sign, &sig));
    let mut tampered = sig.clone().into_bytes();
    let i = input.body.len() % tampered.len();
    tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("hex");
    assert!(!signature::verify(&input.secret, &to_sign, &tampered));
    let token = signature::token(&key, &input.secret, &to_sign);
    assert!(
        signature::verify_token(&key, &input.secret, &token, &to_sign),
        "token({key:?}, …) does not verify"
    );
    assert!(!signature::verify_token(
        &format!("{key}x"),
        &input.secret,
        &token,
        &to_sign
    ));

    // signed_query round trip.
    let timestamp = params
        .iter()
        .find(|(k, _)| k == "auth_timestamp")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(input.body.len() as u64);
    let extra: Vec<(&str, &str)> = pairs()
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
    assert!(
        verify_request(
            &input.secret,
            &input.method,
            &input.path,
            &query,
            input.body
        ),
        "signed_query output does not verify: {query:?}"
    );
    // The server reads the query as decoded: it must see exactly what was signed.
    let mut sent = decode_query(&query);
    let sig_at = sent
        .iter()
        .position(|(k, _)| k == signature::SIGNATURE_PARAM)
        .expect("signature sent");
    sent.remove(sig_at);
    let ts = timestamp.to_string();
    let mut expected: Vec<(String, String)> = [
        ("auth_key", key.as_str()),
        ("auth_timestamp", ts.as_str()),
        ("auth_version", "1.0"),
    ]
    .into_iter()
    .chain((!input.body.is_empty()).then_some(("body_md5", md5.as_str())))
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
    .collect();
    expected.sort();
    sent.sort();
    assert_eq!(
        sent, expected,
        "signed_query sends other values than it signs"
    );
    // A changed method, path or body no longer verifies.
    let other_method = format!("{}X", input.method);
    assert!(!verify_request(
        &input.secret,
        &other_method,
        &input.path,
        &query,
        input.body
    ));
    let other_path = format!("{}/", input.path);
    assert!(!verify_request(
        &input.secret,
        &input.method,
        &other_path,
        &query,
        input.body
    ));
    let mut other_body = input.body.to_vec();
    other_body.push(b' ');
    assert!(!verify_request(
        &input.secret,
        &input.method,
        &input.path,
        &query,
        &other_body
    ));
}
