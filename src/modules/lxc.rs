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
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
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

fn word(field: &str, value: &str) -> Result<(), ModuleError> {
    let ok = !value.is_empty()
        && !value.starts_with(['-', '.'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ModuleError::value(
            "lxc",
            field,
            value,
            "must be letters, digits, '_', '.', '-' (not starting with '-' or '.')",
        ))
    }
}

impl Lxc {
    pub fn from_args(args: &serde_json::Value) -> Result<Lxc, ModuleError> {
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
                return Err(ModuleError::invalid(
                    "lxc",
                    "give `config` (inline text) or `config_src` (a template file), not both",
                ));
            }
        };
        if a.state == State::Absent && config.is_some() {
            return Err(ModuleError::invalid(
                "lxc",
                "state absent takes no `config` (the container goes)",
            ));
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
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
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
#[path = "lxc_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "lxc_shipped_tests.rs"]
mod shipped;
