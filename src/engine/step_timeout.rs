//! Which time limit a step runs under on a node. The most specific place wins: the step's own
//! `timeout` (or its include's, already folded in at load), then `--step-timeout`, then the
//! playbook's `timeout`, then the module's default (`package`: 900 s); none means no limit.

use crate::modules;
use crate::playbook::{Playbook, Step};

/// The limit, in seconds, of `step` in `playbook` with `--step-timeout` given as `cli`.
pub fn effective(step: &Step, playbook: &Playbook, cli: Option<u32>) -> Option<u32> {
    step.timeout
        .or(cli)
        .or(playbook.timeout)
        .or_else(|| modules::default_timeout(&step.module))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Loads `text` as site.yml beside `included` as inc.yml, in a fresh directory.
    fn playbook(text: &str, included: &str) -> Playbook {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tandem-step-timeout-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("inc.yml"), included).unwrap();
        let path = dir.join("site.yml");
        std::fs::write(&path, text).unwrap();
        let loaded = load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        loaded
    }

    fn limits(pb: &Playbook, cli: Option<u32>) -> Vec<Option<u32>> {
        pb.steps.iter().map(|s| effective(s, pb, cli)).collect()
    }

    const STEPS: &str = "  - command: {cmd: 'true'}\n    timeout: 7\n  \
                         - include: inc.yml\n    timeout: 11\n  \
                         - command: {cmd: 'true'}\n  \
                         - package: {name: rsync}\n";
    const INCLUDED: &str = "- command: {cmd: 'true'}\n  timeout: 3\n- command: {cmd: 'true'}\n";

    #[test]
    fn step_then_include_then_cli_then_playbook_then_module_default() {
        let with_playbook = playbook(&format!("timeout: 20\nsteps:\n{STEPS}"), INCLUDED);
        // step 7 | included step's own 3 | include 11 | playbook 20 | playbook 20 over package
        assert_eq!(
            limits(&with_playbook, None),
            [Some(7), Some(3), Some(11), Some(20), Some(20)]
        );
        // --step-timeout beats the playbook, not the step or the include.
        assert_eq!(
            limits(&with_playbook, Some(30)),
            [Some(7), Some(3), Some(11), Some(30), Some(30)]
        );
        let bare = playbook(&format!("steps:\n{STEPS}"), INCLUDED);
        // Nothing set: no limit, except the package module's default.
        assert_eq!(
            limits(&bare, None),
            [Some(7), Some(3), Some(11), None, Some(900)]
        );
    }

    #[test]
    fn handlers_take_their_own_timeout_only() {
        let pb = playbook(
            "steps:\n  - command: {cmd: 'true'}\n    notify: h\n\
             handlers:\n  - name: h\n    command: {cmd: 'true'}\n    timeout: 4\n",
            "",
        );
        assert_eq!(pb.handlers[0].timeout, Some(4));
        assert_eq!(effective(&pb.handlers[0], &pb, Some(9)), Some(4));
    }
}
