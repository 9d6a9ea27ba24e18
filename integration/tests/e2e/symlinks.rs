//! Issue 12, class 2: every module that writes a path, run in a lab node with that path a
//! symlink to a file, to a directory, and dangling, and with directories planted at the
//! temporary names tandem used to use. The outcome is the documented one (README, "What tandem
//! guarantees"; each module's docs), never a widened mode, never a write outside what is
//! documented. What is on the node is read from its overlay upper directory, not through a
//! shell. (`lvm` is not here: device-mapper does not work in a lab node.)

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tandem::modules::StepReport;
use tandem_integration::lab::{Lab, TempLab};

use crate::lab_steps::{Node, RENDERED, at, run_step};
use crate::support::exec_ok;

const NODE: &str = "node1";

/// `/srv/sym/CASE` holding `real` (a 0600 file "old\n"), `dir/keep`, and the links `tofile`,
/// `todir` and `dangling` (to `nowhere`, which does not exist).
fn fixture(lab: &Lab, case: &str) -> PathBuf {
    let d = format!("/srv/sym/{case}");
    exec_ok(
        lab,
        NODE,
        &format!(
            "mkdir -p {d}/dir && echo keep >{d}/dir/keep && printf 'old\\n' >{d}/real && \
             chmod 600 {d}/real && ln -s {d}/real {d}/tofile && ln -s {d}/dir {d}/todir && \
             ln -s {d}/nowhere {d}/dangling"
        ),
    );
    PathBuf::from(d)
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn ok(lab: &Lab, module: &str, args: Value) -> StepReport {
    let ran = run_step(lab, NODE, module, &args);
    assert_eq!(ran.status, 0, "{module} {args}: {}", ran.stderr);
    ran.report
}

fn fails(lab: &Lab, module: &str, args: Value, why: &str) {
    let ran = run_step(lab, NODE, module, &args);
    assert_ne!(ran.status, 0, "{module} {args} passed: {:?}", ran.report);
    assert!(
        ran.stderr.contains(why),
        "{module} {args}: expected {why:?} in: {}",
        ran.stderr
    );
}

fn file(mode: u32, content: &str) -> Node {
    Node::File(mode, content.as_bytes().to_vec())
}

fn link(dir: &Path, name: &str) -> Node {
    Node::Link(dir.join(name))
}

/// The three links and what they lead to are as the fixture made them.
fn untouched(lab: &Lab, d: &Path) {
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o600, "old\n"));
    assert_eq!(
        at(lab, NODE, &d.join("dir")),
        Node::Dir(vec!["keep".into()])
    );
    assert_eq!(at(lab, NODE, &d.join("nowhere")), Node::Missing);
    for (name, to) in [
        ("tofile", "real"),
        ("todir", "dir"),
        ("dangling", "nowhere"),
    ] {
        assert_eq!(at(lab, NODE, &d.join(name)), link(d, to), "{name}");
    }
}

/// copy and template: `follow: false` (the default) replaces the link by a file that keeps the
/// mode of the file it led to; `follow: true` writes that file; a link to a directory or a
/// dangling link under `follow: true` fail, touching nothing.
fn content_module(lab: &Lab, module: &str, case: &str, args: fn(&str) -> Value, new: &str) {
    let d = fixture(lab, case);
    let with = |dest: &str, follow: bool| {
        let mut a = args(dest);
        a["follow"] = json!(follow);
        a
    };
    fails(
        lab,
        module,
        with(&p(&d, "todir"), false),
        "symlink to a directory",
    );
    fails(
        lab,
        module,
        with(&p(&d, "todir"), true),
        "symlink to a directory",
    );
    fails(
        lab,
        module,
        with(&p(&d, "dangling"), true),
        "dangling symlink",
    );
    untouched(lab, &d);

    let report = ok(lab, module, with(&p(&d, "tofile"), false));
    assert_eq!(
        report.changes,
        vec![format!(
            "replaced the symlink {} with a file",
            p(&d, "tofile")
        )]
    );
    // Issue 12, defect 1: the new file is 0600 like the one the link led to, never 0777.
    assert_eq!(at(lab, NODE, &d.join("tofile")), file(0o600, new));
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o600, "old\n"));
    assert!(!ok(lab, module, with(&p(&d, "tofile"), false)).changed());

    // A dangling link: replaced by a new file (0644 under umask 022); what it pointed to is
    // not created.
    ok(lab, module, with(&p(&d, "dangling"), false));
    assert_eq!(at(lab, NODE, &d.join("dangling")), file(0o644, new));
    assert_eq!(at(lab, NODE, &d.join("nowhere")), Node::Missing);

    // follow: true writes the file the link points to, which keeps its mode; the link stays.
    exec_ok(
        lab,
        NODE,
        &format!("ln -sfn {0}/real {0}/tofile", d.display()),
    );
    ok(lab, module, with(&p(&d, "tofile"), true));
    assert_eq!(at(lab, NODE, &d.join("tofile")), link(&d, "real"));
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o600, new));
    assert!(!ok(lab, module, with(&p(&d, "tofile"), true)).changed());
    assert_eq!(
        at(lab, NODE, &d.join("dir")),
        Node::Dir(vec!["keep".into()])
    );
}

