//! Where the API keys come from, exactly as the official clients (python-ovh, go-ovh) look:
//!
//! 1. the endpoint: the inventory's `ovh.endpoint`, else env `OVH_ENDPOINT`, else `endpoint=` in
//!    the `[default]` section of ovh.conf;
//! 2. each key (`application_key`, `application_secret`, `consumer_key`): env
//!    `OVH_APPLICATION_KEY` / `OVH_APPLICATION_SECRET` / `OVH_CONSUMER_KEY`, else the section of
//!    ovh.conf named after the endpoint as written (`[ovh-eu]`, or `[http://...]` for a URL).
//!
//! ovh.conf is searched in `./ovh.conf`, `~/.ovh.conf`, `/etc/ovh.conf`; like the official
//! clients, all that exist are read and the first one holding a key wins. The inventory's
//! `ovh.config` replaces the search with that one file. Files are only read when the
//! environment does not give everything.
//!
//! A credentials file readable or writable by group or others is refused, as ssh refuses such a
//! private key: the keys let anyone move the failover IPs of the account.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::config_error::ConfigError;
use super::endpoint::Endpoint;
use super::error::OvhError;
use super::ini::Ini;

/// The inventory's `ovh:` section: both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvhSettings {
    /// Overrides `OVH_ENDPOINT` and ovh.conf's `[default] endpoint`.
    pub endpoint: Option<Endpoint>,
    /// Absolute path of the ovh.conf to read instead of searching the usual places.
    pub config: Option<PathBuf>,
}

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: only for signing and headers.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything needed to sign requests to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub endpoint: Endpoint,
    pub application_key: Secret,
    pub application_secret: Secret,
    pub consumer_key: Secret,
}

/// The env variables and ovh.conf keys, in the order messages list them.
const KEYS: [(&str, &str); 3] = [
    ("application_key", "OVH_APPLICATION_KEY"),
    ("application_secret", "OVH_APPLICATION_SECRET"),
    ("consumer_key", "OVH_CONSUMER_KEY"),
];

impl Credentials {
    /// From the process environment and the usual ovh.conf places (or `settings.config`).
    pub fn load(settings: &OvhSettings) -> Result<Credentials, OvhError> {
        let files = match &settings.config {
            Some(path) => vec![path.clone()],
            None => default_search_path(std::env::var_os("HOME").map(PathBuf::from)),
        };
        Credentials::load_from(
            settings.endpoint.clone(),
            |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            &files,
            settings.config.is_some(),
        )
    }

    /// The loading rules with the environment and the file list given: what the tests drive.
    /// With `explicit`, the single file must exist; otherwise missing files are skipped.
    pub fn load_from(
        endpoint: Option<Endpoint>,
        env: impl Fn(&str) -> Option<String>,
        files: &[PathBuf],
        explicit: bool,
    ) -> Result<Credentials, OvhError> {
        let env_endpoint = env("OVH_ENDPOINT");
        let env_keys: Vec<Option<String>> = KEYS.iter().map(|(_, var)| env(var)).collect();

        // Only read files when the environment leaves something open.
        let needs_files =
            (endpoint.is_none() && env_endpoint.is_none()) || env_keys.iter().any(Option::is_none);
        let mut configs: Vec<(PathBuf, Ini)> = Vec::new();
        if needs_files {
            for path in files {
                if let Some(ini) = read_config(path, explicit)? {
                    configs.push((path.clone(), ini));
                }
            }
        }
        let searched = || {
            if configs.is_empty() {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                format!("no ovh.conf found (looked for {})", names.join(", "))
            } else {
                let names: Vec<String> = configs
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect();
                format!("read {}", names.join(", "))
            }
        };

        let endpoint = match (endpoint, env_endpoint) {
            (Some(endpoint), _) => endpoint,
            (None, Some(text)) => {
                Endpoint::parse(&text).map_err(|e| OvhError::Config(ConfigError::EnvEndpoint(e)))?
            }
            (None, None) => {
                let found = configs.iter().find_map(|(path, ini)| {
                    ini.get("default", "endpoint").map(|entry| (path, entry))
                });
                match found {
                    Some((path, entry)) => Endpoint::parse(&entry.value).map_err(|source| {
                        OvhError::Config(ConfigError::FileEndpoint {
                            path: path.clone(),
                            line: entry.line,
                            source,
                        })
                    })?,
                    None => {
                        return Err(OvhError::Config(ConfigError::NoEndpoint {
                            searched: searched(),
                        }));
                    }
                }
            }
        };

        let mut values = Vec::with_capacity(KEYS.len());
        for ((key, var), from_env) in KEYS.iter().zip(env_keys) {
            let from_file = || {
                configs.iter().find_map(|(path, ini)| {
                    ini.get(endpoint.name(), key).map(|entry| (path, entry))
                })
            };
            let value = match from_env {
                Some(value) => value,
                None => match from_file() {
                    Some((path, entry)) if entry.value.is_empty() => {
                        return Err(OvhError::Config(ConfigError::EmptyKey {
                            path: path.clone(),
                            line: entry.line,
                            key,
                        }));
                    }
                    Some((_, entry)) => entry.value.clone(),
                    None => {
                        return Err(OvhError::Config(ConfigError::NoKey {
                            key,
                            var,
                            endpoint: endpoint.name().to_string(),
                            searched: searched(),
                        }));
                    }
                },
            };
            values.push(Secret::new(value));
        }
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or_else(|| Secret::new(""));
        Ok(Credentials {
            endpoint,
            application_key: next(),
            application_secret: next(),
            consumer_key: next(),
        })
    }
}

