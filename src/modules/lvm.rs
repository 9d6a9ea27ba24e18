//! `lvm`: a volume group over physical volumes and, optionally, one logical volume of a size.
//!
//! Missing PVs are created (`pvcreate`, which itself refuses a device holding a signature), the VG
//! is created or extended with the PVs it lacks, the LV is created with `size` or grown to it.
//! A PV of another VG, or an LV bigger than asked, makes the step fail: tandem never moves a PV
//! and never shrinks a volume (a shrink below the file system destroys data). Sizes are compared
//! in bytes; LVM rounds a size up to whole extents, so an LV less than one extent above `size`
//! counts as that size.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::size;
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    vg: String,
    #[serde(default)]
    pvs: Vec<String>,
    lv: Option<String>,
    size: Option<String>,
}

#[derive(Debug)]
pub struct Lvm {
    vg: String,
    pvs: Vec<String>,
    lv: Option<(String, String, u64)>,
}

/// LVM's own rule for VG and LV names.
fn name(field: &str, value: &str) -> Result<(), ModuleError> {
    let ok = !value.is_empty()
        && value.len() <= 127
        && !value.starts_with('-')
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ModuleError::value(
            "lvm",
            field,
            value,
            "is not a valid LVM name (letters, digits, + _ . -; not starting with -)",
        ))
    }
}

impl Lvm {
    pub fn from_args(args: &serde_json::Value) -> Result<Lvm, ModuleError> {
        let a: Args = parse("lvm", args)?;
        name("vg", &a.vg)?;
        for pv in &a.pvs {
            absolute("lvm", "pvs", pv)?;
        }
        let lv = match (a.lv, a.size) {
            (Some(lv), Some(s)) => {
                name("lv", &lv)?;
                let bytes = size::bytes("lvm", "size", &s)?;
                Some((lv, s, bytes))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ModuleError::invalid(
                    "lvm",
                    "lv needs a size, like size: 20G",
                ));
            }
            (None, Some(_)) => {
                return Err(ModuleError::invalid(
                    "lvm",
                    "size needs lv, the logical volume's name",
                ));
            }
        };
        Ok(Lvm {
            vg: a.vg,
            pvs: a.pvs,
            lv,
        })
    }
}

const VG: &str = r#"vg={vg}
command -v vgs >/dev/null || tandem_fail "lvm: the LVM tools are not installed (package lvm2)"
# PVs: created when missing; one of another VG stops everything.
new_vg=1
vgs --noheadings -o vg_name -- "$vg" >/dev/null 2>&1 && new_vg=
# The PVs to add to the VG, as the positional parameters (paths stay single words).
set --
for pv in {pvs}; do
  if owner=$(pvs --noheadings -o vg_name -- "$pv" 2>/dev/null); then
    owner=$(tandem_trim "$owner")
    if [ "$owner" = "$vg" ]; then continue; fi
    [ -z "$owner" ] || tandem_fail "lvm: $pv belongs to volume group $owner, not $vg: tandem never moves a physical volume"
  else
    [ -e "$pv" ] || tandem_checking || tandem_fail "lvm: $pv does not exist"
    tandem_changed "created physical volume $pv"
    if ! tandem_checking; then
      out=$(pvcreate -- "$pv" 2>&1 </dev/null) || tandem_fail "lvm: pvcreate $pv failed (it never overwrites a device holding data): $out"
    fi
  fi
  set -- "$@" "$pv"
