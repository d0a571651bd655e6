//! Walk a `{"Records":[ ... ]}` document without holding it: records are
//! parsed in place from a [`Window`] of decoded text, one at a time.
//!
//! The record parser itself finds where a record ends (it has to read every
//! byte anyway), so a well-formed record is scanned once. Only when it fails
//! does a lenient scanner, which tracks strings, escapes and nesting depth
//! and nothing else, decide whether the record is incomplete (read more and
//! parse again), bad (report it on its own and carry on with the next one),
//! or too large (skip it while streaming, without holding it).

use std::io::{self, Read};

use crate::window::Window;

/// What [`Splitter::next_record`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<E> {
    /// A record was parsed.
    Record,
    /// A record could not be parsed: the parser's error.
    Bad(E),
    /// A record holds bytes that are not UTF-8, at this offset in the record.
    BadUtf8(usize),
    /// A record larger than the limit was skipped (its size in bytes).
    TooLarge(u64),
    /// The document ended cleanly.
    End,
}

/// Why the stream is not a CloudTrail document.
#[derive(Debug)]
pub(crate) enum EnvelopeError {
    Io(io::Error),
    Empty,
    /// Not the expected shape, at a byte offset.
    Shape {
        offset: u64,
        reason: String,
    },
    /// The stream ended before the document did.
    Truncated,
}

