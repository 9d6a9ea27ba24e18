//! Issue 12, class 1 in the lab: hostile values go through a real `tandem deploy` (SSH, the
//! remote shell's framing, the payload) and come back exactly: each path used is exactly the
//! path given, each file holds exactly the bytes given (non-UTF-8 bytes where the module takes
//! bytes: `copy`'s `src`), and no value ever runs as code. What is on the node is read from its
//! overlay upper directory, not through a shell.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::lab_steps::{Node, at};

/// File names (no `/`) that break scripts built by pasting text. `tandem-pwned` is what an
/// injection would create.
const NAMES: &[&str] = &[
    "two words\tand  tabs ",
    "it's",
    "say \"hi\"",
    "$(touch tandem-pwned)",
    "`touch tandem-pwned`",
    "${HOME}$1$@",
    "line\nbreak\r",
    "-rf",
    "--",
    "*?[a-z]{a,b}~",
    "a;b&c|d>e<f #!x",
    "back\\slash\\'",
    "é 漢字 \u{fffd}",
    "'; touch tandem-pwned; '",
];

const KEY_BLOB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5Zm9ydGFuZGVtdGVzdHM";

fn dir_of(name: &str) -> String {
    format!("/srv/hostile/{name}")
}

/// Every byte value, NUL and invalid UTF-8 included.
fn binary() -> Vec<u8> {
    (0..=255u8).chain([0xff, 0xfe, 0, b'\n', b'\r']).collect()
}

fn steps() -> Vec<Value> {
    let mut steps =
        vec![json!({"name": "root", "file": {"path": "/srv/hostile", "state": "directory"}})];
    for (i, name) in NAMES.iter().enumerate() {
        let d = dir_of(name);
        let one_line = !name.contains(['\n', '\r']);
        steps.push(json!({"name": format!("dir {i}"), "file": {"path": d, "state": "directory"}}));
        steps.push(json!({"name": format!("copy {i}"),
            "copy": {"dest": format!("{d}/{name}"), "content": format!("{name}\nend\n"), "mode": "0640"}}));
        steps.push(json!({"name": format!("bytes {i}"),
            "copy": {"dest": format!("{d}/bin"), "src": "bin.dat"}}));
        steps.push(
            json!({"name": format!("template {i}"), "vars": {"value": name},
            "template": {"src": "value.j2", "dest": format!("{d}/tpl")}}),
        );
        steps.push(json!({"name": format!("block {i}"),
            "block": {"path": format!("{d}/block"), "block": format!("{name}\n"), "create": true}}));
        steps.push(json!({"name": format!("link {i}"),
            "file": {"path": format!("{d}/link"), "state": "link", "src": format!("{d}/{name}")}}));
        steps.push(json!({"name": format!("command {i}"),
            "vars": {"value": name, "out": format!("{d}/cmd")},
            "command": {"cmd": "printf '%s' {{ value | quote }} >{{ out | quote }}",
                        "creates": format!("{d}/cmd")}}));
        steps.push(json!({"name": format!("sysctl {i}"),
            "sysctl": {"name": "net.ipv4.ip_forward", "value": "1", "file": format!("{d}/sysctl.conf"),
                       "apply": false}}));
        steps.push(json!({"name": format!("fstab {i}"),
            "mount": {"path": format!("/srv/mnt{i}"), "src": "/dev/sdz1", "fstype": "ext4",
                      "state": "present", "fstab": format!("{d}/fstab")}}));
        steps.push(json!({"name": format!("key {i}"),
            "authorized_key": {"user": "root", "key": format!("ssh-ed25519 {KEY_BLOB} c{i}"),
                               "path": format!("{d}/authorized_keys")}}));
        if one_line {
            steps.push(json!({"name": format!("line {i}"),
                "line": {"path": format!("{d}/line"), "line": name, "create": true}}));
            steps.push(json!({"name": format!("tagged {i}"),
                "tagged_lines": {"path": format!("{d}/tagged"), "tag": "t:",
                                 "lines": [format!("{name} t:1")], "mode": "0600"}}));
        }
        if i < 2 {
            // Real loop devices and mkfs for a few names only: the kernel's loop devices are
            // shared by every lab on this machine.
            steps.push(json!({"name": format!("loop {i}"),
                "loop_device": {"file": format!("{d}/disk.img"), "size": "1M",
                                "link": format!("{d}/disk.dev")}}));
            steps.push(json!({"name": format!("image {i}"), "vars": {"img": format!("{d}/fs.img")},
                "command": {"cmd": "truncate -s 8M {{ img | quote }}", "creates": format!("{d}/fs.img")}}));
            steps.push(json!({"name": format!("mkfs {i}"),
                "filesystem": {"dev": format!("{d}/fs.img"), "fstype": "ext4",
                               "opts": ["-L", format!("l{i}"), "-E", "root_owner=0:0"]}}));
        }
    }
    steps
}

