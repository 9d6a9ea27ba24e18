//! Argument helpers shared by modules: parsing with serde's messages, quoting for sh, modes.

use serde::de::DeserializeOwned;

/// Deserializes a module's arguments; serde's message names the field and the expected ones.
pub fn parse<T: DeserializeOwned>(module: &str, args: &serde_json::Value) -> Result<T, String> {
    // serde's "expected struct Args" names our type, not the user's mistake (Ansible's
    // `key=value` one-liners are the usual one).
    if !args.is_object() {
        return Err(format!(
            "{module}: the arguments are a mapping, e.g. `{module}: {{key: value, ...}}`, not {}",
            match args {
                serde_json::Value::String(_) => "a `key=value` string",
                serde_json::Value::Array(_) => "a list",
                serde_json::Value::Null => "nothing",
                _ => "a single value",
            }
        ));
    }
    serde_json::from_value(args.clone()).map_err(|e| format!("{module}: {e}"))
}

/// Single-quotes for sh: safe for any byte string without NUL.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Validates an octal mode ("0644", "644", "4755") and returns it as `stat -c %a` prints it.
pub fn mode(module: &str, mode: &str) -> Result<String, String> {
    let valid =
        !mode.is_empty() && mode.len() <= 5 && mode.chars().all(|c| ('0'..='7').contains(&c));
    let value = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|v| valid && *v <= 0o7777);
    match value {
        Some(v) => Ok(format!("{v:o}")),
        None => Err(format!(
            "{module}: mode '{mode}' is not an octal mode like \"0644\" (quote it in YAML)"
        )),
    }
}

/// Absolute paths only: a relative path on a node depends on the login directory.
pub fn absolute(module: &str, field: &str, path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains('\0') {
        Ok(())
    } else {
        Err(format!(
            "{module}: {field} '{path}' must be an absolute path"
        ))
    }
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

    #[test]
    fn quoting_handles_quotes() {
        assert_eq!(q("a'b"), r"'a'\''b'");
    }
}
