//! A growable window of decoded text over a byte stream.
//!
//! Bytes are read in chunks, checked as UTF-8 once, and appended to a
//! `String`, so records can be parsed in place as `&str` (no copy per record,
//! no second UTF-8 pass). Consumed text is dropped on the next fill, so the
//! window holds the unconsumed tail (a partial record) plus one chunk; a
//! record larger than a chunk grows it until the record fits.
//!
//! Invalid UTF-8 is replaced by U+FFFD and its position remembered, so the
//! record holding it can be reported as bad while its neighbours are read.

use std::io::{self, Read};

pub(crate) struct Window<R> {
    reader: R,
    text: String,
    /// Start of the unconsumed text.
    pos: usize,
    /// Bytes consumed before `text[0]`.
    dropped: u64,
    /// Read buffer; `scratch[..pending]` holds an incomplete UTF-8 sequence.
    scratch: Vec<u8>,
    pending: usize,
    eof: bool,
    /// Positions in `text` where invalid bytes were replaced, ascending.
    invalid: Vec<usize>,
}

impl Window<io::Empty> {
    /// A window over text decoded in full (already checked as UTF-8).
    pub(crate) fn from_text(text: String) -> Self {
        Window {
            reader: io::empty(),
            text,
            pos: 0,
            dropped: 0,
            scratch: Vec::new(),
            pending: 0,
            eof: true,
            invalid: Vec::new(),
        }
    }
}

impl<R: Read> Window<R> {
    /// A window reading `scratch.len()` bytes at a time (at least 4);
    /// `scratch` and `text` are buffers to reuse.
    pub(crate) fn new(reader: R, mut scratch: Vec<u8>, text: String) -> Self {
        let mut text = text;
        text.clear();
        if scratch.len() < 4 {
            scratch.resize(4, 0);
        }
        Window {
            reader,
            text,
            pos: 0,
            dropped: 0,
            scratch,
            pending: 0,
            eof: false,
            invalid: Vec::new(),
        }
    }

    /// The unconsumed text.
    #[inline]
    pub(crate) fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    /// Consume `n` bytes of the unconsumed text.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n;
        debug_assert!(self.pos <= self.text.len());
    }

    /// Bytes left to consume, once the stream has been read to its end.
    pub(crate) fn remaining(&self) -> Option<usize> {
        self.eof.then(|| self.text.len() - self.pos)
    }

    /// Bytes consumed since the start of the stream.
    pub(crate) fn offset(&self) -> u64 {
        self.dropped + self.pos as u64
    }

    /// The offset, relative to the unconsumed text, of the first replaced
    /// invalid byte before `end` (relative too), if any.
    pub(crate) fn invalid_before(&self, end: usize) -> Option<usize> {
        let first = self.invalid.iter().find(|&&i| i >= self.pos)?;
        (*first < self.pos + end).then(|| first - self.pos)
    }

    /// Whether the unconsumed text holds a replaced invalid byte.
    #[inline]
    pub(crate) fn has_invalid(&self) -> bool {
        self.invalid.last().is_some_and(|&i| i >= self.pos)
    }

    /// The text and read buffers, for reuse by the next window.
    pub(crate) fn into_parts(self) -> (String, Vec<u8>) {
        (self.text, self.scratch)
    }

    /// Read more text; `false` at the end of the stream.
    pub(crate) fn fill(&mut self) -> io::Result<bool> {
        if self.pos > 0 {
            self.text.drain(..self.pos);
            let pos = self.pos;
            self.invalid.retain(|&i| i >= pos);
            self.invalid.iter_mut().for_each(|i| *i -= pos);
            self.dropped += pos as u64;
            self.pos = 0;
        }
        loop {
            if self.eof {
                return Ok(false);
            }
            let before = self.text.len();
            let n = loop {
                match self.reader.read(&mut self.scratch[self.pending..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
                if self.pending > 0 {
                    // The stream ends inside a multi-byte sequence.
                    self.invalid.push(self.text.len());
                    self.text.push(char::REPLACEMENT_CHARACTER);
                    self.pending = 0;
                }
                return Ok(self.text.len() > before);
            }
            self.decode(self.pending + n);
            if self.text.len() > before {
                return Ok(true);
            }
        }
    }

    /// Append `scratch[..avail]` to the text, keeping a trailing incomplete sequence.
    fn decode(&mut self, avail: usize) {
        let mut start = 0;
        loop {
            let bytes = &self.scratch[start..avail];
            // simdutf8 validates ASCII-heavy text several times faster than std.
            match simdutf8::compat::from_utf8(bytes) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending = 0;
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    self.text
                        .push_str(std::str::from_utf8(&bytes[..valid]).unwrap_or_default());
                    match e.error_len() {
                        None => {
                            self.pending = bytes.len() - valid;
                            self.scratch.copy_within(start + valid..avail, 0);
                            return;
                        }
                        Some(bad) => {
                            self.invalid.push(self.text.len());
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            start += valid + bad;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(input: &[u8], chunk: usize) -> (String, Vec<usize>) {
        let mut w = Window::new(input, vec![0; chunk], String::new());
        let mut out = String::new();
        let mut invalid = Vec::new();
        while w.fill().unwrap() {
            if let Some(i) = w.invalid_before(w.rest().len()) {
                invalid.push(out.len() + i);
            }
            out.push_str(w.rest());
            let n = w.rest().len();
            w.consume(n);
        }
        (out, invalid)
    }

    #[test]
    fn multibyte_characters_split_across_reads() {
        let text = "aé€😀z".repeat(3);
        for chunk in [4, 5, 6, 7, 64] {
            assert_eq!(drain(text.as_bytes(), chunk).0, text, "chunk {chunk}");
        }
    }

    #[test]
    fn invalid_bytes_are_replaced_and_located() {
        let input = b"ab\xffcd\xe2\x82";
        for chunk in [4, 5, 64] {
            let (text, invalid) = drain(input, chunk);
            assert_eq!(text, "ab\u{fffd}cd\u{fffd}", "chunk {chunk}");
            assert_eq!(invalid, vec![2, 7], "chunk {chunk}");
        }
    }

    #[test]
    fn offset_counts_consumed_bytes() {
        let mut w = Window::new(&b"0123456789"[..], vec![0; 4], String::new());
        assert!(w.fill().unwrap());
        w.consume(3);
        assert!(w.fill().unwrap());
        assert_eq!(w.rest(), "34567");
        w.consume(2);
        assert_eq!(w.offset(), 5);
    }
}
