//! Every module (`modules::NAMES`), every argument that reaches its script, every hostile
//! value: the script passes `dash -n` and shellcheck, or the value is refused up front with a
//! one-line error.

use serde_json::{Value, json};

use super::{Checked, HOSTILE};
use crate::modules::testing::TestContext;
use crate::modules::{ModuleError, NAMES, PlanError, build};

/// How a hostile value goes into one argument.
struct Field {
    /// JSON pointer of the argument (`/dest`, `/opts/1`).
    at: &'static str,
    /// The value to set, from the hostile text (an absolute path around it, a key line...).
    shape: fn(&str) -> String,
    /// True when every hostile value must be accepted (free text: paths, content, commands):
    /// proves the quoting, and that no over-eager validation hides behind it. False for
    /// names the module validates (package, user, VG names, modes, sizes): each value is then
    /// accepted or refused with a one-line error.
    any: bool,
}

fn as_is(v: &str) -> String {
    v.to_string()
}

fn abs(v: &str) -> String {
    format!("/srv/{v}")
}

fn under_root(v: &str) -> String {
    format!("/root/{v}")
}

fn key_comment(v: &str) -> String {
    format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5 {v}")
}

fn marker(v: &str) -> String {
    format!("{v} {{mark}}")
}

fn tagged(v: &str) -> String {
    format!("{v} tandem-keys:p1:n2")
}

const fn free(at: &'static str, shape: fn(&str) -> String) -> Field {
    Field {
        at,
        shape,
        any: true,
    }
}

const fn checked(at: &'static str, shape: fn(&str) -> String) -> Field {
    Field {
        at,
        shape,
        any: false,
    }
}

