//! `loop_device`: a backing file of at least `size`, attached to a loop device, and optionally a
//! stable symlink `link` to that device (the lab's stand-in for an LVM volume: device-mapper does
//! not work in lab nodes, loop devices do).
//!
//! The file is made with `fallocate` (real blocks: no surprise ENOSPC later), or `truncate`
//! where the file system cannot; an existing smaller file is grown, never shrunk, and an attached
//! device is told the new size (`losetup -c`). The device is found with `losetup -j FILE`, and
//! attached with `losetup -f --show FILE` when there is none. Its path is reported as the fact
//! `device`. Loop devices do not survive a reboot: the step attaches it again at the next run.
//!
//! Symlinks: `file` may be a link to the backing file (followed); a dangling link fails the
//! step rather than create a file where it points. `link` is tandem's own link: whatever is
//! there but a real directory is replaced, atomically.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::size;
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    file: String,
    size: String,
    link: Option<String>,
}

#[derive(Debug)]
pub struct LoopDevice {
    file: String,
    size: String,
    bytes: u64,
    link: Option<String>,
}

impl LoopDevice {
    pub fn from_args(args: &serde_json::Value) -> Result<LoopDevice, ModuleError> {
        let a: Args = parse("loop_device", args)?;
        absolute("loop_device", "file", &a.file)?;
        if let Some(link) = &a.link {
            absolute("loop_device", "link", link)?;
        }
        let bytes = size::bytes("loop_device", "size", &a.size)?;
        Ok(LoopDevice {
            file: a.file,
            size: a.size,
            bytes,
            link: a.link,
        })
    }
}

const FILE: &str = r#"f={file} asked={asked} want={bytes}
[ -d "$f" ] && tandem_fail "loop_device: $f is a directory"
# A link to the backing file is followed; a dangling one would make tandem create a file
# where the link points, a path nobody named.
if [ -L "$f" ] && [ ! -e "$f" ]; then
  tandem_fail "loop_device: $f is a dangling symlink (to $(readlink -- "$f")): tandem creates no file through a link"
fi
dev=
[ -e "$f" ] && dev=$(losetup -n -O NAME -j "$f" 2>/dev/null | head -n 1)
if [ ! -e "$f" ]; then
  tandem_changed "created $f of $asked"
  if ! tandem_checking; then
    mkdir -p -- "$(dirname -- "$f")" || tandem_fail "loop_device: cannot create the directory of $f"
    fallocate -l "$want" -- "$f" 2>/dev/null || truncate -s "$want" -- "$f" || tandem_fail "loop_device: cannot create $f of $asked"
  fi
else
  have=$(stat -L -c %s -- "$f")
  if [ "$have" -lt "$want" ]; then
    tandem_changed "grew $f from $have to $want bytes"
    if ! tandem_checking; then
      fallocate -l "$want" -- "$f" 2>/dev/null || truncate -s "$want" -- "$f" || tandem_fail "loop_device: cannot grow $f to $asked"
      [ -z "$dev" ] || losetup -c "$dev" || tandem_fail "loop_device: $dev did not take the new size of $f"
    fi
  fi
fi
if [ -z "$dev" ]; then
  tandem_changed "attached $f to a loop device"
  if ! tandem_checking; then
    dev=$(losetup -f --show -- "$f" 2>&1) || tandem_fail "loop_device: cannot attach $f: $dev"
  fi
fi
[ -z "$dev" ] || tandem_fact device "$dev"
"#;

/// The stable link: whatever stands at `link` that is not a directory (an old link, a
/// dangling one) is replaced, atomically (`tandem_link`: a private temporary directory, never
/// a guessable name).
const LINK: &str = r#"l={link}
[ -d "$l" ] && [ ! -L "$l" ] && tandem_fail "loop_device: link $l is a directory"
if [ -z "$dev" ] || [ "$(readlink -- "$l")" != "$dev" ]; then
  tandem_changed "link $l to ${dev:-the loop device}"
  if ! tandem_checking; then
    mkdir -p -- "$(dirname -- "$l")" || tandem_fail "loop_device: cannot create the directory of $l"
    tandem_link "$dev" "$l" || tandem_fail "loop_device: cannot link $l to $dev"
  fi
fi
"#;

