//! `mount`: a file system's `/etc/fstab` entry and whether it is mounted (Ansible's `mount`).
//!
//! - `mounted`: the fstab entry, the mount point directory, and mounted now;
//! - `present`: the fstab entry only;
//! - `unmounted`: not mounted now, fstab left as it is;
//! - `absent`: not mounted, and no fstab entry for `path`.
//!
//! The entry for `path` is the line whose second field is `path`: it is rewritten when any field
//! differs (other lines stay byte for byte), later duplicates are dropped, and a missing entry
//! is appended; one `awk` pass, atomic write (see `rewrite`). The mounted state is read with
//! `findmnt`. A mount point already mounted from another device makes the step fail rather
//! than stack a second file system on it.
//!
//! Symlinks: a link at `fstab` is followed (the regular file it points to is edited, as `line`
//! does); `mounted` refuses a link as the mount point `path` (the kernel would mount on its
//! target while fstab and findmnt name the link).

use serde::Deserialize;

use super::args::{absolute, parse};
use super::filesystem::fstype;
use super::rewrite::{Edit, Missing};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    src: Option<String>,
    fstype: Option<String>,
    #[serde(default = "defaults")]
    opts: String,
    #[serde(default)]
    state: State,
    #[serde(default)]
    dump: u8,
    #[serde(default)]
    passno: u8,
    /// The fstab to edit (tests, chroots); /etc/fstab by default.
    #[serde(default = "etc_fstab")]
    fstab: String,
}

fn defaults() -> String {
    "defaults".into()
}

fn etc_fstab() -> String {
    "/etc/fstab".into()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Mounted,
    Present,
    Unmounted,
    Absent,
}

#[derive(Debug)]
pub struct Mount {
    path: String,
    src: String,
    fstype: String,
    opts: String,
    state: State,
    dump: u8,
    passno: u8,
    fstab: String,
}

// Fields are compared, not the text: "a  b" and "a\tb" are the same entry and stay untouched.
// The first entry for the path is replaced in place; later ones go (mount would use the last).
const SET: &str = r#"BEGIN { want = ENVIRON["TANDEM_ENTRY"] ""; path = ENVIRON["TANDEM_MNT"] ""; split(want, w) }
$1 !~ /^#/ && $2 == path {
  if (seen++) { ch = 1; next }
  same = (NF == 6 || NF == 4 && w[5] == "0" && w[6] == "0")
  for (i = 1; i <= 4; i++) if ($i != w[i]) same = 0
  if (NF == 6 && ($5 != w[5] || $6 != w[6])) same = 0
  if (same) { print; next }
  print want; ch = 1; next
}
{ print }
END { if (!seen) { print want; ch = 1 }; exit ch ? 10 : 0 }"#;

const REMOVE: &str = r#"BEGIN { path = ENVIRON["TANDEM_MNT"] "" }
$1 !~ /^#/ && $2 == path { ch = 1; next }
{ print }
END { exit ch ? 10 : 0 }"#;

/// fstab fields are separated by blanks; the rare path with a space is written `\040` there,
/// which is not worth the confusion: refuse it.
fn field(name: &str, value: &str) -> Result<(), ModuleError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '\0') {
        Err(ModuleError::value(
            "mount",
            name,
            value,
            "must be one word (no blanks) to fit in /etc/fstab",
        ))
    } else {
        Ok(())
    }
}

impl Mount {
    pub fn from_args(args: &serde_json::Value) -> Result<Mount, ModuleError> {
        let a: Args = parse("mount", args)?;
        absolute("mount", "path", &a.path)?;
        absolute("mount", "fstab", &a.fstab)?;
        field("path", &a.path)?;
        if a.path.len() > 1 && a.path.ends_with('/') {
            return Err(ModuleError::value(
                "mount",
                "path",
                &a.path,
                "must not end with '/' (fstab and findmnt name it without)",
            ));
        }
        field("opts", &a.opts)?;
        let needs_entry = matches!(a.state, State::Mounted | State::Present);
        let (src, fs) = match (a.src, a.fstype) {
            (Some(s), Some(t)) => (s, t),
            (s, t) if !needs_entry => (s.unwrap_or_default(), t.unwrap_or_default()),
            _ => {
                return Err(ModuleError::invalid(
                    "mount",
                    "states mounted and present need `src` (device, UUID=..., file) and `fstype`",
                ));
            }
        };
        if needs_entry {
            field("src", &src)?;
            fstype("mount", &fs)?;
        }
        if a.passno > 2 || a.dump > 1 {
            return Err(ModuleError::invalid(
                "mount",
                "dump is 0 or 1, passno 0, 1 or 2",
            ));
        }
        Ok(Mount {
            path: a.path,
            src,
            fstype: fs,
            opts: a.opts,
            state: a.state,
            dump: a.dump,
            passno: a.passno,
            fstab: a.fstab,
        })
    }

