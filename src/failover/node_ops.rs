//! What the game day runs on a node, as `sh` scripts (pure functions: the command ships them
//! over its sessions). `--direct` does OpenSVC's part itself with these: stop the service on
//! the source, start it on the target, run the service's own triggers.

use crate::sh::{QuotedPlaceholder, Script, ShellWord};

/// The service as the game day needs it, from the inventory's vars.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub service: String,
    pub container: String,
    pub vip: String,
    /// `OPENSVC_ETC/SERVICE.conf` and `OPENSVC_ETC/SERVICE.d/` (the triggers).
    pub opensvc_etc: String,
    /// The container's interface that holds the VIP.
    pub container_dev: String,
}

impl ServiceSpec {
    pub fn config_path(&self) -> String {
        format!("{}/{}.conf", self.opensvc_etc, self.service)
    }

    fn trigger(&self, name: &str) -> String {
        format!("{}/{}.d/{name}", self.opensvc_etc, self.service)
    }
}

/// Where the cluster-wide game-day lock lives on every node (`/run`: gone after a reboot).
pub fn lock_path(cluster: &str) -> String {
    format!("/run/tandem/failover-test-{cluster}.lock")
}

const LOCK: &str = r#"mkdir -p /run/tandem || exit 1
if mkdir {p} 2>/dev/null; then printf '%s\n' {h} >{p}/holder; exit 0; fi
cat {p}/holder 2>/dev/null || echo "unknown holder"
exit 3
"#;

/// Takes the lock (mkdir is atomic); exit 3 and the holder's line when someone has it.
pub fn lock_script(cluster: &str, holder: &str) -> Script {
    Script::fill(
        LOCK,
        &[
            ("p", &ShellWord::quote(&lock_path(cluster))),
            ("h", &ShellWord::quote(holder)),
        ],
    )
}

const UNLOCK: &str = r#"[ "$(cat {p}/holder 2>/dev/null)" = {h} ] && rm -rf {p}
exit 0
"#;

/// Releases it, only if it is still ours.
pub fn unlock_script(cluster: &str, holder: &str) -> Script {
    Script::fill(
        UNLOCK,
        &[
            ("p", &ShellWord::quote(&lock_path(cluster))),
            ("h", &ShellWord::quote(holder)),
        ],
    )
}

const INSPECT: &str = r#"printf 'config %s\n' "$(sha256sum {conf} 2>/dev/null | cut -d' ' -f1)"
printf 'container %s\n' "$(lxc-info -n {c} -s -H 2>/dev/null || echo ABSENT)"
for t in ovh_routes ovh_failover; do
  [ -x {etc}/{svc}.d/"$t" ] && printf 'trigger %s\n' "$t"
done
command -v om >/dev/null 2>&1 && echo "opensvc om"
exit 0
"#;

/// The service config's sha256 (empty when missing), and the container's state, in one go.
pub fn inspect_script(spec: &ServiceSpec) -> Script {
    Script::fill(
        INSPECT,
        &[
            ("conf", &ShellWord::quote(&spec.config_path())),
            ("c", &ShellWord::quote(&spec.container)),
            ("etc", &ShellWord::quote(&spec.opensvc_etc)),
            ("svc", &ShellWord::quote(&spec.service)),
        ],
    )
}

const STOP: &str = r#"set -u
if [ "$(lxc-info -n {c} -s -H 2>/dev/null)" = RUNNING ]; then
  lxc-stop -n {c} -t 10 || lxc-stop -n {c} -k || exit 1
fi
routes={routes}
[ ! -x "$routes" ] || "$routes" stop {svc} {vip} || exit 1
exit 0
"#;

/// Stops the service on a node: the container (and the VIP it holds), then the route trigger.
/// The route goes last so the service answers for as long as it runs (OpenSVC's pre_stop
/// order would cut it first: a longer outage for the same switch). Idempotent: a stopped
/// service stays stopped, exit 0.
pub fn stop_script(spec: &ServiceSpec) -> Script {
    Script::fill(
        STOP,
        &[
            ("routes", &ShellWord::quote(&spec.trigger("ovh_routes"))),
            ("svc", &ShellWord::quote(&spec.service)),
            ("vip", &ShellWord::quote(&spec.vip)),
            ("c", &ShellWord::quote(&spec.container)),
        ],
    )
}

const START: &str = r#"set -u
if [ "$(lxc-info -n {c} -s -H 2>/dev/null)" != RUNNING ]; then
  lxc-start -n {c} -d || exit 1
