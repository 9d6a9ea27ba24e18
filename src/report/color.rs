//! Whether text gets colour, decided once for the process: `--color auto|always|never`, and in
//! `auto` colour only on a terminal, without `NO_COLOR` set (https://no-color.org: any
//! non-empty value) and not on `TERM=dumb`. A flag given on the command line wins over
//! `NO_COLOR`, as no-color.org asks. Every report that colours asks here.

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set or TERM is dumb.
    #[default]
    Auto,
    Always,
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Set once, from the command line, before any output.
pub fn init(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// The rule itself, with the environment passed in (for tests).
pub fn decide(
    choice: ColorChoice,
    terminal: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
    }
}

fn enabled(terminal: bool) -> bool {
    let no_color = std::env::var("NO_COLOR").ok();
    let term = std::env::var("TERM").ok();
    decide(
        CHOICE.get().copied().unwrap_or_default(),
        terminal,
        no_color.as_deref(),
        term.as_deref(),
    )
}

/// Colour for what goes to stdout.
pub fn stdout() -> bool {
    enabled(std::io::stdout().is_terminal())
}

/// Colour for what goes to stderr.
pub fn stderr() -> bool {
    enabled(std::io::stderr().is_terminal())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Ok,
    Changed,
    Failed,
    Skipped,
    Bold,
    Added,
    Removed,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Ok | Style::Added => "\x1b[32m",
            Style::Changed => "\x1b[33m",
            Style::Failed | Style::Removed => "\x1b[31m",
            Style::Skipped => "\x1b[36m",
            Style::Bold => "\x1b[1m",
        }
    }
}

/// `text` in `style` when `on`, else as it is.
pub fn paint(text: &str, style: Style, on: bool) -> String {
    if on && !text.is_empty() {
        format!("{}{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// A unified diff with added lines green and removed ones red (headers left plain).
pub fn paint_diff(diff: &str, on: bool) -> String {
    if !on {
        return diff.to_string();
    }
    diff.lines()
        .map(|line| {
            if line.starts_with('+') && !line.starts_with("+++") {
                paint(line, Style::Added, true)
            } else if line.starts_with('-') && !line.starts_with("---") {
                paint(line, Style::Removed, true)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color_and_flags_win() {
        use ColorChoice::*;
        assert!(decide(Auto, true, None, Some("xterm")));
        assert!(!decide(Auto, false, None, Some("xterm")));
        assert!(!decide(Auto, true, Some("1"), Some("xterm")));
        assert!(
            decide(Auto, true, Some(""), None),
            "an empty NO_COLOR is unset"
        );
        assert!(!decide(Auto, true, None, Some("dumb")));
        assert!(decide(Always, false, Some("1"), None));
        assert!(!decide(Never, true, None, None));
    }

    #[test]
    fn paint_adds_codes_only_when_on() {
        assert_eq!(paint("failed", Style::Failed, false), "failed");
        assert_eq!(
            paint("failed", Style::Failed, true),
            "\x1b[31mfailed\x1b[0m"
        );
        let diff = "--- a (before)\n+++ a (after)\n-old\n+new\n same";
        assert_eq!(paint_diff(diff, false), diff);
        let painted = paint_diff(diff, true);
        assert!(painted.contains("\x1b[31m-old\x1b[0m"));
        assert!(painted.contains("\x1b[32m+new\x1b[0m"));
        assert!(painted.starts_with("--- a (before)\n+++ a (after)\n"));
    }
}
