//! What tandem reads about OVH: `ovh.conf` (through the real credentials loader, from a 0600
//! file) and the API's answers (the JSON of IPs, tasks and task lists, error bodies). The first
//! byte picks which. Errors are one line, never a panic.
#![no_main]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tandem::ovh::{ApiError, Credentials, Endpoint, IpInfo, OvhError, Task};

fn conf_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tandem-fuzz-ovh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir.join("ovh.conf")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => ovh_conf(rest),
        1 => {
            let _ = serde_json::from_slice::<IpInfo>(rest)
                .map(|info| info.routed_service().map(str::len));
            if let Ok(task) = serde_json::from_slice::<Task>(rest) {
                let _ = (task.status.is_finished(), task.status.to_string());
            }
            let _ = serde_json::from_slice::<Vec<u64>>(rest);
        }
        2 => {
            let status = rest.first().map_or(500, |b| 400 + u16::from(*b));
            let error =
                ApiError::from_answer("GET", "/ip/x", status, Some("EU.ext-1".into()), rest);
            let message = OvhError::Api(Box::new(error)).to_string();
            assert!(!message.contains('\n'), "not one line: {message:?}");
        }
        _ => {
            if let Err(err) = Endpoint::parse(&String::from_utf8_lossy(rest)) {
                let message = err.to_string();
                assert!(!message.contains('\n'), "not one line: {message:?}");
            }
        }
    }
});

fn ovh_conf(text: &[u8]) {
    let path = conf_path();
    std::fs::write(path, text).expect("write ovh.conf");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    match Credentials::load_from(None, |_| None, std::slice::from_ref(path), true) {
        Err(err) => {
            let message = err.to_string();
            assert!(!message.contains('\n'), "not one line: {message:?}");
        }
        Ok(credentials) => {
            let _ = credentials.endpoint.base_url();
        }
    }
}
