//! Reading a source file within a size limit, and its bytes as UTF-8 text.

use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Missing, a directory, permissions...
    Io(io::Error),
    /// Larger than the limit; `len` is what was seen (the size, or what was read past it).
    TooLarge { len: u64 },
}

/// Reads at most `max_bytes`: the size is checked before reading (the usual case) and again
/// while reading (a pipe or a growing file has no reliable size), so a stray multi-gigabyte
/// file never fills the memory.
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if metadata.is_file() && metadata.len() > max_bytes {
        return Err(ReadError::TooLarge {
            len: metadata.len(),
        });
    }
    let mut bytes = Vec::new();
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge {
            len: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Bytes that are not UTF-8: the offset of the first bad byte and its line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    pub byte: usize,
    /// 1-based line and column (in characters) of the bad byte.
    pub position: (usize, usize),
}

/// The text of `bytes`, or where it stops being UTF-8 (an error, never a panic).
pub fn utf8(bytes: &[u8]) -> Result<&str, NotUtf8> {
    std::str::from_utf8(bytes).map_err(|err| {
        let byte = err.valid_up_to();
        NotUtf8 {
            byte,
            position: position_of(&bytes[..byte]),
        }
    })
}

/// Line and column (1-based, in characters) just after `prefix`.
fn position_of(prefix: &[u8]) -> (usize, usize) {
    // `prefix` is the valid UTF-8 part, so this never loses anything.
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_is_placed_by_line_and_character() {
        let err = utf8(b"a: 1\nb: \xc3\xa9\xff").unwrap_err();
        assert_eq!(err.byte, 10);
        assert_eq!(err.position, (2, 5));
        assert_eq!(utf8(b"ok"), Ok("ok"));
    }
}
