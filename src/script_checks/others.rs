//! The scripts tandem sends besides modules', with hostile values wherever they take one.

use std::path::Path;

use minijinja::Value;
use serde_json::json;

use super::{Checked, HOSTILE};
use crate::failover::node_ops::{self, ServiceSpec};

fn spec(service: &str, container: &str, vip: &str, etc: &str, dev: &str) -> ServiceSpec {
    ServiceSpec {
        service: service.into(),
        container: container.into(),
        vip: vip.into(),
        opensvc_etc: etc.into(),
        container_dev: dev.into(),
    }
}

#[test]
fn the_fixed_scripts_are_valid_sh() {
    let mut checked = Checked::default();
    checked.add("modules/prelude.sh", crate::modules::PRELUDE);
    checked.add("the remote shell's loop", crate::ssh::LOOP);
    checked.add("the remote shell's halt", crate::ssh::HALT);
    checked.add("deploy's facts", crate::engine::facts::FACTS_SCRIPT);
    let all = crate::engine::facts::Group::ALL.into_iter().collect();
    checked.add(
        "deploy's facts, every group",
        &crate::engine::facts::script(&all),
    );
    checked.add("ping's facts", &crate::engine::facts::summary_script());
    checked.assert_all_pass();
}

#[test]
fn the_node_scripts_are_valid_sh_for_every_hostile_value() {
    let mut checked = Checked::default();
    let good = spec("web", "web", "203.0.113.7", "/etc/opensvc", "eth0");
    let mut specs = vec![good.clone()];
    for v in HOSTILE {
        specs.push(spec(v, "web", "203.0.113.7", "/etc/opensvc", "eth0"));
        specs.push(spec("web", v, "203.0.113.7", "/etc/opensvc", "eth0"));
        specs.push(spec("web", "web", v, "/etc/opensvc", "eth0"));
        specs.push(spec(
            "web",
            "web",
            "203.0.113.7",
            &format!("/etc/{v}"),
            "eth0",
        ));
        specs.push(spec("web", "web", "203.0.113.7", "/etc/opensvc", v));
        checked.add(format!("lock {v:?}"), &node_ops::lock_script(v, v));
        checked.add(format!("unlock {v:?}"), &node_ops::unlock_script(v, v));
        checked.add(
            format!("keys gather {v:?}"),
            &crate::trust::gather::script(&[v.to_string(), "web".into()], false),
        );
        checked.add(
            format!("keys gather check {v:?}"),
            &crate::trust::gather::script(&[v.to_string()], true),
        );
        for sudo in [false, true] {
            checked.add(
                format!("config read {v:?}"),
                &crate::service_config::read_command(&format!("/etc/opensvc/{v}.conf"), sudo),
            );
        }
        for template in [
            "om {service} switch --to {to}",
            "printf '%s\\n' {service} {to} >/dev/null",
            "svcmgr -s {service} switch --to {to} && echo \"done\"",
        ] {
            for (service, to) in [(*v, "node2"), ("web", *v)] {
                let cmd = node_ops::switch_command(template, service, to).unwrap();
                checked.add(format!("switch {template} {service:?} {to:?}"), &cmd);
            }
        }
    }
    checked.add(
        "keys gather, no containers",
        &crate::trust::gather::script(&[], false),
    );
    for s in &specs {
        checked.add(format!("inspect {s:?}"), &node_ops::inspect_script(s));
        checked.add(format!("stop {s:?}"), &node_ops::stop_script(s));
        checked.add(format!("start {s:?}"), &node_ops::start_script(s));
    }
    checked.assert_all_pass();
}

/// The templates of `templates/` that are scripts (the triggers and the container's boot
/// script), rendered with a hostile value in every variable they take from the inventory.
#[test]
fn the_script_templates_are_valid_sh_for_every_hostile_value() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let templates = crate::template::Templates::new();
    let base = json!({
        "service": "web", "vip": "203.0.113.10", "cluster": "pair1", "bridge": "br0",
        "ovh_conf_path": "/etc/ovh.conf", "ovh_poll_seconds": 3, "ovh_move_timeout": 300,
        "service_names": {"node1": "ns1.ip-1.eu", "node2": "ns2.ip-2.eu"},
        "container": "web", "container_address": "192.168.0.10", "container_httpd": true,
    });
    let keys = [
        "service",
        "vip",
        "cluster",
        "bridge",
        "ovh_conf_path",
        "ovh_poll_seconds",
        "ovh_move_timeout",
        "container",
        "container_address",
    ];
    let mut checked = Checked::default();
    for name in ["ovh_failover.j2", "ovh_routes.j2", "container-rcS.j2"] {
        let path = dir.join(name);
        let mut contexts = vec![base.clone()];
        for v in HOSTILE {
            for key in keys {
                let mut ctx = base.clone();
                ctx[key] = json!(v);
                contexts.push(ctx);
            }
            let mut ctx = base.clone();
            ctx["service_names"] = json!({"node1": v, "node2": "ns2"});
            contexts.push(ctx);
        }
        for ctx in contexts {
            let text = templates
                .render_file(&path, &Value::from(minijinja::value::Serde(&ctx)))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            checked.add(format!("{name} with {ctx}"), &text);
        }
    }
    checked.assert_all_pass();
}