fi
lxc-wait -n {c} -s RUNNING -t 10 || exit 1
# The container's network comes up with it: wait (bounded) for its interface.
i=0
until lxc-attach -n {c} -- ip link show {dev} >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -lt 50 ] || { printf 'no %s in the container\n' {dev} >&2; exit 1; }; sleep 0.1
done
lxc-attach -n {c} -- ip addr show {dev} | grep -qF -- {held} ||
  lxc-attach -n {c} -- ip addr add {vip_32} dev {dev} || exit 1
routes={routes}
[ ! -x "$routes" ] || "$routes" start {svc} {vip} || exit 1
exit 0
"#;

/// Starts it: the container, the VIP on its interface, the route trigger. Idempotent.
pub fn start_script(spec: &ServiceSpec) -> Script {
    Script::fill(
        START,
        &[
            ("routes", &ShellWord::quote(&spec.trigger("ovh_routes"))),
            ("svc", &ShellWord::quote(&spec.service)),
            ("vip", &ShellWord::quote(&spec.vip)),
            ("vip_32", &ShellWord::quote(&format!("{}/32", spec.vip))),
            ("held", &ShellWord::quote(&format!(" {}/", spec.vip))),
            ("c", &ShellWord::quote(&spec.container)),
            ("dev", &ShellWord::quote(&spec.container_dev)),
        ],
    )
}

/// The cluster's own switch command (OpenSVC's `om {service} switch --to {to}` by default):
/// the template is the user's shell code; `{service}` and `{to}` become one quoted word each,
/// whatever the values hold (a service named `web;reboot` is one argument, never a command).
/// `Err` when the template puts a placeholder between quotes (see [`check_switch_command`]).
pub fn switch_command(
    template: &str,
    service: &str,
    to: &str,
) -> Result<Script, QuotedPlaceholder> {
    Script::fill_user_template(
        template,
        &[
            ("{service}", &ShellWord::quote(service)),
            ("{to}", &ShellWord::quote(to)),
        ],
    )
}

/// Whether a `switch_command` template can be filled: for checking it when the inventory
/// loads, before anything connects.
pub fn check_switch_command(template: &str) -> Result<(), QuotedPlaceholder> {
    switch_command(template, "service", "node").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            service: "web".into(),
            container: "web".into(),
            vip: "203.0.113.7".into(),
            opensvc_etc: "/etc/opensvc".into(),
            container_dev: "eth0".into(),
        }
    }

    #[test]
    fn scripts_are_valid_sh() {
        for script in [
            lock_script("pair1", "me@laptop 1"),
            unlock_script("pair1", "me@laptop 1"),
            inspect_script(&spec()),
            stop_script(&spec()),
            start_script(&spec()),
        ] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{script}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(stop_script(&spec()).contains("routes=/etc/opensvc/web.d/ovh_routes\n"));
    }

    #[test]
    fn the_lock_is_taken_once_and_released_only_by_its_holder() {
        let dir = std::env::temp_dir().join(format!("tandem-lock-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = |script: Script| {
            let script = script
                .as_str()
                .replace("/run/tandem", dir.to_str().unwrap());
            std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap()
        };
        assert!(run(lock_script("c", "a")).status.success());
        let second = run(lock_script("c", "b"));
        assert_eq!(second.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "a");
        run(unlock_script("c", "b"));
        assert_eq!(run(lock_script("c", "b")).status.code(), Some(3));
        run(unlock_script("c", "a"));
        assert!(run(lock_script("c", "b")).status.success());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn switch_command_is_filled() {
        assert_eq!(
            switch_command("om {service} switch --to {to}", "web", "node2")
                .unwrap()
                .as_str(),
            "om web switch --to node2"
        );
    }
}

#[cfg(test)]
mod quoting_tests {
    use super::*;

    /// Issue 12, defect 2: the switch command was filled by plain text replacement, so a
    /// service named `web;touch FILE` ran `touch FILE`.
    #[test]
    fn the_switch_command_gets_each_value_as_one_word() {
        let dir = std::env::temp_dir().join(format!("tandem-switch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("pwned");
        let service = format!("web;touch {} #'\"$(x)", marker.display());
        let cmd = switch_command("printf '[%s]' {service} {to}", &service, "node 2")
            .unwrap()
            .to_string();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "{cmd}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("[{service}][node 2]")
        );
        assert!(!marker.exists(), "{cmd} ran the injected command");
    }
}
