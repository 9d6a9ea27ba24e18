//! The RPO of a flip: how old the data was on the node that took over. The service's data
//! reaches the passive node through the agent's rsync resources (`sync#1`, ...); after each
//! completed sync to a node the agent keeps its start time in
//! `/var/lib/opensvc/svc/SERVICE/sync#N/last_sync_NODE` on both nodes ("%Y-%m-%d
//! %H:%M:%S.%f", the node's local time). The age of the newest one when the target took over is
//! what a crash at that moment would have lost.
//!
//! The script reads them on the target after the flip (the files only move forward); the
//! measurement compares them with when the target took over ([`age_at`]).

use serde::{Deserialize, Serialize};

use crate::sh::{Script, ShellWord};

/// Where a root-namespace service's state lives (the agent's own packaging's layout).
const SERVICE_VAR: &str = "/var/lib/opensvc/svc";

/// `sync#1 1796686844123` (ms since the Unix epoch) or `sync#1 never`, per rsync resource of
/// the service (the agent's internal `sync#i0`, its own config, left out).
const LAST_SYNCS: &str = r#"for d in {dir}/sync#*; do
  [ -d "$d" ] || continue
  rid=${d##*/}
  case "$rid" in sync#i*) continue;; esac
  f="$d/last_sync_"{node}
  if [ -f "$f" ] && t=$(date -d "$(cat "$f")" +%s%3N 2>/dev/null); then echo "$rid $t"; else echo "$rid never"; fi
done
exit 0
"#;

/// The last completed sync of each of `service`'s rsync resources to `node`, read on `node`.
pub fn last_syncs_script(service: &str, node: &str) -> Script {
    Script::fill(
        LAST_SYNCS,
        &[
            (
                "dir",
                &ShellWord::quote(&format!("{SERVICE_VAR}/{service}")),
            ),
            ("node", &ShellWord::quote(node)),
        ],
    )
}

/// One rsync resource's last completed sync to the node that took over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSync {
    /// `sync#1`.
    pub rid: String,
    /// When it started, ms since the Unix epoch; `None`: never synced to that node.
    pub unix_ms: Option<u64>,
}

/// The lines of [`last_syncs_script`]; lines that are not `RID MS` or `RID never` are skipped.
pub fn parse_last_syncs(text: &str) -> Vec<LastSync> {
    text.lines()
        .filter_map(|line| {
            let (rid, when) = line.trim().split_once(' ')?;
            if !rid.starts_with("sync#") {
                return None;
            }
            let unix_ms = match when.trim() {
                "never" => None,
                ms => Some(ms.parse().ok()?),
            };
            Some(LastSync {
                rid: rid.to_string(),
                unix_ms,
            })
        })
        .collect()
}

/// The data's age when the target took over (`took_over_unix_ms`). Each resource carries part
/// of the data, so the oldest last sync bounds what is lost: `Err(rid)` when a resource never
/// synced (everything it carries would be lost), `Ok(None)` without resources.
/// A sync that completed after the takeover began (the agent syncs during a planned switch)
/// makes the age 0.
pub fn age_at(syncs: &[LastSync], took_over_unix_ms: u64) -> Result<Option<u64>, NeverSynced> {
    let mut worst: Option<u64> = None;
    for sync in syncs {
        let Some(at) = sync.unix_ms else {
            return Err(NeverSynced {
                rid: sync.rid.clone(),
            });
        };
        let age = took_over_unix_ms.saturating_sub(at);
        worst = Some(worst.map_or(age, |w| w.max(age)));
    }
    Ok(worst)
}

/// An rsync resource that never completed a sync to the node that took over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rid} never synced")]
pub struct NeverSynced {
    pub rid: String,
}

/// What was read on the node that took over, after a flip (the timeline keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSyncs {
    /// The flip's label (`switch`, `node-crash`, ...).
    pub flip: String,
    pub node: String,
    pub syncs: Vec<LastSync>,
}

/// A flip's RPO, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpoFigures {
    /// The data's age on the target when it took over, in ms; `None` when a resource never
    /// synced (then `never_synced` names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_synced: Option<String>,
    /// The budget it was held to (`rpo_seconds`, `--rpo`), in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<u64>,
    pub within_budget: bool,
    pub syncs: Vec<LastSync>,
}

