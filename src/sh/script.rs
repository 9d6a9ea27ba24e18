//! [`Script`]: sh code built only from code written in tandem's source and [`ShellWord`]s.

use std::fmt;

use super::ShellWord;

/// A piece of sh that may fill a placeholder of [`Script::fill`]: a word, a list of words, or
/// another script. Sealed: a `String` is none of these, so runtime text must be quoted first.
pub trait Fragment: sealed::Sealed {
    fn write_to(&self, out: &mut String);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ShellWord {}
    impl Sealed for [super::ShellWord] {}
    impl Sealed for Vec<super::ShellWord> {}
    impl Sealed for super::Script {}
}

impl Fragment for ShellWord {
    fn write_to(&self, out: &mut String) {
        out.push_str(self.as_str());
    }
}

/// Words separated by spaces: `for p in {pvs}; do`, `mkfs {opts} "$dev"`.
impl Fragment for [ShellWord] {
    fn write_to(&self, out: &mut String) {
        for (i, word) in self.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word.as_str());
        }
    }
}

impl Fragment for Vec<ShellWord> {
    fn write_to(&self, out: &mut String) {
        self.as_slice().write_to(out);
    }
}

impl Fragment for Script {
    fn write_to(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

/// A POSIX sh script tandem sends to a node. There is no way to make one from a runtime
/// `String`: its text is `'static` code, with values put in as [`ShellWord`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script(String);

/// A user's shell code with a placeholder between quotes, where the quoted word tandem puts
/// in would glue to the user's quotes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{placeholder} is inside quotes in `{template}`: write it bare, tandem quotes the value itself"
)]
pub struct QuotedPlaceholder {
    pub placeholder: &'static str,
    pub template: String,
}

impl Script {
    /// Code written in tandem's source, as is.
    pub fn code(code: &'static str) -> Script {
        Script(code.to_string())
    }

    /// `template` with each placeholder `{name}` replaced by the fragment named `name`.
    ///
    /// A placeholder is `{` + a lowercase identifier + `}`, not preceded by `$` (so sh's own
    /// `${var}`, `${var%/*}` and `{ list; }` are left alone). Templates are written in tandem's
    /// source: a placeholder without a fragment, or a fragment no placeholder uses, is a bug in
    /// that source, and panics in every test that builds the script.
    pub fn fill(template: &'static str, parts: &[(&str, &dyn Fragment)]) -> Script {
        let mut out = String::with_capacity(template.len() + 64);
        let mut used = vec![false; parts.len()];
        let bytes = template.as_bytes();
        let mut i = 0;
        let mut copied = 0;
        while i < bytes.len() {
            if bytes[i] == b'{'
                && (i == 0 || bytes[i - 1] != b'$')
                && let Some(len) = placeholder_len(&bytes[i + 1..])
            {
                let name = &template[i + 1..i + 1 + len];
                let Some(at) = parts.iter().position(|(n, _)| *n == name) else {
                    panic!("script template: no value for placeholder {{{name}}} in:\n{template}");
                };
                out.push_str(&template[copied..i]);
                parts[at].1.write_to(&mut out);
                used[at] = true;
                i += len + 2;
                copied = i;
                continue;
            }
            i += 1;
        }
        out.push_str(&template[copied..]);
        if let Some(unused) = used.iter().position(|u| !u) {
            panic!(
                "script template: value {} fills no placeholder in:\n{template}",
                parts[unused].0
            );
        }
        Script(out)
    }

