//! Game day history: each run's JSON kept under `--history DIR`, listed by
//! `tandem failover-test history`, and drawn in the next run's HTML report.

use crate::cli::Tandem;
use crate::failover::{cookbook_lab, game_day};

#[test]
fn game_days_are_kept_listed_and_compared_in_the_report() {
    let lab = cookbook_lab();
    let dir = lab.dir().join("history");
    let history = dir.to_str().unwrap();
    let first_page = lab.dir().join("first.html");
    let second_page = lab.dir().join("second.html");

    let first = game_day(
        &lab,
        &[
            "--history",
            history,
            "--report",
            first_page.to_str().unwrap(),
        ],
    );
    first.expect_code(0);
    // The first run has nothing to be compared with.
    let page = std::fs::read_to_string(&first_page).unwrap();
    assert!(!page.contains("<section id=\"history\">"));

    let second = game_day(
        &lab,
        &[
            "--history",
            history,
            "--report",
            second_page.to_str().unwrap(),
        ],
    );
    second.expect_code(0);

    // Both kept, exactly as --json printed them.
    let listed = Tandem::new(["failover-test", "history", "--json", "--history"])
        .run_with(&dir, &["--cluster", "pair1"]);
    listed.expect_code(0);
    let doc = listed.json();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{doc}");
    for (run, printed) in runs.iter().zip([first.json(), second.json()]) {
        assert_eq!(run["verdict"], "pass");
        assert_eq!(run["scenario"], "switch");
        assert_eq!(run["downtime_ms"], printed["downtime_ms"], "{doc}");
        let kept: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run["file"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(kept, printed);
    }
    // The second flip went back: from node2.
    assert_eq!(second.json()["from"], "node2");

    let table = Tandem::new(["failover-test", "history", "--history"]).run_with(&dir, &[]);
    table.expect_code(0);
    let out = table.stdout();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.lines().nth(1).unwrap().contains("pair1"), "{out}");
    assert!(out.contains("2 game days in"), "{out}");
    let other = Tandem::new(["failover-test", "history", "--json", "--history"])
        .run_with(&dir, &["--cluster", "pair9"]);
    assert_eq!(other.json()["runs"], serde_json::json!([]));

    // The second report draws itself against the first: a bar per run, each the first flip's
    // downtime cut into its phases' shares of the outage (those with a share), and `other` for
    // what no phase covered.
    let page = std::fs::read_to_string(&second_page).unwrap();
    assert!(
        page.contains("<section id=\"history\">"),
        "no history section"
    );
    assert!(
        page.contains("the 1 earlier game days of cluster pair1"),
        "{page}"
    );
    let bars: Vec<Vec<(String, u64)>> = [first.json(), second.json()]
        .iter()
        .map(|doc| shares(&doc["flips"][0]))
        .collect();
    let expected: usize = bars.iter().map(Vec::len).sum();
    assert!(expected >= 2, "{bars:?}");
    assert_eq!(
        page.matches("<rect class=\"phase\"").count(),
        expected,
        "{bars:?}"
    );
    assert!(page.contains("(this run)"));
    for (name, ms) in &bars[1] {
        assert!(
            page.contains(&format!("data-phase=\"{name}\" data-ms=\"{ms}\"")),
            "{name} {ms}: {page}"
        );
    }
}

/// A flip's bar as the report must draw it: each phase's share of the outage (`outage_ms`),
/// those above 0, then `other` for the rest of the downtime.
fn shares(flip: &serde_json::Value) -> Vec<(String, u64)> {
    let downtime = flip["downtime_ms"].as_u64().unwrap();
    let mut bar: Vec<(String, u64)> = flip["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["outage_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    let shared: u64 = bar.iter().map(|p| p.1).sum();
    bar.retain(|p| p.1 > 0);
    if downtime > shared {
        bar.push(("other".to_string(), downtime - shared));
    }
    bar
}