    fn entry(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.src, self.path, self.fstype, self.opts, self.dump, self.passno
        )
    }
}

const HEAD: &str = "p={path}\n";
/// What `mounted` mounts, and how.
const HOW: &str = "src={src} fstype={fstype} opts={opts}\n";

impl Module for Mount {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let entry = self.entry();
        let env = [
            ("TANDEM_ENTRY", entry.as_str()),
            ("TANDEM_MNT", self.path.as_str()),
        ];
        let edit = |awk, what| {
            Edit {
                module: "mount",
                path: ShellWord::quote(&self.fstab),
                awk,
                env: &env,
                missing: Missing::Create,
                mode: ShellWord::quote(""),
                owner: ShellWord::quote(""),
                what,
                arms: "",
                // /etc/fstab is root's: a link there is followed, as `line` does.
                follow: true,
            }
            .script()
        };
        let point = Script::fill(HEAD, &[("path", &ShellWord::quote(&self.path))]);
        let mut script = Script::default();
        match self.state {
            State::Mounted => {
                script.push(point);
                script.push(Script::fill(
                    HOW,
                    &[
                        ("src", &ShellWord::quote(&self.src)),
                        ("fstype", &ShellWord::quote(&self.fstype)),
                        ("opts", &ShellWord::quote(&self.opts)),
                    ],
                ));
                script.push_code(MOUNT_POINT);
                script.push_code(FINDMNT);
                script.push_code(DEVICE);
                script.push(edit(SET, "entry in"));
                script.push_code(MOUNTED);
            }
            // The entry only: the mount point is not looked at.
            State::Present => script.push(edit(SET, "entry in")),
            State::Unmounted => {
                script.push(point);
                script.push_code(FINDMNT);
                script.push_code(UNMOUNT);
            }
            State::Absent => {
                script.push(point);
                script.push_code(FINDMNT);
                script.push_code(UNMOUNT);
                script.push(edit(REMOVE, "removed entry from"));
            }
        }
        Ok(RemoteStep {
            script,
            payload: Vec::new(),
        })
    }
}

/// A symlink as mount point: the kernel mounts on what it points to, while fstab and findmnt
/// name the link, so the state could never be read back: refused.
const MOUNT_POINT: &str = r#"[ -L "$p" ] && tandem_fail "mount: $p is a symlink (to $(readlink -- "$p")): name the real mount point"
"#;

/// Sets `now` to the source mounted on `$p` (empty when nothing is).
const FINDMNT: &str = r#"now=$(findmnt -n -o SOURCE --mountpoint "$p" 2>/dev/null | tail -n 1)
"#;

