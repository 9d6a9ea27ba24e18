//! `-e/--extra-vars`: vars given on the command line, above every other var (Ansible's rule).
//! Each value is `KEY=VALUE` (the value is text, everything after the first `=`), an inline
//! YAML/JSON map (`{"port": 8080}`: values keep their type), or `@FILE` (a YAML map). Later
//! `-e` win over earlier ones.

use std::path::Path;

use crate::error::Error;
use crate::inventory::Vars;
use crate::playbook::PlaybookError;

/// `item`, which `loop` sets, is refused too, with tandem's own names (engine::TANDEM_NAMES): an
/// extra var by one of these names would never be seen.
const LOOP_NAME: &str = "item";

/// What `-e` values mean, merged in order. A problem is one line naming the value or the file.
pub fn parse(values: &[String]) -> Result<Vars, Error> {
    let mut vars = Vars::new();
    for value in values {
        let (more, file) = parse_one(value)?;
        for key in more.keys() {
            check_name(key).map_err(|problem| match file {
                Some(path) => Error::Usage(format!("--extra-vars @{}: {problem}", path.display())),
                None => Error::Usage(format!("--extra-vars '{value}': {problem}")),
            })?;
        }
        vars.extend(more);
    }
    Ok(vars)
}

fn parse_one(value: &str) -> Result<(Vars, Option<&Path>), Error> {
    if let Some(file) = value.strip_prefix('@') {
        let path = Path::new(file);
        let text = std::fs::read_to_string(path).map_err(|e| {
            let text = e.to_string();
            let text = text.split(" (os error ").next().unwrap_or_default();
            usage(format!(
                "--extra-vars @{file}: cannot read it: {text}: give the path of a YAML file \
                 holding a map of names to values"
            ))
        })?;
        let vars = yaml_map(&text).map_err(|e| match e {
            MapError::Yaml(err) => Error::Playbook(PlaybookError::from_yaml(path, &err)),
            MapError::NotAMap => Error::Usage(format!(
                "--extra-vars @{file}: the file must hold a map of names to values"
            )),
        })?;
        return Ok((vars, Some(path)));
    }
    if value.trim_start().starts_with('{') {
        let vars = yaml_map(value).map_err(|e| {
            let why = match e {
                MapError::Yaml(err) => err.to_string(),
                MapError::NotAMap => "not a map".to_string(),
            };
            usage(format!(
                "--extra-vars '{value}': not a YAML/JSON map ({}): write {{\"name\": value}}, \
                 NAME=VALUE or @FILE",
                why.lines().next().unwrap_or_default()
            ))
        })?;
        return Ok((vars, None));
    }
    match value.split_once('=') {
        Some((key, text)) => {
            let mut vars = Vars::new();
            vars.insert(key.to_string(), serde_json::Value::from(text));
            Ok((vars, None))
        }
        None => Err(usage(format!(
            "--extra-vars '{value}': expected NAME=VALUE, a YAML/JSON map ({{\"name\": 1}}) or \
             @FILE with a YAML map"
        ))),
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

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` is not a variable name: use letters, digits and '_', not starting with a \
             digit"
        ));
    }
    if name == LOOP_NAME
        || crate::engine::TANDEM_NAMES.contains(&name)
        || crate::engine::DATA_VARS.contains(&name)
    {
        return Err(format!(
            "`{name}` is set by tandem for every step and cannot be overridden: pick another \
             name"
        ));
    }
    Ok(())
}

fn usage(message: String) -> Error {
    Error::Usage(message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(values: &[&str]) -> Result<Vars, String> {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        parse(&values).map_err(|e| e.to_string())
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
            assert_eq!(parsed(&[value]).unwrap_err(), expected, "{value}");
        }
        let message = parsed(&["{port: [1, 2"]).unwrap_err();
        assert!(
            message.starts_with("--extra-vars '{port: [1, 2': not a YAML/JSON map ("),
            "{message}"
        );
    }
}
