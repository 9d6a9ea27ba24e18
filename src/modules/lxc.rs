//! `lxc`: an LXC container, its config file, and whether it runs.
//!
//! - `present`: the container exists (`lxc-info` knows it), else `lxc-create -t TEMPLATE`; with
//!   `rootfs`, its root file system lives in that directory (`-B dir --dir ROOTFS`, e.g. on the
//!   service's own disk). A `rootfs` that already holds files (the other node of a pair, after a
//!   sync or a switch-over) is adopted as it is: the container is created with `-t none`, never
//!   with a template over existing data.
//! - `started`: present, and RUNNING (`lxc-start -d`, then waits up to 10 s for RUNNING);
//! - `stopped`: present, and not running (`lxc-stop`);
//! - `absent`: stopped and destroyed (`lxc-destroy`, which also deletes its rootfs).
//!
//! `config` (inline text) or `config_src` (a local minijinja template, relative to the playbook,
//! rendered with the host's variables like the `template` module does) is the whole of
//! LXCPATH/NAME/config, written like `copy` does (sha256 compared, diff,
//! atomic replace) right after creation, so it replaces what the template wrote: it must carry
//! `lxc.rootfs.path` and the network. A changed config applies at the container's next start; the
//! step says so and does not restart it.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::copy::Content;
use super::{Module, PlanContext, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    #[serde(default)]
    state: State,
    #[serde(default = "busybox")]
    template: String,
    #[serde(default)]
    template_args: Vec<String>,
    config: Option<String>,
    config_src: Option<String>,
    #[serde(default = "var_lib_lxc")]
    path: String,
    rootfs: Option<String>,
}

fn busybox() -> String {
    "busybox".into()
}

fn var_lib_lxc() -> String {
    "/var/lib/lxc".into()
}

/// `present` by default, not `started`: on a failover pair the container must run on one node
/// only, so starting it is always asked for explicitly.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Present,
    Started,
    Stopped,
    Absent,
}

#[derive(Debug)]
pub struct Lxc {
    name: String,
    state: State,
    template: String,
    template_args: Vec<String>,
    config: Option<Config>,
    path: String,
    rootfs: Option<String>,
}

#[derive(Debug)]
enum Config {
    Inline(String),
    Template(String),
}

/// How long `started` waits for RUNNING after `lxc-start`.
const START_TIMEOUT_S: u32 = 10;

fn word(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && !value.starts_with(['-', '.'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "lxc: {field} '{value}' must be letters, digits, '_', '.', '-' (not starting with '-' or '.')"
        ))
    }
}

impl Lxc {
    pub fn from_args(args: &serde_json::Value) -> Result<Lxc, String> {
        let a: Args = parse("lxc", args)?;
        word("name", &a.name)?;
        // A template is a name under /usr/share/lxc/templates or a path to a script.
        if !a.template.starts_with('/') {
            word("template", &a.template)?;
        }
        absolute("lxc", "path", &a.path)?;
        if let Some(rootfs) = &a.rootfs {
            absolute("lxc", "rootfs", rootfs)?;
        }
        let config = match (a.config, a.config_src) {
            (Some(text), None) => Some(Config::Inline(text)),
            (None, Some(src)) => Some(Config::Template(src)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(
                    "lxc: give `config` (inline text) or `config_src` (a template file), not both"
                        .into(),
                );
            }
        };
        if a.state == State::Absent && config.is_some() {
            return Err("lxc: state absent takes no `config` (the container goes)".into());
        }
        Ok(Lxc {
            name: a.name,
            state: a.state,
            template: a.template,
            template_args: a.template_args,
            config,
            path: a.path,
            rootfs: a.rootfs,
        })
    }
}

const HEAD: &str = r#"n={name} P={path}
command -v lxc-info >/dev/null || tandem_fail "lxc: the LXC tools are not installed (package lxc)"
log="$TANDEM_TMP/lxc.log"
# lxc-info -s prints RUNNING, STOPPED, FROZEN, ...; nothing when the container does not exist.
st=$(lxc-info -P "$P" -n "$n" -s -H 2>/dev/null) || st=
"#;

