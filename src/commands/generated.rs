//! `tandem completions SHELL` and `tandem man`: generated from the clap definitions in
//! src/cli.rs, so they never drift from the flags.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "tandem", &mut out);
    write_out(&out)
}

pub fn man_page() -> Result<ExitCode, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::internal(format!("the man page cannot be rendered: {e}")))?;
    write_out(&out)
}

fn write_out(bytes: &[u8]) -> Result<ExitCode, Error> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is the reader's choice, not a failure.
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Error::Stdout(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_the_man_page_know_every_subcommand_and_new_flag() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tandem", &mut out);
            let text = String::from_utf8(out).unwrap();
            for word in [
                "deploy",
                "failover-test",
                "extra-vars",
                "syntax-check",
                "private-key",
            ] {
                assert!(text.contains(word), "{shell:?} completion lacks {word}");
            }
        }
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH tandem"),
            "{text}"
        );
        assert!(text.contains("deploy"));
    }

    /// Every subcommand's --help ends with examples and the exit codes.
    #[test]
    fn every_subcommand_help_has_examples_and_exit_codes() {
        let mut command = Cli::command();
        command.build();
        let mut names = Vec::new();
        for sub in command.get_subcommands_mut() {
            if sub.get_name() == "help" {
                continue;
            }
            names.push(sub.get_name().to_string());
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains("Examples:\n  tandem "),
                "{}: {help}",
                sub.get_name()
            );
            assert!(
                help.contains("Exit status: 0"),
                "{}: {help}",
                sub.get_name()
            );
        }
        assert!(names.len() >= 9, "{names:?}");
    }
}
