//! The disk and container modules for real inside lab nodes: each step's script runs with the
//! prelude, as the remote shell runs it (via `Lab::exec`, no SSH), so loop devices, mkfs,
//! mount and LXC containers are the real thing. LVM is not here: device-mapper does not work in
//! a lab node (its unit tests use stand-ins for the LVM tools).

use std::path::Path;

use base64::Engine as _;
use tandem::modules::{self, PRELUDE, PlanContext, PlanError, RemoteStep, StepReport};
use tandem_integration::lab::{Lab, TempLab};

use crate::support::{exec_ok, stderr};

const MARK: &str = "@tandem-lab-test-mark";

struct NoTemplates;

impl PlanContext for NoTemplates {
    fn base_dir(&self) -> &Path {
        Path::new("/")
    }
    fn render_file(&self, path: &Path) -> Result<String, PlanError> {
        Err(PlanError::Unreadable {
            module: "template",
            field: "src",
            path: path.to_path_buf(),
            source: std::io::Error::other("no templates in this test"),
        })
    }
}

struct Run {
    status: i32,
    report: StepReport,
    stderr: String,
}

/// Plans module `name` with `args` and runs its script in `node` as the remote shell would:
/// prelude first, then the script in a subshell reading its payload, with a private TANDEM_TMP.
fn step(lab: &Lab, node: &str, name: &str, args: serde_json::Value, check: bool) -> Run {
    let plan: RemoteStep = modules::build(name, &args)
        .unwrap_or_else(|e| panic!("{name} {args}: {e}"))
        .plan(&NoTemplates)
        .unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let script = format!(
        r#"T=$(mktemp -d) || exit 97
trap 'rm -rf "$T"' EXIT
echo {prelude} | base64 -d >"$T/prelude"
echo {script} | base64 -d >"$T/script"
echo {payload} | base64 -d >"$T/payload"
export TANDEM_MARK='{MARK}' TANDEM_CHECK={check} TANDEM_DIFF=1 TANDEM_PAYLOAD="$T/payload" TANDEM_TMP="$T"
. "$T/prelude"
( . "$T/script" ) <"$T/payload"
"#,
        prelude = b64(PRELUDE.as_bytes()),
        script = b64(plan.script.as_bytes()),
        payload = b64(&plan.payload),
        check = if check { "1" } else { "" },
    );
    let out = lab.exec(node, &script).expect("nsenter into the node");
    Run {
        status: out.status.code().unwrap_or(-1),
        report: modules::answer::parse(&out.stdout, MARK),
        stderr: stderr(&out),
    }
}

fn ok(lab: &Lab, node: &str, name: &str, args: serde_json::Value) -> StepReport {
    let run = step(lab, node, name, args.clone(), false);
    assert_eq!(run.status, 0, "{node}: {name} {args}: {}", run.stderr);
    run.report
}

fn converged(lab: &Lab, node: &str, name: &str, args: serde_json::Value) {
    let report = ok(lab, node, name, args.clone());
    assert!(
        !report.changed(),
        "{node}: {name} {args} changed again: {:?}",
        report.changes
    );
}

/// The LXC config templates/lxc.conf.j2 renders for the lab (busybox, cgroup v1 devices keys on
/// this host, v2 on a unified host), with the rootfs on the service disk.
fn lxc_config(cgroup: &str) -> String {
    let cg = if cgroup == "2" {
        "lxc.cgroup2"
    } else {
        "lxc.cgroup"
    };
    let mut c = String::from(
        "lxc.uts.name = web
lxc.rootfs.path = dir:/srv/web/rootfs
lxc.tty.max = 4
lxc.pty.max = 1024
lxc.autodev = 1
lxc.net.0.type = veth
lxc.net.0.flags = up
lxc.net.0.link = br0
lxc.net.0.name = eth0
lxc.net.0.mtu = 1500
lxc.net.0.ipv4.address = 192.168.0.10/24
lxc.net.0.ipv4.gateway = 192.168.0.1
lxc.apparmor.profile = generated
lxc.cap.drop = sys_module mac_admin mac_override sys_time
lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed
lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0
lxc.mount.entry = /lib lib none ro,bind,optional 0 0
lxc.mount.entry = /usr/lib usr/lib none ro,bind,optional 0 0
lxc.mount.entry = /lib64 lib64 none ro,bind,optional 0 0
lxc.mount.entry = /usr/lib64 usr/lib64 none ro,bind,optional 0 0
lxc.signal.halt = SIGUSR1
lxc.signal.reboot = SIGTERM
",
    );
    c.push_str(&format!("{cg}.devices.deny = a\n"));
    for dev in [
        "1:3", "1:5", "1:7", "1:8", "1:9", "5:0", "5:1", "5:2", "4:0", "4:1", "136:*",
    ] {
        c.push_str(&format!("{cg}.devices.allow = c {dev} rwm\n"));
    }
    c
}

