//! The answer demultiplexer: splits what the remote shell loop writes on stdout and stderr
//! into one answer per frame (at the per-shell token's boundary lines) and hands each to the
//! caller waiting for it, in frame order.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::oneshot;

use super::error::SshError;
use super::shell::{Answer, FrameStatus};
pub(super) type Reply = oneshot::Sender<Result<Answer, SshError>>;

#[derive(Default)]
pub(super) struct Demux {
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    /// How much of each buffer holds no answer boundary yet: a large answer arrives in many
    /// small chunks, and scanning it all again for each chunk would be quadratic.
    pub(super) stdout_scanned: usize,
    pub(super) stderr_scanned: usize,
    /// Answers complete on stdout (id, status, bytes), waiting for their stderr part.
    pub(super) done_out: VecDeque<(u64, FrameStatus, Vec<u8>)>,
    pub(super) done_err: VecDeque<(u64, Vec<u8>)>,
    /// Callers waiting, in frame order, with when their frame was sent.
    pub(super) waiting: VecDeque<(u64, Instant, Reply)>,
    /// When the last answer arrived: the loop started the next frame then (if it had it).
    pub(super) last_answer: Option<Instant>,
    /// Set once the channel is gone: every later request fails with it.
    pub(super) closed: Option<SshError>,
    /// The loop's private directory, from its answer 0; taken by the reader.
    pub(super) loop_dir: Option<String>,
}

impl Demux {
    pub(super) fn split_stdout(&mut self, marker: &[u8]) {
        while let Some((at, id, rest, end)) =
            find_boundary(&self.stdout, marker, &mut self.stdout_scanned)
        {
            if id == 0 {
                // The loop's greeting, not an answer: it names the loop's directory.
                self.loop_dir = Some(rest);
                self.stdout.drain(..end);
                self.stdout_scanned = 0;
                continue;
            }
            let status = match rest.as_str() {
                "skip" => FrameStatus::Skipped,
                "timeout" => FrameStatus::TimedOut,
                code => FrameStatus::Exited(code.parse().unwrap_or(-1)),
            };
            let body = self.stdout[..at].to_vec();
            self.stdout.drain(..end);
            self.stdout_scanned = 0;
            self.done_out.push_back((id, status, body));
        }
    }

    pub(super) fn split_stderr(&mut self, marker: &[u8]) {
        while let Some((at, id, _, end)) =
            find_boundary(&self.stderr, marker, &mut self.stderr_scanned)
        {
            let body = self.stderr[..at].to_vec();
            self.stderr.drain(..end);
            self.stderr_scanned = 0;
            self.done_err.push_back((id, body));
        }
    }

    /// Completes every caller whose stdout and stderr parts have both arrived.
    pub(super) fn deliver(&mut self) {
        while let (Some(out), Some(err)) = (self.done_out.front(), self.done_err.front()) {
            if out.0 != err.0 {
                break;
            }
            let (id, status, stdout) =
                self.done_out
                    .pop_front()
                    .unwrap_or((0, FrameStatus::Skipped, Vec::new()));
            let (_, stderr) = self.done_err.pop_front().unwrap_or_default();
            let now = Instant::now();
            let previous = self.last_answer.replace(now);
            if let Some(pos) = self.waiting.iter().position(|(w, _, _)| *w == id)
                && let Some((_, sent, reply)) = self.waiting.remove(pos)
            {
                let started = previous.map_or(sent, |p| p.max(sent));
                let _ = reply.send(Ok(Answer {
                    status,
                    stdout,
                    stderr,
                    ran_for: now.saturating_duration_since(started),
                }));
            }
        }
    }

    pub(super) fn fail_all(&mut self, error: SshError) {
        for (_, _, reply) in self.waiting.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
        self.closed = Some(error);
    }
}

/// Feeds `chunks` (stdout when the flag is true, stderr otherwise) to the answer
/// demultiplexer exactly as the reader task does, with callers waiting for frames
/// `1..=frames`; returns the answers delivered, by frame id. The entry the fuzz target drives:
/// what a node sends back must never make the reader panic or stall.
#[doc(hidden)]
pub fn demux_replay(token: &str, frames: u64, chunks: &[(bool, &[u8])]) -> Vec<(u64, Answer)> {
    let marker = format!("\n{token} ").into_bytes();
    let mut d = Demux::default();
    let mut receivers = Vec::new();
    for id in 1..=frames {
        let (reply, answer) = oneshot::channel();
        d.waiting.push_back((id, Instant::now(), reply));
        receivers.push((id, answer));
    }
    for (is_stdout, data) in chunks {
        if *is_stdout {
            d.stdout.extend_from_slice(data);
            d.split_stdout(&marker);
        } else {
            d.stderr.extend_from_slice(data);
            d.split_stderr(&marker);
        }
        d.deliver();
    }
    receivers
        .into_iter()
        .filter_map(|(id, mut answer)| match answer.try_recv() {
            Ok(Ok(answer)) => Some((id, answer)),
            _ => None,
        })
        .collect()
}