const DESTROY: &str = r#"if [ -n "$st" ]; then
  tandem_changed "destroyed container $n"
  if ! tandem_checking; then
    lxc-destroy -P "$P" -n "$n" -f >"$log" 2>&1 || { cat "$log" >&2; tandem_fail "lxc: lxc-destroy $n failed"; }
  fi
fi
"#;

const CREATE: &str = r#"rootfs={rootfs} template={template} has_config={has_config}
if [ -z "$st" ]; then
  tandem_changed "created container $n"
  if ! tandem_checking; then
    mkdir -p -- "$P" || tandem_fail "lxc: cannot create $P"
    if [ -n "$rootfs" ] && [ -d "$rootfs" ] && [ -n "$(ls -A -- "$rootfs")" ]; then
      # Someone's data: adopt it, never run a template over it.
      [ -n "$has_config" ] || tandem_fail "lxc: $rootfs already holds a root file system: give \`config\` (with lxc.rootfs.path = dir:$rootfs) to adopt it"
      lxc-create -P "$P" -n "$n" -t none >"$log" 2>&1 || { cat "$log" >&2; tandem_fail "lxc: lxc-create $n (adopting $rootfs) failed"; }
    else
      lxc-create -P "$P" -n "$n" -t "$template"{backing}{args} >"$log" 2>&1 || { cat "$log" >&2; tandem_fail "lxc: lxc-create -t $template $n failed (output above)"; }
    fi
  fi
fi
"#;

/// Wraps the config's `copy`-like script; the container's directory exists unless this is
/// check mode on a new container.
const CONFIG_BEFORE: &str = r#"if [ -d "$P/$n" ]; then
  before=$(tandem_sha256 "$P/$n/config")
"#;

const CONFIG_AFTER: &str = r#"  if [ "$(tandem_sha256 "$P/$n/config")" != "$before" ] && [ "$st" = RUNNING ]; then
    tandem_changed "container $n runs with its old config until it restarts"
  fi
else
  tandem_changed "config of $n"
fi
"#;

const START: &str = r#"case $st in
RUNNING) ;;
FROZEN)
  tandem_changed "unfroze container $n"
  tandem_checking || lxc-unfreeze -P "$P" -n "$n" || tandem_fail "lxc: lxc-unfreeze $n failed"
  ;;
*)
  tandem_changed "started container $n"
  if ! tandem_checking; then
    lxc-start -P "$P" -n "$n" -d -l ERROR -o "$log" || { cat "$log" >&2; tandem_fail "lxc: lxc-start $n failed (log above; lxc-start -n $n -F shows the container's console)"; }
    lxc-wait -P "$P" -n "$n" -s RUNNING -t {timeout} || tandem_fail "lxc: $n is not RUNNING {timeout} s after lxc-start"
  fi
  ;;
esac
"#;

const STOP: &str = r#"case $st in
''|STOPPED) ;;
*)
  tandem_changed "stopped container $n"
  if ! tandem_checking; then
    lxc-stop -P "$P" -n "$n" -t 30 >"$log" 2>&1 || { cat "$log" >&2; tandem_fail "lxc: lxc-stop $n failed"; }
  fi
  ;;
esac
"#;

