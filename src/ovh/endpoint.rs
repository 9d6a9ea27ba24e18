//! Where the API lives: the endpoint names the official clients know, or a custom URL.

use std::fmt;

/// The names the official clients accept, with their base URLs (DESIGN.md section 4).
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("ovh-eu", "https://eu.api.ovh.com/1.0"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0"),
];

/// A text that is neither a known endpoint name nor an `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown OVH endpoint '{}': use one of {} or an http(s):// URL",
    .text.escape_default(),
    ENDPOINTS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
)]
pub struct EndpointError {
    pub text: String,
}

/// An API endpoint as the user wrote it (`ovh-eu` or `http://198.18.0.1:8443/1.0`) and the base
/// URL it stands for. The written form matters: ovh.conf keeps the keys in a section named
/// after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    name: String,
    base_url: String,
}

impl Endpoint {
    /// A known name or an `http(s)://` URL (a trailing `/` is dropped). The error says what is
    /// accepted.
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let text = text.trim();
        if let Some((name, url)) = ENDPOINTS.iter().find(|(name, _)| *name == text) {
            return Ok(Endpoint {
                name: (*name).to_string(),
                base_url: (*url).to_string(),
            });
        }
        let is_url = ["http://", "https://"]
            .iter()
            .any(|scheme| text.len() > scheme.len() && text.starts_with(scheme));
        if is_url && !text.contains(char::is_whitespace) {
            return Ok(Endpoint {
                name: text.to_string(),
                base_url: text.trim_end_matches('/').to_string(),
            });
        }
        Err(EndpointError {
            text: text.to_string(),
        })
    }

    /// As written: the ovh.conf section holding this endpoint's keys.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Without a trailing `/`, e.g. `https://eu.api.ovh.com/1.0`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == self.base_url {
            f.write_str(&self.base_url)
        } else {
            write!(f, "{} ({})", self.name, self.base_url)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_official_name_has_its_url() {
        let url = |name: &str| Endpoint::parse(name).unwrap().base_url().to_string();
        assert_eq!(url("ovh-eu"), "https://eu.api.ovh.com/1.0");
        assert_eq!(url("ovh-ca"), "https://ca.api.ovh.com/1.0");
        assert_eq!(url("ovh-us"), "https://api.us.ovhcloud.com/1.0");
        assert_eq!(url("kimsufi-eu"), "https://eu.api.kimsufi.com/1.0");
        assert_eq!(url("kimsufi-ca"), "https://ca.api.kimsufi.com/1.0");
        assert_eq!(url("soyoustart-eu"), "https://eu.api.soyoustart.com/1.0");
        assert_eq!(url("soyoustart-ca"), "https://ca.api.soyoustart.com/1.0");
        assert_eq!(Endpoint::parse("ovh-eu").unwrap().name(), "ovh-eu");
    }

    #[test]
    fn a_custom_url_keeps_its_name_and_loses_a_trailing_slash() {
        let e = Endpoint::parse("http://198.18.0.1:4321/1.0/").unwrap();
        assert_eq!(e.base_url(), "http://198.18.0.1:4321/1.0");
        assert_eq!(e.name(), "http://198.18.0.1:4321/1.0/");
        assert!(Endpoint::parse("https://api.example.net/1.0").is_ok());
    }

    #[test]
    fn anything_else_is_refused_with_the_list() {
        let err = Endpoint::parse("ovh-fr").unwrap_err().to_string();
        assert!(err.starts_with("unknown OVH endpoint 'ovh-fr': use one of ovh-eu, ovh-ca"));
        assert!(err.ends_with("or an http(s):// URL"));
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://").is_err());
        assert!(Endpoint::parse("").is_err());
    }
}
