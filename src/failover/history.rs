//! Every game day's JSON, kept: one file per run under a directory (`--history DIR`, by default
//! `$XDG_STATE_HOME/tandem/game-days` or `~/.local/state/tandem/game-days`), read back by
//! `tandem failover-test history` and by the HTML report, which draws this run against the
//! previous ones of the same cluster and scenario.
//!
//! The files are the report JSON exactly as `--json` prints it, so that a run kept by an older
//! tandem still reads: only a few fields are read back, each optional.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// A history directory or file that could not be read or written; `Display` names the path.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Every name for this second is taken (a thousand runs in one second).
    #[error("{}: too many runs in one second", .dir.display())]
    TooMany { dir: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The scenario of a report that names none (the planned switch, the only one before
/// scenarios existed).
pub const DEFAULT_SCENARIO: &str = "switch";

/// The default directory, from the environment as the XDG base directory spec says; `None`
/// when neither `XDG_STATE_HOME` nor `HOME` is set.
pub fn default_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let state = match env("XDG_STATE_HOME").filter(|v| v.starts_with('/')) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env("HOME").filter(|v| !v.is_empty())?).join(".local/state"),
    };
    Some(state.join("tandem").join("game-days"))
}

/// One kept game day, as the listing and the chart show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastRun {
    pub file: PathBuf,
    pub cluster: String,
    pub scenario: String,
    /// `2026-12-02 11:00:00 UTC`, as the report says.
    pub started_at: String,
    pub verdict: String,
    pub downtime_ms: u64,
    pub flips: usize,
    /// The first flip's downtime split into its phases (name, ms), in order.
    pub phases: Vec<(String, u64)>,
}

impl PastRun {
    /// The fields of a report's JSON; `None` when it is not a game day report.
    pub fn from_json(file: &Path, doc: &Value) -> Option<PastRun> {
        let cluster = doc.get("cluster")?.as_str()?.to_string();
        let verdict = doc.get("verdict")?.as_str()?.to_string();
        let flips = doc.get("flips").and_then(Value::as_array);
        Some(PastRun {
            file: file.to_path_buf(),
            cluster,
            scenario: doc
                .get("scenario")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_SCENARIO)
                .to_string(),
            started_at: doc
                .get("started_at")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            verdict,
            downtime_ms: doc.get("downtime_ms").and_then(Value::as_u64).unwrap_or(0),
            flips: flips.map_or(0, Vec::len),
            phases: flips
                .and_then(|f| f.first())
                .map(phases_of)
                .unwrap_or_default(),
        })
    }
}

/// A flip's phases: its own `phases` list when the report has one, each phase's share of the
/// outage (`outage_ms`, see `failover::phases`) with the part no phase covered as `other`
/// (lists without shares: each `duration_ms`); otherwise the part of the outage the OVH task
/// covers and the rest.
fn phases_of(flip: &Value) -> Vec<(String, u64)> {
    let downtime = flip.get("downtime_ms").and_then(Value::as_u64).unwrap_or(0);
    if let Some(list) = flip.get("phases").and_then(Value::as_array) {
        let field = if list.iter().all(|p| p.get("outage_ms").is_some()) {
            "outage_ms"
        } else {
            "duration_ms"
        };
        let mut phases: Vec<(String, u64)> = list
            .iter()
            .filter_map(|p| {
                Some((
                    p.get("name")?.as_str()?.to_string(),
                    p.get(field)?.as_u64()?,
                ))
            })
            .collect();
        if field == "outage_ms" {
            let shared: u64 = phases.iter().map(|p| p.1).sum();
            phases.retain(|p| p.1 > 0);
            if downtime > shared {
                phases.push(("other".to_string(), downtime - shared));
            }
        }
        if !phases.is_empty() {
            return phases;
        }
    }
    let task = flip
        .pointer("/task/duration_ms")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(downtime);
    vec![
        ("OVH task".to_string(), task),
        ("other".to_string(), downtime - task),
    ]
}

/// `pair1` as a file name's part: letters, digits, `-` and `_` kept, anything else `_`.
pub fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `2026-12-02 10:00:00 UTC` as `20261202100000`: a start time's digits, for file names that
/// sort in time order.
pub fn stamp(started_at: &str) -> String {
    started_at.chars().filter(char::is_ascii_digit).collect()
}