/// line, block, sysctl and mount's fstab follow a link (as Ansible's lineinfile): the file it
/// points to is edited, keeps its mode, the link stays; a link to a directory and a dangling
/// link fail and nothing is created; `follow: false` refuses any link.
fn editing_module(
    lab: &Lab,
    module: &str,
    case: &str,
    args: fn(&str) -> Value,
    edited: &str,
    follow_flag: bool,
) {
    let d = fixture(lab, case);
    fails(lab, module, args(&p(&d, "todir")), "is a directory");
    fails(lab, module, args(&p(&d, "dangling")), "dangling symlink");
    if follow_flag {
        let mut refused = args(&p(&d, "tofile"));
        refused["follow"] = json!(false);
        fails(
            lab,
            module,
            refused,
            "tandem edits through a link only with follow: true",
        );
    }
    untouched(lab, &d);
    assert!(ok(lab, module, args(&p(&d, "tofile"))).changed());
    assert_eq!(at(lab, NODE, &d.join("tofile")), link(&d, "real"));
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o600, edited));
    assert!(!ok(lab, module, args(&p(&d, "tofile"))).changed());
}

#[test]
fn every_module_that_writes_a_path_meets_symlinks_as_documented() {
    let lab = TempLab::new(1);

    content_module(
        &lab,
        "copy",
        "copy",
        |dest| json!({"dest": dest, "content": "new\n"}),
        "new\n",
    );
    content_module(
        &lab,
        "template",
        "template",
        |dest| json!({"src": "t.j2", "dest": dest}),
        RENDERED,
    );

    editing_module(
        &lab,
        "line",
        "line",
        |path| json!({"path": path, "line": "new"}),
        "old\nnew\n",
        true,
    );
    editing_module(
        &lab,
        "block",
        "block",
        |path| json!({"path": path, "block": "new\n", "marker": "# {mark}"}),
        "old\n# BEGIN\nnew\n# END\n",
        true,
    );
    editing_module(
        &lab,
        "sysctl",
        "sysctl",
        |file| json!({"name": "net.ipv4.ip_forward", "value": "1", "file": file, "apply": false}),
        "old\nnet.ipv4.ip_forward = 1\n",
        true,
    );
    editing_module(
        &lab,
        "mount",
        "fstab",
        |fstab| {
            json!({"path": "/srv/mnt", "src": "/dev/sdz1", "fstype": "ext4",
                       "state": "present", "fstab": fstab})
        },
        "old\n/dev/sdz1 /srv/mnt ext4 defaults 0 0\n",
        false,
    );

    authorized_key_and_tagged_lines(&lab);
    file_module(&lab);
    loop_device(&lab);
    mount_point_and_filesystem(&lab);
    lxc_config(&lab);
}

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5Zm9ydGFuZGVtdGVzdHM t@x";

