//! The command line as typed, for the report (`run.command_line`): shell-quoted so it can be
//! pasted again, with the value of any flag that could carry a secret left out. No flag of
//! `failover-test` takes a secret today (OVH's keys come from the environment or ovh.conf, the
//! become password from a file or a prompt); this guards the next flag someone adds.

use clap::CommandFactory;

/// What stands in for a secret value.
pub const REDACTED: &str = "<redacted>";

/// `args` (argv, the program first) as one line: the program as `tandem`, each word quoted when
/// the shell would split or expand it, secret values replaced by [`REDACTED`].
pub fn as_typed(args: impl IntoIterator<Item = String>) -> String {
    let command = crate::cli::Cli::command();
    let takes_value = |long: &str| flag_takes_value(&command, long);
    redact(args.into_iter().skip(1), takes_value)
        .iter()
        .fold("tandem".to_string(), |line, word| line + " " + &quote(word))
}

/// A long flag whose name says it holds a secret. Paths to files holding one are not secrets.
fn is_secret(long: &str) -> bool {
    const WORDS: [&str; 6] = [
        "password", "passwd", "secret", "token", "consumer", "api-key",
    ];
    let secret = WORDS.iter().any(|w| long.contains(w)) || long.ends_with("-key");
    secret && !long.ends_with("-file") && long != "private-key"
}

/// The words with secret values replaced: `--flag=value` and `--flag value` (when the flag takes
/// a value; a switch such as `--ask-become-pass` is left alone, and so is the word after it).
/// Everything after `--` is taken as is.
fn redact(words: impl Iterator<Item = String>, takes_value: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut next_is_secret = false;
    let mut after_dashes = false;
    for word in words {
        if next_is_secret {
            out.push(REDACTED.to_string());
            next_is_secret = false;
            continue;
        }
        if after_dashes || word == "--" {
            after_dashes = true;
            out.push(word);
            continue;
        }
        match word.strip_prefix("--").map(|w| w.split_once('=')) {
            Some(Some((long, _))) if is_secret(long) => out.push(format!("--{long}={REDACTED}")),
            Some(None) if is_secret(&word[2..]) => {
                next_is_secret = takes_value(&word[2..]);
                out.push(word);
            }
            _ => out.push(word),
        }
    }
    out
}

/// Whether `--long` takes a value in any of the command's subcommands (unknown flags: yes, to
/// err on the side of leaving a value out).
fn flag_takes_value(command: &clap::Command, long: &str) -> bool {
    fn find(command: &clap::Command, long: &str) -> Option<bool> {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .map(|a| a.get_action().takes_values())
            .or_else(|| command.get_subcommands().find_map(|c| find(c, long)))
    }
    find(command, long).unwrap_or(true)
}

/// `word` as a shell would read it back: bare when made of harmless characters, else in single
/// quotes.
fn quote(word: &str) -> String {
    let harmless = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c);
    if !word.is_empty() && word.chars().all(harmless) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> String {
        as_typed(words.iter().map(|w| w.to_string()))
    }

    #[test]
    fn the_line_is_quoted_like_a_shell_would_read_it() {
        assert_eq!(
            line(&[
                "/usr/bin/tandem",
                "failover-test",
                "-i",
                "my inv.yml",
                "--cluster",
                "it's"
            ]),
            r"tandem failover-test -i 'my inv.yml' --cluster 'it'\''s'"
        );
    }

    #[test]
    fn secret_values_are_left_out_and_paths_and_switches_kept() {
        assert_eq!(
            line(&[
                "tandem",
                "failover-test",
                "--become-password",
                "hunter2",
                "--ovh-app-secret=s3cr3t",
                "--ask-become-pass",
                "--cluster",
                "pair1",
                "--become-password-file",
                "pw.txt",
                "--private-key",
                "id_ed25519",
            ]),
            "tandem failover-test --become-password '<redacted>' '--ovh-app-secret=<redacted>' \
             --ask-become-pass --cluster pair1 --become-password-file pw.txt --private-key id_ed25519"
        );
    }

    #[test]
    fn after_dashes_nothing_is_a_flag() {
        assert_eq!(
            line(&["tandem", "run", "-i", "inv.yml", "--", "echo", "--token"]),
            "tandem run -i inv.yml -- echo --token"
        );
    }
}