    /// Shell code a user wrote as shell code (the cluster's `switch_command`), with each
    /// `placeholder` in it replaced by its word. The code is the user's own and is taken as is;
    /// the values put into it cannot become code. A placeholder the user put between quotes
    /// (`'{service}'`) would glue their quotes to the word's and split it: refused, naming it.
    pub fn fill_user_template(
        template: &str,
        words: &[(&'static str, &ShellWord)],
    ) -> Result<Script, QuotedPlaceholder> {
        let mut out = String::with_capacity(template.len() + 32);
        let mut quote = Quoting::default();
        let mut rest = template;
        'scan: while let Some(c) = rest.chars().next() {
            if quote.is_bare() {
                for (placeholder, word) in words {
                    if let Some(after) = rest.strip_prefix(placeholder) {
                        out.push_str(word.as_str());
                        rest = after;
                        continue 'scan;
                    }
                }
            } else if let Some((placeholder, _)) = words.iter().find(|(p, _)| rest.starts_with(p)) {
                return Err(QuotedPlaceholder {
                    placeholder,
                    template: template.to_string(),
                });
            }
            quote.step(c);
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        Ok(Script(out))
    }

    /// `NAME=word NAME2=word2 ` (each followed by a space): variables for one command, such as
    /// the values awk reads from `ENVIRON`. Names are written in tandem's source.
    pub fn assignments(pairs: &[(&'static str, ShellWord)]) -> Script {
        let mut out = String::new();
        for (name, value) in pairs {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(valid, "script: {name:?} is not a variable name");
            out.push_str(name);
            out.push('=');
            out.push_str(value.as_str());
            out.push(' ');
        }
        Script(out)
    }

    /// Appends another script.
    pub fn push(&mut self, more: Script) {
        self.0.push_str(&more.0);
    }

    /// Appends code written in tandem's source.
    pub fn push_code(&mut self, code: &'static str) {
        self.0.push_str(code);
    }

    /// The same script with every line indented (a script nested in an `if`).
    pub fn indented(&self, prefix: &'static str) -> Script {
        Script(self.0.lines().map(|l| format!("{prefix}{l}\n")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Where sh's quoting stands while reading code left to right: enough to tell whether a
/// placeholder would land between quotes (inside `$(...)` counts as quoted: conservative).
#[derive(Default)]
struct Quoting {
    single: bool,
    double: bool,
    escaped: bool,
}

impl Quoting {
    fn is_bare(&self) -> bool {
        !self.single && !self.double && !self.escaped
    }

    fn step(&mut self, c: char) {
        if self.escaped {
            self.escaped = false;
        } else if self.single {
            self.single = c != '\'';
        } else if c == '\\' {
            self.escaped = true;
        } else if self.double {
            self.double = c != '"';
        } else if c == '\'' {
            self.single = true;
        } else if c == '"' {
            self.double = true;
        }
    }
}

/// Length of the identifier of a placeholder starting right after `{`, when `}` closes it.
fn placeholder_len(rest: &[u8]) -> Option<usize> {
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || **b == b'_')
        .count();
    let starts_well = rest
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_');
    (starts_well && rest.get(len) == Some(&b'}')).then_some(len)
}

impl std::ops::Deref for Script {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Script {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Script {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl AsRef<std::ffi::OsStr> for Script {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_ref()
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_take_words_and_sh_braces_stay() {
        let p = ShellWord::quote("/srv/it's here");
        let opts = vec![ShellWord::quote("-L"), ShellWord::quote("web data")];
        let s = Script::fill(
            "p={p}\n${p%/*} ${x:-{}} { echo; } mkfs {opts} \"$p\"\n",
            &[("p", &p), ("opts", &opts)],
        );
        assert_eq!(
            s.as_str(),
            "p='/srv/it'\\''s here'\n${p%/*} ${x:-{}} { echo; } mkfs -L 'web data' \"$p\"\n"
        );
    }

    #[test]
    #[should_panic(expected = "no value for placeholder {missing}")]
    fn a_placeholder_without_a_value_is_caught() {
        Script::fill("echo {missing}\n", &[]);
    }

    #[test]
    #[should_panic(expected = "value extra fills no placeholder")]
    fn a_value_without_a_placeholder_is_caught() {
        Script::fill("echo\n", &[("extra", &ShellWord::quote("x"))]);
    }

    #[test]
    fn user_templates_get_words_and_refuse_quoted_placeholders() {
        let svc = ShellWord::quote("web;reboot");
        let to = ShellWord::quote("node2");
        let words: [(&'static str, &ShellWord); 2] = [("{service}", &svc), ("{to}", &to)];
        let s = Script::fill_user_template("om {service} switch --to {to} # {x}", &words).unwrap();
        assert_eq!(s.as_str(), "om 'web;reboot' switch --to node2 # {x}");
        for bad in [
            "om '{service}' x",
            "om \"{service}\"",
            "om \\{service}",
            "echo \"$(om {to})\"",
        ] {
            let e = Script::fill_user_template(bad, &words).unwrap_err();
            assert_eq!(
                e.placeholder,
                if bad.contains("{to}") {
                    "{to}"
                } else {
                    "{service}"
                }
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "{} is inside quotes in `{bad}`: write it bare, tandem quotes the value itself",
                    e.placeholder
                )
            );
        }
        // Quotes that close before the placeholder are fine.
        let s = Script::fill_user_template("printf '%s\\n' {to}", &words).unwrap();
        assert_eq!(s.as_str(), "printf '%s\\n' node2");
    }

    #[test]
    fn scripts_nest_indented() {
        let inner = Script::code("a\nb\n");
        let mut outer = Script::code("if x; then\n");
        outer.push(inner.indented("  "));
        outer.push_code("fi\n");
        assert_eq!(outer.as_str(), "if x; then\n  a\n  b\nfi\n");
    }
}
