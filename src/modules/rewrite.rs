//! Shared by the modules that edit part of a text file (`line`, `block`, `authorized_key`,
//! `sysctl`): one `awk` reads the file once, writes the wanted content to `$TANDEM_TMP/new` and
//! tells by its exit status whether that differs (10) or not (0). So a converged check costs a
//! single process, and a change goes through the same diff + `tandem_install` (temp file,
//! fsync, rename) as `copy`.
//!
//! Values reach awk through the environment (`ENVIRON`), never through `-v` or the program
//! text: `-v` would interpret backslashes, and the program text would need awk quoting.

use super::args::q;

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
    pub module: &'a str,
    /// Shell word for the target path: quoted text or a variable set earlier in the script.
    pub path: &'a str,
    /// The awk program; it must `exit 10` in END when its output differs from its input.
    pub awk: &'a str,
    /// Environment for awk, as (NAME, value): values are quoted here.
    pub env: &'a [(&'a str, &'a str)],
    pub missing: Missing,
    /// Shell words for `tandem_install`'s MODE and OWNER (e.g. `''` to keep/default).
    pub mode: &'a str,
    pub owner: &'a str,
    /// Short text for the change record, followed by the path ("line in", "block in").
    pub what: &'a str,
    /// More `case` arms on awk's exit status (a module's own refusals), e.g.
    /// `3) tandem_fail "..." ;;`.
    pub arms: &'a str,
}

impl Edit<'_> {
    pub fn script(&self) -> String {
        let env: String = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}={} ", q(value)))
            .collect();
        let missing = match self.missing {
            Missing::Create => String::new(),
            Missing::Fail => format!(
                "\n  tandem_fail \"{}: $f does not exist (set create: true to create it)\"",
                self.module
            ),
        };
        format!(
            r#"f={path}
# Edit the file a symlink points to, and keep the link (a rename would replace the link).
if [ -L "$f" ]; then l=$f; f=$(readlink -f -- "$f") || tandem_fail "{module}: cannot resolve the link $l"; fi
[ -d "$f" ] && tandem_fail "{module}: $f is a directory, not a file"
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
"#,
            path = self.path,
            module = self.module,
            awk = q(self.awk),
            changed = CHANGED,
            mode = self.mode,
            owner = self.owner,
            what = self.what,
            arms = self.arms,
        )
    }
}

/// Rejects text that cannot be one line of a file.
pub fn one_line(module: &str, field: &str, value: &str) -> Result<(), String> {
    if value.contains('\n') || value.contains('\r') || value.contains('\0') {
        Err(format!("{module}: {field} must be a single line"))
    } else {
        Ok(())
    }
}
