use std::fs;
use std::time::Instant;

use serde_json::json;

use super::*;

const PATH: &str = "/etc/tandem/inv.yml";

fn parse(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::parse(text, Path::new(PATH))
}

/// The message of the error `text` must produce; also checks the one-line promise.
fn error(text: &str) -> String {
    let message = parse(text)
        .expect_err("inventory should be refused")
        .to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// A scratch file for the tests that need a real file; unique per test and process.
fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-inventory-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

const TWO_CLUSTERS: &str = "\
ssh:
  user: admin
  port: 2222
vars:
  a: global
  b: global
  c: global
clusters:
  pair1:
    vip: 203.0.113.1
    vars:
      b: pair1
      c: pair1
    nodes:
      node1:
        address: 198.18.3.11
        vars:
          c: node1
      node2:
        address: 198.18.3.12
        port: 22
        user: root
  db:
    nodes:
      db1: {address: db1.example.net}
      db2: {address: db2.example.net}
      web3: {address: 192.0.2.3}
";

// ---------------------------------------------------------------------------------------------
// The model

#[test]
fn parses_clusters_and_nodes_in_file_order() {
    let inventory = parse(TWO_CLUSTERS).unwrap();
    assert_eq!(inventory.path, Path::new(PATH));
    assert_eq!(inventory.ssh.user.as_deref(), Some("admin"));
    assert_eq!(inventory.ssh.port, Some(2222));
    let names: Vec<&str> = inventory.nodes().map(|node| node.name.as_str()).collect();
    assert_eq!(names, ["node1", "node2", "db1", "db2", "web3"]);
    let clusters: Vec<&str> = inventory.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(clusters, ["pair1", "db"]);

    let pair1 = inventory.cluster("pair1").unwrap();
    assert_eq!(pair1.vip, Some(Ipv4Addr::new(203, 0, 113, 1)));
    assert_eq!(inventory.cluster("db").unwrap().vip, None);
    assert!(inventory.cluster("node1").is_none());

    let node2 = inventory.node("node2").unwrap();
    assert_eq!(node2.cluster, "pair1");
    assert_eq!(node2.address, "198.18.3.12");
    assert_eq!(node2.port, Some(22));
    assert_eq!(node2.user.as_deref(), Some("root"));
    assert_eq!(node2.line, 19);
    assert_eq!(inventory.node("node1").unwrap().port, None);
    assert_eq!(inventory.node("db2").unwrap().line, 26);
    assert!(inventory.node("pair1").is_none());
}

#[test]
fn node_vars_merge_global_cluster_node() {
    let inventory = parse(TWO_CLUSTERS).unwrap();
    let vars = inventory.node_vars(inventory.node("node1").unwrap());
    assert_eq!(vars["a"], json!("global"));
    assert_eq!(vars["b"], json!("pair1"));
    assert_eq!(vars["c"], json!("node1"));
    let vars = inventory.node_vars(inventory.node("db1").unwrap());
    assert_eq!(vars["c"], json!("global"));
}

#[test]
fn paths_are_made_absolute() {
    let text = "\
ssh:
  identity: keys/id_ed25519
  known_hosts: /var/lib/tandem/known_hosts
clusters:
  c:
    nodes:
      n1: {address: a, identity: ../id_n1}
      n2: {address: b, identity: ~/.ssh/id_n2}
";
    let inventory = parse(text).unwrap();
    assert_eq!(
        inventory.ssh.identity.as_deref(),
        Some(Path::new("/etc/tandem/keys/id_ed25519"))
    );
    assert_eq!(
        inventory.ssh.known_hosts.as_deref(),
        Some(Path::new("/var/lib/tandem/known_hosts"))
    );
    assert_eq!(
        inventory.node("n1").unwrap().identity.as_deref(),
        Some(Path::new("/etc/tandem/../id_n1"))
    );
    if let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        assert_eq!(
            inventory.node("n2").unwrap().identity,
            Some(PathBuf::from(home).join(".ssh/id_n2"))
        );
    }

    // A relative inventory path still gives absolute paths.
    let inventory = Inventory::parse(text, Path::new("inv.yml")).unwrap();
    assert!(inventory.ssh.identity.unwrap().is_absolute());
}

