//! Request signing, as OVH's API checks it (DESIGN.md section 4).
//!
//! `X-Ovh-Signature = "$1$" + hex(sha1(AS + "+" + CK + "+" + METHOD + "+" + FULL_URL + "+" +
//! BODY + "+" + TIMESTAMP))`, where FULL_URL is the exact URL sent (query string included,
//! percent-encoding as sent) and BODY the exact bytes sent (empty for GET and DELETE).

use std::fmt::Write;

use sha1::Digest;

/// The `X-Ovh-Signature` header value for one request.
pub fn sign(
    application_secret: &str,
    consumer_key: &str,
    method: &str,
    full_url: &str,
    body: &str,
    timestamp: i64,
) -> String {
    let mut hasher = sha1::Sha1::new();
    for (i, part) in [
        application_secret,
        consumer_key,
        method,
        full_url,
        body,
        &timestamp.to_string(),
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            hasher.update(b"+");
        }
        hasher.update(part.as_bytes());
    }
    let mut signature = String::from("$1$");
    for byte in hasher.finalize().iter() {
        // Writing into a String cannot fail.
        let _ = write!(signature, "{byte:02x}");
    }
    signature
}

#[cfg(test)]
mod tests {
    use super::sign;

    // The official test vectors (python-ovh, go-ovh).
    const AS: &str = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk";
    const CK: &str = "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY";
    const URL: &str = "https://eu.api.ovh.com/1.0/auth";
    const BODY: &str = r#"{"a":"b","c":"d"}"#;
    const TS: i64 = 1457018875;

    #[test]
    fn get() {
        assert_eq!(
            sign(AS, CK, "GET", URL, "", TS),
            "$1$e9556054b6309771395efa467c22e627407461ad"
        );
    }

    #[test]
    fn post() {
        assert_eq!(
            sign(AS, CK, "POST", URL, BODY, TS),
            "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1"
        );
    }

    #[test]
    fn put() {
        assert_eq!(
            sign(AS, CK, "PUT", URL, BODY, TS),
            "$1$8a75a9e7c8e7296c9dbeda6a2a735eb6bd58ec4b"
        );
    }

    #[test]
    fn delete() {
        assert_eq!(
            sign(AS, CK, "DELETE", URL, "", TS),
            "$1$a1eecd00b3b02b6cf5708b84b9ff42059a950d85"
        );
    }
}
