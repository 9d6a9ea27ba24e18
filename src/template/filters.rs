//! The filters Ansible users reach for that minijinja lacks (or means differently).

use base64::Engine as _;
use minijinja::{Environment, ErrorKind, Value};

use super::contains_undefined;

/// Adds every filter below to `env`.
pub(super) fn add(env: &mut Environment<'static>) {
    env.add_filter("b64encode", |value: &str| {
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    });
    env.add_filter(
        "b64decode",
        |value: &str| -> Result<String, minijinja::Error> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|err| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, format!("b64decode: {err}"))
                })?;
            String::from_utf8(bytes).map_err(|_| {
                minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "b64decode: the decoded bytes are not UTF-8 text",
                )
            })
        },
    );
    env.add_filter("to_json", to_json);
    env.add_filter("tojson", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("bool", ansible_bool);
    env.add_filter(
        "ternary",
        |value: &Value, yes: Value, no: Value| {
            if value.is_true() { yes } else { no }
        },
    );
    // Ansible's `quote`: the crate's one sh quoting function.
    env.add_filter("quote", |value: &Value| {
        crate::sh::ShellWord::quote(&value.to_string()).into_string()
    });
}

fn json_of(value: &Value) -> Result<serde_json::Value, minijinja::Error> {
    if contains_undefined(value) {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "to_json: the value is undefined",
        ));
    }
    serde_json::to_value(value)
        .map_err(|err| minijinja::Error::new(ErrorKind::BadSerialization, err.to_string()))
}

/// Compact JSON (keys in their order), not HTML-escaped: the output goes into config files.
fn to_json(value: &Value) -> Result<String, minijinja::Error> {
    let json = json_of(value)?;
    serde_json::to_string(&json)
        .map_err(|err| minijinja::Error::new(ErrorKind::BadSerialization, err.to_string()))
}

/// Indented JSON (4 spaces, as Ansible's `to_nice_json`).
fn to_nice_json(value: &Value) -> Result<String, minijinja::Error> {
    use serde::Serialize;
    let json = json_of(value)?;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    json.serialize(&mut serializer)
        .map_err(|err| minijinja::Error::new(ErrorKind::BadSerialization, err.to_string()))?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// Ansible's `bool`: the strings `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0` (any case)
/// mean what they say (minijinja's `bool` would call the string "false" true); other strings
/// are an error rather than a guess; other values use their truth.
fn ansible_bool(value: &Value) -> Result<bool, minijinja::Error> {
    if let Some(text) = value.as_str() {
        return match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "t" | "on" | "1" => Ok(true),
            "no" | "n" | "false" | "f" | "off" | "0" | "" => Ok(false),
            _ => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("bool: '{text}' is not a boolean (use yes/no, true/false, on/off, 1/0)"),
            )),
        };
    }
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "bool: the value is undefined",
        ));
    }
    Ok(value.is_true())
}