#[test]
fn connect_timeout_is_a_duration() {
    let inventory =
        parse("ssh: {connect_timeout: 7}\nclusters: {c: {nodes: {n: {address: a}}}}\n").unwrap();
    assert_eq!(inventory.ssh.connect_timeout, Some(Duration::from_secs(7)));
}

#[test]
fn example_inventory_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/example.yml");
    let inventory = Inventory::load(&path).unwrap();
    assert_eq!(inventory.clusters.len(), 1);
    let cluster = &inventory.clusters[0];
    assert_eq!(cluster.vip, Some(Ipv4Addr::new(203, 0, 113, 10)));
    assert_eq!(cluster.nodes.len(), 2);
    for node in &cluster.nodes {
        assert!(
            node.service_name.is_some(),
            "{} has no service_name",
            node.name
        );
        let vars = inventory.node_vars(node);
        assert_eq!(vars["disk"]["kind"], json!("lvm"));
        assert_eq!(vars["disk"]["vg"], json!("vg0"));
    }
    let node1 = inventory.node_vars(&cluster.nodes[0]);
    assert_eq!(node1["disk"]["pv"], json!("/dev/sda4"));
    assert_eq!(node1["disk"]["size"], json!("20G"));
    assert_eq!(inventory.ssh.connect_timeout, Some(Duration::from_secs(5)));
    assert_eq!(
        inventory.ssh.keepalive_interval,
        Some(Duration::from_secs(15))
    );
}

#[test]
fn keepalive_interval_is_positive_seconds() {
    let inventory =
        parse("ssh: {keepalive_interval: 2}\nclusters: {c: {nodes: {n: {address: a}}}}\n").unwrap();
    assert_eq!(
        inventory.ssh.keepalive_interval,
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        error("ssh:\n  keepalive_interval: -1\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!(
            "{PATH}:2:23: keepalive_interval -1 is not a positive number of seconds: use e.g. 15"
        )
    );
}

#[test]
fn ovh_section_endpoint_and_config() {
    let inventory = parse(
        "ovh:\n  endpoint: ovh-ca\n  config: secrets/ovh.conf\nclusters: {c: {nodes: {n: {address: a}}}}\n",
    )
    .unwrap();
    let endpoint = inventory.ovh.endpoint.as_ref().unwrap();
    assert_eq!(endpoint.base_url(), "https://ca.api.ovh.com/1.0");
    assert_eq!(
        inventory.ovh.config.as_deref(),
        Some(Path::new("/etc/tandem/secrets/ovh.conf"))
    );

    let custom = parse(
        "ovh: {endpoint: 'http://198.18.0.1:4000/1.0'}\nclusters: {c: {nodes: {n: {address: a}}}}\n",
    )
    .unwrap();
    assert_eq!(
        custom.ovh.endpoint.unwrap().base_url(),
        "http://198.18.0.1:4000/1.0"
    );
    assert_eq!(custom.ovh.config, None);

    // Without the section: nothing set, the credentials search decides.
    assert_eq!(
        parse(TWO_CLUSTERS).unwrap().ovh,
        crate::ovh::OvhSettings::default()
    );
}