/// `./ovh.conf`, `~/.ovh.conf`, `/etc/ovh.conf`: the first one holding a key wins.
pub fn default_search_path(home: Option<PathBuf>) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("./ovh.conf")];
    if let Some(home) = home.filter(|h| !h.as_os_str().is_empty()) {
        files.push(home.join(".ovh.conf"));
    }
    files.push(PathBuf::from("/etc/ovh.conf"));
    files
}

/// Reads and parses one ovh.conf; `None` when it does not exist and was only searched for.
fn read_config(path: &Path, explicit: bool) -> Result<Option<Ini>, OvhError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OvhError::Config(ConfigError::NoFile {
                path: path.to_path_buf(),
            }));
        }
        Err(e) => {
            return Err(OvhError::Config(ConfigError::Unreadable {
                path: path.to_path_buf(),
                reason: io_text(&e),
            }));
        }
    };
    check_private(path, metadata.permissions().mode())?;
    let bytes = std::fs::read(path).map_err(|e| {
        OvhError::Config(ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: io_text(&e),
        })
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        OvhError::Config(ConfigError::NotUtf8 {
            path: path.to_path_buf(),
            line,
        })
    })?;
    Ini::parse(&text, path).map(Some).map_err(OvhError::Ini)
}

/// The ssh rule for private keys: nobody but the owner may read or write it.
pub fn check_private(path: &Path, mode: u32) -> Result<(), OvhError> {
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(OvhError::Config(ConfigError::NotPrivate {
        path: path.to_path_buf(),
        mode: mode & 0o7777,
    }))
}

