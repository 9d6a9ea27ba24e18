//! OVH API faults during a game day (`tandem failover-test --direct`): whatever the API does,
//! the game day ends with the VIP routed to a node whose service answers (probed from the lab
//! after tandem exits, and again once every move OVH still had under way has ended), tandem's
//! exit status and report say what happened, and a clean game day right after it passes.
//!
//! Already proven in failover.rs (`a_failed_move_restores_the_vip_and_the_service`): a few 5xx
//! and 429 answers on any request, a task ending in `ovhError`, a task stuck in `doing`. Here:
//! faults aimed at the move's POST and at the task polls, a task stuck in `todo`, a task slower
//! than the move timeout, a slow task within it, `ovhError` with failing polls, and a move
//! already under way that the lagging task list hides.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_integration::lab::TempLab;

use crate::cli::{Run, tandem_bin};
use crate::failover::{cookbook_lab, game_day, node_address, vip, who_serves};
use crate::vip::{faults, route_via};

/// Fast polls and retries: the lab's tasks take seconds, not a minute.
const FAST: [&str; 4] = ["--poll-interval", "0.2", "--retry-base-ms", "50"];

/// The knobs as the lab starts them, no fault left armed.
fn clean_knobs() -> Value {
    json!({"fail_next": 0, "fail_status": 500, "fail_only": "", "next_task": "normal",
           "task_duration_ms": 2000, "list_lag_ms": 1000})
}

/// The node OVH routes the VIP to, as the lab's kernel really routes it.
fn holder(lab: &TempLab) -> String {
    let via: Option<Ipv4Addr> = route_via(vip(lab));
    ["node1", "node2"]
        .into_iter()
        .find(|n| Some(node_address(lab, n)) == via)
        .unwrap_or_else(|| panic!("the VIP is routed via {via:?}, neither node"))
        .to_string()
}

fn other(node: &str) -> &'static str {
    if node == "node1" { "node2" } else { "node1" }
}

/// The VIP's node answers as itself, within a few seconds (the restore may have just started it).
fn assert_serving(lab: &TempLab, context: &str) -> String {
    let node = holder(lab);
    let expected = format!("web on {node}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = who_serves(lab);
        if seen == expected {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "{context}: the VIP is routed to {node} but the VIP answers {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fast_game_day(lab: &TempLab, extra: &[&str]) -> Run {
    let mut args = FAST.to_vec();
    args.extend_from_slice(extra);
    game_day(lab, &args)
}

/// One line of plain text for the suite's counts (see the project's hardening rules).
pub fn write_count(name: &str, line: &str) {
    let dir =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("target/hardening");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), format!("{line}\n")).unwrap();
}

/// What one faulty game day must show.
struct Fault<'a> {
    /// File name part and the words of the count line.
    name: &'a str,
    what: &'a str,
    knobs: Value,
    args: &'a [&'a str],
    /// The flip cannot succeed: exit 1 and verdict fail; else it must pass anyway.
    fails: bool,
    /// Said on stderr.
    says: &'a [&'a str],
    /// Where the VIP and the service must end: the node that held it before (`false`) or the
    /// target (`true`).
    ends_on_target: bool,
    /// How long OVH may still be moving things after tandem exits (the route is checked again
    /// after this).
    settle: Duration,
}

/// Runs the faulty game day, checks where everything ended, then a clean game day.
fn survive(lab: &TempLab, fault: Fault) {
    let from = assert_serving(lab, "before the fault");
    let to = other(&from);
    faults(lab, clean_knobs());
    faults(lab, fault.knobs.clone());
    let run = fast_game_day(lab, fault.args);
    let context = format!("{}:\n{}", fault.name, run.stderr);
    run.expect_code(if fault.fails { 1 } else { 0 });
    let report = run.json();
    assert_eq!(
        report["verdict"],
        if fault.fails { "fail" } else { "pass" },
        "{context}"
    );
    for needle in fault.says {
        assert!(run.stderr.contains(needle), "{needle:?} missing: {context}");
    }
    let expected = if fault.ends_on_target {
        to
    } else {
        from.as_str()
    };
    assert_eq!(assert_serving(lab, &context), expected, "{context}");
    // A move OVH finishes after tandem is gone must not take the VIP away from the service.
    std::thread::sleep(fault.settle);
    assert_eq!(assert_serving(lab, &context), expected, "{context}");
    assert!(
        !run.stderr.contains("THE VIP") || fault.says.iter().any(|s| s.contains("ALARM")),
        "an alarm nobody expected: {context}"
    );

    // Faults cleared (and any task stuck for good ended, as OVH's support would): a clean
    // game day passes and moves the service to the other node.
    faults(lab, clean_knobs());
    faults(lab, json!({"end_pending": "cancelled"}));
    let clean = fast_game_day(lab, &[]);
    clean.expect_code(0);
    assert_eq!(clean.json()["verdict"], "pass", "{}", clean.stderr);
    let now = assert_serving(lab, "after the clean game day");
    assert_eq!(now, other(expected), "{}", clean.stderr);
    write_count(
        &format!("faults-ovh-{}", fault.name),
        &format!(
            "fault survived: {}: VIP on {expected}, serving; a clean game day after it passed (VIP on {now}, serving)",
            fault.what
        ),
    );
}

