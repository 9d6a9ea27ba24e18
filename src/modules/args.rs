//! Argument helpers shared by modules: parsing with serde's messages, modes, paths. (Quoting
//! for sh is `crate::sh::ShellWord::quote`, the crate's one quoting function.)

use serde::de::DeserializeOwned;

use super::ModuleError;

/// Deserializes a module's arguments; serde's message names the field and the expected ones.
pub fn parse<T: DeserializeOwned>(
    module: &'static str,
    args: &serde_json::Value,
) -> Result<T, ModuleError> {
    // serde's "expected struct Args" names our type, not the user's mistake (Ansible's
    // `key=value` one-liners are the usual one).
    if !args.is_object() {
        return Err(ModuleError::NotAMapping {
            module,
            found: match args {
                serde_json::Value::String(_) => "a `key=value` string",
                serde_json::Value::Array(_) => "a list",
                serde_json::Value::Null => "nothing",
                _ => "a single value",
            },
        });
    }
    serde_json::from_value(args.clone()).map_err(|e| ModuleError::Fields {
        module,
        detail: e.to_string(),
    })
}

/// The first string in a module's arguments that holds a NUL byte, as `field` or
/// `field[2]`: no sh string can carry one (dash drops it silently), so it is refused up front.
/// `payload_fields` (top level) travel as the step's payload, which is binary-safe.
pub fn nul_field(args: &serde_json::Value, payload_fields: &[&str]) -> Option<String> {
    if let serde_json::Value::Object(map) = args {
        return map
            .iter()
            .filter(|(k, _)| !payload_fields.contains(&k.as_str()))
            .find_map(|(k, v)| nul_in(v).map(|rest| format!("{k}{rest}")));
    }
    nul_in(args)
}

fn nul_in(args: &serde_json::Value) -> Option<String> {
    match args {
        serde_json::Value::String(s) if s.contains('\0') => Some(String::new()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v).map(|rest| format!("[{i}]{rest}"))),
        serde_json::Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| nul_in(v).map(|rest| format!(".{k}{rest}"))),
        _ => None,
    }
}

/// Validates an octal mode ("0644", "644", "4755") and returns it as `stat -c %a` prints it.
pub fn mode(module: &'static str, mode: &str) -> Result<String, ModuleError> {
    let valid =
        !mode.is_empty() && mode.len() <= 5 && mode.chars().all(|c| ('0'..='7').contains(&c));
    let value = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|v| valid && *v <= 0o7777);
    match value {
        Some(v) => Ok(format!("{v:o}")),
        None => Err(ModuleError::Mode {
            module,
            mode: mode.to_string(),
        }),
    }
}

/// Absolute paths only: a relative path on a node depends on the login directory.
pub fn absolute(module: &'static str, field: &'static str, path: &str) -> Result<(), ModuleError> {
    if path.starts_with('/') && !path.contains('\0') {
        Ok(())
    } else {
        Err(ModuleError::NotAbsolute {
            module,
            field,
            path: path.to_string(),
        })
    }
}

/// serde's `default = "yes"`: for flags that are on unless turned off.
pub fn yes() -> bool {
    true
}

/// Lowercase hex sha256, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_normalised_and_checked() {
        assert_eq!(mode("m", "0644").unwrap(), "644");
        assert_eq!(mode("m", "4755").unwrap(), "4755");
        assert!(mode("m", "0999").is_err());
        assert!(mode("m", "rw").is_err());
    }
}
