//! Runs one module's script inside a lab node, as the remote shell runs it (prelude first, the
//! script in a subshell reading its payload, a private TANDEM_TMP, sshd's umask 022), through
//! nsenter rather than SSH: for tests that need many module runs, each with its own outcome
//! (a failing step would stop a whole `deploy`). And a reader of a node's files that does not
//! go through any shell: the node's overlay upper directory, read from here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use tandem::modules::{self, PRELUDE, PlanContext, PlanError, RemoteStep, StepReport};
use tandem_integration::lab::Lab;

use crate::support::stderr;

const MARK: &str = "@tandem-lab-steps-mark";

/// Plans with `template` rendering to [`RENDERED`], relative paths from `/`.
struct Context;

pub const RENDERED: &str = "rendered by the template\n";

impl PlanContext for Context {
    fn base_dir(&self) -> &Path {
        Path::new("/")
    }
    fn render_file(&self, _path: &Path) -> Result<String, PlanError> {
        Ok(RENDERED.to_string())
    }
}

pub struct Ran {
    pub status: i32,
    pub report: StepReport,
    pub stderr: String,
}

/// Plans module `name` with `args` and runs it in `node` (apply mode, with diffs).
pub fn run_step(lab: &Lab, node: &str, name: &str, args: &serde_json::Value) -> Ran {
    let plan: RemoteStep = modules::build(name, args)
        .unwrap_or_else(|e| panic!("{name} {args}: {e}"))
        .plan(&Context)
        .unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let script = format!(
        r#"umask 022
T=$(mktemp -d) || exit 97
trap 'rm -rf "$T"' EXIT
echo {prelude} | base64 -d >"$T/prelude"
echo {script} | base64 -d >"$T/script"
echo {payload} | base64 -d >"$T/payload"
export TANDEM_MARK='{MARK}' TANDEM_CHECK= TANDEM_DIFF=1 TANDEM_PAYLOAD="$T/payload" TANDEM_TMP="$T"
. "$T/prelude"
( . "$T/script" ) <"$T/payload"
"#,
        prelude = b64(PRELUDE.as_bytes()),
        script = b64(plan.script.as_bytes()),
        payload = b64(&plan.payload),
    );
    let out = lab.exec(node, &script).expect("nsenter into the node");
    Ran {
        status: out.status.code().unwrap_or(-1),
        report: modules::answer::parse(&out.stdout, MARK),
        stderr: stderr(&out),
    }
}

/// What is at a path of a node, read from its overlay upper directory (where everything the
/// tests and tandem write under /srv lands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Missing,
    Link(PathBuf),
    Dir(Vec<String>),
    /// Mode (permission bits) and content.
    File(u32, Vec<u8>),
}

pub fn at(lab: &Lab, node: &str, path: &Path) -> Node {
    let upper = &lab.node(node).upper_dir;
    let real = upper.join(path.strip_prefix("/").expect("an absolute path"));
    let Ok(meta) = std::fs::symlink_metadata(&real) else {
        return Node::Missing;
    };
    if meta.file_type().is_symlink() {
        Node::Link(std::fs::read_link(&real).unwrap())
    } else if meta.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&real)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Node::Dir(names)
    } else {
        Node::File(
            meta.permissions().mode() & 0o7777,
            std::fs::read(&real).unwrap(),
        )
    }
}
