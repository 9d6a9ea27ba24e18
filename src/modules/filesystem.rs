//! `filesystem`: a file system of type `fstype` on `dev`, made with `mkfs.FSTYPE` only when the
//! device holds no signature at all.
//!
//! tandem never reformats: a device that already holds another file system, a partition table,
//! an LVM physical volume or swap makes the step fail instead, naming what is there. The probe
//! is `blkid -p` (low level: reads the device itself, not a cache). `dev` may be a symlink (LVM's
//! `/dev/VG/LV` always is): it is followed; a dangling one is a device that does not exist.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    dev: String,
    fstype: String,
    /// Extra arguments for mkfs, e.g. ["-L", "web"] or ["-m", "1"].
    #[serde(default)]
    opts: Vec<String>,
}

#[derive(Debug)]
pub struct Filesystem {
    dev: String,
    fstype: String,
    opts: Vec<String>,
}

impl Filesystem {
    pub fn from_args(args: &serde_json::Value) -> Result<Filesystem, ModuleError> {
        let a: Args = parse("filesystem", args)?;
        absolute("filesystem", "dev", &a.dev)?;
        fstype("filesystem", &a.fstype)?;
        Ok(Filesystem {
            dev: a.dev,
            fstype: a.fstype,
            opts: a.opts,
        })
    }
}

/// A file system type name as mkfs.TYPE and mount -t take it: ext4, xfs, btrfs, vfat, ...
pub fn fstype(module: &'static str, t: &str) -> Result<(), ModuleError> {
    if !t.is_empty()
        && t.len() <= 32
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    {
        Ok(())
    } else {
        Err(ModuleError::value(
            module,
            "fstype",
            t,
            "is not a file system type like ext4 or xfs",
        ))
    }
}

const SCRIPT: &str = r#"dev={dev} want={fstype}
if [ ! -e "$dev" ]; then
  # In check mode an earlier step (a volume, a loop device) may not have made it yet.
  tandem_checking || tandem_fail "filesystem: $dev does not exist"
  tandem_changed "created $want on $dev (device not there yet)"
  exit 0
fi
[ -b "$dev" ] || [ -f "$dev" ] || tandem_fail "filesystem: $dev is neither a block device nor a file"
probe=$(blkid -p -o export -- "$dev" 2>&1)
rc=$?
case $rc in
0) ;;
2) probe= ;;
8) tandem_fail "filesystem: $dev holds several signatures ($(printf '%s' "$probe" | tr '\n' ' ')): tandem never reformats; wipe it by hand if it is really free" ;;
*) tandem_fail "filesystem: cannot probe $dev (blkid exit $rc): $probe" ;;
esac
have=$(printf '%s\n' "$probe" | sed -n 's/^TYPE=//p')
table=$(printf '%s\n' "$probe" | sed -n 's/^PTTYPE=//p')
if [ "$have" = "$want" ]; then exit 0; fi
[ -z "$have" ] || tandem_fail "filesystem: $dev holds $have, not $want: tandem never reformats"
[ -z "$table" ] || tandem_fail "filesystem: $dev holds a $table partition table, not $want: tandem never reformats"
command -v "mkfs.$want" >/dev/null || tandem_fail "filesystem: mkfs.$want not found (install its package: e2fsprogs, xfsprogs, ...)"
tandem_changed "created $want on $dev"
tandem_checking && exit 0
out=$("mkfs.$want" {opts} "$dev" 2>&1 </dev/null) || tandem_fail "filesystem: mkfs.$want $dev failed: $out"
"#;

impl Module for Filesystem {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let opts: Vec<ShellWord> = self.opts.iter().map(|o| ShellWord::quote(o)).collect();
        let script = Script::fill(
            SCRIPT,
            &[
                ("dev", &ShellWord::quote(&self.dev)),
                ("fstype", &ShellWord::quote(&self.fstype)),
                ("opts", &opts),
            ],
        );
        Ok(RemoteStep {
            script,
            payload: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use serde_json::json;

    fn plan(args: serde_json::Value) -> RemoteStep {
        Filesystem::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    fn image(t: &Local, name: &str) -> std::path::PathBuf {
        let f = t.path(name);
        let file = std::fs::File::create(&f).unwrap();
        file.set_len(32 << 20).unwrap();
        f
    }

    #[test]
    fn makes_a_file_system_once() {
        let t = Local::new();
        let img = image(&t, "disk.img");
        let step = plan(json!({"dev": img, "fstype": "ext4", "opts": ["-L", "web it's"]}));

        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("created ext4 on {}", img.display())]
        );
        let probe = std::process::Command::new("blkid")
            .args(["-p", "-o", "value", "-s", "TYPE"])
            .arg(&img)
            .output()
            .unwrap();
        assert!(probe.stdout.is_empty(), "check mode made a file system");

        let first = t.run(&step, false, false);
        assert_eq!(first.status, 0, "{}", first.stderr);
        assert!(first.report.changed());
        let label = std::process::Command::new("blkid")
            .args(["-p", "-o", "value", "-s", "LABEL"])
            .arg(&img)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), "web it's");

        let second = t.run(&step, false, false);
        assert_eq!(second.status, 0, "{}", second.stderr);
        assert!(!second.report.changed(), "{:?}", second.report);
    }

    #[test]
    fn never_reformats() {
        let t = Local::new();
        let img = image(&t, "disk.img");
        assert_eq!(
            t.run(&plan(json!({"dev": img, "fstype": "ext2"})), false, false)
                .status,
            0
        );
        let run = t.run(&plan(json!({"dev": img, "fstype": "ext4"})), false, false);
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains(&format!(
                "{} holds ext2, not ext4: tandem never reformats",
                img.display()
            )),
            "{}",
            run.stderr
        );
        // Check mode says the same.
        let run = t.run(&plan(json!({"dev": img, "fstype": "ext4"})), true, false);
        assert_ne!(run.status, 0);
    }

    #[test]
    fn missing_device_fails_except_in_check_mode() {
        let t = Local::new();
        let step = plan(json!({"dev": t.path("none"), "fstype": "ext4"}));
        let run = t.run(&step, false, false);
        assert_ne!(run.status, 0);
        assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
        let run = t.run(&step, true, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(run.report.changed());
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Filesystem::from_args(&json!({"dev": "/dev/x", "fstype": "ext4", "opt": []}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `opt`"), "{e}");
        let e = Filesystem::from_args(&json!({"dev": "/dev/x", "fstype": "ext4; rm"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a file system type"), "{e}");
        let e = Filesystem::from_args(&json!({"dev": "sdb", "fstype": "xfs"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
    }
}