/// (module, arguments with every optional argument set, the arguments that reach the script).
fn cases() -> Vec<(&'static str, Value, Vec<Field>)> {
    let copy_fields = || {
        vec![
            free("/dest", abs),
            free("/content", as_is),
            free("/owner", as_is),
            free("/group", as_is),
            checked("/mode", as_is),
        ]
    };
    let file_fields = || {
        vec![
            free("/path", abs),
            checked("/owner", as_is),
            checked("/group", as_is),
            checked("/mode", as_is),
        ]
    };
    let mount = |state: &str| {
        json!({"path": "/srv/web", "src": "/dev/vg0/web", "fstype": "ext4", "opts": "defaults",
               "fstab": "/etc/fstab", "state": state, "dump": 0, "passno": 2})
    };
    let mount_fields = || {
        vec![
            checked("/path", abs),
            checked("/src", as_is),
            checked("/fstype", as_is),
            checked("/opts", as_is),
            free("/fstab", abs),
        ]
    };
    let lxc = |state: &str| {
        json!({"name": "web", "state": state, "template": "busybox",
               "template_args": ["--arch", "amd64"], "config": "lxc.uts.name = web\n",
               "path": "/var/lib/lxc", "rootfs": "/srv/web/rootfs"})
    };
    let lxc_fields = || {
        vec![
            checked("/name", as_is),
            checked("/template", as_is),
            free("/template", abs),
            free("/template_args/1", as_is),
            free("/config", as_is),
            free("/path", abs),
            free("/rootfs", abs),
        ]
    };
    vec![
        (
            "copy",
            json!({"dest": "/srv/app.conf", "content": "a=1\n", "mode": "0640",
                   "owner": "www-data", "group": "adm"}),
            copy_fields(),
        ),
        (
            "copy",
            json!({"dest": "/srv/app.conf", "content": "a=1\n", "secret": true, "follow": true,
                   "mode": "0600", "owner": "root", "group": "root"}),
            copy_fields(),
        ),
        (
            "template",
            json!({"src": "t.j2", "dest": "/srv/t.conf", "mode": "0644", "owner": "root",
                   "group": "root", "follow": true}),
            vec![
                free("/src", as_is),
                free("/dest", abs),
                free("/owner", as_is),
                free("/group", as_is),
            ],
        ),
        (
            "line",
            json!({"path": "/etc/app.conf", "line": "a=1", "regexp": "^a=", "create": true,
                   "follow": false}),
            vec![
                free("/path", abs),
                checked("/line", as_is),
                checked("/regexp", as_is),
            ],
        ),
        (
            "line",
            json!({"path": "/etc/app.conf", "regexp": "^a=", "state": "absent"}),
            vec![free("/path", abs), checked("/regexp", as_is)],
        ),
        (
            "block",
            json!({"path": "/etc/app.conf", "block": "a\nb\n", "marker": "# {mark} T",
                   "create": true}),
            vec![
                free("/path", abs),
                checked("/block", as_is),
                checked("/marker", marker),
            ],
        ),
        (
            "block",
            json!({"path": "/etc/app.conf", "state": "absent", "marker": "# {mark} T",
                   "follow": false}),
            vec![free("/path", abs), checked("/marker", marker)],
        ),
        (
            "authorized_key",
            json!({"user": "alice", "key": key_comment("alice@laptop"), "tag": "tandem:n1",
                   "path": "/home/alice/.ssh/authorized_keys", "follow": true}),
            vec![
                checked("/user", as_is),
                checked("/key", key_comment),
                checked("/tag", as_is),
                free("/path", abs),
            ],
        ),
        (
            "authorized_key",
            json!({"user": "alice", "key": key_comment("a"), "state": "absent"}),
            vec![checked("/user", as_is), checked("/key", key_comment)],
        ),
        (
            "sysctl",
            json!({"name": "net.ipv4.ip_forward", "value": "1", "file": "/etc/sysctl.d/t.conf"}),
            vec![
                checked("/name", as_is),
                checked("/value", as_is),
                free("/file", abs),
            ],
        ),
        (
            "sysctl",
            json!({"name": "net.ipv4.ip_forward", "state": "absent", "apply": false,
                   "follow": false, "file": "/etc/sysctl.d/t.conf"}),
            vec![checked("/name", as_is), free("/file", abs)],
        ),
        (
            "file",
            json!({"path": "/srv/current", "state": "link", "src": "/srv/releases/1",
                   "owner": "root", "group": "root"}),
            vec![
                free("/path", abs),
                free("/src", as_is),
                checked("/owner", as_is),
                checked("/group", as_is),
            ],
        ),
        (
            "file",
            json!({"path": "/srv/data", "state": "directory", "mode": "0750", "owner": "root",
                   "group": "root"}),
            file_fields(),
        ),
        (
            "file",
            json!({"path": "/srv/f", "state": "touch", "mode": "0600", "owner": "root",
                   "group": "root"}),
            file_fields(),
        ),
        (
            "file",
            json!({"path": "/srv/f", "mode": "0600", "owner": "0", "group": "0"}),
            file_fields(),
        ),
        (
            "file",
            json!({"path": "/srv/old/f", "state": "absent"}),
            vec![checked("/path", abs)],
        ),
        (
            "command",
            json!({"cmd": "true", "creates": "/srv/c", "removes": "/srv/r", "unless": "false",
                   "chdir": "/srv"}),
            vec![
                free("/cmd", as_is),
                free("/creates", abs),
                free("/removes", abs),
                free("/unless", as_is),
                free("/chdir", abs),
            ],
        ),
        ("command", json!("uptime"), vec![free("", as_is)]),
        (
            "package",
            json!({"name": ["lxc", "rsync"]}),
            vec![checked("/name/0", as_is)],
        ),
        (
            "package",
            json!({"name": "lxc", "state": "absent"}),
            vec![checked("/name", as_is)],
        ),
        (
            "filesystem",
            json!({"dev": "/dev/vg0/web", "fstype": "ext4", "opts": ["-L", "web"]}),
            vec![
                free("/dev", abs),
                checked("/fstype", as_is),
                free("/opts/0", as_is),
                free("/opts/1", as_is),
            ],
        ),
        ("mount", mount("mounted"), mount_fields()),
        // The other states put the same values in the same code, or fewer of them.
        (
            "mount",
            mount("present"),
            vec![checked("/src", as_is), free("/fstab", abs)],
        ),
        ("mount", mount("unmounted"), vec![checked("/path", abs)]),
        (
            "mount",
            mount("absent"),
            vec![checked("/path", abs), free("/fstab", abs)],
        ),
        (
            "lvm",
            json!({"vg": "vg0", "pvs": ["/dev/sdb", "/dev/sdc"], "lv": "web", "size": "1G"}),
            vec![
                checked("/vg", as_is),
                free("/pvs/0", abs),
                checked("/lv", as_is),
                checked("/size", as_is),
            ],
        ),
        (
            "loop_device",
            json!({"file": "/srv/disk.img", "size": "64M", "link": "/dev/tandem/web"}),
            vec![
                free("/file", abs),
                checked("/size", as_is),
                free("/link", abs),
            ],
        ),
        ("lxc", lxc("started"), lxc_fields()),
        // The same values in the same code as `started`: only the end differs.
        ("lxc", lxc("stopped"), Vec::new()),
        ("lxc", lxc("present"), Vec::new()),
        (
            "lxc",
            json!({"name": "web", "state": "absent", "path": "/var/lib/lxc"}),
            vec![checked("/name", as_is), free("/path", abs)],
        ),
        (
            "tagged_lines",
            json!({"path": "/root/.ssh/known_hosts", "tag": "tandem-keys:",
                   "lines": [tagged("h1 ssh-ed25519 AAAA")], "mode": "0600",
                   "owner": "root:root", "dir_mode": "0700", "within": "/root"}),
            vec![
                free("/path", under_root),
                checked("/lines/0", tagged),
                checked("/owner", as_is),
                checked("/mode", as_is),
                checked("/dir_mode", as_is),
            ],
        ),
        (
            "tagged_lines",
            json!({"path": "/root/.ssh/known_hosts", "tag": "tandem-keys:", "lines": [],
                   "follow": true}),
            vec![free("/path", abs), checked("/tag", as_is)],
        ),
    ]
}