impl Module for Lxc {
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, String> {
        let mut script = Script::fill(
            HEAD,
            &[
                ("name", &ShellWord::quote(&self.name)),
                ("path", &ShellWord::quote(&self.path)),
            ],
        );
        if self.state == State::Absent {
            script.push_code(DESTROY);
            return Ok(RemoteStep {
                script,
                payload: Vec::new(),
            });
        }

        let args = if self.template_args.is_empty() {
            Script::code("")
        } else {
            let words: Vec<ShellWord> = self
                .template_args
                .iter()
                .map(|a| ShellWord::quote(a))
                .collect();
            Script::fill(" -- {words}", &[("words", &words)])
        };
        let (rootfs, backing) = match &self.rootfs {
            Some(r) => (
                ShellWord::quote(r),
                Script::code(r#" -B dir --dir "$rootfs""#),
            ),
            None => (ShellWord::quote(""), Script::code("")),
        };
        let has_config = ShellWord::quote(if self.config.is_some() { "1" } else { "" });
        script.push(Script::fill(
            CREATE,
            &[
                ("rootfs", &rootfs),
                ("template", &ShellWord::quote(&self.template)),
                ("has_config", &has_config),
                ("backing", &backing),
                ("args", &args),
            ],
        ));

        let config = match &self.config {
            Some(Config::Inline(text)) => Some(text.clone()),
            // minijinja's error names the template, the line and the undefined variable.
            Some(Config::Template(src)) => Some(cx.render_file(&cx.base_dir().join(src))?),
            None => None,
        };
        let payload = match config {
            Some(config) => {
                let payload = config.into_bytes();
                let dest = format!("{}/{}/config", self.path, self.name);
                script.push_code(CONFIG_BEFORE);
                // LXC's own file: a link there is replaced, never written through.
                script.push(
                    Content {
                        dest: &dest,
                        payload: &payload,
                        mode: None,
                        owner: None,
                        group: None,
                        show_diff: true,
                        follow: false,
                    }
                    .script()
                    .indented("  "),
                );
                script.push_code(CONFIG_AFTER);
                payload
            }
            None => Vec::new(),
        };

        match self.state {
            State::Started => script.push(Script::fill(
                START,
                &[("timeout", &ShellWord::number(START_TIMEOUT_S.into()))],
            )),
            State::Stopped => script.push_code(STOP),
            State::Present | State::Absent => {}
        }
        Ok(RemoteStep { script, payload })
    }
}

#[cfg(test)]
mod tests {
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
        let step = Lxc::from_args(&json!({"name": "web", "path": p, "config_src": "lxc.conf.j2"}))
            .unwrap();
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
        let e = step.plan(&TestContext::default()).unwrap_err();
        assert!(e.contains("no template"), "{e}");
        let e =
            Lxc::from_args(&json!({"name": "web", "config": "a", "config_src": "b"})).unwrap_err();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Lxc::from_args(&json!({"name": "web", "state": "running"})).unwrap_err();
        assert!(e.contains("unknown variant `running`"), "{e}");
        let e = Lxc::from_args(&json!({"name": "-web"})).unwrap_err();
        assert!(e.contains("lxc: name '-web'"), "{e}");
        let e = Lxc::from_args(&json!({"name": "web", "rootfs": "srv"})).unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = Lxc::from_args(&json!({"name": "web", "init_cmd": "x"})).unwrap_err();
        assert!(e.contains("unknown field `init_cmd`"), "{e}");
        let e =
            Lxc::from_args(&json!({"name": "web", "state": "absent", "config": "x"})).unwrap_err();
        assert!(e.contains("takes no `config`"), "{e}");
        assert!(Lxc::from_args(&json!({"name": "web", "template": "/opt/t/lxc-x"})).is_ok());
    }
}

#[cfg(test)]
mod shipped {
    //! The playbook and templates shipped in playbooks/ and templates/: they load, and the
    //! templates render in strict mode with the lab's variables and with a real pair's.

    use std::path::Path;

