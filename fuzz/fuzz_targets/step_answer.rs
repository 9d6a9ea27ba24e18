//! What a step's script prints back, as the engine and the commands read it: the records of
//! the prelude (`changed`, `fact`, `diff`: `src/modules/answer.rs`), the key gathering of
//! `tandem keys` (`src/trust/gather.rs`) and the facts of `tandem ping`. The first byte picks
//! the parser; none may panic, and none may invent bytes the node did not send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::modules::answer;
use tandem::report::ping::NodeFacts;
use tandem::trust::gather;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let report = answer::parse(rest, "@m");
            let diff_bytes: usize = report.diffs.iter().map(|d| d.old.len() + d.new.len()).sum();
            assert!(
                report.output.len() + diff_bytes <= rest.len(),
                "the report holds more bytes than the answer"
            );
        }
        1 => {
            let keys = gather::parse(&String::from_utf8_lossy(rest));
            for key in keys.host_keys.iter().chain(&keys.root_key) {
                assert!(!key.line().contains('\n'));
            }
        }
        _ => {
            let facts = NodeFacts::parse(rest);
            assert!(!facts.hostname.contains('\n'));
        }
    }
});