/// Which cgroup version the node runs: "2" when /sys/fs/cgroup is the unified hierarchy itself.
fn cgroup_version(lab: &Lab, node: &str) -> String {
    exec_ok(
        lab,
        node,
        "[ \"$(stat -f -c %T /sys/fs/cgroup)\" = cgroup2fs ] && echo 2 || echo 1",
    )
}

#[test]
fn service_disk_and_container_come_up_and_converge() {
    let lab = TempLab::new(2);
    let mut devices = Vec::new();
    for node in ["node1", "node2"] {
        // The disk: a file on a loop device, reached through a stable link.
        let disk = serde_json::json!({
            "file": "/var/lib/tandem/disks/web.img", "size": "64M",
            "link": "/var/lib/tandem/disks/web.dev",
        });
        let check = step(&lab, node, "loop_device", disk.clone(), true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(check.report.changes.len(), 3, "{:?}", check.report);
        assert_eq!(
            exec_ok(&lab, node, "ls /var/lib/tandem 2>&1 || true"),
            "ls: cannot access '/var/lib/tandem': No such file or directory"
        );
        let first = ok(&lab, node, "loop_device", disk.clone());
        assert_eq!(first.changes.len(), 3, "{:?}", first.changes);
        let device = first.facts["device"].clone();
        assert!(device.starts_with("/dev/loop"), "{device}");
        assert_eq!(
            exec_ok(&lab, node, "readlink /var/lib/tandem/disks/web.dev"),
            device
        );
        converged(&lab, node, "loop_device", disk.clone());
        devices.push(device);

        // The file system: made once; another type is refused, never made over it.
        let fs = serde_json::json!({"dev": "/var/lib/tandem/disks/web.dev", "fstype": "ext4"});
        assert_eq!(
            ok(&lab, node, "filesystem", fs.clone()).changes,
            vec!["created ext4 on /var/lib/tandem/disks/web.dev"]
        );
        converged(&lab, node, "filesystem", fs);
        let xfs = step(
            &lab,
            node,
            "filesystem",
            serde_json::json!({"dev": "/var/lib/tandem/disks/web.dev", "fstype": "xfs"}),
            false,
        );
        assert_ne!(xfs.status, 0);
        assert!(
            xfs.stderr
                .contains("holds ext4, not xfs: tandem never reformats"),
            "{}",
            xfs.stderr
        );

        // Mounted at /srv/web through /etc/fstab.
        let mount = serde_json::json!({
            "path": "/srv/web", "src": "/var/lib/tandem/disks/web.dev", "fstype": "ext4",
        });
        let report = ok(&lab, node, "mount", mount.clone());
        assert_eq!(
            report.changes,
            vec![
                "entry in /etc/fstab",
                "created directory /srv/web",
                "mounted /var/lib/tandem/disks/web.dev on /srv/web",
            ]
        );
        assert_eq!(
            exec_ok(&lab, node, "findmnt -n -o SOURCE,FSTYPE /srv/web"),
            format!("{} ext4", devices.last().unwrap())
        );
        assert!(
            exec_ok(&lab, node, "cat /etc/fstab")
                .contains("/var/lib/tandem/disks/web.dev /srv/web ext4 defaults 0 0")
        );
        converged(&lab, node, "mount", mount);
    }
    assert_ne!(devices[0], devices[1], "two nodes, two loop devices");

    // The container, on node1: the lab's br0 (no dummy driver in this kernel: a bridge alone).
    exec_ok(
        &lab,
        "node1",
        "ip link add br0 type bridge stp_state 0 forward_delay 0 && ip addr add 192.168.0.1/24 dev br0 && ip link set br0 up",
    );
    let config = lxc_config(&cgroup_version(&lab, "node1"));
    let present = serde_json::json!({
        "name": "web", "rootfs": "/srv/web/rootfs", "config": config,
    });
    let report = ok(&lab, "node1", "lxc", present.clone());
    assert_eq!(
        report.changes,
        vec![
            "created container web",
            "content of /var/lib/lxc/web/config"
        ]
    );
    assert!(exec_ok(&lab, "node1", "ls /srv/web/rootfs/bin").contains("busybox"));
    converged(&lab, "node1", "lxc", present.clone());

    // A boot without DHCP (the busybox template's udhcpc would flush the address LXC set).
    let rcs = "#!/bin/sh\n/bin/mount -a\n/bin/syslogd\n/bin/httpd -p 80 -h /var/www\n";
    ok(
        &lab,
        "node1",
        "copy",
        serde_json::json!({"dest": "/srv/web/rootfs/etc/init.d/rcS", "content": rcs, "mode": "0755"}),
    );
    exec_ok(
        &lab,
        "node1",
        "mkdir -p /srv/web/rootfs/var/www && echo 'web on node1' >/srv/web/rootfs/var/www/index.html",
    );

    let started = serde_json::json!({"name": "web", "state": "started", "config": config});
    let check = step(&lab, "node1", "lxc", started.clone(), true);
    assert_eq!(check.report.changes, vec!["started container web"]);
    assert_eq!(
        exec_ok(&lab, "node1", "lxc-info -n web -s -H"),
        "STOPPED",
        "check mode started it"
    );
    assert_eq!(
        ok(&lab, "node1", "lxc", started.clone()).changes,
        vec!["started container web"]
    );
    assert_eq!(exec_ok(&lab, "node1", "lxc-info -n web -s -H"), "RUNNING");
    converged(&lab, "node1", "lxc", started.clone());
    // The service answers from the node, through br0.
    let page = exec_ok(
        &lab,
        "node1",
        "for i in $(seq 50); do curl -sf -m 1 http://192.168.0.10/ && exit 0; sleep 0.1; done; exit 1",
    );
    assert_eq!(page, "web on node1");
    // The devices cgroup holds: no block device for the container.
    let mknod = lab
        .exec("node1", "lxc-attach -n web -- mknod /tmp/disk b 7 0")
        .unwrap();
    assert!(!mknod.status.success(), "mknod of a block device worked");

    let stopped = serde_json::json!({"name": "web", "state": "stopped"});
    assert_eq!(
        ok(&lab, "node1", "lxc", stopped.clone()).changes,
        vec!["stopped container web"]
    );
    converged(&lab, "node1", "lxc", stopped);

    let absent = serde_json::json!({"name": "web", "state": "absent"});
    assert_eq!(
        ok(&lab, "node1", "lxc", absent.clone()).changes,
        vec!["destroyed container web"]
    );
    converged(&lab, "node1", "lxc", absent);

    // Taking the lab down detaches the loop devices its nodes attached.
    let attached = |dev: &str| Path::new(&format!("/sys/block/{}/loop", &dev[5..])).exists();
    assert!(devices.iter().all(|d| attached(d)));
    lab.close().unwrap();
    for dev in &devices {
        let backing =
            std::fs::read_to_string(format!("/sys/block/{}/loop/backing_file", &dev[5..]))
                .unwrap_or_default();
        assert!(
            !backing.contains("/var/lib/tandem/disks/web.img"),
            "{dev} still attached to {backing}"
        );
    }
}