    use crate::template::Templates;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn vars(lab: bool, cgroup: &str) -> minijinja::Value {
        let disk = if lab {
            serde_json::json!({"kind": "loop", "file": "/var/lib/tandem/disks/web.img", "size": "512M", "link": "/var/lib/tandem/disks/web.dev"})
        } else {
            serde_json::json!({"kind": "lvm", "vg": "vg0", "pv": "/dev/sda4", "size": "20G"})
        };
        minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
            "packages": ["lxc"], "bridge": "br0", "bridge_address": "192.168.0.1",
            "bridge_prefix": 24, "bridge_ports": if lab { "none" } else { "dummy0" },
            "service_root": "/srv", "fs_type": "ext4", "container_address": "192.168.0.10/24",
            "lxc_template": "busybox", "lxc_template_args": [], "lxc_apparmor_profile": "generated",
            "container_dns": ["213.186.33.99"], "container_httpd": lab, "timezone": "Etc/UTC",
            "locale": "C.UTF-8", "service": "web", "container": "web", "disk": disk,
            "node": "node1", "cluster": "pair1", "primary": "node1", "nodes": ["node1", "node2"],
            "opensvc": !lab, "vip": "203.0.113.10", "opensvc_etc": "/etc/opensvc",
            "opensvc_orchestrate": "ha", "ovh_conf_path": "/etc/ovh.conf", "ovh_poll_seconds": 3,
            "ovh_move_timeout": 300,
            "service_names": {"node1": "ns1.ip-1-2-3.eu", "node2": "ns2.ip-4-5-6.eu"},
            "node_addresses": {"node1": "198.51.100.11", "node2": "198.51.100.12"},
            "opensvc_cluster": {
                "name": "pair1", "id": "0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b",
                "service_id": "1c7d4a6f-9e8b-4d2f-a03c-4b5e6f7a8b9c", "secret_file": "/x/pair1.opensvc-secret",
            },
            "cluster_secret": "0123456789abcdef0123456789abcdef",
            "facts": {"cgroup": cgroup, "os_id": "debian", "os_version": "12"},
        })))
    }

    #[test]
    fn playbook_loads() {
        let pb = crate::playbook::load(&root().join("playbooks/ovh-lxc-cluster.yml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(pb.steps.iter().any(|s| s.module == "lxc"));
        assert_eq!(pb.handlers.len(), 1);
    }

    #[test]
    fn templates_render_strictly() {
        let t = Templates::new();
        for lab in [true, false] {
            for name in [
                "br0.interfaces.j2",
                "lxc.conf.j2",
                "container-hosts.j2",
                "container-inittab.j2",
                "container-rcS.j2",
                "container-resolv.conf.j2",
                "opensvc-service.conf.j2",
                "opensvc-cluster.conf.j2",
                "ovh_routes.j2",
                "ovh_failover.j2",
            ] {
                let path = root().join("templates").join(name);
                t.render_file(&path, &vars(lab, "1"))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        let v1 = t
            .render_file(&root().join("templates/lxc.conf.j2"), &vars(true, "1"))
            .unwrap();
        assert!(v1.contains("\nlxc.cgroup.devices.deny = a\n"), "{v1}");
        // Where no OpenSVC agent runs (the lab), the container holds the VIP itself.
        assert!(
            v1.contains("\nlxc.net.0.ipv4.address = 203.0.113.10/32\n"),
            "{v1}"
        );
        let real = t
            .render_file(&root().join("templates/lxc.conf.j2"), &vars(false, "2"))
            .unwrap();
        assert!(!real.contains("203.0.113.10"), "{real}");
        let trigger = t
            .render_file(&root().join("templates/ovh_failover.j2"), &vars(false, "2"))
            .unwrap();
        assert!(
            trigger.contains("node2|node2.*) me=ns2.ip-4-5-6.eu ;;"),
            "{trigger}"
        );
        assert!(
            v1.contains("\nlxc.rootfs.path = dir:/srv/web/rootfs\n"),
            "{v1}"
        );
        let v2 = t
            .render_file(&root().join("templates/lxc.conf.j2"), &vars(false, "2"))
            .unwrap();
        assert!(
            v2.contains("\nlxc.cgroup2.devices.allow = c 136:* rwm\n"),
            "{v2}"
        );
        let br0 = t
            .render_file(
                &root().join("templates/br0.interfaces.j2"),
                &vars(false, "2"),
            )
            .unwrap();
        assert!(br0.contains("bridge_ports dummy0\n"), "{br0}");
    }
}