/// Keeps `doc` under `dir` (made if missing), named after its cluster and start so that a
/// listing of the directory reads in order; returns the file.
pub fn save(dir: &Path, doc: &Value) -> Result<PathBuf, HistoryError> {
    let cluster = doc
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or("cluster");
    let stamp = stamp(doc.get("started_at").and_then(Value::as_str).unwrap_or(""));
    let safe = file_safe(cluster);
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    // Two runs in the same second (tests, a retry) get their own files.
    for n in 0..1000 {
        let name = if n == 0 {
            format!("{stamp}-{safe}.json")
        } else {
            format!("{stamp}-{safe}-{n}.json")
        };
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        match file {
            Ok(file) => {
                if let Err(source) = serde_json::to_writer_pretty(&file, doc) {
                    return Err(HistoryError::Json { path, source });
                }
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
    Err(HistoryError::TooMany {
        dir: dir.to_path_buf(),
    })
}

/// Every kept run of `dir`, oldest first, filtered by cluster and scenario; files that are not
/// game day reports are skipped. A missing directory is an empty history.
pub fn load(
    dir: &Path,
    cluster: Option<&str>,
    scenario: Option<&str>,
) -> Result<Vec<PastRun>, HistoryError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(run) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|doc| PastRun::from_json(&path, &doc))
        else {
            continue;
        };
        if cluster.is_some_and(|c| c != run.cluster) || scenario.is_some_and(|s| s != run.scenario)
        {
            continue;
        }
        // Two runs of the same second: the one written first comes first.
        let written = entry.metadata().and_then(|m| m.modified()).ok();
        runs.push((written, run));
    }
    runs.sort_by(|(wa, a), (wb, b)| {
        (&a.started_at, wa, &a.file).cmp(&(&b.started_at, wb, &b.file))
    });
    Ok(runs.into_iter().map(|(_, run)| run).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(cluster: &str, started: &str, downtime: u64, task: u64) -> Value {
        json!({
            "verdict": "pass", "cluster": cluster, "started_at": started,
            "downtime_ms": downtime,
            "flips": [{"downtime_ms": downtime, "task": {"duration_ms": task}}],
        })
    }

    #[test]
    fn the_default_dir_follows_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            default_dir(env(&[("XDG_STATE_HOME", "/s"), ("HOME", "/h")])),
            Some(PathBuf::from("/s/tandem/game-days"))
        );
        // A relative XDG_STATE_HOME is invalid per the spec: ignored.
        assert_eq!(
            default_dir(env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.local/state/tandem/game-days"))
        );
        assert_eq!(default_dir(env(&[])), None);
    }

    #[test]
    fn runs_are_kept_and_read_back_in_order_and_filtered() {
        let dir = std::env::temp_dir().join(format!("tandem-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let second = save(
            &dir,
            &report("pair1", "2026-12-02 11:00:05 UTC", 2300, 2000),
        )
        .unwrap();
        let first = save(&dir, &report("pair1", "2026-12-02 10:00:00 UTC", 900, 1200)).unwrap();
        let same_second = save(
            &dir,
            &report("pair1", "2026-12-02 11:00:05 UTC", 2400, 2000),
        )
        .unwrap();
        assert_ne!(second, same_second);
        save(&dir, &report("pair2", "2026-12-02 09:00:00 UTC", 100, 50)).unwrap();
        std::fs::write(dir.join("notes.json"), "{\"not\": \"a report\"}").unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();

        let runs = load(&dir, Some("pair1"), None).unwrap();
        let files: Vec<&Path> = runs.iter().map(|r| r.file.as_path()).collect();
        assert_eq!(
            files,
            [first.as_path(), second.as_path(), same_second.as_path()]
        );
        assert_eq!(runs[0].scenario, "switch");
        // The task part never exceeds the outage it explains.
        assert_eq!(
            runs[0].phases,
            [("OVH task".to_string(), 900), ("other".to_string(), 0)]
        );
        assert_eq!(
            runs[1].phases,
            [("OVH task".to_string(), 2000), ("other".to_string(), 300)]
        );
        assert_eq!(load(&dir, None, None).unwrap().len(), 4);
        assert!(load(&dir, None, Some("node-crash")).unwrap().is_empty());
        assert!(load(&dir.join("missing"), None, None).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_report_with_its_own_phases_keeps_them() {
        let doc = json!({"verdict": "fail", "cluster": "c", "scenario": "node-crash",
            "flips": [{"downtime_ms": 5000, "phases": [
                {"name": "detection", "duration_ms": 3000},
                {"name": "OVH task", "duration_ms": 1500}]}]});
        let run = PastRun::from_json(Path::new("x.json"), &doc).unwrap();
        assert_eq!(run.scenario, "node-crash");
        assert_eq!(
            run.phases,
            [
                ("detection".to_string(), 3000),
                ("OVH task".to_string(), 1500)
            ]
        );
        assert!(PastRun::from_json(Path::new("y.json"), &json!({"hosts": {}})).is_none());
    }

    /// The chart stacks shares of the outage: phases that overlap (the OVH task beside the
    /// stop) are not counted twice, and what no phase covered is `other`.
    #[test]
    fn phases_with_their_share_of_the_outage_are_charted_by_share() {
        let doc = json!({"verdict": "pass", "cluster": "c",
            "flips": [{"downtime_ms": 3100, "phases": [
                {"name": "stop", "duration_ms": 2000, "outage_ms": 0},
                {"name": "OVH task", "duration_ms": 2800, "outage_ms": 2100},
                {"name": "start", "duration_ms": 500, "outage_ms": 500},
                {"name": "first answer", "duration_ms": 400, "outage_ms": 400}]}]});
        let run = PastRun::from_json(Path::new("x.json"), &doc).unwrap();
        assert_eq!(
            run.phases,
            [
                ("OVH task".to_string(), 2100),
                ("start".to_string(), 500),
                ("first answer".to_string(), 400),
                ("other".to_string(), 100)
            ]
        );
    }

    #[test]
    fn a_history_that_is_a_file_is_an_error_naming_it() {
        let file = std::env::temp_dir().join(format!("tandem-history-file-{}", std::process::id()));
        std::fs::write(&file, "not a directory").unwrap();
        let err = load(&file, None, None).unwrap_err();
        assert!(matches!(err, HistoryError::Io { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{}: Not a directory (os error 20)", file.display())
        );
        let err = save(&file, &report("pair1", "2026-12-02 10:00:00 UTC", 1, 1)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", file.display())),
            "{err}"
        );
        std::fs::remove_file(&file).unwrap();
    }
}
