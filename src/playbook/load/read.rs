//! Reading the playbook's YAML files (the playbook, included files, a role's defaults and
//! handlers) through [`crate::source_file`], every error placed at `PATH:LINE:COL`.

use std::path::Path;

use crate::inventory::Vars;
use crate::playbook::error::PlaybookError;
use crate::playbook::raw::RawFile;
use crate::source_file;

/// Playbooks are small; anything this big is the wrong file.
pub const MAX_PLAYBOOK_BYTES: u64 = 16 * 1024 * 1024;

/// A role's `defaults.yml`: a map of names to values (empty file: none).
pub(super) fn parse_vars_file(path: &Path) -> Result<Vars, PlaybookError> {
    let vars: Option<Vars> = parse_yaml(path)?;
    Ok(vars.unwrap_or_default())
}

/// Reads and parses one file (the playbook or an included one).
pub(super) fn parse_file(path: &Path) -> Result<RawFile, PlaybookError> {
    parse_yaml(path)
}

/// One YAML file of the playbook's, read within the size limit, its bytes checked as UTF-8
/// (the error at the first bad byte's line and column).
fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PlaybookError> {
    let bytes = source_file::read_limited(path, MAX_PLAYBOOK_BYTES)
        .map_err(|err| PlaybookError::from_read(path, err))?;
    let text = source_file::utf8(&bytes).map_err(|err| PlaybookError::not_utf8(path, err))?;
    source_file::parse(text).map_err(|err| PlaybookError::from_yaml(path, &err))
}
