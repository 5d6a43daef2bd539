//! Pieces of URLs the server takes apart itself: the credentials in a broker or database URL
//! (blanked when shown, handed to the client library apart from the address so that library
//! never logs them), and percent-decoding.

/// Splits `scheme://userinfo@host…` into the URL without its userinfo and the userinfo as
/// written (still percent-encoded). Anything without `userinfo@` comes back whole, with `None`.
pub fn split_userinfo(url: &str) -> (String, Option<&str>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => (
            format!("{scheme}://{host}{}", &rest[authority_end..]),
            Some(userinfo),
        ),
        None => (url.to_owned(), None),
    }
}

/// Percent-decodes `s` (`+` stays a plus); invalid UTF-8 after decoding leaves `s` as it is.
pub fn percent_decode(s: &str) -> String {
    let escaped = s.replace('+', "%2B").replace('&', "%26");
    let decoded: Vec<u8> = form_urlencoded::parse(format!("p={escaped}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8(decoded).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_split_from_the_address() {
        assert_eq!(
            split_userinfo("nats://u:p%40ss@h:4222/x?y#z"),
            ("nats://h:4222/x?y#z".to_owned(), Some("u:p%40ss"))
        );
        assert_eq!(
            split_userinfo("nats://tok@h:4222"),
            ("nats://h:4222".to_owned(), Some("tok"))
        );
        assert_eq!(
            split_userinfo("sqlite:///a@b.db"),
            ("sqlite:///a@b.db".to_owned(), None)
        );
        assert_eq!(split_userinfo("plain"), ("plain".to_owned(), None));
    }

    #[test]
    fn percent_decoding_keeps_plus_ampersand_and_equals() {
        assert_eq!(percent_decode("p%40ss+a&b=c%2F"), "p@ss+a&b=c/");
        assert_eq!(
            percent_decode("/apps/1/channels/a%20b"),
            "/apps/1/channels/a b"
        );
    }
}