/// Files in trees another user owns: a link at the file, or below the home or `within`, fails
/// before anything is written; `follow: true` opts in.
fn authorized_key_and_tagged_lines(lab: &Lab) {
    let d = fixture(lab, "authorized_key");
    for name in ["tofile", "todir", "dangling"] {
        fails(
            lab,
            "authorized_key",
            json!({"user": "root", "key": KEY, "path": p(&d, name)}),
            "is a symlink",
        );
        fails(
            lab,
            "tagged_lines",
            json!({"path": p(&d, name), "tag": "t:", "lines": ["x t:1"]}),
            "is a symlink",
        );
    }
    untouched(lab, &d);
    ok(
        lab,
        "authorized_key",
        json!({"user": "root", "key": KEY, "path": p(&d, "tofile"), "follow": true}),
    );
    assert_eq!(
        at(lab, NODE, &d.join("real")),
        file(0o600, &format!("old\n{KEY}\n"))
    );

    // A user who links ~/.ssh to root's: tandem never writes root's authorized_keys for them.
    exec_ok(
        lab,
        NODE,
        "useradd -m -d /srv/sym/home/mallory mallory && \
         ln -s /srv/sym/authorized_key/dir /srv/sym/home/mallory/.ssh && \
         chown -h mallory /srv/sym/home/mallory/.ssh",
    );
    fails(
        lab,
        "authorized_key",
        json!({"user": "mallory", "key": KEY}),
        "/srv/sym/home/mallory/.ssh is a symlink",
    );
    fails(
        lab,
        "authorized_key",
        json!({"user": "mallory", "key": KEY,
               "path": "/srv/sym/home/mallory/.ssh/authorized_keys"}),
        "/srv/sym/home/mallory/.ssh is a symlink",
    );
    assert_eq!(
        at(lab, NODE, &d.join("dir")),
        Node::Dir(vec!["keep".into()])
    );

    // A container's root who links /root to somewhere of the node's: refused before mkdir.
    exec_ok(
        lab,
        NODE,
        "mkdir -p /srv/sym/rootfs /srv/sym/outside && ln -s /srv/sym/outside /srv/sym/rootfs/root",
    );
    fails(
        lab,
        "tagged_lines",
        json!({"path": "/srv/sym/rootfs/root/.ssh/authorized_keys", "tag": "t:",
               "lines": ["x t:1"], "dir_mode": "0700", "within": "/srv/sym/rootfs"}),
        "/srv/sym/rootfs/root is a symlink",
    );
    assert_eq!(
        at(lab, NODE, Path::new("/srv/sym/outside")),
        Node::Dir(vec![])
    );
}

/// `file`: file, touch and directory act on what a link points to; a dangling link fails them
/// (touch never creates a file through it); link replaces the link itself, never writes into
/// a directory it points to, and ignores directories planted at guessable names; absent
/// removes the link, never what it points to.
fn file_module(lab: &Lab) {
    let d = fixture(lab, "file");
    fails(
        lab,
        "file",
        json!({"path": p(&d, "dangling"), "state": "touch"}),
        "dangling symlink",
    );
    fails(
        lab,
        "file",
        json!({"path": p(&d, "dangling")}),
        "dangling symlink",
    );
    fails(
        lab,
        "file",
        json!({"path": p(&d, "dangling"), "state": "directory"}),
        "exists and is not a directory",
    );
    fails(
        lab,
        "file",
        json!({"path": p(&d, "tofile"), "state": "directory"}),
        "exists and is not a directory",
    );
    untouched(lab, &d);
    ok(
        lab,
        "file",
        json!({"path": p(&d, "tofile"), "state": "touch", "mode": "0640"}),
    );
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o640, "old\n"));
    assert_eq!(at(lab, NODE, &d.join("tofile")), link(&d, "real"));
    assert!(
        !ok(
            lab,
            "file",
            json!({"path": p(&d, "todir"), "state": "directory"})
        )
        .changed()
    );

    // Retargeting, with directories planted at the names tandem used to use (`.tandem.link.PID`
    // for the next few hundred PIDs of this node's PID namespace).
    exec_ok(
        lab,
        NODE,
        &format!(
            "n=$(cat /proc/sys/kernel/ns_last_pid); i=0; while [ $i -lt 400 ]; do \
             mkdir {0}/.tandem.link.$((n + i)); echo x >{0}/.tandem.link.$((n + i))/planted; \
             i=$((i + 1)); done",
            d.display()
        ),
    );
    for name in ["tofile", "todir", "dangling"] {
        let args = json!({"path": p(&d, name), "state": "link", "src": "/srv/sym/file/new"});
        assert!(ok(lab, "file", args.clone()).changed());
        assert_eq!(
            at(lab, NODE, &d.join(name)),
            Node::Link(PathBuf::from("/srv/sym/file/new"))
        );
        assert!(!ok(lab, "file", args).changed());
    }
    assert_eq!(
        at(lab, NODE, &d.join("dir")),
        Node::Dir(vec!["keep".into()])
    );
    let planted = exec_ok(
        lab,
        NODE,
        &format!(
            "for p in {}/.tandem.link.*; do ls -A \"$p\"; done | sort | uniq -c",
            d.display()
        ),
    );
    assert_eq!(planted.trim(), "400 planted");

    for name in ["tofile", "todir", "dangling"] {
        exec_ok(
            lab,
            NODE,
            &format!(
                "ln -sfn {0}/{1} {0}/{2}",
                d.display(),
                match name {
                    "tofile" => "real",
                    "todir" => "dir",
                    _ => "nowhere",
                },
                name
            ),
        );
        ok(lab, "file", json!({"path": p(&d, name), "state": "absent"}));
        assert_eq!(at(lab, NODE, &d.join(name)), Node::Missing);
    }
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o640, "old\n"));
    assert_eq!(
        at(lab, NODE, &d.join("dir")),
        Node::Dir(vec!["keep".into()])
    );
}

