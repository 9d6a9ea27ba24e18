//! `tandem vip status|move` against the lab's OVH API simulator, which really re-routes the VIP
//! in the root namespace when a move task is done.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};

/// What an HTTP request got back.
struct Answer {
    status: u16,
    headers: String,
    body: Value,
}

/// One HTTP/1.1 request to the simulator (plain std: no HTTP client in the tests' deps).
fn http(url: &str, method: &str, headers: &[(&str, String)], body: &str) -> Answer {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).expect("connect to the simulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Answer {
        status,
        headers: head.to_ascii_lowercase(),
        body: serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_string())),
    }
}

/// Turns the simulator's fault knobs; returns the knobs and counters.
pub fn faults(lab: &TempLab, knobs: Value) -> Value {
    let api = lab.ovh_api().expect("the lab has an OVH API simulator");
    let answer = http(
        &format!("{}/_lab/faults", api.control_url()),
        "POST",
        &[],
        &knobs.to_string(),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn counters(lab: &TempLab) -> Value {
    faults(lab, json!({}))
}

/// The next hop of the root namespace's route to `vip`, as the kernel resolves it.
pub fn route_via(vip: Ipv4Addr) -> Option<Ipv4Addr> {
    let out = Command::new("ip")
        .args(["-4", "-o", "route", "show", &format!("{vip}/32")])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    let via = words.iter().position(|w| *w == "via")?;
    words.get(via + 1)?.parse().ok()
}

fn vip(lab: &TempLab) -> Ipv4Addr {
    lab.clusters()[0].vip
}

fn address(lab: &TempLab, node: &str) -> Ipv4Addr {
    lab.node(node).address
}

fn status_json(lab: &TempLab) -> Value {
    let run = Tandem::new(["vip", "status", "--json", "-i"]).run_with(&lab.inventory(), &[]);
    run.expect_code(0);
    run.json()
}

/// `tandem vip move --cluster pair1 --to NODE` with fast polling and retries, plus `extra`.
fn move_to(lab: &TempLab, node: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "--cluster",
        "pair1",
        "--to",
        node,
        "--poll-interval",
        "0.2",
        "--retry-base-ms",
        "50",
    ];
    args.extend_from_slice(extra);
    Tandem::new(["vip", "move", "-i"]).run_with(&lab.inventory(), &args)
}

/// The key `name` of the lab's ovh.conf.
fn conf_value(lab: &TempLab, name: &str) -> String {
    let text = std::fs::read_to_string(lab.ovh_conf()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in ovh.conf:\n{text}"))
        .to_string()
}

/// A request signed by hand with the given secret and consumer key (tandem's signing function,
/// checked against the official vectors in its unit tests).
fn signed(lab: &TempLab, method: &str, path: &str, body: &str, secret: &str, ck: &str) -> Answer {
    let base = lab.ovh_api().unwrap().url.clone();
    let time = http(&format!("{base}/auth/time"), "GET", &[], "");
    assert_eq!(time.status, 200);
    let ts = time.body.as_i64().expect("a bare integer");
    let url = format!("{base}{path}");
    let signature = tandem::ovh::sign(secret, ck, method, &url, body, ts);
    let headers = [
        ("X-Ovh-Application", conf_value(lab, "application_key")),
        ("X-Ovh-Consumer", ck.to_string()),
        ("X-Ovh-Timestamp", ts.to_string()),
        ("X-Ovh-Signature", signature),
        ("Content-Type", "application/json".to_string()),
    ];
    http(&url, method, &headers, body)
}

#[test]
fn vip_status_shows_the_first_node() {
    let lab = TempLab::new(2);
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node1")));
    let report = status_json(&lab);
    let pair1 = &report["clusters"]["pair1"];
    assert_eq!(pair1["vip"], vip(&lab).to_string(), "{report}");
    assert_eq!(pair1["service_name"], "node1.lab.invalid", "{report}");
    assert_eq!(pair1["node"], "node1", "{report}");

    let text =
        Tandem::new(["vip", "status", "--cluster", "pair1", "-i"]).run_with(&lab.inventory(), &[]);
    text.expect_code(0);
    let rows: Vec<Vec<String>> = text
        .stdout()
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["CLUSTER", "VIP", "ROUTED", "TO", "(OVH", "SERVICE)", "NODE"]
                .map(String::from)
                .to_vec(),
            vec![
                "pair1".into(),
                vip(&lab).to_string(),
                "node1.lab.invalid".into(),
                "node1".into()
            ],
        ],
        "{}",
        text.stdout()
    );

    // A second lab running at the same time gets VIPs of its own.
    let other = TempLab::new(3);
    let mine: Vec<Ipv4Addr> = lab.clusters().iter().map(|c| c.vip).collect();
    for cluster in other.clusters() {
        assert!(!mine.contains(&cluster.vip), "{} reused", cluster.vip);
    }
    assert_eq!(route_via(vip(&other)), Some(address(&other, "node1")));
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node1")));
}

