//! The playbook loader on arbitrary bytes, through real files as `tandem deploy` reads them:
//! the input up to the first NUL is `site.yml`, the rest `inc.yml` (which `site.yml` may
//! include, or include itself). Every refusal is one line naming a file, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch directory per fuzzing process (libFuzzer runs inputs one at a time in it).
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tandem-fuzz-playbook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let (main, included) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let dir = dir();
    let site = dir.join("site.yml");
    std::fs::write(&site, main).expect("write site.yml");
    std::fs::write(dir.join("inc.yml"), included).expect("write inc.yml");
    if let Err(err) = tandem::playbook::load(&site) {
        let message = err.to_string();
        assert!(!message.contains('\n'), "not one line: {message:?}");
        assert!(
            message.starts_with(&*dir.to_string_lossy()),
            "no file name: {message:?}"
        );
    }
});