/// `loop_device`: its backing file may be a link (followed); a dangling one fails rather than
/// create a file where it points. Its own `link` replaces whatever link is there, and a
/// directory planted at the name tandem used to use (`LINK.tandem-new`) is left alone.
fn loop_device(lab: &Lab) {
    let d = fixture(lab, "loop");
    fails(
        lab,
        "loop_device",
        json!({"file": p(&d, "dangling"), "size": "1M"}),
        "dangling symlink",
    );
    fails(
        lab,
        "loop_device",
        json!({"file": p(&d, "todir"), "size": "1M"}),
        "is a directory",
    );
    untouched(lab, &d);
    exec_ok(
        lab,
        NODE,
        &format!(
            "truncate -s 1M {0}/disk.img && ln -s {0}/disk.img {0}/disk.link && \
             mkdir {0}/todir.tandem-new && echo x >{0}/todir.tandem-new/planted",
            d.display()
        ),
    );
    let args = json!({"file": p(&d, "disk.link"), "size": "2M", "link": p(&d, "todir")});
    let report = ok(lab, "loop_device", args.clone());
    let device = report.facts["device"].clone();
    assert!(device.starts_with("/dev/loop"), "{report:?}");
    assert_eq!(
        at(lab, NODE, &d.join("todir")),
        Node::Link(PathBuf::from(&device))
    );
    assert_eq!(
        at(lab, NODE, &d.join("dir")),
        Node::Dir(vec!["keep".into()])
    );
    assert_eq!(
        at(lab, NODE, &d.join("todir.tandem-new")),
        Node::Dir(vec!["planted".into()])
    );
    assert_eq!(at(lab, NODE, &d.join("disk.link")), link(&d, "disk.img"));
    match at(lab, NODE, &d.join("disk.img")) {
        Node::File(_, bytes) => assert_eq!(bytes.len(), 2 << 20),
        other => panic!("disk.img is {other:?}"),
    }
    assert!(!ok(lab, "loop_device", args).changed());
}

/// `mount` refuses a symlink as mount point; `filesystem` follows a link to its device or
/// image (LVM's /dev/VG/LV are links) and refuses a dangling one or one to a directory.
fn mount_point_and_filesystem(lab: &Lab) {
    let d = fixture(lab, "fs");
    fails(
        lab,
        "mount",
        json!({"path": p(&d, "todir"), "src": "/dev/sdz1", "fstype": "ext4",
               "fstab": p(&d, "fstab")}),
        "is a symlink",
    );
    fails(
        lab,
        "filesystem",
        json!({"dev": p(&d, "dangling"), "fstype": "ext4"}),
        "does not exist",
    );
    fails(
        lab,
        "filesystem",
        json!({"dev": p(&d, "todir"), "fstype": "ext4"}),
        "neither a block device nor a file",
    );
    untouched(lab, &d);
    exec_ok(
        lab,
        NODE,
        &format!(
            "truncate -s 8M {0}/fs.img && ln -s {0}/fs.img {0}/fs.link",
            d.display()
        ),
    );
    let args = json!({"dev": p(&d, "fs.link"), "fstype": "ext4"});
    assert!(ok(lab, "filesystem", args.clone()).changed());
    assert_eq!(at(lab, NODE, &d.join("fs.link")), link(&d, "fs.img"));
    assert_eq!(
        exec_ok(
            lab,
            NODE,
            &format!("blkid -p -o value -s TYPE {}/fs.img", d.display())
        ),
        "ext4"
    );
    assert!(!ok(lab, "filesystem", args).changed());
}

/// `lxc`: the container's config is LXC's own file: a link there is replaced, never written
/// through.
fn lxc_config(lab: &Lab) {
    let d = fixture(lab, "lxc");
    let args = json!({"name": "symc", "path": p(&d, "lxcpath"), "template": "busybox",
                      "config": "lxc.uts.name = symc\n"});
    ok(lab, "lxc", args.clone());
    exec_ok(
        lab,
        NODE,
        &format!("ln -sfn {0}/real {0}/lxcpath/symc/config", d.display()),
    );
    let report = ok(lab, "lxc", args.clone());
    assert!(
        report.changes.contains(&format!(
            "replaced the symlink {}/lxcpath/symc/config with a file",
            d.display()
        )),
        "{report:?}"
    );
    assert_eq!(
        at(lab, NODE, &d.join("lxcpath/symc/config")),
        file(0o600, "lxc.uts.name = symc\n")
    );
    assert_eq!(at(lab, NODE, &d.join("real")), file(0o600, "old\n"));
    assert!(!ok(lab, "lxc", args).changed());
}
