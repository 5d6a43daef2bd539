//! HMAC-SHA256 signatures: channel auth tokens (`key:hex`), sign-in tokens, and HTTP API request
//! signing (`METHOD\nPATH\nsorted query`). Checks run in constant time.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The query parameters that carry the signature itself and are never signed.
pub const SIGNATURE_PARAM: &str = "auth_signature";

fn mac(secret: &str, msg: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    m.update(msg);
    m
}

/// Hex HMAC-SHA256 of `msg` with `secret`.
pub fn sign(secret: &str, msg: &str) -> String {
    sign_bytes(secret, msg.as_bytes())
}

/// Hex HMAC-SHA256 of raw bytes (a webhook body) with `secret`.
pub fn sign_bytes(secret: &str, msg: &[u8]) -> String {
    hex::encode(mac(secret, msg).finalize().into_bytes())
}

/// Checks a hex signature in constant time.
pub fn verify(secret: &str, msg: &str, signature_hex: &str) -> bool {
    match hex::decode(signature_hex) {
        Ok(sig) => mac(secret, msg.as_bytes()).verify_slice(&sig).is_ok(),
        Err(_) => false,
    }
}

/// Whether two secrets (tokens, passwords) are equal, in time that depends on neither their
/// contents nor their lengths: both are hashed first, then the digests compared in constant
/// time.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.ct_eq(&b).into()
}

/// The string a private or presence channel auth signs: `socket_id:channel[:channel_data]`.
pub fn channel_string(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(d) => format!("{socket_id}:{channel}:{d}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The string a sign-in signs: `socket_id::user::user_data`.
pub fn user_string(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// Builds an auth token `key:hex(HMAC(secret, msg))`, as the server SDKs do.
pub fn token(key: &str, secret: &str, msg: &str) -> String {
    format!("{key}:{}", sign(secret, msg))
}

/// Checks an auth token `key:hex` against the app's key and secret, in constant time. The
/// split is at the last `:` (the hex signature has none), so a key may itself hold a `:`.
pub fn verify_token(key: &str, secret: &str, token: &str, msg: &str) -> bool {
    let Some((given_key, sig)) = token.rsplit_once(':') else {
        return false;
    };
    let key_ok: bool = given_key.as_bytes().ct_eq(key.as_bytes()).into();
    // Always compute the MAC so timing does not reveal whether the key matched.
    let sig_ok = verify(secret, msg, sig);
    key_ok & sig_ok
}

/// Hex MD5 of a request body, as `body_md5` carries it.
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// The canonical query of an API request: keys lower-cased, `auth_signature` left out, sorted by
/// key, joined as `k=v` with `&`, values not escaped.
pub fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let joined: Vec<String> = canonical_pairs(params)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    joined.join("&")
}

/// The signed parameters in canonical order: keys lower-cased, `auth_signature` left out.
fn canonical_pairs<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, &'a str)> {
    let mut pairs: Vec<(String, &str)> = params
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, _)| k != SIGNATURE_PARAM)
        .collect();
    pairs.sort();
    pairs
}

/// `METHOD\nPATH\nQUERY`, the string an API request's signature covers.
pub fn api_string_to_sign(method: &str, path: &str, canonical_query: &str) -> String {
    format!("{}\n{path}\n{canonical_query}", method.to_ascii_uppercase())
}

