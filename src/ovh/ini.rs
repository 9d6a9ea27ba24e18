//! The INI dialect of ovh.conf, as the official clients read it: `[section]` headers, then
//! `key = value` (or `key: value`) lines; `;` and `#` start comment lines; blank lines are
//! ignored; keys are case-sensitive; spaces around keys and values are trimmed.
//!
//! Stricter than configparser where a mistake would otherwise go unnoticed: a key outside any
//! section, a line that is neither, and a key given twice in one section are errors, each one
//! line `FILE:LINE: what to fix`.

use std::path::{Path, PathBuf};

/// A line of ovh.conf that is not read: `FILE:LINE: what to fix`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {problem}", .path.display())]
pub struct IniError {
    pub path: PathBuf,
    pub line: usize,
    pub problem: IniProblem,
}

/// What is wrong with the line; names and keys quoted from the file are [`printable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniProblem {
    #[error("section header without a closing ']': write it as [name]")]
    UnclosedSection,
    #[error("empty section name: write [default] or [ENDPOINT]")]
    EmptySection,
    #[error("'{0}' is not `key = value`, a [section] or a comment: fix or remove the line")]
    NotAnEntry(String),
    #[error("a value without a key: write `key = value`")]
    NoKey,
    #[error("`{0}` is outside any section: put it under [default] or [ENDPOINT]")]
    OutsideSection(String),
    #[error("`{key}` is given twice in [{section}] (first on line {first}): keep one")]
    Twice {
        key: String,
        section: String,
        first: usize,
    },
}

/// One `key = value` and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One `[name]` and its entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

/// A parsed file. A section named twice is merged (configparser's strict mode refuses it; the
/// Go client merges): duplicate keys across the two halves are still refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    pub sections: Vec<Section>,
}

impl Ini {
    pub fn parse(text: &str, path: &Path) -> Result<Ini, IniError> {
        let at = |line: usize, problem: IniProblem| IniError {
            path: path.to_path_buf(),
            line,
            problem,
        };
        let mut ini = Ini::default();
        let mut current: Option<usize> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let text = raw.trim();
            if text.is_empty() || text.starts_with(';') || text.starts_with('#') {
                continue;
            }
            if let Some(rest) = text.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(at(line, IniProblem::UnclosedSection));
                };
                let name = name.trim();
                if name.is_empty() {
                    return Err(at(line, IniProblem::EmptySection));
                }
                current = Some(match ini.sections.iter().position(|s| s.name == name) {
                    Some(existing) => existing,
                    None => {
                        ini.sections.push(Section {
                            name: name.to_string(),
                            line,
                            entries: Vec::new(),
                        });
                        ini.sections.len() - 1
                    }
                });
                continue;
            }
            let Some(split) = text.find(['=', ':']) else {
                return Err(at(line, IniProblem::NotAnEntry(printable(text))));
            };
            let key = text[..split].trim();
            let value = text[split + 1..].trim();
            if key.is_empty() {
                return Err(at(line, IniProblem::NoKey));
            }
            let Some(section) = current.map(|i| &mut ini.sections[i]) else {
                return Err(at(line, IniProblem::OutsideSection(printable(key))));
            };
            if let Some(first) = section.entries.iter().find(|e| e.key == key) {
                return Err(at(
                    line,
                    IniProblem::Twice {
                        key: printable(key),
                        section: section.name.clone(),
                        first: first.line,
                    },
                ));
            }
            section.entries.push(Entry {
                key: key.to_string(),
                value: value.to_string(),
                line,
            });
        }
        Ok(ini)
    }

    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .iter()
            .find(|s| s.name == section)
            .and_then(|s| s.entries.iter().find(|e| e.key == key))
    }
}

/// Values quoted in messages come from the file: keep the message on one line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/ovh.conf";

    fn parse(text: &str) -> Result<Ini, IniError> {
        Ini::parse(text, Path::new(PATH))
    }

    #[test]
    fn sections_keys_comments() {
        let ini = parse(
            "; comment\n[default]\n# another\nendpoint=ovh-eu\n\n[ovh-eu]\n  application_key = ak  \napplication_secret: as\n",
        )
        .unwrap();
        assert_eq!(ini.get("default", "endpoint").unwrap().value, "ovh-eu");
        let ak = ini.get("ovh-eu", "application_key").unwrap();
        assert_eq!((ak.value.as_str(), ak.line), ("ak", 7));
        assert_eq!(ini.get("ovh-eu", "application_secret").unwrap().value, "as");
        assert_eq!(ini.get("ovh-eu", "consumer_key"), None);
        assert_eq!(ini.sections[1].line, 6);
    }

    #[test]
    fn a_url_section_keeps_its_colons() {
        let ini = parse("[http://198.18.0.1:4000/1.0]\nconsumer_key=ck\n").unwrap();
        assert_eq!(
            ini.get("http://198.18.0.1:4000/1.0", "consumer_key")
                .unwrap()
                .value,
            "ck"
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        assert_eq!(
            parse("[default]\nendpoint ovh-eu\n")
                .unwrap_err()
                .to_string(),
            "/etc/ovh.conf:2: 'endpoint ovh-eu' is not `key = value`, a [section] or a comment: \
             fix or remove the line"
        );
        assert_eq!(
            parse("endpoint=ovh-eu\n").unwrap_err().to_string(),
            "/etc/ovh.conf:1: `endpoint` is outside any section: put it under [default] or [ENDPOINT]"
        );
        assert_eq!(
            parse("\n[default\n").unwrap_err().to_string(),
            "/etc/ovh.conf:2: section header without a closing ']': write it as [name]"
        );
        assert_eq!(
            parse("[ovh-eu]\nconsumer_key=a\n\n[ovh-eu]\nconsumer_key=b\n")
                .unwrap_err()
                .to_string(),
            "/etc/ovh.conf:5: `consumer_key` is given twice in [ovh-eu] (first on line 2): keep one"
        );
        assert_eq!(
            parse("[]\n").unwrap_err().to_string(),
            "/etc/ovh.conf:1: empty section name: write [default] or [ENDPOINT]"
        );
        assert_eq!(
            parse("[x]\n= v\n").unwrap_err().to_string(),
            "/etc/ovh.conf:2: a value without a key: write `key = value`"
        );
    }
}