/// "(os error 2)" says nothing more to the user than the text before it.
fn io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error ")
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;

    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tandem-ovh-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &str = "[default]\nendpoint=ovh-ca\n\n[ovh-ca]\napplication_key=fak\n\
                        application_secret=fas\nconsumer_key=fck\n";

    #[test]
    fn environment_alone_is_enough_and_files_are_not_read() {
        let env = env(&[
            ("OVH_ENDPOINT", "kimsufi-eu"),
            ("OVH_APPLICATION_KEY", "ak"),
            ("OVH_APPLICATION_SECRET", "as"),
            ("OVH_CONSUMER_KEY", "ck"),
        ]);
        // A file that would be refused: not even looked at.
        let dir = scratch_dir("env");
        let bad = write(&dir, "ovh.conf", "garbage\n", 0o644);
        let c = Credentials::load_from(None, env, &[bad], false).unwrap();
        assert_eq!(c.endpoint.name(), "kimsufi-eu");
        assert_eq!(c.application_key.expose(), "ak");
        assert_eq!(c.application_secret.expose(), "as");
        assert_eq!(c.consumer_key.expose(), "ck");
    }

    #[test]
    fn file_gives_endpoint_and_keys_env_overrides_a_key() {
        let dir = scratch_dir("file");
        let file = write(&dir, "ovh.conf", FULL, 0o600);
        let c = Credentials::load_from(None, env(&[]), std::slice::from_ref(&file), false).unwrap();
        assert_eq!(c.endpoint.base_url(), "https://ca.api.ovh.com/1.0");
        assert_eq!(c.consumer_key.expose(), "fck");

        let c = Credentials::load_from(None, env(&[("OVH_CONSUMER_KEY", "eck")]), &[file], false)
            .unwrap();
        assert_eq!(c.consumer_key.expose(), "eck");
        assert_eq!(c.application_key.expose(), "fak");
    }

    #[test]
    fn explicit_endpoint_beats_env_and_file_and_picks_the_section() {
        let dir = scratch_dir("explicit");
        let file = write(
            &dir,
            "ovh.conf",
            &format!(
                "{FULL}[http://198.18.0.1:9/1.0]\napplication_key=u1\napplication_secret=u2\nconsumer_key=u3\n"
            ),
            0o600,
        );
        let endpoint = Endpoint::parse("http://198.18.0.1:9/1.0").unwrap();
        let c = Credentials::load_from(
            Some(endpoint),
            env(&[("OVH_ENDPOINT", "ovh-eu")]),
            &[file],
            true,
        )
        .unwrap();
        assert_eq!(c.endpoint.base_url(), "http://198.18.0.1:9/1.0");
        assert_eq!(c.application_key.expose(), "u1");
    }

    #[test]
    fn search_order_first_file_holding_a_key_wins() {
        let dir = scratch_dir("order");
        let local = write(
            &dir,
            "local.conf",
            "[ovh-ca]\nconsumer_key=local-ck\n",
            0o600,
        );
        let home = write(&dir, "home.conf", FULL, 0o600);
        let missing = dir.join("etc.conf");
        let c = Credentials::load_from(None, env(&[]), &[local, home, missing], false).unwrap();
        assert_eq!(c.endpoint.name(), "ovh-ca");
        assert_eq!(c.consumer_key.expose(), "local-ck");
        assert_eq!(c.application_key.expose(), "fak");

        assert_eq!(
            default_search_path(Some(PathBuf::from("/home/u"))),
            [
                PathBuf::from("./ovh.conf"),
                PathBuf::from("/home/u/.ovh.conf"),
                PathBuf::from("/etc/ovh.conf")
            ]
        );
        assert_eq!(default_search_path(None).len(), 2);
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_chmod_hint() {
        let dir = scratch_dir("mode");
        let file = write(&dir, "ovh.conf", FULL, 0o644);
        let err = Credentials::load_from(None, env(&[]), std::slice::from_ref(&file), true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{0}: mode 0644 lets group or others read or change the OVH credentials in it: \
                 run `chmod 600 {0}`",
                file.display()
            )
        );
        assert!(check_private(&file, 0o640).is_err());
        assert!(check_private(&file, 0o602).is_err());
        assert!(check_private(&file, 0o600).is_ok());
        assert!(check_private(&file, 0o400).is_ok());
    }

    #[test]
    fn errors_name_file_and_line_or_say_what_is_missing() {
        let dir = scratch_dir("errors");
        let file = write(&dir, "ovh.conf", "[default]\nendpoint=ovh-fr\n", 0o600);
        let err = Credentials::load_from(None, env(&[]), std::slice::from_ref(&file), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}:2: unknown OVH endpoint 'ovh-fr': use one of",
                file.display()
            )),
            "{err}"
        );

        let file = write(
            &dir,
            "ovh.conf",
            "[default]\nendpoint=ovh-eu\n[ovh-eu]\napplication_key=a\napplication_secret=\n",
            0o600,
        );
        let err = Credentials::load_from(None, env(&[]), std::slice::from_ref(&file), true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}:5: `application_secret` is empty: give the value OVH issued",
                file.display()
            )
        );

        let file = write(&dir, "ovh.conf", "[default]\nendpoint=ovh-eu\n", 0o600);
        let err = Credentials::load_from(None, env(&[]), std::slice::from_ref(&file), true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "no OVH application_key for endpoint ovh-eu: set OVH_APPLICATION_KEY, or add \
                 `application_key=...` under [ovh-eu] in ovh.conf (read {})",
                file.display()
            )
        );

        let missing = dir.join("nope.conf");
        let err = Credentials::load_from(None, env(&[]), std::slice::from_ref(&missing), false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no OVH endpoint: set"), "{err}");
        assert!(
            err.ends_with(&format!(
                "(no ovh.conf found (looked for {}))",
                missing.display()
            )),
            "{err}"
        );

        let err = Credentials::load_from(None, env(&[]), std::slice::from_ref(&missing), true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: no such OVH credentials file: fix `ovh: {{config: ...}}` in the inventory, or \
                 create it (mode 600) with [default] endpoint=... and the three keys",
                missing.display()
            )
        );
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let c = Credentials {
            endpoint: Endpoint::parse("ovh-eu").unwrap(),
            application_key: Secret::new("the-ak"),
            application_secret: Secret::new("the-as"),
            consumer_key: Secret::new("the-ck"),
        };
        let text = format!("{c:?}");
        assert!(!text.contains("the-"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
