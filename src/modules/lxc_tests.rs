//! Tests of the lxc module: arguments, and its script run against stubbed lxc-* commands.

use super::*;
use crate::modules::testing::{Local, TestContext};
use serde_json::json;

fn plan(args: serde_json::Value) -> RemoteStep {
    Lxc::from_args(&args)
        .unwrap()
        .plan(&TestContext::default())
        .unwrap()
}

/// Stand-ins for the lxc tools (real containers run in the lab's e2e test): a container is
/// LXCPATH/NAME/config; its state is LXCPATH/NAME/state. Every call is logged.
fn fake_lxc(t: &Local) -> String {
    let log = t.path("lxc.calls").display().to_string();
    let common = format!(
        r#"echo "$(basename "$0") $*" >>{log}
while [ $# -gt 0 ]; do case $1 in -P) P=$2; shift ;; -n) n=$2; shift ;; -t) tmpl=$2; shift ;; --dir) dir=$2; shift ;; --) shift; break ;; esac; shift; done
c=$P/$n
"#
    );
    t.stub(
        "lxc-info",
        &format!(
            r#"{common}[ -f "$c/config" ] || {{ echo "$n doesn't exist" >&2; exit 1; }}
cat "$c/state" 2>/dev/null || echo STOPPED
"#
        ),
    );
    t.stub(
        "lxc-create",
        &format!(
            r##"{common}mkdir -p "$c"; r=${{dir:-$c/rootfs}}
[ "$tmpl" = none ] || {{ mkdir -p "$r/sbin"; : >"$r/sbin/init"; }}
echo "# template $tmpl args $*" >"$c/config"
"##
        ),
    );
    t.stub("lxc-start", &format!(r#"{common}echo RUNNING >"$c/state""#));
    t.stub(
        "lxc-wait",
        &format!(r#"{common}grep -q RUNNING "$c/state""#),
    );
    t.stub("lxc-stop", &format!(r#"{common}echo STOPPED >"$c/state""#));
    t.stub("lxc-destroy", &format!(r#"{common}rm -rf "$c""#));
    log
}

fn calls(log: &str) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn creates_configures_starts_then_converges() {
    let t = Local::new();
    let log = fake_lxc(&t);
    let p = t.path("lxc");
    let rootfs = t.path("srv/web/rootfs");
    let config = format!(
        "lxc.uts.name = web\nlxc.rootfs.path = dir:{}\n",
        rootfs.display()
    );
    let step = plan(json!({
        "name": "web", "state": "started", "path": p, "rootfs": rootfs,
        "template_args": ["--flag", "it's"], "config": config,
    }));

    let check = t.run(&step, true, true);
    assert_eq!(check.status, 0, "{}", check.stderr);
    assert_eq!(
        check.report.changes,
        vec![
            "created container web",
            "config of web",
            "started container web"
        ]
    );
    assert_eq!(calls(&log).lines().count(), 1, "{}", calls(&log));

    let run = t.run(&step, false, true);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.report.changes,
        vec![
            "created container web".to_string(),
            format!("content of {}/web/config", p.display()),
            "started container web".to_string(),
        ]
    );
    assert!(
        calls(&log).contains(&format!(
            "lxc-create -P {} -n web -t busybox -B dir --dir {} -- --flag it's",
            p.display(),
            rootfs.display()
        )),
        "{}",
        calls(&log)
    );
    assert!(rootfs.join("sbin/init").exists());
    assert_eq!(
        std::fs::read_to_string(p.join("web/config")).unwrap(),
        config
    );
    assert_eq!(run.report.diffs[0].new, config.as_bytes());

    let again = t.run(&step, false, false);
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert!(!again.report.changed(), "{:?}", again.report);

    // A new config on a running container: written, and the step says it waits for a restart.
    let step = plan(json!({"name": "web", "state": "started", "path": p, "config": "x\n"}));
    let run = t.run(&step, false, false);
    assert_eq!(
        run.report.changes,
        vec![
            format!("content of {}/web/config", p.display()),
            "container web runs with its old config until it restarts".to_string(),
        ]
    );

    let stop = plan(json!({"name": "web", "state": "stopped", "path": p}));
    assert_eq!(
        t.run(&stop, false, false).report.changes,
        vec!["stopped container web"]
    );
    assert!(!t.run(&stop, false, false).report.changed());

    let gone = plan(json!({"name": "web", "state": "absent", "path": p}));
    assert_eq!(
        t.run(&gone, false, false).report.changes,
        vec!["destroyed container web"]
    );
    assert!(!p.join("web").exists());
    assert!(!t.run(&gone, false, false).report.changed());
}

#[test]
fn an_existing_rootfs_is_adopted_not_overwritten() {
    let t = Local::new();
    let log = fake_lxc(&t);
    let p = t.path("lxc");
    let rootfs = t.path("srv/web/rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/data"), "keep").unwrap();

    let bare = plan(json!({"name": "web", "path": p, "rootfs": rootfs}));
    let run = t.run(&bare, false, false);
    assert_ne!(run.status, 0);
    assert!(run.stderr.contains("give `config`"), "{}", run.stderr);

    let step = plan(json!({"name": "web", "path": p, "rootfs": rootfs, "config": "c\n"}));
    let run = t.run(&step, false, false);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(calls(&log).contains("-t none"), "{}", calls(&log));
    assert!(
        !rootfs.join("sbin").exists(),
        "a template ran over the rootfs"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("web/config")).unwrap(),
        "c\n"
    );
}

#[test]
fn config_src_is_rendered_on_the_controller() {
    let t = Local::new();
    fake_lxc(&t);
    let p = t.path("lxc");
    let step =
        Lxc::from_args(&json!({"name": "web", "path": p, "config_src": "lxc.conf.j2"})).unwrap();
    let cx = TestContext {
        base: t.path("playbooks"),
        rendered: Some("lxc.uts.name = web\n".into()),
    };
    let plan = step.plan(&cx).unwrap();
    let run = t.run(&plan, false, false);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("web/config")).unwrap(),
        "lxc.uts.name = web\n"
    );
    let e = step.plan(&TestContext::default()).unwrap_err().to_string();
    assert!(e.contains("no template"), "{e}");
    let e = Lxc::from_args(&json!({"name": "web", "config": "a", "config_src": "b"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn bad_arguments_are_explained() {
    let e = Lxc::from_args(&json!({"name": "web", "state": "running"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `running`"), "{e}");
    let e = Lxc::from_args(&json!({"name": "-web"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lxc: name '-web'"), "{e}");
    let e = Lxc::from_args(&json!({"name": "web", "rootfs": "srv"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absolute"), "{e}");
    let e = Lxc::from_args(&json!({"name": "web", "init_cmd": "x"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `init_cmd`"), "{e}");
    let e = Lxc::from_args(&json!({"name": "web", "state": "absent", "config": "x"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("takes no `config`"), "{e}");
    assert!(Lxc::from_args(&json!({"name": "web", "template": "/opt/t/lxc-x"})).is_ok());
}