impl Module for LoopDevice {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let mut script = Script::fill(
            FILE,
            &[
                ("file", &ShellWord::quote(&self.file)),
                ("asked", &ShellWord::quote(&self.size)),
                ("bytes", &ShellWord::number(self.bytes)),
            ],
        );
        if let Some(link) = &self.link {
            script.push(Script::fill(LINK, &[("link", &ShellWord::quote(link))]));
        }
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
        LoopDevice::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    /// A stand-in `losetup` (attaching real loop devices here would leak them if a test died):
    /// attachments live in $FAKE_LOOP/N holding the file's path.
    fn fake_losetup(t: &Local) -> String {
        let state = t.path("loops");
        std::fs::create_dir_all(&state).unwrap();
        t.stub(
            "losetup",
            r#"echo "losetup $*" >>"$FAKE_LOOP/log"
for a; do last=$a; done
case "$*" in
*-j*) for s in "$FAKE_LOOP"/[0-9]*; do [ -f "$s" ] && [ "$(cat "$s")" = "$last" ] && echo "/dev/loop${s##*/}"; done; exit 0 ;;
*--show*) n=0; while [ -f "$FAKE_LOOP/$n" ]; do n=$((n + 1)); done; echo "$last" >"$FAKE_LOOP/$n"; echo "/dev/loop$n" ;;
*-c*) ;;
*) exit 1 ;;
esac
"#,
        );
        state.display().to_string()
    }

    #[test]
    fn creates_attaches_links_then_converges() {
        let t = Local::new();
        let state = fake_losetup(&t);
        let env = [("FAKE_LOOP", state.as_str())];
        let file = t.path("disks/web.img");
        let link = t.path("dev/tandem/web");
        let step = plan(json!({"file": file, "size": "4M", "link": link}));

        let check = t.run_env(&step, true, false, &env);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(check.report.changes.len(), 3, "{:?}", check.report);
        assert!(!file.exists() && !link.exists());

        let run = t.run_env(&step, false, false, &env);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![
                format!("created {} of 4M", file.display()),
                format!("attached {} to a loop device", file.display()),
                format!("link {} to /dev/loop0", link.display()),
            ]
        );
        assert_eq!(run.report.facts["device"], "/dev/loop0");
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 4 << 20);
        assert_eq!(
            std::fs::read_link(&link).unwrap().display().to_string(),
            "/dev/loop0"
        );

        let again = t.run_env(&step, false, false, &env);
        assert_eq!(again.status, 0, "{}", again.stderr);
        assert!(!again.report.changed(), "{:?}", again.report);
        assert_eq!(again.report.facts["device"], "/dev/loop0");
    }

    #[test]
    fn grows_but_never_shrinks() {
        let t = Local::new();
        let state = fake_losetup(&t);
        let env = [("FAKE_LOOP", state.as_str())];
        let file = t.path("web.img");
        assert_eq!(
            t.run_env(
                &plan(json!({"file": file, "size": "2M"})),
                false,
                false,
                &env
            )
            .status,
            0
        );
        let run = t.run_env(
            &plan(json!({"file": file, "size": "3M"})),
            false,
            false,
            &env,
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![format!(
                "grew {} from 2097152 to 3145728 bytes",
                file.display()
            )]
        );
        assert!(
            std::fs::read_to_string(format!("{state}/log"))
                .unwrap()
                .contains("losetup -c /dev/loop0")
        );
        let run = t.run_env(
            &plan(json!({"file": file, "size": "1M"})),
            false,
            false,
            &env,
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(!run.report.changed());
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 3 << 20);
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = LoopDevice::from_args(&json!({"file": "/x.img"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `size`"), "{e}");
        let e = LoopDevice::from_args(&json!({"file": "x.img", "size": "1M"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = LoopDevice::from_args(&json!({"file": "/x.img", "size": "1M", "link": "web"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("link 'web' must be an absolute path"), "{e}");
        let e = LoopDevice::from_args(&json!({"file": "/x.img", "size": "big"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a size"), "{e}");
    }
}

#[cfg(test)]
mod planted_tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use serde_json::json;

    /// Issue 12, defect 3: `$l.tandem-new` was a predictable name; a directory planted there
    /// became the link's path (the planted directory was moved over `link`).
    #[test]
    fn a_directory_planted_next_to_the_link_is_left_alone() {
        let t = Local::new();
        let state = t.path("loops");
        std::fs::create_dir_all(&state).unwrap();
        t.stub(
            "losetup",
            "case \"$*\" in *-j*) exit 0 ;; *--show*) echo /dev/loop7 ;; esac\n",
        );
        let file = t.path("web.img");
        let link = t.path("web.dev");
        let planted = t.path("web.dev.tandem-new");
        std::fs::create_dir_all(&planted).unwrap();
        std::fs::write(planted.join("evil"), "x").unwrap();
        let step = LoopDevice::from_args(&json!({"file": file, "size": "1M", "link": link}))
            .unwrap()
            .plan(&TestContext::default())
            .unwrap();
        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            std::fs::read_link(&link).unwrap().display().to_string(),
            "/dev/loop7"
        );
        let inside: Vec<_> = std::fs::read_dir(&planted)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(inside, ["evil"], "tandem wrote into the planted directory");
    }
}