#[test]
fn error_ovh_section() {
    assert_eq!(
        error("ovh:\n  endpoint: ovh-fr\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!(
            "{PATH}:2:13: ovh: unknown OVH endpoint 'ovh-fr': use one of ovh-eu, ovh-ca, ovh-us, \
             kimsufi-eu, kimsufi-ca, soyoustart-eu, soyoustart-ca or an http(s):// URL"
        )
    );
    assert_eq!(
        error(
            "ovh:\n  endpoint: ovh-eu\n  application_secret: x\nclusters: {c: {nodes: {n: {address: a}}}}\n"
        ),
        format!("{PATH}:3:3: unknown field `application_secret`, expected one of endpoint, config")
    );
    assert_eq!(
        error("ovh: {config: ''}\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!("{PATH}:1:15: `config` is empty: give a file path or remove the key")
    );
}

// ---------------------------------------------------------------------------------------------
// Errors: one test per case, asserting the whole message.

#[test]
fn error_missing_file() {
    let err = Inventory::load(Path::new("/nonexistent/inv.yml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/inv.yml: cannot read inventory /nonexistent/inv.yml: No such file or directory: give the path of an inventory file (-i)"
    );
    assert!(matches!(err.kind(), InventoryErrorKind::Read(_)));
    assert_eq!(err.line(), None);
}

#[test]
fn error_yaml_syntax() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: [a}\n"),
        format!("{PATH}:4:21: wrong type: expected a single value here, not a list or a mapping")
    );
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: a\n"),
        format!("{PATH}:4:11: unclosed bracket '{{'")
    );
    assert_eq!(
        error("clusters:\n  c:\n    nodes: {}\n  - x\n"),
        format!("{PATH}:4:5: while parsing a block mapping, did not find expected key")
    );
    assert_eq!(
        error("clusters:\n\tc: {}\n"),
        format!("{PATH}:2:2: tabs disallowed within this context (block indentation)")
    );
    assert_eq!(
        error("clusters: {c: {nodes: {n: {address: a}}}}\n---\nx: 1\n"),
        format!("{PATH}:3:1: only single YAML document expected but multiple found")
    );
}

#[test]
fn error_unknown_key() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: a, adress: b}\n"),
        format!(
            "{PATH}:4:24: unknown field `adress`, expected one of address, port, user, identity, \
             service_name, vars"
        )
    );
    assert_eq!(
        error("ssh: {usr: root}\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!(
            "{PATH}:1:7: unknown field `usr`, expected one of user, port, identity, known_hosts, \
             connect_timeout, keepalive_interval"
        )
    );
    assert_eq!(
        error("cluster: {}\n"),
        format!("{PATH}:1:1: unknown field `cluster`, expected one of ssh, ovh, vars, clusters")
    );
}

#[test]
fn error_wrong_type() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: a, port: ssh}\n"),
        format!("{PATH}:4:30: invalid i64: expected a whole number here")
    );
    assert_eq!(
        error("clusters:\n  c:\n    nodes: [n1, n2]\n"),
        format!(
            "{PATH}:3:12: wrong type: expected a mapping (`key: value` entries) here, not a list or a single value"
        )
    );
}

#[test]
fn error_duplicate_key() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: a}\n      n1: {address: b}\n"),
        format!("{PATH}:5:7: duplicate mapping key `n1` is not allowed here")
    );
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: a, address: b}\n"),
        format!("{PATH}:4:24: duplicate mapping key `address` is not allowed here")
    );
}

#[test]
fn error_missing_address() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {port: 22}\n"),
        format!("{PATH}:4:7: node 'n1' has no `address`: add `address: IP-or-DNS-name` under it")
    );
    // A node with nothing under it at all.
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1:\n"),
        format!("{PATH}:4:7: node 'n1' has no `address`: add `address: IP-or-DNS-name` under it")
    );
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: ''}\n"),
        format!("{PATH}:4:21: node 'n1' has an empty `address`: give its IP address or DNS name")
    );
}

#[test]
fn error_duplicate_node_in_two_clusters() {
    assert_eq!(
        error(
            "clusters:\n  a:\n    nodes:\n      n1: {address: a}\n  b:\n    nodes:\n      n2: {address: b}\n      n1: {address: c}\n"
        ),
        format!(
            "{PATH}:8:7: node 'n1' is defined twice: in cluster 'a' (line 4) and in cluster 'b' \
             (line 8): node names must be unique across the inventory"
        )
    );
}

#[test]
fn error_name_both_cluster_and_node() {
    assert_eq!(
        error(
            "clusters:\n  a:\n    nodes:\n      b: {address: a}\n  b:\n    nodes:\n      n2: {address: b}\n"
        ),
        format!(
            "{PATH}:4:7: 'b' is both a cluster (line 5) and a node (in cluster 'a'): rename one of them"
        )
    );
}

