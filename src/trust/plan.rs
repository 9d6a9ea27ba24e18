//! From what every node of a cluster said ([`NodeKeys`]) to what each node must hold, and the
//! playbook that puts it there. Pure: no I/O.
//!
//! Every line tandem writes ends with the tag `tandem-keys:CLUSTER:WHO`, so a later run knows
//! its own lines (and removes those of a node that left), and leaves every other line alone.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::gather::{NodeKeys, ROOT_KEY};
use crate::inventory::{ClusterSettings, Vars};
use crate::playbook::{Location, Playbook, Step};

/// The start of every tag: what the `tagged_lines` steps own in a file.
pub const TAG: &str = "tandem-keys:";

/// The name the generated steps carry as their file, in messages and `--json`.
pub const ORIGIN: &str = "<tandem keys>";

/// One node of a cluster, as the inventory and the node itself describe it.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub name: &'a str,
    /// How peers reach it: the inventory address, `[address]:port` when not on port 22.
    pub address: String,
    pub keys: &'a NodeKeys,
}

/// A container of the cluster, from the inventory's vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    /// Its address on the node's backend bridge (no prefix), if the inventory gives one.
    pub address: Option<String>,
}

/// The containers a cluster's settings name: `container` with `container_address` (the
/// cookbook playbook's vars, checked when the inventory loaded).
pub fn containers_of(settings: &ClusterSettings) -> Vec<ContainerSpec> {
    let Some(name) = &settings.container else {
        return Vec::new();
    };
    vec![ContainerSpec {
        name: name.clone(),
        address: settings.container_address.map(|a| a.to_string()),
    }]
}

fn tag(cluster: &str, who: &str) -> String {
    format!("{TAG}{cluster}:{who}")
}

/// What one node must hold: the `tandem_keys` variable of the generated playbook.
pub fn desired(cluster: &str, me: &Member, members: &[Member], specs: &[ContainerSpec]) -> Value {
    let peers = members.iter().filter(|m| m.name != me.name);
    let mut authorized = Vec::new();
    let mut known_hosts = Vec::new();
    for peer in peers {
        if let Some(key) = &peer.keys.root_key {
            authorized.push(format!("{} {}", key.line(), tag(cluster, peer.name)));
        }
        let names = if peer.address == peer.name {
            peer.name.to_string()
        } else {
            format!("{},{}", peer.name, peer.address)
        };
        for key in &peer.keys.host_keys {
            known_hosts.push(format!(
                "{names} {} {}",
                key.line(),
                tag(cluster, peer.name)
            ));
        }
    }
    // Every node's root logs into the containers: the one running it now, and the other after
    // a switch-over (OpenSVC syncs the root file system, authorized_keys included).
    let all_keys: Vec<String> = members
        .iter()
        .filter_map(|m| {
            m.keys
                .root_key
                .as_ref()
                .map(|k| format!("{} {}", k.line(), tag(cluster, m.name)))
        })
        .collect();
    let mut containers = serde_json::Map::new();
    for found in &me.keys.containers {
        let Some(spec) = specs.iter().find(|s| s.name == found.name) else {
            continue;
        };
        if let Some(address) = &spec.address {
            let who = format!("container:{}", spec.name);
            for key in &found.host_keys {
                known_hosts.push(format!(
                    "{},{address} {} {}",
                    spec.name,
                    key.line(),
                    tag(cluster, &who)
                ));
            }
        }
        containers.insert(
            found.name.clone(),
            json!({"rootfs": found.rootfs, "authorized": all_keys}),
        );
    }
    json!({
        "generated": me.keys.generated,
        "authorized": authorized,
        "known_hosts": known_hosts,
        "containers": containers,
    })
}