fn file_bytes(lab: &TempLab, path: &str) -> Vec<u8> {
    match at(lab, "node1", Path::new(path)) {
        Node::File(_, bytes) => bytes,
        other => panic!("{path:?} is {other:?}, not a file"),
    }
}

/// Every entry of the node's upper directory named `name`.
fn named(root: &Path, name: &str, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            named(&path, name, found);
        }
    }
}

#[test]
fn hostile_names_and_bytes_round_trip_exactly_through_deploy() {
    let lab = TempLab::new(1);
    let dir = lab.dir().join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bin.dat"), binary()).unwrap();
    std::fs::write(dir.join("value.j2"), "{{ value }}").unwrap();
    let playbook = dir.join("site.yml");
    // JSON is YAML: every value is written with JSON's escapes, exactly.
    std::fs::write(
        &playbook,
        serde_json::to_string_pretty(&json!({"steps": steps()})).unwrap(),
    )
    .unwrap();
    let deploy = || {
        Tandem::new(["deploy", "-i"])
            .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"])
    };
    let first = deploy();
    first.expect_code(0);
    let report = first.json();
    assert_eq!(report["hosts"]["node1"]["failed"], 0, "{report}");

    for (i, name) in NAMES.iter().enumerate() {
        let d = dir_of(name);
        assert!(
            matches!(at(&lab, "node1", Path::new(&d)), Node::Dir(_)),
            "{d:?} is not a directory on the node"
        );
        assert_eq!(
            at(&lab, "node1", Path::new(&format!("{d}/{name}"))),
            Node::File(0o640, format!("{name}\nend\n").into_bytes()),
            "{name:?}"
        );
        assert_eq!(file_bytes(&lab, &format!("{d}/bin")), binary());
        assert_eq!(file_bytes(&lab, &format!("{d}/tpl")), name.as_bytes());
        assert_eq!(file_bytes(&lab, &format!("{d}/cmd")), name.as_bytes());
        assert_eq!(
            file_bytes(&lab, &format!("{d}/block")),
            format!("# BEGIN MANAGED BY TANDEM\n{name}\n# END MANAGED BY TANDEM\n").into_bytes()
        );
        assert_eq!(
            at(&lab, "node1", Path::new(&format!("{d}/link"))),
            Node::Link(PathBuf::from(format!("{d}/{name}")))
        );
        assert_eq!(
            file_bytes(&lab, &format!("{d}/sysctl.conf")),
            b"net.ipv4.ip_forward = 1\n"
        );
        assert_eq!(
            file_bytes(&lab, &format!("{d}/fstab")),
            format!("/dev/sdz1 /srv/mnt{i} ext4 defaults 0 0\n").into_bytes()
        );
        assert_eq!(
            file_bytes(&lab, &format!("{d}/authorized_keys")),
            format!("ssh-ed25519 {KEY_BLOB} c{i}\n").into_bytes()
        );
        if !name.contains(['\n', '\r']) {
            assert_eq!(
                file_bytes(&lab, &format!("{d}/line")),
                format!("{name}\n").into_bytes()
            );
            assert_eq!(
                file_bytes(&lab, &format!("{d}/tagged")),
                format!("{name} t:1\n").into_bytes()
            );
        }
        if i < 2 {
            assert!(matches!(
                at(&lab, "node1", Path::new(&format!("{d}/disk.dev"))),
                Node::Link(dev) if dev.to_string_lossy().starts_with("/dev/loop")
            ));
        }
    }
    let labels = crate::support::exec_ok(
        &lab,
        "node1",
        "blkid -p -o value -s LABEL /srv/hostile/*/fs.img | sort",
    );
    assert_eq!(labels, "l0\nl1");
    // Nothing but these directories under /srv/hostile: every path was used exactly.
    let Node::Dir(mut made) = at(&lab, "node1", Path::new("/srv/hostile")) else {
        panic!("no /srv/hostile")
    };
    made.sort();
    let mut given: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    given.sort();
    assert_eq!(made, given);
    // No value ever ran as code.
    let mut pwned = Vec::new();
    named(&lab.node("node1").upper_dir, "tandem-pwned", &mut pwned);
    assert!(pwned.is_empty(), "injected commands ran: {pwned:?}");

    // And it converges: the same values compare equal on the next run.
    let second = deploy();
    second.expect_code(0);
    let report = second.json();
    assert_eq!(report["hosts"]["node1"]["changed"], 0, "{report}");
    assert_eq!(report["hosts"]["node1"]["failed"], 0, "{report}");
}