impl RpoFigures {
    /// The figures of the syncs read after a flip, the target having taken over at
    /// `took_over_unix_ms`; `None` when the service has no sync resource.
    pub fn of(
        syncs: &[LastSync],
        took_over_unix_ms: u64,
        budget_ms: Option<u64>,
    ) -> Option<RpoFigures> {
        if syncs.is_empty() {
            return None;
        }
        let (age_ms, never_synced) = match age_at(syncs, took_over_unix_ms) {
            Ok(age) => (age, None),
            Err(never) => (None, Some(never.rid)),
        };
        let within_budget = match (budget_ms, age_ms) {
            (None, _) => true,
            (Some(budget), Some(age)) => age <= budget,
            (Some(_), None) => false,
        };
        Some(RpoFigures {
            age_ms,
            never_synced,
            budget_ms,
            within_budget,
            syncs: syncs.to_vec(),
        })
    }

    /// A sentence for the flip's notes.
    pub fn sentence(&self, node: &str) -> String {
        let budget = self.budget_ms.map_or(String::new(), |b| {
            format!(" (RPO budget {:.1} s)", b as f64 / 1000.0)
        });
        match (&self.never_synced, self.age_ms) {
            (Some(rid), _) => format!(
                "RPO: {rid} never synced to {node}: all the data it carries would be lost{budget}"
            ),
            (None, Some(age)) => format!(
                "RPO: the data on {node} was {:.1} s old when it took over{budget}",
                age as f64 / 1000.0
            ),
            (None, None) => format!("RPO: no sync resource on {node}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_syncs_are_read_per_resource() {
        let text = "sync#1 1796686844123\nsync#2 never\ngarbage\nsync#3 soon\n";
        assert_eq!(
            parse_last_syncs(text),
            [
                LastSync {
                    rid: "sync#1".into(),
                    unix_ms: Some(1_796_686_844_123)
                },
                LastSync {
                    rid: "sync#2".into(),
                    unix_ms: None
                },
            ]
        );
    }

    #[test]
    fn the_age_is_the_oldest_resources_and_never_synced_is_an_error() {
        let sync = |rid: &str, ms: Option<u64>| LastSync {
            rid: rid.into(),
            unix_ms: ms,
        };
        let syncs = [sync("sync#1", Some(10_000)), sync("sync#2", Some(7_000))];
        assert_eq!(age_at(&syncs, 12_000), Ok(Some(5_000)));
        // Synced during the switch: nothing lost.
        assert_eq!(age_at(&syncs[..1], 9_000), Ok(Some(0)));
        assert_eq!(age_at(&[], 9_000), Ok(None));
        assert_eq!(
            age_at(&[sync("sync#1", Some(1)), sync("sync#2", None)], 9_000),
            Err(NeverSynced {
                rid: "sync#2".into()
            })
        );
    }

    /// The script run by sh over a fake service directory: the resource files are read with
    /// the node's `date`, the internal sync is skipped, a missing file is `never`.
    #[test]
    fn the_script_reads_the_agents_files() {
        let dir = std::env::temp_dir().join(format!("tandem-rpo-{}", std::process::id()));
        let svc = dir.join("web");
        for rid in ["sync#1", "sync#2", "sync#i0"] {
            std::fs::create_dir_all(svc.join(rid)).unwrap();
        }
        std::fs::write(
            svc.join("sync#1/last_sync_node2"),
            "2026-12-08 00:32:12.328814\n",
        )
        .unwrap();
        std::fs::write(
            svc.join("sync#i0/last_sync_node2"),
            "2026-12-08 00:32:12.3\n",
        )
        .unwrap();
        let script = Script::fill(
            LAST_SYNCS,
            &[
                ("dir", &ShellWord::quote(&svc.to_string_lossy())),
                ("node", &ShellWord::quote("node2")),
            ],
        );
        let out = std::process::Command::new("sh")
            .args(["-c", script.as_str()])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let got = parse_last_syncs(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            got,
            [
                LastSync {
                    rid: "sync#1".into(),
                    unix_ms: Some(1_796_689_932_328)
                },
                LastSync {
                    rid: "sync#2".into(),
                    unix_ms: None
                },
            ]
        );
    }
}
