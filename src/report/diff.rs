//! Unified diffs of a file's old and new content, as `diff -u` prints them.

use crate::modules::FileDiff;

pub fn unified(diff: &FileDiff) -> String {
    let (Ok(old), Ok(new)) = (
        std::str::from_utf8(&diff.old),
        std::str::from_utf8(&diff.new),
    ) else {
        return format!(
            "Binary file {} differs ({} -> {} bytes)\n",
            diff.label,
            diff.old.len(),
            diff.new.len()
        );
    };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{} (before)", diff.label),
            &format!("{} (after)", diff.label),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_context() {
        let d = FileDiff {
            label: "/etc/x".into(),
            old: b"a\nb\nc\n".to_vec(),
            new: b"a\nB\nc\n".to_vec(),
        };
        let text = unified(&d);
        assert!(
            text.contains("--- /etc/x (before)\n+++ /etc/x (after)\n"),
            "{text}"
        );
        assert!(text.contains("-b\n+B\n"), "{text}");
        let bin = FileDiff {
            label: "/bin/x".into(),
            old: vec![0xff],
            new: vec![0xfe, 0],
        };
        assert!(unified(&bin).starts_with("Binary file /bin/x differs"));
    }
}
