//! Reading a step's answer: the records the prelude's functions print (`changed`, `fact`,
//! `diff`), and everything else the step printed, which is its output.

use indexmap::IndexMap;

/// Old and new content of one file, for `--diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub label: String,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// What changed (or would change in check mode), one entry per `tandem_changed`.
    pub changes: Vec<String>,
    pub diffs: Vec<FileDiff>,
    pub facts: IndexMap<String, String>,
    /// What the step printed that is not a record: a command's own stdout.
    pub output: Vec<u8>,
}

impl StepReport {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Splits a step's stdout into records and output. `mark` is the run's TANDEM_MARK.
pub fn parse(stdout: &[u8], mark: &str) -> StepReport {
    let mut report = StepReport::default();
    let prefix = format!("{mark} ");
    let mut rest = stdout;
    while !rest.is_empty() {
        let line_end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..line_end];
        rest = &rest[line_end..];
        let Some(record) = line.strip_prefix(prefix.as_bytes()) else {
            report.output.extend_from_slice(line);
            continue;
        };
        let record = String::from_utf8_lossy(record)
            .trim_end_matches('\n')
            .to_string();
        let (kind, body) = record.split_once(' ').unwrap_or((record.as_str(), ""));
        match kind {
            "changed" => report.changes.push(body.to_string()),
            "fact" => {
                let (key, value) = body.split_once(' ').unwrap_or((body, ""));
                report.facts.insert(key.to_string(), value.to_string());
            }
            "diff" => {
                // "OLD_LEN NEW_LEN LABEL", then the bytes, then one newline.
                let mut fields = body.splitn(3, ' ');
                let old_len: usize = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
                let new_len: usize = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
                let label = fields.next().unwrap_or("").to_string();
                // The lengths come from the node: a sum past usize must not overflow.
                let total = old_len.saturating_add(new_len).min(rest.len());
                let old = rest[..old_len.min(total)].to_vec();
                let new = rest[old_len.min(total)..total].to_vec();
                rest = &rest[total..];
                if rest.first() == Some(&b'\n') {
                    rest = &rest[1..];
                }
                report.diffs.push(FileDiff { label, old, new });
            }
            _ => report.output.extend_from_slice(line),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_output_are_told_apart() {
        let out = b"hello\n@m changed content of /etc/x\n@m fact version 1.2\n@m diff 3 4 /etc/x\na\nbb\0c\n\nbye";
        let r = parse(out, "@m");
        assert_eq!(r.changes, vec!["content of /etc/x"]);
        assert_eq!(r.facts["version"], "1.2");
        assert_eq!(
            r.diffs,
            vec![FileDiff {
                label: "/etc/x".into(),
                old: b"a\nb".to_vec(),
                new: b"b\0c\n".to_vec()
            }]
        );
        assert_eq!(r.output, b"hello\nbye");
    }

    #[test]
    fn diff_lengths_past_usize_keep_what_was_sent() {
        // Found by the step_answer fuzz target: `old + new` overflowed and panicked.
        let out = b"@m diff 3 18446744073709551615 /etc/x\nabcdef\n";
        let r = parse(out, "@m");
        assert_eq!(
            r.diffs,
            vec![FileDiff {
                label: "/etc/x".into(),
                old: b"abc".to_vec(),
                new: b"def\n".to_vec()
            }]
        );
        assert!(r.output.is_empty());
    }
}
