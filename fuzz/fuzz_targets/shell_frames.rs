//! The remote shell's answer demultiplexer (`src/ssh/shell.rs`) on what a node sends back.
//!
//! First byte even: arbitrary stdout/stderr chunks (the input split at 0xFF bytes, each
//! chunk's first byte choosing the stream): no panic, no stall. First byte odd: a well-formed
//! answer stream built from the input (bodies, statuses) and cut into chunks at places the
//! input chooses: every frame must come back with exactly its bodies and status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::ssh::{FrameStatus, demux_replay};

const TOKEN: &str = "@tk";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        arbitrary_chunks(rest);
    } else {
        well_formed(rest);
    }
});

fn arbitrary_chunks(data: &[u8]) {
    let chunks: Vec<(bool, &[u8])> = data
        .split(|b| *b == 0xFF)
        .map(|chunk| match chunk.split_first() {
            Some((flag, body)) => (flag % 2 == 0, body),
            None => (true, chunk),
        })
        .collect();
    let answers = demux_replay(TOKEN, 8, &chunks);
    assert!(answers.len() <= 8);
}

/// Frames separated by 0xFE; in each, stdout and stderr separated by 0xFD; the frame's first
/// byte is its status (255: skipped). Bytes after a 0xFC are cut points for the stream.
fn well_formed(data: &[u8]) {
    let (frames, cuts) = match data.iter().position(|b| *b == 0xFC) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let marker = format!("\n{TOKEN} ");
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut expected = Vec::new();
    for (index, frame) in frames.split(|b| *b == 0xFE).take(16).enumerate() {
        let id = index as u64 + 1;
        let (status_byte, frame) = frame.split_first().unwrap_or((&0, &[]));
        let (out, err) = match frame.iter().position(|b| *b == 0xFD) {
            Some(at) => (&frame[..at], &frame[at + 1..]),
            None => (frame, &[][..]),
        };
        // A body holding the marker cannot happen: the token is random per shell.
        if contains(out, marker.as_bytes()) || contains(err, marker.as_bytes()) {
            return;
        }
        let status = match status_byte {
            255 => FrameStatus::Skipped,
            254 => FrameStatus::TimedOut,
            code => FrameStatus::Exited(i32::from(*code)),
        };
        let word = match &status {
            FrameStatus::Skipped => "skip".to_string(),
            FrameStatus::TimedOut => "timeout".to_string(),
            FrameStatus::Exited(code) => code.to_string(),
        };
        stdout.extend_from_slice(out);
        stdout.extend_from_slice(format!("\n{TOKEN} {id} {word}\n").as_bytes());
        stderr.extend_from_slice(err);
        stderr.extend_from_slice(format!("\n{TOKEN} {id}\n").as_bytes());
        expected.push((id, status, out.to_vec(), err.to_vec()));
    }

    // Interleave the two streams in pieces whose sizes the cut bytes choose.
    let mut chunks: Vec<(bool, &[u8])> = Vec::new();
    let (mut o, mut e) = (0, 0);
    let mut sizes = cuts.iter().map(|b| usize::from(*b) + 1).cycle();
    let mut turn_stdout = true;
    while o < stdout.len() || e < stderr.len() {
        let size = if cuts.is_empty() {
            usize::MAX
        } else {
            sizes.next().unwrap_or(1)
        };
        if turn_stdout && o < stdout.len() || e >= stderr.len() {
            let end = stdout.len().min(o.saturating_add(size));
            chunks.push((true, &stdout[o..end]));
            o = end;
        } else {
            let end = stderr.len().min(e.saturating_add(size));
            chunks.push((false, &stderr[e..end]));
            e = end;
        }
        turn_stdout = !turn_stdout;
    }

    let answers = demux_replay(TOKEN, expected.len() as u64, &chunks);
    assert_eq!(answers.len(), expected.len(), "frames lost");
    for ((id, answer), (want_id, status, out, err)) in answers.iter().zip(&expected) {
        assert_eq!(id, want_id);
        assert_eq!(&answer.status, status, "frame {id}");
        assert_eq!(&answer.stdout, out, "frame {id} stdout");
        assert_eq!(&answer.stderr, err, "frame {id} stderr");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