#[test]
fn error_invalid_name() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      'my node': {address: a}\n"),
        format!(
            "{PATH}:4:7: invalid node name 'my node': use letters, digits, '.', '_' and '-', \
             starting with a letter or digit"
        )
    );
    assert_eq!(
        error("clusters:\n  -c:\n    nodes: {n: {address: a}}\n"),
        format!(
            "{PATH}:2:3: invalid cluster name '-c': use letters, digits, '.', '_' and '-', \
             starting with a letter or digit"
        )
    );
    assert_eq!(
        error("clusters:\n  all:\n    nodes: {n: {address: a}}\n"),
        format!(
            "{PATH}:2:3: invalid cluster name 'all': it is reserved (--limit all means every \
             node), pick another"
        )
    );
}

#[test]
fn error_cluster_without_nodes() {
    let expected = format!(
        "{PATH}:2:3: cluster 'c' has no nodes: add a `nodes:` mapping with at least one node"
    );
    assert_eq!(error("clusters:\n  c:\n    vip: 203.0.113.1\n"), expected);
    assert_eq!(error("clusters:\n  c:\n    nodes: {}\n"), expected);
    assert_eq!(error("clusters:\n  c:\n"), expected);
}

#[test]
fn error_no_clusters() {
    assert_eq!(
        error("vars: {a: 1}\n"),
        format!(
            "{PATH}: no clusters: add a `clusters:` section with at least one cluster and its nodes"
        )
    );
    assert_eq!(
        error(""),
        format!(
            "{PATH}: no clusters: add a `clusters:` section with at least one cluster and its nodes"
        )
    );
    assert_eq!(
        error("clusters: {}\n"),
        format!("{PATH}:1:11: `clusters` is empty: define at least one cluster with its nodes")
    );
}

#[test]
fn error_bad_vip() {
    assert_eq!(
        error("clusters:\n  c:\n    vip: 2001:db8::1\n    nodes: {n: {address: a}}\n"),
        format!(
            "{PATH}:3:10: vip '2001:db8::1' of cluster 'c' is not an IPv4 address: give the \
             failover IP, e.g. 203.0.113.10"
        )
    );
    assert_eq!(
        error("clusters:\n  c:\n    vip: 203.0.113.300\n    nodes: {n: {address: a}}\n"),
        format!(
            "{PATH}:3:10: vip '203.0.113.300' of cluster 'c' is not an IPv4 address: give the \
             failover IP, e.g. 203.0.113.10"
        )
    );
}

#[test]
fn error_bad_port() {
    assert_eq!(
        error("clusters:\n  c:\n    nodes:\n      n1: {address: a, port: 0}\n"),
        format!("{PATH}:4:30: port 0 is out of range: use 1 to 65535")
    );
    assert_eq!(
        error("ssh:\n  port: 65536\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!("{PATH}:2:9: port 65536 is out of range: use 1 to 65535")
    );
    assert_eq!(
        error("ssh:\n  port: -22\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!("{PATH}:2:9: port -22 is out of range: use 1 to 65535")
    );
}

#[test]
fn error_connect_timeout_zero() {
    assert_eq!(
        error("ssh:\n  connect_timeout: 0\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!("{PATH}:2:20: connect_timeout 0 is not a positive number of seconds: use e.g. 5")
    );
}

#[test]
fn error_empty_path() {
    assert_eq!(
        error("ssh:\n  identity: ''\nclusters: {c: {nodes: {n: {address: a}}}}\n"),
        format!("{PATH}:2:13: `identity` is empty: give a file path or remove the key")
    );
}

#[test]
fn error_not_utf8() {
    let path = scratch(
        "latin1.yml",
        b"clusters:\n  c:\n    vars: {city: \"Orl\xe9ans\"}\n",
    );
    let err = Inventory::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3:22: not valid UTF-8 at byte 36: save the inventory as UTF-8",
            path.display()
        )
    );
    assert!(matches!(
        err.kind(),
        InventoryErrorKind::NotUtf8 { byte: 36 }
    ));
}

#[test]
fn error_too_large() {
    let path = scratch("huge.yml", b"");
    // Sparse: the size is refused from the metadata, nothing this big is written or read.
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(MAX_INVENTORY_BYTES + 1)
        .unwrap();
    let err = Inventory::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: inventory is 16777217 bytes, more than the 16 MiB limit: is this the right file?",
            path.display()
        )
    );
    fs::remove_file(&path).unwrap();
}