impl From<io::Error> for EnvelopeError {
    fn from(e: io::Error) -> Self {
        EnvelopeError::Io(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Inside the top-level object, before a key (or its closing brace).
    Members {
        first: bool,
    },
    /// Inside `Records`, before a value (or the closing bracket).
    Records {
        first: bool,
    },
    Done,
}

pub(crate) struct Splitter<R> {
    window: Window<R>,
    state: State,
    max_record_bytes: usize,
    saw_records: bool,
}

impl Splitter<io::Empty> {
    /// Split a document already decoded in full.
    pub(crate) fn from_text(text: String, max_record_bytes: usize) -> Self {
        Splitter {
            window: Window::from_text(text),
            state: State::Start,
            max_record_bytes,
            saw_records: false,
        }
    }
}

impl<R: Read> Splitter<R> {
    /// Split the document read from `reader`, `scratch.len()` bytes at a
    /// time; `scratch` and `text` are buffers to reuse.
    pub(crate) fn new(reader: R, scratch: Vec<u8>, max_record_bytes: usize, text: String) -> Self {
        Splitter {
            window: Window::new(reader, scratch, text),
            state: State::Start,
            max_record_bytes,
            saw_records: false,
        }
    }

    /// Bytes of the (decompressed) document consumed so far.
    pub(crate) fn offset(&self) -> u64 {
        self.window.offset()
    }

    /// Bytes of the document left, when it is known (decoded in full).
    pub(crate) fn remaining(&self) -> Option<usize> {
        self.window.remaining()
    }

    /// The text and read buffers, for reuse.
    pub(crate) fn into_parts(self) -> (String, Vec<u8>) {
        self.window.into_parts()
    }

    /// Parse the next record with `parse`, which gets the text from the
    /// record's first byte to the end of what is decoded (possibly cut
    /// inside the record) and returns the record's length or an error.
    pub(crate) fn next_record<E>(
        &mut self,
        mut parse: impl FnMut(&str) -> Result<usize, E>,
    ) -> Result<Next<E>, EnvelopeError> {
        loop {
            match self.state {
                State::Start => {
                    match self.peek_non_ws()? {
                        None => return Err(EnvelopeError::Empty),
                        Some(b'{') => self.window.consume(1),
                        Some(b) => {
                            return Err(self.shape(format!(
                                "expected '{{' to open the document, found {}",
                                show(b)
                            )))
                        }
                    }
                    self.state = State::Members { first: true };
                }
                State::Members { first } => {
                    let b = self.peek_non_ws()?.ok_or(EnvelopeError::Truncated)?;
                    if b == b'}' {
                        self.window.consume(1);
                        self.state = State::Done;
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.shape(format!(
                                "expected ',' or '}}' between members of the document, found {}",
                                show(b)
                            )));
                        }
                        self.window.consume(1);
                    }
                    let key = self.read_key()?;
                    match self.peek_non_ws()?.ok_or(EnvelopeError::Truncated)? {
                        b':' => self.window.consume(1),
                        b => {
                            return Err(self.shape(format!(
                                "expected ':' after key {key:?}, found {}",
                                show(b)
                            )))
                        }
                    }
                    let b = self.peek_non_ws()?.ok_or(EnvelopeError::Truncated)?;
                    if key == "Records" {
                        if b != b'[' {
                            return Err(self.shape(format!(
                                "\"Records\" is not an array (it starts with {})",
                                show(b)
                            )));
                        }
                        self.window.consume(1);
                        self.saw_records = true;
                        self.state = State::Records { first: true };
                    } else {
                        // Another top-level member: skip its value, keep nothing.
                        self.skip_streaming(Lenient::default(), 0)?;
                        self.state = State::Members { first: false };
                    }
                }
                State::Records { first } => {
                    let b = self.peek_non_ws()?.ok_or(EnvelopeError::Truncated)?;
                    if b == b']' {
                        self.window.consume(1);
                        self.state = State::Members { first: false };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.shape(format!(
                                "expected ',' or ']' between records, found {}",
                                show(b)
                            )));
                        }
                        self.window.consume(1);
                        if self.peek_non_ws()?.is_none() {
                            return Err(EnvelopeError::Truncated);
                        }
                    }
                    self.state = State::Records { first: false };
                    return self.record(&mut parse);
                }
                State::Done => {
                    if let Some(b) = self.peek_non_ws()? {
                        return Err(self.shape(format!(
                            "unexpected {} after the end of the document",
                            show(b)
                        )));
                    }
                    if !self.saw_records {
                        return Err(EnvelopeError::Shape {
                            offset: self.offset(),
                            reason: "the document has no \"Records\" array".into(),
                        });
                    }
                    return Ok(Next::End);
                }
            }
        }
    }

    /// One record, starting at the current position.
    fn record<E>(
        &mut self,
        parse: &mut impl FnMut(&str) -> Result<usize, E>,
    ) -> Result<Next<E>, EnvelopeError> {
        // The usual case: the record is whole in the window and well formed.
        // The parser never sees more than the limit, so it cannot accept a record over it.
        let mut first = None;
        if !self.window.has_invalid() {
            let rest = up_to(self.window.rest(), self.max_record_bytes);
            match parse(rest) {
                // A bare scalar cut by the window's end may go on: check it below.
                Ok(len) if len < rest.len() || rest.ends_with(['}', ']', '"']) => {
                    self.window.consume(len);
                    return Ok(Next::Record);
                }
                Ok(_) => {}
                Err(e) => first = Some(e),
            }
        }
        // Cut by the window's end, over the limit, bad, or not UTF-8: find where it ends.
        let seen = self.window.rest().len();
        let mut scan = Lenient::default();
        let len = match self.value_end(&mut scan)? {
            Extent::Ends(len) => len,
            Extent::Over(scanned) => {
                self.window.consume(scanned);
                let len = self.skip_streaming(scan, scanned as u64)?;
                return Ok(Next::TooLarge(len));
            }
        };
        if len > self.max_record_bytes {
            self.window.consume(len);
            return Ok(Next::TooLarge(len as u64));
        }
        if let Some(at) = self.window.invalid_before(len) {
            self.window.consume(len);
            return Ok(Next::BadUtf8(at));
        }
        let next = match first {
            // Whole in the window from the start: the parser's error stands.
            Some(e) if len <= seen => Next::Bad(e),
            _ => match parse(&self.window.rest()[..len]) {
                Ok(_) => Next::Record,
                Err(e) => Next::Bad(e),
            },
        };
        self.window.consume(len);
        Ok(next)
    }

    /// Read on, without consuming, until `scan` finds where the value at the
    /// current position ends, or more than the record limit has been seen.
    fn value_end(&mut self, scan: &mut Lenient) -> Result<Extent, EnvelopeError> {
        let mut scanned = 0;
        loop {
            let rest = self.window.rest().as_bytes();
            if let Some(end) = scan.feed(&rest[scanned..]) {
                return Ok(Extent::Ends(scanned + end));
            }
            scanned = rest.len();
            if scanned > self.max_record_bytes {
                return Ok(Extent::Over(scanned));
            }
            if !self.window.fill()? {
                return Err(EnvelopeError::Truncated);
            }
        }
    }

    /// Consume a value while scanning it, holding nothing; `scan` has seen
    /// `len` bytes of it already. Returns the value's length.
    fn skip_streaming(&mut self, mut scan: Lenient, mut len: u64) -> Result<u64, EnvelopeError> {
        loop {
            let rest = self.window.rest().as_bytes();
            if let Some(end) = scan.feed(rest) {
                self.window.consume(end);
                return Ok(len + end as u64);
            }
            len += rest.len() as u64;
            let n = rest.len();
            self.window.consume(n);
            if !self.window.fill()? {
                if scan.is_complete_scalar() {
                    return Ok(len);
                }
                return Err(EnvelopeError::Truncated);
            }
        }
    }

    fn shape(&self, reason: String) -> EnvelopeError {
        EnvelopeError::Shape {
            offset: self.offset(),
            reason,
        }
    }

    /// Skip whitespace and return the next byte without consuming it.
    fn peek_non_ws(&mut self) -> Result<Option<u8>, EnvelopeError> {
        loop {
            let rest = self.window.rest().as_bytes();
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = rest[i];
                    self.window.consume(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = rest.len();
                    self.window.consume(n);
                    if !self.window.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Read a top-level key.
    fn read_key(&mut self) -> Result<String, EnvelopeError> {
        match self.peek_non_ws()? {
            Some(b'"') => {}
            Some(b) => return Err(self.shape(format!("expected a quoted key, found {}", show(b)))),
            None => return Err(EnvelopeError::Truncated),
        }
        let len = match self.value_end(&mut Lenient::default())? {
            Extent::Ends(len) => len,
            Extent::Over(_) => {
                return Err(self.shape("a top-level key longer than the record limit".into()))
            }
        };
        let quoted = &self.window.rest()[..len];
        let key = serde_json::from_str::<String>(quoted).unwrap_or_else(|_| quoted.to_string());
        self.window.consume(len);
        Ok(key)
    }
}

/// What [`Splitter::value_end`] found.
enum Extent {
    /// The value ends this many bytes from the current position.
    Ends(usize),
    /// No end within this many bytes, more than the record limit.
    Over(usize),
}

/// Finds where a JSON value ends, fed in pieces: tracks strings, escapes and
/// nesting depth only (no validation, no recursion).
#[derive(Debug, Default, Clone, Copy)]
struct Lenient {
    depth: u64,
    in_string: bool,
    escaped: bool,
    started: bool,
    scalar: bool,
}

impl Lenient {
    /// Scan the next piece; the end of the value as an offset in `bytes` once found.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    None => i = bytes.len(),
                    Some(j) => {
                        i += j;
                        if bytes[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                            if self.depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let b = bytes[i];
            if !self.started {
                if b.is_ascii_whitespace() {
                    i += 1;
                    continue;
                }
                self.started = true;
                match b {
                    b'{' | b'[' => self.depth = 1,
                    b'"' => self.in_string = true,
                    // An empty value (e.g. "[1,,2]"): let the parser report it.
                    b',' | b']' | b'}' => return Some(i),
                    _ => self.scalar = true,
                }
                i += 1;
                continue;
            }
            if self.scalar {
                if matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace() {
                    return Some(i);
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    /// A bare scalar ended by the end of the stream.
    fn is_complete_scalar(&self) -> bool {
        self.scalar && self.depth == 0 && !self.in_string
    }
}

/// At most the first `limit` bytes of `text`, cut at a character boundary.
fn up_to(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::value_len;

    fn split(doc: &[u8], chunk: usize, limit: usize) -> Result<Vec<String>, EnvelopeError> {
        let mut s = Splitter::new(doc, vec![0; chunk], limit, String::new());
        let mut out = Vec::new();
        loop {
            let mut seen = String::new();
            let next = s.next_record(|text| {
                let len = value_len(text)?;
                seen = text[..len].to_string();
                Ok::<_, crate::json::JsonError>(len)
            })?;
            match next {
                Next::Record => out.push(seen),
                Next::Bad(e) => out.push(format!("<bad: {e}>")),
                Next::BadUtf8(at) => out.push(format!("<not UTF-8 at {at}>")),
                Next::TooLarge(n) => out.push(format!("<too large: {n}>")),
                Next::End => return Ok(out),
            }
        }
    }

    #[test]
    fn splits_records_across_tiny_reads() {
        let doc = br#" { "x": {"Records": [1]}, "Records" : [ {"a":"}\"]"}, 42 ,"s", [1,[2]], null, true ] , "y":[] } "#;
        for chunk in [4, 5, 7, 64] {
            assert_eq!(
                split(doc, chunk, 1 << 20).unwrap(),
                vec![r#"{"a":"}\"]"}"#, "42", r#""s""#, "[1,[2]]", "null", "true"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn bad_records_are_reported_alone() {
        let doc = "{\"Records\":[{\"a\":1,},{\"b\":\"é\"},{\"c\":\"\u{1}\"},7,]}";
        for chunk in [4, 6, 64] {
            let got = split(doc.as_bytes(), chunk, 1 << 20).unwrap();
            assert_eq!(got.len(), 5, "chunk {chunk}: {got:?}");
            assert!(got[0].starts_with("<bad: expected a quoted key"), "{got:?}");
            assert_eq!(got[1], "{\"b\":\"é\"}");
            assert!(got[2].starts_with("<bad: control character"), "{got:?}");
            assert_eq!(got[3], "7");
            assert!(got[4].starts_with("<bad: expected a value"), "{got:?}");
        }
    }

    #[test]
    fn invalid_utf8_names_the_record() {
        let doc = b"{\"Records\":[{\"a\":\"x\"},{\"b\":\"\xff\"},{\"c\":1}]}";
        for chunk in [4, 64] {
            assert_eq!(
                split(doc, chunk, 1 << 20).unwrap(),
                vec![r#"{"a":"x"}"#, "<not UTF-8 at 6>", r#"{"c":1}"#],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn empty_records_array() {
        assert!(split(br#"{"Records":[]}"#, 8, 100).unwrap().is_empty());
    }

    #[test]
    fn oversized_record_is_skipped_and_the_next_one_is_read() {
        let doc = br#"{"Records":[{"a":"0123456789012345"},{"b":1}]}"#;
        for chunk in [4, 8, 64] {
            assert_eq!(
                split(doc, chunk, 10).unwrap(),
                vec!["<too large: 24>", r#"{"b":1}"#],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn shape_errors() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "Empty"),
            (b"  \n", "Empty"),
            (b"[1,2]", "expected '{'"),
            (br#"{"Records":{}}"#, "not an array"),
            (br#"{"other":[]}"#, "has no"),
            (br#"{"Records":[]} trailing"#, "after the end"),
        ];
        for (doc, want) in cases {
            let e = split(doc, 4, 100).unwrap_err();
            let text = format!("{e:?}");
            assert!(
                text.contains(want),
                "{:?}: {text}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn truncation_is_detected_everywhere() {
        let doc = br#"{"Records":[{"a":"x"},{"b":[1,2]}]}"#;
        for cut in 1..doc.len() {
            for chunk in [4, 5, 64] {
                match split(&doc[..cut], chunk, 100) {
                    Err(EnvelopeError::Truncated) => {}
                    other => panic!("cut at {cut}, chunk {chunk}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut doc = br#"{"Records":["#.to_vec();
        doc.extend(std::iter::repeat_n(b'[', 100_000));
        doc.extend(std::iter::repeat_n(b']', 100_000));
        doc.extend(b"]}");
        assert_eq!(split(&doc, 4096, 1 << 20).unwrap().len(), 1);
    }
}