/// Signs an API request as the official SDKs do and returns its full query string, ready to
/// send: the signature covers the unescaped canonical query, and the query sent is the same
/// parameters form-urlencoded, so a server that decodes the query (as Ferrocast does) sees
/// exactly what was signed, whatever `extra` holds (`&`, `=`, `+`, `%`, spaces, non-ASCII).
/// Parameters made only of `A-Za-z0-9*-._` are sent as they are. For the CLI, tests and
/// benchmarks.
pub fn signed_query(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: u64,
    extra: &[(&str, &str)],
) -> String {
    let ts = timestamp.to_string();
    let md5 = body_md5(body);
    let mut params: Vec<(&str, &str)> = vec![
        ("auth_key", key),
        ("auth_timestamp", &ts),
        ("auth_version", "1.0"),
    ];
    if !body.is_empty() {
        params.push(("body_md5", &md5));
    }
    params.extend_from_slice(extra);
    let pairs = canonical_pairs(params.iter().copied());
    let canonical: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let sig = sign(
        secret,
        &api_string_to_sign(method, path, &canonical.join("&")),
    );
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), *v)))
        .append_pair(SIGNATURE_PARAM, &sig)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn secrets_compare_by_content_whatever_their_length() {
        assert!(secrets_equal("tok", "tok"));
        assert!(!secrets_equal("tok", "toK"));
        assert!(!secrets_equal("to", "tok"));
        assert!(!secrets_equal("", "tok"));
    }

    #[test]
    fn private_channel_vector_from_pusher_docs() {
        let msg = channel_string("1234.1234", "private-foobar", None);
        assert_eq!(
            sign(SECRET, &msg),
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        let t = token(KEY, SECRET, &msg);
        assert!(verify_token(KEY, SECRET, &t, &msg));
        assert!(!verify_token("other", SECRET, &t, &msg));
        assert!(!verify_token(KEY, "wrong", &t, &msg));
        assert!(!verify_token(KEY, SECRET, "garbage", &msg));
        assert!(!verify_token(KEY, SECRET, &format!("{KEY}:zz"), &msg));
    }

    #[test]
    fn presence_and_user_vectors() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        assert_eq!(
            sign(
                SECRET,
                &channel_string("1234.1234", "presence-foobar", Some(data))
            ),
            "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
        assert_eq!(
            sign(SECRET, &user_string("1234.1234", r#"{"id":"12345"}"#)),
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn api_request_vector_from_pusher_docs() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(body_md5(body), "ec365a775a4cd0599faeb73354201b6f");
        let q = signed_query(KEY, SECRET, "POST", "/apps/3/events", body, 1353088179, &[]);
        assert_eq!(
            q,
            "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
             &body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn canonical_query_lowercases_sorts_and_drops_the_signature() {
        let q = canonical_query([
            ("b", "2"),
            ("A", "1"),
            ("auth_signature", "x"),
            ("name", "a b"),
        ]);
        assert_eq!(q, "a=1&b=2&name=a b");
    }

    /// Found by the `api_signature` fuzz target (fuzz/regressions/api_signature/
    /// verify-token-key-with-colon): `token` for a key holding `:` did not verify, because the
    /// token was split at its first `:`.
    #[test]
    fn a_key_holding_a_colon_verifies_its_own_tokens() {
        for key in [":", "a:b", "a:b:c", "key:"] {
            let t = token(key, SECRET, "1.1:private-x");
            assert!(verify_token(key, SECRET, &t, "1.1:private-x"), "{key:?}");
        }
        let t = token("a:b", SECRET, "m");
        assert!(!verify_token("a", SECRET, &t, "m"));
        assert!(!verify_token("b", SECRET, &t, "m"));
        assert!(!verify_token("a:b", SECRET, &t.replace("a:b:", "a:"), "m"));
    }

    /// Found by the `api_signature` fuzz target (fuzz/regressions/api_signature/
    /// signed-query-unescaped-key): `signed_query` sent keys and values unescaped, so a server
    /// decoding the query (`+` as space, `%XX`, `&` and `=` as separators) saw other parameters
    /// than were signed and refused the signature.
    #[test]
    fn signed_query_sends_exactly_what_it_signs() {
        let extra = [
            ("+", ""),
            ("filter_by_prefix", "a+b c&d=e%2B"),
            ("info", "user_count,subscription_count"),
            ("name", "h\u{e9}llo #1"),
        ];
        let q = signed_query(
            KEY,
            SECRET,
            "GET",
            "/apps/3/channels",
            b"",
            1353088179,
            &extra,
        );
        let sent: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| {
            sent.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        for (k, v) in extra {
            assert_eq!(get(k), Some(v), "{k:?} in {q}");
        }
        let canonical = canonical_query(sent.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sig = get(SIGNATURE_PARAM).expect("signature");
        assert!(verify(
            SECRET,
            &api_string_to_sign("GET", "/apps/3/channels", &canonical),
            sig
        ));
    }
}
