//! `-e/--extra-vars`: vars given on the command line, above every other var (Ansible's rule).
//! Each value is `KEY=VALUE` (the value is text, everything after the first `=`), an inline
//! YAML/JSON map (`{"port": 8080}`: values keep their type), or `@FILE` (a YAML map). Later
//! `-e` win over earlier ones.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::inventory::Vars;
use crate::playbook::PlaybookError;

/// `item`, which `loop` sets, is refused too, with tandem's own names (engine::TANDEM_NAMES): an
/// extra var by one of these names would never be seen.
const LOOP_NAME: &str = "item";

/// A `-e` value that says nothing tandem can use; each message names the value or the file.
#[derive(Debug, thiserror::Error)]
pub enum ExtraVarsError {
    /// `reason` is the I/O error's text without its `(os error N)`.
    #[error(
        "--extra-vars @{file}: cannot read it: {reason}: give the path of a YAML file holding a \
         map of names to values"
    )]
    Unreadable { file: String, reason: String },
    /// The file is not YAML: the parser's own message, with its line and column.
    #[error(transparent)]
    Yaml(PlaybookError),
    #[error("--extra-vars @{file}: the file must hold a map of names to values")]
    FileNotAMap { file: String },
    #[error(
        "--extra-vars '{value}': not a YAML/JSON map ({why}): write {{\"name\": value}}, \
         NAME=VALUE or @FILE"
    )]
    NotAMap { value: String, why: String },
    #[error(
        "--extra-vars '{value}': expected NAME=VALUE, a YAML/JSON map ({{\"name\": 1}}) or @FILE \
         with a YAML map"
    )]
    NoEquals { value: String },
    #[error(
        "--extra-vars {given}: `{name}` is not a variable name: use letters, digits and '_', not \
         starting with a digit"
    )]
    BadName { given: Given, name: String },
    #[error(
        "--extra-vars {given}: `{name}` is set by tandem for every step and cannot be \
         overridden: pick another name"
    )]
    ReservedName { given: Given, name: String },
}

/// Which `-e` a name came from, as the user wrote it.
#[derive(Debug)]
pub enum Given {
    File(PathBuf),
    Value(String),
}

impl fmt::Display for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Given::File(path) => write!(f, "@{}", path.display()),
            Given::Value(value) => write!(f, "'{value}'"),
        }
    }
}

/// What `-e` values mean, merged in order. A problem is one line naming the value or the file.
pub fn parse(values: &[String]) -> Result<Vars, ExtraVarsError> {
    let mut vars = Vars::new();
    for value in values {
        let (more, file) = parse_one(value)?;
        for key in more.keys() {
            let given = || match file {
                Some(path) => Given::File(path.to_path_buf()),
                None => Given::Value(value.clone()),
            };
            check_name(key).map_err(|problem| problem.at(given(), key))?;
        }
        vars.extend(more);
    }
    Ok(vars)
}

fn parse_one(value: &str) -> Result<(Vars, Option<&Path>), ExtraVarsError> {
    if let Some(file) = value.strip_prefix('@') {
        let path = Path::new(file);
        let text = std::fs::read_to_string(path).map_err(|e| {
            let text = e.to_string();
            ExtraVarsError::Unreadable {
                file: file.to_string(),
                reason: text
                    .split(" (os error ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }
        })?;
        let vars = yaml_map(&text).map_err(|e| match e {
            MapError::Yaml(err) => ExtraVarsError::Yaml(PlaybookError::from_yaml(path, &err)),
            MapError::NotAMap => ExtraVarsError::FileNotAMap {
                file: file.to_string(),
            },
        })?;
        return Ok((vars, Some(path)));
    }
    if value.trim_start().starts_with('{') {
        let vars = yaml_map(value).map_err(|e| {
            let why = match e {
                MapError::Yaml(err) => err.to_string(),
                MapError::NotAMap => "not a map".to_string(),
            };
            ExtraVarsError::NotAMap {
                value: value.to_string(),
                why: why.lines().next().unwrap_or_default().to_string(),
            }
        })?;
        return Ok((vars, None));
    }
    match value.split_once('=') {
        Some((key, text)) => {
            let mut vars = Vars::new();
            vars.insert(key.to_string(), serde_json::Value::from(text));
            Ok((vars, None))
        }
        None => Err(ExtraVarsError::NoEquals {
            value: value.to_string(),
        }),
    }
}

enum MapError {
    Yaml(serde_saphyr::Error),
    NotAMap,
}

fn yaml_map(text: &str) -> Result<Vars, MapError> {
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(MapError::Yaml)?;
    match value {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        serde_json::Value::Null => Ok(Vars::new()),
        _ => Err(MapError::NotAMap),
    }
}

/// What is wrong with a name, before it is known which `-e` gave it.
enum NameProblem {
    NotAName,
    Reserved,
}

impl NameProblem {
    fn at(self, given: Given, name: &str) -> ExtraVarsError {
        let name = name.to_string();
        match self {
            NameProblem::NotAName => ExtraVarsError::BadName { given, name },
            NameProblem::Reserved => ExtraVarsError::ReservedName { given, name },
        }
    }
}

fn check_name(name: &str) -> Result<(), NameProblem> {
    if !crate::template::is_variable_name(name) {
        return Err(NameProblem::NotAName);
    }
    if name == LOOP_NAME
        || crate::engine::TANDEM_NAMES.contains(&name)
        || crate::engine::DATA_VARS.contains(&name)
    {
        return Err(NameProblem::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(values: &[&str]) -> Result<Vars, ExtraVarsError> {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        parse(&values)
    }

    #[test]
    fn key_value_inline_map_and_file_merge_in_order() {
        let dir = std::env::temp_dir().join(format!("tandem-extra-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("extra.yml");
        std::fs::write(&file, "port: 8080\nsite: from-file\nlist: [a, b]\n").unwrap();
        let vars = parsed(&[
            "site=from-flag",
            &format!("@{}", file.display()),
            "{\"debug\": true, \"port\": 9090}",
            "motd=a=b c",
        ])
        .unwrap();
        assert_eq!(vars["site"], json!("from-file"), "later -e wins");
        assert_eq!(vars["port"], json!(9090));
        assert_eq!(vars["debug"], json!(true));
        assert_eq!(vars["list"], json!(["a", "b"]));
        assert_eq!(vars["motd"], json!("a=b c"), "text after the first `=`");
    }

    #[test]
    fn bad_values_are_refused_with_what_to_write() {
        let cases = [
            (
                "novalue",
                "--extra-vars 'novalue': expected NAME=VALUE, a YAML/JSON map \
                 ({\"name\": 1}) or @FILE with a YAML map",
            ),
            (
                "9lives=x",
                "--extra-vars '9lives=x': `9lives` is not a variable name: use \
                 letters, digits and '_', not starting with a digit",
            ),
            (
                "node=node9",
                "--extra-vars 'node=node9': `node` is set by tandem for every step \
                 and cannot be overridden: pick another name",
            ),
            (
                "@/nonexistent/x.yml",
                "--extra-vars @/nonexistent/x.yml: cannot read it: No such file or \
                 directory: give the path of a YAML file holding a map of names to values",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parsed(&[value]).unwrap_err().to_string(),
                expected,
                "{value}"
            );
        }
        let message = parsed(&["{port: [1, 2"]).unwrap_err().to_string();
        assert!(
            message.starts_with("--extra-vars '{port: [1, 2': not a YAML/JSON map ("),
            "{message}"
        );
    }
}
