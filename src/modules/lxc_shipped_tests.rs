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