done
if [ -n "$new_vg" ]; then
  [ $# -gt 0 ] || tandem_fail "lvm: volume group $vg does not exist and no pvs were given to create it"
  tandem_changed "created volume group $vg on $*"
  if ! tandem_checking; then
    out=$(vgcreate -- "$vg" "$@" 2>&1 </dev/null) || tandem_fail "lvm: vgcreate $vg failed: $out"
  fi
elif [ $# -gt 0 ]; then
  tandem_changed "extended volume group $vg with $*"
  if ! tandem_checking; then
    out=$(vgextend -- "$vg" "$@" 2>&1 </dev/null) || tandem_fail "lvm: vgextend $vg failed: $out"
  fi
fi
"#;

const LV: &str = r#"lv={lv} asked={asked} want={bytes}
if have=$(lvs --noheadings --units b --nosuffix -o lv_size -- "$vg/$lv" 2>/dev/null); then
  have=$(tandem_trim "$have")
  extent=$(vgs --noheadings --units b --nosuffix -o vg_extent_size -- "$vg" 2>/dev/null)
  extent=$(tandem_trim "$extent")
  case $have$extent in *[!0-9]*|'') tandem_fail "lvm: cannot read the size of $vg/$lv (lvs said '$have', vgs '$extent')" ;; esac
  if [ "$have" -lt "$want" ]; then
    tandem_changed "extended logical volume $vg/$lv to $asked"
    if ! tandem_checking; then
      out=$(lvextend -L "${want}b" -- "$vg/$lv" 2>&1 </dev/null) || tandem_fail "lvm: lvextend $vg/$lv to $asked failed: $out"
    fi
  elif [ "$have" -ge $((want + extent)) ]; then
    human=$(lvs --noheadings --units g -o lv_size -- "$vg/$lv" 2>/dev/null)
    tandem_fail "lvm: $vg/$lv is $(tandem_trim "$human"), bigger than the $asked asked: tandem never shrinks a volume; change size or shrink it by hand"
  fi
else
  tandem_changed "created logical volume $vg/$lv of $asked"
  if ! tandem_checking; then
    out=$(lvcreate --yes -n "$lv" -L "${want}b" -- "$vg" 2>&1 </dev/null) || tandem_fail "lvm: lvcreate $vg/$lv of $asked failed: $out"
  fi
fi
"#;

impl Module for Lvm {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let pvs: Vec<ShellWord> = self.pvs.iter().map(|p| ShellWord::quote(p)).collect();
        let mut script = Script::fill(VG, &[("vg", &ShellWord::quote(&self.vg)), ("pvs", &pvs)]);
        if let Some((lv, asked, bytes)) = &self.lv {
            script.push(Script::fill(
                LV,
                &[
                    ("lv", &ShellWord::quote(lv)),
                    ("asked", &ShellWord::quote(asked)),
                    ("bytes", &ShellWord::number(*bytes)),
                ],
            ));
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
        Lvm::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    /// Device-mapper does not work in the lab (nor in CI containers): these stand-ins keep LVM's
    /// state in files under $FAKE_LVM and answer like the real tools do for the options the
    /// module uses. Each call is logged to $FAKE_LVM/log.
    fn fake_lvm(t: &Local) -> String {
        let state = t.path("lvm");
        for d in ["pv", "vg", "lv"] {
            std::fs::create_dir_all(state.join(d)).unwrap();
        }
        let log = r#"echo "$(basename "$0") $*" >>"$FAKE_LVM/log"
for a; do last=$a; done
"#;
        // pvs -o vg_name DEV: fails for a device that is no PV.
        t.stub(
            "pvs",
            &format!(
                r#"{log}k=$(echo "$last" | tr / _)
[ -f "$FAKE_LVM/pv/$k" ] || {{ echo "Failed to find physical volume \"$last\"." >&2; exit 5; }}
echo "  $(cat "$FAKE_LVM/pv/$k")"
"#
            ),
        );
        t.stub(
            "pvcreate",
            &format!(r#"{log}k=$(echo "$last" | tr / _); : >"$FAKE_LVM/pv/$k""#),
        );
        // vgs -o vg_name VG, or -o vg_extent_size (4 MiB extents).
        t.stub(
            "vgs",
            &format!(
                r#"{log}[ -f "$FAKE_LVM/vg/$last" ] || {{ echo "Volume group \"$last\" not found" >&2; exit 5; }}
case "$*" in *vg_extent_size*) echo "  4194304" ;; *) echo "  $last" ;; esac
"#
            ),
        );
        let add_pvs = r#"vg=; for a; do case $a in -*) ;; /*) k=$(echo "$a" | tr / _); echo "$vg" >"$FAKE_LVM/pv/$k" ;; *) vg=$a ;; esac; done"#;
        t.stub(
            "vgcreate",
            &format!(r#"{log}{add_pvs}; : >"$FAKE_LVM/vg/$vg""#),
        );
        t.stub("vgextend", &format!("{log}{add_pvs}"));
        // lvs --units b (bytes) or --units g ("30.00g").
        t.stub(
            "lvs",
            &format!(
                r#"{log}k=$(echo "$last" | tr / _)
[ -f "$FAKE_LVM/lv/$k" ] || {{ echo "Failed to find logical volume \"$last\"" >&2; exit 5; }}
b=$(cat "$FAKE_LVM/lv/$k")
case "$*" in *"--units g"*) echo "  $(awk -v b="$b" 'BEGIN {{ printf "%.2fg", b / 1073741824 }}')" ;; *) echo "  $b" ;; esac
"#
            ),
        );
        // -L NNNb: rounded up to 4 MiB extents, as LVM does.
        let size = r#"while [ $# -gt 0 ]; do case $1 in -L) s=${2%b}; shift ;; -n) n=$2; shift ;; esac; shift; done
s=$(( (s + 4194303) / 4194304 * 4194304 ))"#;
        t.stub(
            "lvcreate",
            &format!(r#"{log}vg=$last; {size}; echo "$s" >"$FAKE_LVM/lv/${{vg}}_$n""#),
        );
        t.stub(
            "lvextend",
            &format!(r#"{log}k=$(echo "$last" | tr / _); {size}; echo "$s" >"$FAKE_LVM/lv/$k""#),
        );
        state.display().to_string()
    }

    fn log(state: &str) -> String {
        std::fs::read_to_string(format!("{state}/log")).unwrap_or_default()
    }

    #[test]
    fn creates_pv_vg_lv_then_converges() {
        let t = Local::new();
        let state = fake_lvm(&t);
        let disk = t.path("sda4");
        std::fs::write(&disk, "").unwrap();
        let step = plan(json!({"vg": "vg0", "pvs": [disk], "lv": "web", "size": "20G"}));
        let env = [("FAKE_LVM", state.as_str())];

        let check = t.run_env(&step, true, false, &env);
        assert_eq!(check.status, 0, "{}", check.stderr);
        let d = disk.display();
        assert_eq!(
            check.report.changes,
            vec![
                format!("created physical volume {d}"),
                format!("created volume group vg0 on {d}"),
                "created logical volume vg0/web of 20G".to_string(),
            ]
        );
        assert!(
            !log(&state).contains("create"),
            "check mode ran: {}",
            log(&state)
        );

        let run = t.run_env(&step, false, false, &env);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.report.changes, check.report.changes);
        assert!(
            log(&state).contains("lvcreate --yes -n web -L 21474836480b -- vg0"),
            "{}",
            log(&state)
        );
        let again = t.run_env(&step, false, false, &env);
        assert_eq!(again.status, 0, "{}", again.stderr);
        assert!(!again.report.changed(), "{:?}", again.report);
    }

    #[test]
    fn grows_but_never_shrinks() {
        let t = Local::new();
        let state = fake_lvm(&t);
        let env = [("FAKE_LVM", state.as_str())];
        let disk = t.path("sdb");
        std::fs::write(&disk, "").unwrap();
        // An odd size LVM rounds up to the next extent: still "that size" afterwards.
        let step = plan(json!({"vg": "vg0", "pvs": [disk], "lv": "web", "size": "1001M"}));
        assert_eq!(t.run_env(&step, false, false, &env).status, 0);
        assert!(!t.run_env(&step, false, false, &env).report.changed());

        let bigger = plan(json!({"vg": "vg0", "pvs": [disk], "lv": "web", "size": "30G"}));
        let run = t.run_env(&bigger, false, false, &env);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec!["extended logical volume vg0/web to 30G"]
        );
        assert!(!t.run_env(&bigger, false, false, &env).report.changed());

        let smaller = plan(json!({"vg": "vg0", "lv": "web", "size": "20G"}));
        let run = t.run_env(&smaller, true, false, &env);
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains(
                "vg0/web is 30.00g, bigger than the 20G asked: tandem never shrinks a volume; change size or shrink it by hand"
            ),
            "{}",
            run.stderr
        );
        assert!(!log(&state).contains("lvreduce"));
    }

    #[test]
    fn extends_the_vg_and_refuses_a_foreign_pv() {
        let t = Local::new();
        let state = fake_lvm(&t);
        let env = [("FAKE_LVM", state.as_str())];
        let (a, b, c) = (t.path("a"), t.path("b"), t.path("c"));
        for p in [&a, &b, &c] {
            std::fs::write(p, "").unwrap();
        }
        assert_eq!(
            t.run_env(&plan(json!({"vg": "vg0", "pvs": [a]})), false, false, &env)
                .status,
            0
        );
        let run = t.run_env(
            &plan(json!({"vg": "vg0", "pvs": [a, b]})),
            false,
            false,
            &env,
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![
                format!("created physical volume {}", b.display()),
                format!("extended volume group vg0 with {}", b.display()),
            ]
        );
        assert_eq!(
            t.run_env(&plan(json!({"vg": "vg1", "pvs": [c]})), false, false, &env)
                .status,
            0
        );
        let run = t.run_env(
            &plan(json!({"vg": "vg0", "pvs": [a, c]})),
            false,
            false,
            &env,
        );
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains(&format!(
                "{} belongs to volume group vg1, not vg0",
                c.display()
            )),
            "{}",
            run.stderr
        );
        // No PVs and no VG: nothing to build it on.
        let run = t.run_env(&plan(json!({"vg": "vg9"})), false, false, &env);
        assert!(run.stderr.contains("no pvs were given"), "{}", run.stderr);
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Lvm::from_args(&json!({"vg": "vg0", "lv": "web"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a size"), "{e}");
        let e = Lvm::from_args(&json!({"vg": "vg 0"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid LVM name"), "{e}");
        let e = Lvm::from_args(&json!({"vg": "vg0", "lv": "web", "size": "20X"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a size"), "{e}");
        let e = Lvm::from_args(&json!({"vg": "vg0", "pv": ["/dev/sda4"]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `pv`"), "{e}");
        let e = Lvm::from_args(&json!({"vg": "vg0", "pvs": ["sda4"]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
    }
}
