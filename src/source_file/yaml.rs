//! YAML through serde-saphyr: the budgets every file is parsed with, positions, and the
//! parser's errors reduced to one line that says what to fix.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Location, MessageFormatter, UserMessageFormatter};

use super::one_line;

/// Limits for serde-saphyr. The defaults already stop pre-parse bombs; the alias replay limits
/// are tightened because values are deserialized into JSON-like trees, so every replayed event
/// costs memory: a billion-laughs file must fail fast, and a real file reuses an anchor a
/// handful of times.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_depth: 64,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// Parses `text` within the budgets.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// 1-based line and column of a parsed value.
pub fn position(location: &Location) -> (usize, usize) {
    (location.line() as usize, location.column() as usize)
}

/// Where a serde-saphyr error is, when it says (line 0 is its "unknown").
pub fn error_position(err: &serde_saphyr::Error) -> Option<(usize, usize)> {
    err.location().and_then(|loc| {
        let (line, column) = (loc.line(), loc.column());
        (line > 0).then(|| (line as usize, column.max(1) as usize))
    })
}

/// The message of a serde-saphyr error without location suffix and snippet (callers print
/// errors as single lines, the location in front); `document` ("an inventory", "a playbook")
/// goes into the hints about budgets.
pub fn yaml_message(err: &serde_saphyr::Error, document: &str) -> String {
    use serde_saphyr::Error as E;
    // The wrappers only add a snippet or the place of an alias; the message is in the original.
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let message = match inner {
        // The library's text is a Debug dump of the breach; say what it means for the file.
        E::Budget { breach, .. } => budget_message(breach, document),
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => format!(
            "{}: refused to expand so many aliases (a YAML bomb?); {document} needs only a few \
             anchors and aliases",
            UserMessageFormatter.format_message(inner)
        ),
        // "invalid i64" alone does not say what was expected.
        E::InvalidScalar { ty, .. } if ty.starts_with(['i', 'u']) => {
            format!("invalid {ty}: expected a whole number here")
        }
        // The user-facing formatter: the developer one suggests changing parser options.
        _ => {
            let text = UserMessageFormatter.format_message(inner).into_owned();
            if let Some(plain) = plain_yaml_message(&text) {
                plain
            } else if text.starts_with("value `") && text.ends_with("` is not a finite number") {
                // NaN and infinities are refused by the parser; say what to write instead.
                format!("{text}: give a number, or quote it to make it text")
            } else if text == "recursion limit exceeded" {
                // The parser's own guard against deep nesting (brackets) says nothing of the fix.
                format!(
                    "YAML nested too deeply (brackets or indentation hundreds of levels deep), \
                     refused before parsing further: {document} needs only a few nesting levels"
                )
            } else {
                text
            }
        }
    };
    one_line(&message)
}

/// serde-saphyr's words for a value of the wrong shape name parser events ("expected mapping
/// start"); say which shape was expected, in the words of the file.
fn plain_yaml_message(text: &str) -> Option<String> {
    let plain = match text {
        "expected mapping start" => {
            "wrong type: expected a mapping (`key: value` entries) here, not a list or a single \
             value"
        }
        "expected sequence start" => {
            "wrong type: expected a list (`- item` entries, or `[a, b]`) here, not a mapping or \
             a single value"
        }
        "expected string scalar" => {
            "wrong type: expected a single value here, not a list or a mapping"
        }
        _ if text.starts_with("unexpected character") => {
            return Some(format!(
                "{text}: control characters are not allowed in YAML; remove it (or write it as \
                 an escape in a double-quoted string)"
            ));
        }
        _ => return None,
    };
    Some(plain.to_string())
}

fn budget_message(breach: &BudgetBreach, document: &str) -> String {
    let what = match breach {
        BudgetBreach::Aliases { aliases } => format!("{aliases} aliases"),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors")
        }
        BudgetBreach::Anchors { anchors } => format!("{anchors} anchors"),
        BudgetBreach::Depth { depth } => format!("nesting depth {depth}"),
        BudgetBreach::Events { events } => format!("{events} YAML events"),
        BudgetBreach::Nodes { nodes } => format!("{nodes} YAML nodes"),
        BudgetBreach::Documents { documents } => format!("{documents} documents"),
        other => format!("{other:?}"),
    };
    format!(
        "YAML too large or too complex ({what}), refused before expanding it (a YAML bomb?); \
         {document} needs only a few anchors, aliases and nesting levels"
    )
}