#[test]
fn api_faults_aimed_at_the_move_and_its_polls_end_with_the_vip_on_a_serving_node() {
    let lab = cookbook_lab();
    survive(
        &lab,
        Fault {
            name: "post-5xx-retried",
            what: "two 503 answers to the move's POST",
            knobs: json!({"fail_next": 2, "fail_status": 503, "fail_only": "POST /1.0/ip/"}),
            args: &[],
            fails: false,
            says: &["/move -> 503", "retrying POST"],
            ends_on_target: true,
            settle: Duration::ZERO,
        },
    );
    survive(
        &lab,
        Fault {
            name: "post-5xx-exhausted",
            what: "the move's POST answers 500 every time (retries exhausted, no task)",
            knobs: json!({"fail_next": 6, "fail_status": 500, "fail_only": "POST /1.0/ip/"}),
            args: &[],
            fails: true,
            says: &["/move -> 500", "service back on"],
            ends_on_target: false,
            settle: Duration::from_secs(1),
        },
    );
    survive(
        &lab,
        Fault {
            name: "polls-5xx-exhausted",
            what: "every poll of the move task answers 502 until tandem gives up on it, while OVH completes the move",
            knobs: json!({"fail_next": 6, "fail_status": 502, "fail_only": "/task/",
                          "task_duration_ms": 4000}),
            args: &[],
            fails: true,
            says: &["-> 502", "retrying GET", "service back on"],
            ends_on_target: true,
            settle: Duration::from_secs(4),
        },
    );
    survive(
        &lab,
        Fault {
            name: "ovh-error-with-failing-polls",
            what: "429 on the task polls, then the task ends in ovhError",
            knobs: json!({"fail_next": 3, "fail_status": 429, "fail_only": "/task/",
                          "next_task": "ovhError"}),
            args: &[],
            fails: true,
            says: &["-> 429", "ovhError", "service back on"],
            ends_on_target: false,
            settle: Duration::from_secs(1),
        },
    );
    survive(
        &lab,
        Fault {
            name: "task-stuck-in-todo",
            what: "a task stuck in todo past the move timeout",
            knobs: json!({"next_task": "stuck", "task_duration_ms": 600000}),
            args: &["--move-timeout", "3"],
            fails: true,
            says: &[
                "still todo",
                "service back on",
                "ALARM: a move of",
                "may still be pending",
            ],
            ends_on_target: false,
            settle: Duration::from_secs(1),
        },
    );
    survive(
        &lab,
        Fault {
            name: "task-slower-than-the-timeout",
            what: "a task that ends after the move timeout, while tandem restores",
            knobs: json!({"task_duration_ms": 5000}),
            args: &["--move-timeout", "3"],
            fails: true,
            says: &["gave up waiting", "service back on"],
            ends_on_target: true,
            settle: Duration::from_secs(4),
        },
    );
    survive(
        &lab,
        Fault {
            name: "slow-task",
            what: "a slow task (6 s) within the move timeout",
            knobs: json!({"task_duration_ms": 6000}),
            args: &["--rto", "10"],
            fails: false,
            says: &[],
            ends_on_target: true,
            settle: Duration::ZERO,
        },
    );
}

/// Someone else's `tandem vip move` of the same VIP, started in the background.
fn move_in_background(lab: &TempLab, to: &str) -> Child {
    Command::new(tandem_bin())
        .args(["vip", "move", "-i"])
        .arg(lab.inventory())
        .args(["--cluster", "pair1", "--to", to, "--poll-interval", "0.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tandem runs")
}

/// OVH's task list lags: a move already under way is invisible to the game day's first look,
/// and OVH refuses its own move (409). The game day must wait for that move (the list shows it
/// a moment later), find the VIP where it wanted it, and finish the switch there.
#[test]
fn a_move_hidden_by_the_lagging_task_list_ends_with_the_vip_on_a_serving_node() {
    let lab = cookbook_lab();
    assert_eq!(assert_serving(&lab, "before"), "node1");
    faults(&lab, json!({"task_duration_ms": 5000, "list_lag_ms": 2500}));
    let mut other_move = move_in_background(&lab, "node2");
    // Its task exists (the counters say so) but the list does not show it yet.
    let deadline = Instant::now() + Duration::from_secs(5);
    while faults(&lab, json!({}))["moves"] == 0 {
        assert!(
            Instant::now() < deadline,
            "the background move never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The outage lasts about the whole 5 s task (the game day starts just after it): a budget of
    // 10 s keeps the verdict about the hidden move, not about a few ms over the lab's 5 s RTO.
    let run = fast_game_day(&lab, &["--to", "node2", "--rto", "10"]);
    let status = other_move.wait().unwrap();
    assert!(status.success(), "the background move failed");
    let context = run.stderr.clone();
    run.expect_code(0);
    assert_eq!(run.json()["verdict"], "pass", "{context}");
    assert!(run.stderr.contains("/move -> 409"), "{context}");
    assert!(
        run.stderr
            .contains("another move of this VIP is pending (task 1"),
        "{context}"
    );
    assert_eq!(assert_serving(&lab, &context), "node2");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(assert_serving(&lab, &context), "node2");

    faults(&lab, clean_knobs());
    let clean = fast_game_day(&lab, &[]);
    clean.expect_code(0);
    assert_eq!(assert_serving(&lab, "after the clean game day"), "node1");
    write_count(
        "faults-ovh-list-lag",
        "fault survived: a move already under way, hidden by the lagging task list (our POST got 409, tandem waited for it): VIP on node2, serving; a clean game day after it passed (VIP on node1, serving)",
    );
}