/// Billion laughs: nine levels of ten aliases would expand to 10^9 values.
#[test]
fn error_yaml_bomb() {
    let mut text =
        String::from("vars:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..9 {
        let prev = format!("*a{}", level - 1);
        let items = [prev.as_str(); 10].join(", ");
        text.push_str(&format!("  a{level}: &a{level} [{items}]\n"));
    }
    text.push_str("clusters: {c: {nodes: {n: {address: a}}}}\n");
    let started = Instant::now();
    let message = error(&text);
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        message.starts_with(&format!("{PATH}:")),
        "no location: {message}"
    );
    assert!(
        message.ends_with(
            "YAML document too large or too complex: total_replayed_events=20001 > 20000: \
             refused to expand so many aliases (a YAML bomb?); an inventory needs only a few \
             anchors and aliases"
        ),
        "{message}"
    );
}

#[test]
fn error_too_deep() {
    let text = format!(
        "vars: {{a: {}1{}}}\nclusters: {{}}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let message = error(&text);
    assert!(message.starts_with(&format!("{PATH}:1:")), "{message}");
    assert!(
        message.contains("YAML too large or too complex (nesting depth"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// --limit patterns

fn select(pattern: &str) -> Result<Vec<String>, String> {
    let inventory = parse(TWO_CLUSTERS).unwrap();
    inventory
        .select(Some(pattern))
        .map(|nodes| nodes.into_iter().map(|node| node.name.clone()).collect())
        .map_err(|err| err.to_string())
}

#[test]
fn select_none_is_all_nodes() {
    let inventory = parse(TWO_CLUSTERS).unwrap();
    assert_eq!(inventory.select(None).unwrap().len(), 5);
}

#[test]
fn select_terms() {
    assert_eq!(
        select("all").unwrap(),
        ["node1", "node2", "db1", "db2", "web3"]
    );
    assert_eq!(
        select("*").unwrap(),
        ["node1", "node2", "db1", "db2", "web3"]
    );
    assert_eq!(select("node2").unwrap(), ["node2"]);
    assert_eq!(select("db").unwrap(), ["db1", "db2", "web3"]);
    // Inventory order and no duplicates, whatever the order of the terms.
    assert_eq!(
        select("web3,node2:node2, pair1").unwrap(),
        ["node1", "node2", "web3"]
    );
    // Globs match node names and cluster names.
    assert_eq!(select("db?").unwrap(), ["db1", "db2"]);
    assert_eq!(select("pair*").unwrap(), ["node1", "node2"]);
    assert_eq!(select("node[2-9]").unwrap(), ["node2"]);
    // Exclusion and intersection, applied after the plain terms.
    assert_eq!(select("!db1").unwrap(), ["node1", "node2", "db2", "web3"]);
    assert_eq!(select("!db1,db").unwrap(), ["db2", "web3"]);
    assert_eq!(select("db:&*2").unwrap(), ["db2"]);
    assert_eq!(select("all:!pair1:!web3").unwrap(), ["db1", "db2"]);
}

#[test]
fn select_errors() {
    assert_eq!(
        select("nod3").unwrap_err(),
        "--limit: 'nod3' matches no node or cluster (nodes: node1, node2, db1, db2, web3; \
         clusters: pair1, db)"
    );
    assert_eq!(
        select("node1,!dbx").unwrap_err(),
        "--limit: 'dbx' matches no node or cluster (nodes: node1, node2, db1, db2, web3; \
         clusters: pair1, db)"
    );
    assert_eq!(
        select("x*").unwrap_err(),
        "--limit: 'x*' matches no node or cluster (nodes: node1, node2, db1, db2, web3; \
         clusters: pair1, db)"
    );
    assert_eq!(
        select("node[").unwrap_err(),
        "--limit: 'node[' is not a valid glob: unclosed character class; missing ']'"
    );
    assert_eq!(
        select(" , :").unwrap_err(),
        "--limit: empty pattern: give node names, cluster names or globs separated by ','"
    );
    assert_eq!(
        select("node1,!").unwrap_err(),
        "--limit: '!' has nothing after '!': write '!NAME'"
    );
    assert_eq!(
        select("pair1:&db").unwrap_err(),
        "--limit: 'pair1:&db' selects no node: the exclusions ('!') or intersections ('&') \
         remove every node"
    );
}

#[test]
fn select_error_lists_at_most_ten_names() {
    let mut text = String::from("clusters:\n  big:\n    nodes:\n");
    for i in 0..15 {
        text.push_str(&format!("      n{i}: {{address: a}}\n"));
    }
    let inventory = parse(&text).unwrap();
    assert_eq!(
        inventory.select(Some("x")).unwrap_err().to_string(),
        "--limit: 'x' matches no node or cluster (nodes: n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, \
         ... (5 more); clusters: big)"
    );
}

#[test]
fn anchors_and_merge_keys_work() {
    let text = "\
clusters:
  c:
    nodes:
      n1: &common
        address: a
        port: 2200
        vars: {role: web}
      n2:
        <<: *common
        address: b
";
    let inventory = parse(text).unwrap();
    let n2 = inventory.node("n2").unwrap();
    assert_eq!(n2.address, "b");
    assert_eq!(n2.port, Some(2200));
    assert_eq!(n2.vars["role"], json!("web"));
}

// ---------------------------------------------------------------------------------------------
// Cluster settings: read once, typed, checked at load

/// An inventory whose cluster pair1 has `vars` (flow-style mapping body), and global `global`.
fn with_settings(global: &str, cluster: &str) -> String {
    format!(
        "vars: {{{global}}}\nclusters:\n  pair1:\n    vip: 203.0.113.1\n    vars: {{{cluster}}}\n    \
         nodes:\n      node1: {{address: 198.18.3.11}}\n"
    )
}

fn settings_of(global: &str, cluster: &str) -> ClusterSettings {
    parse(&with_settings(global, cluster))
        .unwrap_or_else(|e| panic!("{e}"))
        .clusters[0]
        .settings
        .clone()
}

#[test]
fn settings_have_defaults_and_the_cluster_wins_over_the_global_vars() {
    let s = settings_of("", "");
    assert_eq!(s, ClusterSettings::default());
    assert_eq!(s.rto, Duration::from_secs(120));
    assert_eq!(s.ovh_poll, Duration::from_secs(3));
    assert_eq!(s.switch_command.as_str(), "om {service} switch --to {to}");
    let s = settings_of(
        "rto_seconds: 5, ovh_poll_seconds: 0.5, service: web",
        "rto_seconds: 7.5, container: web2, container_address: 192.168.0.10/24, \
         health_check: {within: 2}, probe_kind: tcp, probe_port: '5432', \
         switch_command: 'om {service} switch --to {to} --wait'",
    );
    assert_eq!(s.rto, Duration::from_millis(7500));
    assert_eq!(s.ovh_poll, Duration::from_millis(500));
    assert_eq!(s.service.as_deref(), Some("web"));
    assert_eq!(s.container.as_deref(), Some("web2"));
    assert_eq!(s.container_address, Some(Ipv4Addr::new(192, 168, 0, 10)));
    assert_eq!(s.health_check, Some(Duration::from_secs(2)));
    assert_eq!(
        s.probe,
        ProbeSettings {
            port: 5432,
            kind: ProbeKind::Tcp
        }
    );
    assert_eq!(
        settings_of("", "health_check: true").health_check,
        Some(Duration::from_secs(30))
    );
    assert_eq!(settings_of("", "health_check: false").health_check, None);
}

/// Every bad setting is one line pointing at its value, never a panic (the values that made
/// `Duration::from_secs_f64` panic before: 1e20, negative numbers).
#[test]
fn bad_settings_are_refused_at_their_value() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "health_check: {within: 1e20}",
            "1e20",
            "health_check within 100000000000000000000 is out of range: use 1 to 3600 \
             seconds (e.g. 30)",
        ),
        (
            "health_check: {within: -1}",
            "-1",
            "health_check within -1 is out of range: use 1 to 3600 seconds (e.g. 30)",
        ),
        (
            "health_check: {within: soon}",
            "soon",
            "health_check within 'soon' is not a number of seconds: use e.g. 30",
        ),
        (
            "health_check: {within: 5, every: 1}",
            "1}",
            "health_check has an unknown key `every`: use {within: SECONDS}",
        ),
        (
            "health_check: sometimes",
            "sometimes",
            "health_check 'sometimes' is not true, false or {within: SECONDS}: e.g. \
             health_check: {within: 30}",
        ),
        (
            "rto_seconds: 1e20",
            "1e20",
            "rto_seconds 100000000000000000000 is out of range: use 0.05 to 3600 seconds \
             (e.g. 120)",
        ),
        (
            "rto_seconds: 0",
            "0",
            "rto_seconds 0 is out of range: use 0.05 to 3600 seconds (e.g. 120)",
        ),
        (
            "rto_seconds: -5",
            "-5",
            "rto_seconds -5 is out of range: use 0.05 to 3600 seconds (e.g. 120)",
        ),
        (
            "rto_seconds: 'nan'",
            "'nan'",
            "rto_seconds 'nan' is out of range: use 0.05 to 3600 seconds (e.g. 120)",
        ),
        (
            "rto_seconds: 2m",
            "2m",
            "rto_seconds '2m' is not a number of seconds: use e.g. 120",
        ),
        (
            "ovh_poll_seconds: 18446744073709551615",
            "18446744073709551615",
            "ovh_poll_seconds 18446744073709551615 is out of range: use 0.05 to 3600 \
             seconds (e.g. 3)",
        ),
        (
            "ovh_poll_seconds: [1]",
            "[1]",
            "ovh_poll_seconds a list is not a number of seconds: use e.g. 3",
        ),
        (
            "probe_port: 70000",
            "70000",
            "probe_port 70000 is not a TCP port: use 1 to 65535 (e.g. 80)",
        ),
        (
            "probe_port: 80.5",
            "80.5",
            "probe_port 80.5 is not a TCP port: use 1 to 65535 (e.g. 80)",
        ),
        (
            "probe_status: 99",
            "99",
            "probe_status 99 is not an HTTP status: use 100 to 599 (e.g. 200)",
        ),
        (
            "probe_kind: icmp",
            "icmp",
            "probe_kind 'icmp': use http or tcp",
        ),
        (
            "probe_path: 'x y'",
            "'x y'",
            "probe_path 'x y' is not an HTTP path: it starts with '/', without spaces \
             (e.g. /health)",
        ),
        (
            "probe_kind: tcp, probe_path: /x",
            "/x",
            "probe_path is for http probes, and probe_kind is tcp: remove it, or use \
             probe_kind: http",
        ),
        (
            "service: 'web;reboot'",
            "'web",
            "service 'web;reboot' is not a valid name: use letters, digits, '.', '_' and \
             '-', starting with a letter or digit, at most 64 characters (e.g. web)",
        ),
        ("service: 5", "5", "service 5 is not text: give e.g. web"),
        (
            "container: '{{ service }}'",
            "'{{",
            "`container` is read by tandem's commands as written, so it cannot be a \
             template ({{ }}): give the value itself, e.g. web",
        ),
        (
            "container_dev: 'a-very-long-interface'",
            "'a-very",
            "container_dev 'a-very-long-interface' is not an interface name: 1 to 15 \
             characters without '/', ':' or spaces (e.g. eth0)",
        ),
        (
            "opensvc_etc: etc/opensvc",
            "etc/",
            "opensvc_etc 'etc/opensvc' is not an absolute path: give e.g. /etc/opensvc",
        ),
        (
            "opensvc_cluster_id: 'not-a-uuid'",
            "'not",
            "opensvc_cluster_id 'not-a-uuid' is not a UUID: give e.g. \
             0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b (lower case), or leave it out",
        ),
        (
            "opensvc_secret_file: 'secrets/'",
            "'secrets",
            "opensvc_secret_file 'secrets/' is not a file name: give a path relative to the \
             inventory, e.g. secrets/pair1.opensvc-secret",
        ),
        (
            "container_address: 192.168.0.10/33",
            "192.168",
            "container_address '192.168.0.10/33' is not an IPv4 address with an optional \
             /prefix: give e.g. 192.168.0.10/24",
        ),
        (
            "switch_command: 'om {svc} switch --to {to}'",
            "'om",
            "switch_command has an unknown placeholder {svc}: use {service} and {to}",
        ),
        (
            "switch_command: ''",
            "''",
            "switch_command is empty: give the command that switches the service, e.g. \
             om {service} switch --to {to}",
        ),
        (
            "switch_command: \"om {service}\\nreboot\"",
            "\"om",
            "switch_command holds a control character (a newline?): give one command line",
        ),
    ];
    for (vars, needle, expected) in cases {
        let text = with_settings("", vars);
        // The column of the value the error is about, found in the file's fifth line.
        let line = text.lines().nth(4).unwrap();
        let column = line
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {line}"))
            + 1;
        let message = error(&text);
        assert_eq!(
            message,
            format!("{PATH}:5:{column}: {expected}"),
            "for {vars}"
        );
    }
}

#[test]
fn a_bad_global_setting_is_refused_even_where_clusters_override_it() {
    let message = error(&with_settings("rto_seconds: -1", "rto_seconds: 5"));
    assert_eq!(
        message,
        format!("{PATH}:1:21: rto_seconds -1 is out of range: use 0.05 to 3600 seconds (e.g. 120)")
    );
}

#[test]
fn a_node_may_not_hold_a_cluster_setting() {
    let text = "clusters:\n  pair1:\n    nodes:\n      node1:\n        address: 198.18.3.11\n        \
                vars: {container: web2}\n";
    assert_eq!(
        error(text),
        format!(
            "{PATH}:6:27: `container` is a cluster setting (tandem's commands read it per \
             cluster), not a node's: move it from node node1's vars to cluster pair1's vars or \
             the global vars"
        )
    );
}

#[test]
fn a_health_check_needs_a_vip() {
    let text = "clusters:\n  pair1:\n    vars: {health_check: true}\n    nodes:\n      \
                node1: {address: 198.18.3.11}\n";
    assert_eq!(
        error(text),
        format!(
            "{PATH}:3:26: health_check needs the cluster's `vip` to probe: add the cluster's vip \
             or remove the health_check"
        )
    );
}

#[test]
fn ssh_durations_are_bounded() {
    let text = "ssh: {keepalive_interval: 9223372036854775807}\nclusters:\n  pair1:\n    nodes:\n      \
                node1: {address: 198.18.3.11}\n";
    assert_eq!(
        error(text),
        format!(
            "{PATH}:1:27: keepalive_interval 9223372036854775807 is too long: use 1 to 3600 \
             seconds (e.g. 15)"
        )
    );
}

#[test]
fn the_opensvc_secret_lives_beside_the_inventory_and_the_cluster_id_is_stable() {
    let s = settings_of("", "");
    let inventory = std::path::Path::new("/srv/inv/inventory.yml");
    assert_eq!(
        s.opensvc_secret_path(inventory, "pair1"),
        std::path::Path::new("/srv/inv/pair1.opensvc-secret")
    );
    let id = s.opensvc_cluster_id("pair1");
    assert_eq!(id, s.opensvc_cluster_id("pair1"), "the same on every run");
    assert_ne!(id, s.opensvc_cluster_id("pair2"));
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    let s = settings_of(
        "opensvc_secret_file: keys/all.secret",
        "opensvc_cluster_id: 0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b",
    );
    assert_eq!(
        s.opensvc_secret_path(inventory, "pair1"),
        std::path::Path::new("/srv/inv/keys/all.secret")
    );
    assert_eq!(
        s.opensvc_cluster_id("pair1"),
        "0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b"
    );
}