/// The steps every node runs; what differs between nodes is in their `tandem_keys` variable.
/// `container_names`: every container of the selected clusters (a step each, skipped on
/// nodes where that container does not exist).
pub fn playbook(container_names: &BTreeSet<String>) -> Playbook {
    let mut steps = vec![
        step(
            "Root key pair (made on the node, never copied off it)",
            "command",
            json!({"cmd": format!("test -s {ROOT_KEY}"), "creates": ROOT_KEY}),
            &[],
            Some("tandem_keys.generated"),
        ),
        step(
            "Peers' root keys in /root/.ssh/authorized_keys",
            "tagged_lines",
            json!({
                "path": "/root/.ssh/authorized_keys", "tag": TAG,
                "lines": "{{ tandem_keys.authorized }}",
                "mode": "0600", "owner": "root:root", "dir_mode": "0700",
            }),
            &[],
            None,
        ),
        step(
            "Peers' and containers' host keys pinned in /root/.ssh/known_hosts",
            "tagged_lines",
            json!({
                "path": "/root/.ssh/known_hosts", "tag": TAG,
                "lines": "{{ tandem_keys.known_hosts }}",
                "mode": "0600", "owner": "root:root", "dir_mode": "0700",
            }),
            &[],
            None,
        ),
    ];
    for name in container_names {
        let quoted = serde_json::to_string(name).unwrap_or_default();
        let this = format!("tandem_keys.containers[{quoted}]");
        steps.push(step(
            &format!("Nodes' root keys in container {name}"),
            "tagged_lines",
            json!({
                "path": format!("{{{{ {this}.rootfs }}}}/root/.ssh/authorized_keys"),
                // The container's root owns its tree: no link in it may lead this write out.
                "within": format!("{{{{ {this}.rootfs }}}}"),
                "tag": TAG,
                "lines": format!("{{{{ {this}.authorized }}}}"),
                "mode": "0600", "owner": "0:0", "dir_mode": "0700",
            }),
            &[format!("{quoted} in tandem_keys.containers")],
            None,
        ));
    }
    for (i, s) in steps.iter_mut().enumerate() {
        s.location.line = i + 1;
    }
    Playbook {
        path: PathBuf::from(ORIGIN),
        vars: Vars::default(),
        vars_line: None,
        extra_vars: Vars::default(),
        steps,
        handlers: Vec::new(),
        timeout: None,
    }
}

fn step(
    name: &str,
    module: &str,
    args: Value,
    when: &[String],
    changed_when: Option<&str>,
) -> Step {
    Step {
        name: name.to_string(),
        module: module.to_string(),
        args,
        built: None,
        when: when.to_vec(),
        tags: Vec::new(),
        notify: Vec::new(),
        listen: Vec::new(),
        register: None,
        changed_when: changed_when.map(str::to_string),
        become_root: true,
        become_user: None,
        timeout: None,
        vars: Vars::default(),
        defaults: Vars::default(),
        name_is_template: false,
        control: Default::default(),
        location: Location {
            file: PathBuf::from(ORIGIN),
            line: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::gather::{ContainerKeys, PublicKey};

    fn key(blob: &str) -> PublicKey {
        PublicKey {
            kind: "ssh-ed25519".into(),
            blob: blob.into(),
        }
    }

    fn node(root: &str, host: &str, container_key: Option<&str>) -> NodeKeys {
        NodeKeys {
            root_key: Some(key(root)),
            generated: false,
            host_keys: vec![key(host)],
            containers: container_key
                .map(|k| ContainerKeys {
                    name: "web".into(),
                    rootfs: "/srv/web/rootfs".into(),
                    host_keys: vec![key(k)],
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn each_node_trusts_its_peers_and_its_containers_trust_every_node() {
        let (k1, k2) = (node("R1", "H1", Some("C1")), node("R2", "H2", None));
        let members = [
            Member {
                name: "node1",
                address: "198.18.0.11".into(),
                keys: &k1,
            },
            Member {
                name: "node2",
                address: "198.18.0.12".into(),
                keys: &k2,
            },
        ];
        let specs = [ContainerSpec {
            name: "web".into(),
            address: Some("192.168.0.10".into()),
        }];
        let d1 = desired("pair1", &members[0], &members, &specs);
        assert_eq!(
            d1["authorized"],
            json!(["ssh-ed25519 R2 tandem-keys:pair1:node2"])
        );
        assert_eq!(
            d1["known_hosts"],
            json!([
                "node2,198.18.0.12 ssh-ed25519 H2 tandem-keys:pair1:node2",
                "web,192.168.0.10 ssh-ed25519 C1 tandem-keys:pair1:container:web"
            ])
        );
        assert_eq!(
            d1["containers"]["web"]["authorized"],
            json!([
                "ssh-ed25519 R1 tandem-keys:pair1:node1",
                "ssh-ed25519 R2 tandem-keys:pair1:node2"
            ])
        );
        let d2 = desired("pair1", &members[1], &members, &specs);
        assert_eq!(d2["containers"], json!({}));
        assert_eq!(
            d2["authorized"],
            json!(["ssh-ed25519 R1 tandem-keys:pair1:node1"])
        );
    }

    #[test]
    fn the_playbook_has_a_step_per_container() {
        let names: BTreeSet<String> = ["web".to_string(), "db".to_string()].into();
        let p = playbook(&names);
        assert_eq!(p.steps.len(), 5);
        assert_eq!(p.steps[3].name, "Nodes' root keys in container db");
        assert_eq!(
            p.steps[4].when,
            vec!["\"web\" in tandem_keys.containers".to_string()]
        );
        assert_eq!(p.steps[4].location.to_string(), "<tandem keys>:5");
    }
}