#[test]
fn vip_move_reroutes_the_vip_and_a_second_move_is_skipped() {
    let lab = TempLab::new(2);
    let run = move_to(&lab, "node2", &[]);
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.contains("move task 1 created (todo)"), "{out}");
    assert!(out.contains("task 1: todo -> doing"), "{out}");
    assert!(out.contains("task 1: doing -> done"), "{out}");
    assert!(
        out.lines().last().unwrap().starts_with(&format!(
            "VIP {} of pair1 moved to node2 (node2.lab.invalid): task 1 took",
            vip(&lab)
        )),
        "{out}"
    );
    // Really re-routed in the root namespace, and OVH says so too.
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node2")));
    assert_eq!(status_json(&lab)["clusters"]["pair1"]["node"], "node2");

    let again = move_to(&lab, "node2", &["--json"]);
    again.expect_code(0);
    let report = again.json();
    assert_eq!(report["outcome"], "skipped", "{report}");
    assert_eq!(counters(&lab)["moves"], 1);
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node2")));
}

#[test]
fn vip_move_retries_500_and_429_answers() {
    let lab = TempLab::new(2);
    faults(
        &lab,
        json!({"fail_next": 3, "fail_status": 500, "task_duration_ms": 600}),
    );
    let run = move_to(&lab, "node2", &[]);
    run.expect_code(0);
    assert!(run.stdout().contains(": HTTP 500 in"), "{}", run.stdout());
    assert!(run.stdout().contains("retrying GET"), "{}", run.stdout());
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node2")));
    assert_eq!(counters(&lab)["faults_served"], 3);

    faults(&lab, json!({"fail_next": 2, "fail_status": 429}));
    let back = move_to(&lab, "node1", &["--json"]);
    back.expect_code(0);
    let report = back.json();
    assert_eq!(report["outcome"], "moved", "{report}");
    let retries = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "retrying")
        .count();
    assert_eq!(retries, 2, "{report}");
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node1")));
    assert_eq!(counters(&lab)["faults_served"], 5);
}