/// Sets `dev` to the device `$src` names when it is a block device or a tag (empty otherwise:
/// a file, tmpfs, a share).
const DEVICE: &str = r#"case $src in
UUID=*|LABEL=*|PARTUUID=*|PARTLABEL=*) dev=$(findfs "$src" 2>/dev/null) ;;
/*) if [ -b "$src" ]; then dev=$(readlink -f -- "$src"); else dev=; fi ;;
*) dev= ;;
esac
"#;

/// After the fstab edit (`$rc` is 10 when it changed the file).
const MOUNTED: &str = r#"fstab_changed=$rc
if [ -n "$now" ]; then
  if [ -n "$dev" ] && [ "$(readlink -f -- "$now")" != "$dev" ]; then
    tandem_fail "mount: $p is mounted from $now, not $src ($dev): unmount it by hand first"
  fi
  # A changed entry (options) applies to a mounted file system by remounting it.
  if [ "$fstab_changed" = 10 ]; then
    tandem_changed "remounted $p"
    tandem_checking || out=$(mount -o "remount,$opts" -- "$p" 2>&1) || tandem_fail "mount: remounting $p failed: $out"
  fi
else
  if [ ! -d "$p" ]; then
    [ -e "$p" ] && tandem_fail "mount: $p exists and is not a directory"
    tandem_changed "created directory $p"
    tandem_checking || mkdir -p -- "$p" || tandem_fail "mount: cannot create $p"
  fi
  tandem_changed "mounted $src on $p"
  if ! tandem_checking; then
    out=$(mount -t "$fstype" -o "$opts" -- "$src" "$p" 2>&1) || tandem_fail "mount: mounting $src on $p failed: $out"
  fi
fi
"#;

const UNMOUNT: &str = r#"if [ -n "$now" ]; then
  tandem_changed "unmounted $p"
  tandem_checking || out=$(umount -- "$p" 2>&1) || tandem_fail "mount: unmounting $p failed (busy? see fuser -vm $p): $out"
fi
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use serde_json::json;

    fn plan(args: serde_json::Value) -> RemoteStep {
        Mount::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    const FSTAB: &str = "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n/dev/sda3\t/home  ext4 defaults 0 2\nproc /proc proc defaults 0 0\n";

    #[test]
    fn present_adds_fixes_and_keeps_other_lines() {
        let t = Local::new();
        let fstab = t.path("fstab");
        std::fs::write(&fstab, FSTAB).unwrap();
        let step = plan(json!({
            "path": "/srv/web", "src": "/dev/vg0/web", "fstype": "ext4",
            "state": "present", "fstab": fstab,
        }));
        let check = t.run(&step, true, true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("entry in {}", fstab.display())]
        );
        assert_eq!(std::fs::read_to_string(&fstab).unwrap(), FSTAB);

        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            std::fs::read_to_string(&fstab).unwrap(),
            format!("{FSTAB}/dev/vg0/web /srv/web ext4 defaults 0 0\n")
        );
        assert!(!t.run(&step, false, false).report.changed());

        // Another option replaces the entry in place; a duplicate below it goes.
        std::fs::write(
            &fstab,
            format!(
                "{FSTAB}/dev/vg0/web /srv/web ext4 defaults 0 0\n/dev/x /srv/web xfs defaults 0 0\n"
            ),
        )
        .unwrap();
        let step = plan(json!({
            "path": "/srv/web", "src": "/dev/vg0/web", "fstype": "ext4", "opts": "noatime",
            "passno": 2, "state": "present", "fstab": fstab,
        }));
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(
            std::fs::read_to_string(&fstab).unwrap(),
            format!("{FSTAB}/dev/vg0/web /srv/web ext4 noatime 0 2\n")
        );
        // An entry written with other blanks, or without the last two fields, is the same entry.
        std::fs::write(&fstab, "/dev/vg0/web\t/srv/web   ext4 noatime 0 2\n").unwrap();
        assert!(!t.run(&step, false, false).report.changed());
        let step = plan(json!({
            "path": "/srv/web", "src": "/dev/vg0/web", "fstype": "ext4",
            "state": "present", "fstab": fstab,
        }));
        std::fs::write(&fstab, "/dev/vg0/web /srv/web ext4 defaults\n").unwrap();
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn absent_removes_the_entry_only() {
        let t = Local::new();
        let fstab = t.path("fstab");
        std::fs::write(&fstab, FSTAB).unwrap();
        let step = plan(json!({"path": "/home", "state": "absent", "fstab": fstab}));
        let run = t.run(&step, false, true);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![format!("removed entry from {}", fstab.display())]
        );
        assert_eq!(
            std::fs::read_to_string(&fstab).unwrap(),
            "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\nproc /proc proc defaults 0 0\n"
        );
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn mounted_mounts_once_and_refuses_another_device() {
        // Mounting needs root and a private place: run only where we are root.
        if !nix_root() {
            return;
        }
        let t = Local::new();
        let fstab = t.path("fstab");
        std::fs::write(&fstab, "").unwrap();
        let mnt = t.path("mnt/web");
        let step = plan(json!({
            "path": mnt, "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m",
            "fstab": fstab,
        }));
        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(check.report.changes.len(), 3, "{:?}", check.report);
        assert!(!mnt.exists());

        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let _guard = Unmount(mnt.clone());
        assert_eq!(
            run.report.changes,
            vec![
                format!("entry in {}", fstab.display()),
                format!("created directory {}", mnt.display()),
                format!("mounted tmpfs on {}", mnt.display()),
            ]
        );
        let again = t.run(&step, false, false);
        assert_eq!(again.status, 0, "{}", again.stderr);
        assert!(!again.report.changed(), "{:?}", again.report);

        // Changed options: the entry and a remount.
        let step2 = plan(json!({
            "path": mnt, "src": "tmpfs", "fstype": "tmpfs", "opts": "size=2m",
            "fstab": fstab,
        }));
        let run = t.run(&step2, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes[1],
            format!("remounted {}", mnt.display())
        );

        let off = plan(json!({"path": mnt, "state": "unmounted", "fstab": fstab}));
        let run = t.run(&off, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![format!("unmounted {}", mnt.display())]
        );
        assert!(!t.run(&off, false, false).report.changed());
        assert!(
            std::fs::read_to_string(&fstab).unwrap().contains("size=2m"),
            "unmounted keeps the entry"
        );
    }

    fn nix_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false)
    }

    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(&self.0)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Mount::from_args(&json!({"path": "/srv", "src": "/dev/x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("need `src`"), "{e}");
        let e = Mount::from_args(&json!({"path": "/srv a", "src": "/dev/x", "fstype": "ext4"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("one word"), "{e}");
        let e = Mount::from_args(&json!({"path": "/srv/", "state": "absent"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must not end"), "{e}");
        let e = Mount::from_args(&json!({"path": "/srv", "state": "gone"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `gone`"), "{e}");
        assert!(Mount::from_args(&json!({"path": "/srv", "state": "unmounted"})).is_ok());
    }
}
