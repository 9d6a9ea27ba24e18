//! Shared by the modules that edit part of a text file (`line`, `block`, `authorized_key`,
//! `sysctl`): one `awk` reads the file once, writes the wanted content to `$TANDEM_TMP/new` and
//! tells by its exit status whether that differs (10) or not (0). So a converged check costs a
//! single process, and a change goes through the same diff + `tandem_install` (temp file,
//! fsync, rename) as `copy`.
//!
//! Values reach awk through the environment (`ENVIRON`), never through `-v` or the program
//! text: `-v` would interpret backslashes, and the program text would need awk quoting.

use super::ModuleError;
use crate::sh::{Script, ShellWord};

/// awk's exit status meaning "the new content differs from the file".
pub const CHANGED: i32 = 10;

/// How a missing file is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Read as empty; created if the program outputs something. Also right for removals: an
    /// empty input leaves nothing to remove, so the program reports no change.
    Create,
    /// Fail with a hint to set `create: true`.
    Fail,
}

/// What to write and how.
pub struct Edit<'a> {
    pub module: &'static str,
    /// The target path: a quoted value, or a variable set earlier in the script (`"$p"`).
    pub path: ShellWord,
    /// The awk program; it must `exit 10` in END when its output differs from its input.
    pub awk: &'static str,
    /// Environment for awk, as (NAME, value).
    pub env: &'a [(&'static str, &'a str)],
    pub missing: Missing,
    /// `tandem_install`'s MODE and OWNER (empty: keep the file's own, or the default).
    pub mode: ShellWord,
    pub owner: ShellWord,
    /// Short text for the change record, followed by the path ("line in", "block in").
    pub what: &'static str,
    /// More `case` arms on awk's exit status (a module's own refusals), e.g.
    /// `3) tandem_fail "..." ;;`.
    pub arms: &'static str,
    /// A symlink at the path: true edits the regular file it points to (which must exist) and
    /// keeps the link; false fails the step (editing needs the current content, and reading
    /// it through a link planted by another user could copy some other file into this one).
    pub follow: bool,
}

const EDIT: &str = r#"f={path} follow={follow}
if [ -L "$f" ]; then
  [ -n "$follow" ] || tandem_fail "{module}: $f is a symlink (to $(readlink -- "$f")): tandem edits through a link only with follow: true"
  [ -e "$f" ] || tandem_fail "{module}: $f is a dangling symlink (to $(readlink -- "$f")): tandem creates no file through a link"
  # Edit the file the link points to, and keep the link (a rename would replace the link).
  l=$f; f=$(readlink -f -- "$l") || tandem_fail "{module}: cannot resolve the symlink $l"
fi
[ -d "$f" ] && tandem_fail "{module}: $f is a directory, not a file"
[ ! -e "$f" ] || [ -f "$f" ] || tandem_fail "{module}: $f is not a regular file"
in=$f
if [ ! -e "$f" ]; then{missing}
  in=/dev/null
fi
n="$TANDEM_TMP/new"
{env}awk {awk} "$in" >"$n"
rc=$?
case $rc in
0) ;;
{changed})
  tandem_diff "$f" "$f" "$n"
  if [ -e "$f" ]; then tandem_changed "{what} $f"; else tandem_changed "created $f"; fi
  tandem_checking || tandem_install "$n" "$f" {mode} {owner}
  ;;
{arms}*) tandem_fail "{module}: cannot read or edit $f (awk exited with status $rc)" ;;
esac
"#;

const MISSING_FAILS: &str = r#"
  tandem_fail "{module}: $f does not exist (set create: true to create it)""#;

impl Edit<'_> {
    pub fn script(&self) -> Script {
        let env: Vec<(&'static str, ShellWord)> = self
            .env
            .iter()
            .map(|(name, value)| (*name, ShellWord::quote(value)))
            .collect();
        let module = Script::code(self.module);
        let missing = match self.missing {
            Missing::Create => Script::code(""),
            Missing::Fail => Script::fill(MISSING_FAILS, &[("module", &module)]),
        };
        Script::fill(
            EDIT,
            &[
                ("path", &self.path),
                (
                    "follow",
                    &ShellWord::quote(if self.follow { "1" } else { "" }),
                ),
                ("module", &module),
                ("missing", &missing),
                ("env", &Script::assignments(&env)),
                ("awk", &ShellWord::quote(self.awk)),
                ("changed", &ShellWord::number(CHANGED as u64)),
                ("what", &Script::code(self.what)),
                ("mode", &self.mode),
                ("owner", &self.owner),
                ("arms", &Script::code(self.arms)),
            ],
        )
    }
}

/// Rejects text that cannot be one line of a file.
pub fn one_line(module: &'static str, field: &'static str, value: &str) -> Result<(), ModuleError> {
    if value.contains('\n') || value.contains('\r') || value.contains('\0') {
        Err(ModuleError::NotOneLine { module, field })
    } else {
        Ok(())
    }
}
