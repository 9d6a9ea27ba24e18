//! [`ShellWord`]: text that sh reads back as exactly one word, byte for byte.

use std::fmt;

/// One word, already safe to paste into a POSIX sh script: sh reads it back as exactly the text
/// it was made from (no splitting, no globbing, no expansion), in any position where a word
/// goes (a command's argument, an assignment's value, a `case` pattern, a `for` list).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShellWord(String);

/// Characters that are never special to sh: a word made only of them needs no quotes. The
/// same set as Python's `shlex.quote` (and so Ansible's `quote` filter), ASCII only.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c)
}

impl ShellWord {
    /// The crate's one quoting function. Text of plain characters is left bare (`web`,
    /// `/etc/app.conf`); anything else goes between single quotes, inside which sh gives no
    /// character a meaning, with each `'` written as `'\''`. Newlines, `$()`, backticks, globs
    /// and bytes of any encoding come back exactly.
    ///
    /// A NUL byte cannot be part of any sh string (dash drops it silently): values are checked
    /// for NUL where they enter (`modules::build` refuses every argument holding one). One that
    /// got here anyway becomes U+FFFD, visibly wrong rather than silently another value.
    pub fn quote(text: &str) -> ShellWord {
        let text = if text.contains('\0') {
            std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        if !text.is_empty() && text.chars().all(plain) {
            return ShellWord(text.into_owned());
        }
        ShellWord(format!("'{}'", text.replace('\'', r"'\''")))
    }

    /// A word written in tandem's own source, such as `"$p"` or `"$uid:$gid"`: code, never a
    /// value from outside (the `'static` bound keeps runtime text out).
    pub fn verbatim(code: &'static str) -> ShellWord {
        ShellWord(code.to_string())
    }

    /// A number: digits only, safe bare.
    pub fn number(n: u64) -> ShellWord {
        ShellWord(n.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ShellWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What sh makes of `printf '%s' WORD`: the bytes of the one argument it sees.
    fn through_sh(word: &ShellWord) -> Vec<u8> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -- {word}; [ $# -eq 1 ] || exit 9; printf '%s' \"$1\""
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{word}: {out:?}");
        out.stdout
    }

    #[test]
    fn plain_words_stay_bare_and_others_are_quoted() {
        assert_eq!(ShellWord::quote("web").as_str(), "web");
        assert_eq!(
            ShellWord::quote("/etc/a-b_c.conf").as_str(),
            "/etc/a-b_c.conf"
        );
        assert_eq!(ShellWord::quote("").as_str(), "''");
        assert_eq!(ShellWord::quote("it's").as_str(), r"'it'\''s'");
        assert_eq!(ShellWord::quote("a b").as_str(), "'a b'");
        assert_eq!(ShellWord::quote("~root").as_str(), "'~root'");
    }

    #[test]
    fn every_hostile_value_comes_back_exactly() {
        for text in [
            "",
            " ",
            "a b\tc",
            "'",
            "''",
            "\"",
            "it's \"x\"",
            "$(touch /tmp/tandem-pwned)",
            "`touch /tmp/tandem-pwned`",
            "${HOME}",
            "a\nb\n",
            "-rf",
            "--",
            "*",
            "/etc/*.conf",
            "[a-z]?",
            "~",
            "a;b|c&d>e<f",
            "\\",
            "\\'",
            "é ü 漢字 \u{fffd}",
            "#comment",
            "!x",
        ] {
            let word = ShellWord::quote(text);
            assert_eq!(through_sh(&word), text.as_bytes(), "{text:?} as {word}");
        }
    }

    #[test]
    fn a_nul_byte_never_vanishes_silently() {
        assert_eq!(
            through_sh(&ShellWord::quote("a\0b")),
            "a\u{fffd}b".as_bytes()
        );
    }
}
