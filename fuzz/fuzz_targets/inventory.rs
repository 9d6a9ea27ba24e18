//! The inventory loader on arbitrary bytes, as `tandem -i FILE` reads them: every refusal is
//! one line naming the file, never a panic. A `# limit: PATTERN` comment line also drives
//! `--limit` selection on an inventory that loads.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tandem::inventory::Inventory;

const PATH: &str = "/fuzz/inventory.yml";

fuzz_target!(|data: &[u8]| {
    match Inventory::from_bytes(data, Path::new(PATH)) {
        Err(err) => {
            let message = err.to_string();
            assert!(!message.contains('\n'), "not one line: {message:?}");
            assert!(message.starts_with(PATH), "no file name: {message:?}");
        }
        Ok(inventory) => {
            for node in inventory.nodes() {
                let _ = inventory.node_vars(node);
            }
            let text = String::from_utf8_lossy(data);
            let pattern = text
                .lines()
                .find_map(|line| line.strip_prefix("# limit: "))
                .unwrap_or("all");
            if let Err(err) = inventory.select(Some(pattern)) {
                let message = err.to_string();
                assert!(!message.contains('\n'), "not one line: {message:?}");
            }
        }
    }
});