#[test]
fn vip_move_fails_on_an_ovh_error_task_and_on_a_task_that_never_ends() {
    let lab = TempLab::new(2);
    faults(
        &lab,
        json!({"next_task": "ovhError", "task_duration_ms": 400}),
    );
    let run = move_to(&lab, "node2", &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "OVH move task 1 ended in status ovhError: Simulated OVH failure (fault injected by the lab)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout().contains("move failed:"), "{}", run.stdout());
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node1")));

    faults(&lab, json!({"next_task": "stuck"}));
    let started = Instant::now();
    let stuck = move_to(&lab, "node2", &["--timeout", "3"]);
    stuck.expect_code(1);
    assert!(
        stuck.stderr.contains("OVH move task 2 still doing after"),
        "{}",
        stuck.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node1")));
    assert_eq!(status_json(&lab)["clusters"]["pair1"]["node"], "node1");
}

#[test]
fn the_simulator_refuses_bad_credentials_and_lags_its_task_list() {
    let lab = TempLab::new(2);
    let secret = conf_value(&lab, "application_secret");
    let ck = conf_value(&lab, "consumer_key");
    let path = format!("/ip/{}%2F32", vip(&lab));

    let good = signed(&lab, "GET", &path, "", &secret, &ck);
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.body["routedTo"]["serviceName"], "node1.lab.invalid");
    assert_eq!(good.body["ip"], format!("{}/32", vip(&lab)));
    assert_eq!(good.body["type"], "failover");

    let bad = signed(&lab, "GET", &path, "", "not-the-secret", &ck);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["message"], "Invalid signature");
    assert_eq!(bad.body["errorCode"], "INVALID_SIGNATURE");
    assert!(bad.headers.contains("x-ovh-queryid: "), "{}", bad.headers);

    let unknown_ck = signed(&lab, "GET", &path, "", &secret, "nobody");
    assert_eq!(unknown_ck.status, 403);
    assert_eq!(unknown_ck.body["message"], "This credential does not exist");

    let missing = signed(&lab, "GET", "/ip/192.0.2.1", "", &secret, &ck);
    assert_eq!(missing.status, 404, "{}", missing.body);
    let nowhere = signed(
        &lab,
        "POST",
        &format!("{path}/move"),
        r#"{"to":"nope.lab.invalid"}"#,
        &secret,
        &ck,
    );
    assert_eq!(nowhere.status, 400, "{}", nowhere.body);
    let same = signed(
        &lab,
        "POST",
        &format!("{path}/move"),
        r#"{"to":"node1.lab.invalid"}"#,
        &secret,
        &ck,
    );
    assert_eq!(same.status, 400, "{}", same.body);

    // A move: at once in GET task/{id}, in the task list only a while later.
    faults(&lab, json!({"task_duration_ms": 5000, "list_lag_ms": 800}));
    let task = signed(
        &lab,
        "POST",
        &format!("{path}/move"),
        r#"{"to":"node2.lab.invalid"}"#,
        &secret,
        &ck,
    );
    assert_eq!(task.status, 200, "{}", task.body);
    assert_eq!(task.body["function"], "genericMoveFloatingIp");
    assert_eq!(task.body["status"], "todo");
    let id = task.body["taskId"].as_u64().unwrap();
    let list = |lab: &TempLab| {
        signed(
            lab,
            "GET",
            &format!("{path}/task?function=genericMoveFloatingIp&status=todo"),
            "",
            &secret,
            &ck,
        )
        .body
    };
    assert_eq!(list(&lab), json!([]), "the new task must not be listed yet");
    let one = signed(&lab, "GET", &format!("{path}/task/{id}"), "", &secret, &ck);
    assert_eq!(one.body["taskId"], id);
    let deadline = Instant::now() + Duration::from_secs(5);
    while list(&lab) != json!([id]) {
        assert!(
            Instant::now() < deadline,
            "task {id} never showed in the list"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // With --wait-pending, tandem waits for that pending move (the preflight would refuse
    // otherwise), then finds nothing left to do.
    let run = move_to(&lab, "node2", &["--wait-pending"]);
    run.expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains(&format!("another move of this VIP is pending (task {id}")),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("is already routed to node2 (node2.lab.invalid): nothing to do"),
        "{out}"
    );
    assert_eq!(counters(&lab)["moves"], 1);
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node2")));
}

#[test]
fn a_world_readable_ovh_conf_and_bad_flags_are_refused_with_exit_2() {
    let lab = TempLab::new(2);
    let conf = lab.ovh_conf();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = Tandem::new(["vip", "status", "-i"]).run_with(&lab.inventory(), &[]);
    run.expect_code(2);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "tandem: error: {0}: mode 0644 lets group or others read or change the OVH \
             credentials in it: run `chmod 600 {0}`",
            conf.display()
        )
    );
    assert!(!run.stderr.contains(&conf_value(&lab, "application_secret")));
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();

    let bad_node = move_to(&lab, "node9", &[]);
    bad_node.expect_code(2);
    assert!(
        bad_node
            .stderr
            .contains("--to node9: not a node of cluster pair1 (its nodes: node1, node2)"),
        "{}",
        bad_node.stderr
    );
    let bad_cluster = Tandem::new(["vip", "move", "--cluster", "nope", "--to", "node2", "-i"])
        .run_with(&lab.inventory(), &[]);
    bad_cluster.expect_code(2);
    assert!(
        bad_cluster.stderr.contains("--cluster nope: ")
            && bad_cluster
                .stderr
                .contains(" has no such cluster (it has: pair1)"),
        "{}",
        bad_cluster.stderr
    );
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node1")));
    assert_eq!(counters(&lab)["requests"], 0);
}

/// A move is under way (started by hand, hidden for a while by the lagging task list); tandem's
/// POST gets a 500 (the fault knob), is retried, and the retry is refused with 409 because of
/// that move. tandem must treat the 409 as a move under way (wait for it, find the VIP where it
/// was asked to go, exit 0), not as retries running out ("gave up", exit 1) while OVH moves it.
#[test]
fn a_retried_move_refused_with_409_waits_for_the_move_under_way() {
    let lab = TempLab::new(2);
    let secret = conf_value(&lab, "application_secret");
    let ck = conf_value(&lab, "consumer_key");
    let path = format!("/ip/{}%2F32", vip(&lab));
    faults(&lab, json!({"task_duration_ms": 2500, "list_lag_ms": 600}));
    let task = signed(
        &lab,
        "POST",
        &format!("{path}/move"),
        r#"{"to":"node2.lab.invalid"}"#,
        &secret,
        &ck,
    );
    assert_eq!(task.status, 200, "{}", task.body);
    faults(
        &lab,
        json!({"fail_next": 1, "fail_status": 500, "fail_only": "POST /1.0/ip/"}),
    );
    let run = move_to(&lab, "node2", &["--json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["error"], Value::Null, "{report}");
    let texts: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    let answered = |status: &str| {
        texts
            .iter()
            .any(|t| t.starts_with("<- POST ") && t.contains(&format!(": HTTP {status} ")))
    };
    assert!(answered("500") && answered("409"), "{texts:#?}");
    let counters = counters(&lab);
    assert_eq!(counters["faults_served"], 1, "{counters}");
    assert_eq!(counters["moves"], 1, "only the move under way: {counters}");
    assert_eq!(route_via(vip(&lab)), Some(address(&lab, "node2")));
}
