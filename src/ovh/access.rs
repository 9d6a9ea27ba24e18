//! The access rules of a consumer key (`GET /auth/currentCredential`): which calls the keys may
//! make. OVH grants a call when one rule has its method and a path pattern matching the call's
//! path, `*` standing for any text (slashes included: `/ip/*` covers
//! `/ip/203.0.113.5/32/move`).

use serde::Deserialize;

/// `GET /auth/currentCredential`, the fields tandem reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    #[serde(default)]
    pub credential_id: Option<u64>,
    /// `validated`, `pendingValidation`, `expired`, `refused`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub rules: Vec<AccessRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccessRule {
    pub method: String,
    pub path: String,
}

/// A call the move needs: its method and its path as OVH's rules see it (unencoded, the IP
/// block's `/` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub method: &'static str,
    pub path: String,
}

impl Credential {
    /// Whether a rule grants `method` on `path`.
    pub fn allows(&self, method: &str, path: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.method.eq_ignore_ascii_case(method) && glob(&r.path, path))
    }

    /// The calls of `needed` no rule grants.
    pub fn missing<'a>(&self, needed: &'a [Needed]) -> Vec<&'a Needed> {
        needed
            .iter()
            .filter(|n| !self.allows(n.method, &n.path))
            .collect()
    }
}

/// `pattern` with `*` for any text (possibly empty) against `text`, whole.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    // Middle parts, leftmost match each, between the fixed head and tail.
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(rules: &[(&str, &str)]) -> Credential {
        Credential {
            credential_id: Some(1),
            status: Some("validated".into()),
            rules: rules
                .iter()
                .map(|(m, p)| AccessRule {
                    method: m.to_string(),
                    path: p.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn glob_star_spans_slashes_and_anchors_both_ends() {
        assert!(glob("/*", "/ip/203.0.113.5/32/move"));
        assert!(glob("/ip/*", "/ip/203.0.113.5/32/move"));
        assert!(glob("/ip/*/move", "/ip/203.0.113.5/32/move"));
        assert!(glob("/ip/*/task/*", "/ip/203.0.113.5/32/task/7"));
        assert!(glob("/ip", "/ip"));
        assert!(!glob("/ip", "/ip/1"));
        assert!(!glob("/ip/*/move", "/ip/203.0.113.5/32/task/7"));
        assert!(!glob("/dedicated/*", "/ip/203.0.113.5/32/move"));
        assert!(!glob("/ip/*/task/*", "/ip/task/"));
        assert!(glob("/ip/*/task/*", "/ip//task/"));
    }

    #[test]
    fn a_read_only_key_misses_the_move() {
        let read_only = credential(&[("GET", "/*")]);
        let needed = [
            Needed {
                method: "POST",
                path: "/ip/203.0.113.5/32/move".into(),
            },
            Needed {
                method: "GET",
                path: "/ip/203.0.113.5/32/task/*".into(),
            },
        ];
        let missing = read_only.missing(&needed);
        assert_eq!(missing, vec![&needed[0]]);
        let full = credential(&[("GET", "/ip/*"), ("post", "/ip/*/move")]);
        assert!(full.missing(&needed).is_empty());
    }

    #[test]
    fn the_real_answer_parses() {
        let c: Credential = serde_json::from_str(
            r#"{"credentialId":123,"applicationId":45,"status":"validated","creation":"2024-01-01T00:00:00+01:00","expiration":null,"lastUse":null,"ovhSupport":false,"allowedIPs":null,"rules":[{"method":"GET","path":"/*"},{"method":"POST","path":"/ip/*"}]}"#,
        )
        .unwrap();
        assert_eq!(c.rules.len(), 2);
        assert!(c.allows("POST", "/ip/203.0.113.5/32/move"));
        assert!(!c.allows("DELETE", "/ip/203.0.113.5/32"));
    }
}