fn set(args: &mut Value, at: &str, value: String) {
    if at.is_empty() {
        *args = Value::String(value);
    } else {
        let shown = args.to_string();
        *args
            .pointer_mut(at)
            .unwrap_or_else(|| panic!("no {at} in {shown}")) = Value::String(value);
    }
}

/// Why a module gave no script for a case: it refused the arguments, or could not plan.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error(transparent)]
    Args(#[from] ModuleError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

fn plan(module: &str, args: &Value) -> Result<String, Refused> {
    let cx = TestContext {
        rendered: Some("rendered = 1\n".into()),
        ..TestContext::default()
    };
    let step = build(module, args)?.plan(&cx)?;
    Ok(step.script.into_string())
}

#[test]
fn every_module_script_is_valid_sh_for_every_hostile_value() {
    let cases = cases();
    let covered: std::collections::BTreeSet<&str> = cases.iter().map(|(m, _, _)| *m).collect();
    let missing: Vec<&&str> = NAMES.iter().filter(|n| !covered.contains(**n)).collect();
    assert!(
        missing.is_empty(),
        "modules without hostile cases: {missing:?}"
    );

    let mut checked = Checked::default();
    let mut refusals = 0;
    for (module, base, fields) in &cases {
        let script = plan(module, base).unwrap_or_else(|e| panic!("{module} {base}: {e}"));
        checked.add(format!("{module} {base}"), &script);
        for field in fields {
            for value in HOSTILE {
                let mut args = base.clone();
                set(&mut args, field.at, (field.shape)(value));
                match plan(module, &args) {
                    Ok(script) => checked.add(format!("{module} {args}"), &script),
                    Err(e) => {
                        let e = e.to_string();
                        assert!(
                            !field.any,
                            "{module}{}: refused {value:?}, which it must accept: {e}",
                            field.at
                        );
                        assert!(
                            !e.contains('\n') && e.starts_with(&format!("{module}: ")),
                            "{module}{} = {value:?}: not a one-line error: {e:?}",
                            field.at
                        );
                        refusals += 1;
                    }
                }
            }
        }
    }
    // Not vacuous: most combinations reach a script.
    assert!(checked.len() > 800, "only {} scripts", checked.len());
    eprintln!(
        "{} module scripts checked, {refusals} hostile values refused up front",
        checked.len()
    );
    checked.assert_all_pass();
}

#[test]
fn a_nul_byte_is_refused_in_every_argument_but_payload_content() {
    let e = build("file", &json!({"path": "/srv/a\0b"}))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "file: path holds a NUL byte, which no file name or shell word can carry"
    );
    let e = build("lvm", &json!({"vg": "vg0", "pvs": ["/dev/a", "/dev/\0"]}))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("lvm: pvs[1] holds a NUL byte"), "{e}");
    // File content travels in the payload, binary-safe.
    let step = build("copy", &json!({"dest": "/srv/bin", "content": "a\0b"}))
        .unwrap()
        .plan(&TestContext::default())
        .unwrap();
    assert_eq!(step.payload, b"a\0b");
}