/// Finds `\nTOKEN ID REST\n`; returns (start of marker, id, rest, end of line). `scanned` is
/// how far an earlier call found no marker: the search resumes there (less a marker's length,
/// for one cut across chunks) and leaves it at the end, or at a marker whose line is not whole.
fn find_boundary(
    buf: &[u8],
    marker: &[u8],
    scanned: &mut usize,
) -> Option<(usize, u64, String, usize)> {
    let from = (*scanned).min(buf.len()).saturating_sub(marker.len());
    let Some(found) = buf[from..].windows(marker.len()).position(|w| w == marker) else {
        *scanned = buf.len();
        return None;
    };
    let at = from + found;
    *scanned = at;
    let line_start = at + marker.len();
    let newline = buf[line_start..].iter().position(|b| *b == b'\n')? + line_start;
    let line = std::str::from_utf8(&buf[line_start..newline]).ok()?;
    let (id, rest) = line.split_once(' ').unwrap_or((line, ""));
    Some((at, id.parse().ok()?, rest.to_string(), newline + 1))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn boundaries_split_answers_and_keep_binary_bodies() {
        let marker = b"\n@tk ".to_vec();
        let mut d = Demux::default();
        d.stdout
            .extend_from_slice(b"hello\0\xff\n\n@tk 1 0\n\n@tk 2 skip\npartial");
        d.split_stdout(&marker);
        assert_eq!(d.done_out.len(), 2);
        assert_eq!(
            d.done_out[0],
            (1, FrameStatus::Exited(0), b"hello\0\xff\n".to_vec())
        );
        assert_eq!(d.done_out[1], (2, FrameStatus::Skipped, Vec::new()));
        assert_eq!(d.stdout, b"partial");
    }

    #[test]
    fn a_boundary_cut_across_chunks_is_found() {
        let marker = b"\n@tk ".to_vec();
        let mut d = Demux::default();
        for chunk in [&b"body\n@t"[..], b"k 1", b" 0", b"\nnext"] {
            d.stdout.extend_from_slice(chunk);
            d.split_stdout(&marker);
        }
        assert_eq!(
            d.done_out,
            vec![(1, FrameStatus::Exited(0), b"body".to_vec())]
        );
        assert_eq!(d.stdout, b"next");
    }

    #[test]
    fn a_pipelined_frame_counts_from_the_answer_before_it_not_from_when_it_was_sent() {
        // Two frames sent together 2 s ago; the first ran all that time, the second ran only
        // after its answer came.
        let marker = b"\n@tk ".to_vec();
        let mut d = Demux::default();
        let sent = Instant::now() - Duration::from_secs(2);
        let mut receivers = Vec::new();
        for id in 1..=2 {
            let (reply, answer) = oneshot::channel();
            d.waiting.push_back((id, sent, reply));
            receivers.push(answer);
        }
        let answer = |d: &mut Demux, id: u64| {
            d.stdout
                .extend_from_slice(format!("\n@tk {id} 0\n").as_bytes());
            d.stderr
                .extend_from_slice(format!("\n@tk {id}\n").as_bytes());
            d.split_stdout(&marker);
            d.split_stderr(&marker);
            d.deliver();
        };
        answer(&mut d, 1);
        std::thread::sleep(Duration::from_millis(50));
        answer(&mut d, 2);
        let mut ran = receivers
            .into_iter()
            .map(|mut r| r.try_recv().unwrap().unwrap().ran_for);
        let (first, second) = (ran.next().unwrap(), ran.next().unwrap());
        assert!(first >= Duration::from_secs(2), "{first:?}");
        assert!(
            second >= Duration::from_millis(50) && second < Duration::from_secs(1),
            "the second frame waited behind the first, it did not run that long: {second:?}"
        );
    }

    #[test]
    fn a_large_answer_in_small_chunks_is_scanned_once() {
        // Each chunk used to rescan the whole buffer: 4 MiB in 1 KiB chunks took 217 s in a
        // debug build here, and an answer of a few hundred MiB (a big file's --diff) would
        // never end.
        let marker = b"\n@tk ".to_vec();
        let mut d = Demux::default();
        let chunk = vec![b'x'; 1024];
        let started = std::time::Instant::now();
        for _ in 0..4 * 1024 {
            d.stdout.extend_from_slice(&chunk);
            d.split_stdout(&marker);
        }
        d.stdout.extend_from_slice(b"\n@tk 1 0\n");
        d.split_stdout(&marker);
        assert_eq!(d.done_out.len(), 1);
        assert_eq!(d.done_out[0].2.len(), 4 << 20);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
}
