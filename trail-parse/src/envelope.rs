//! Split a `{"Records":[ ... ]}` document into its records without holding
//! the document: one record's bytes at a time, from any `BufRead`.
//!
//! The splitter only tracks strings, escapes and nesting depth; each record's
//! bytes are then parsed by serde_json, so a bad record is reported on its own
//! and the splitter carries on with the next one.

use std::io::{self, BufRead};

/// What [`Splitter::next_record`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A record's bytes are in the buffer.
    Record,
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
    reader: R,
    state: State,
    offset: u64,
    max_record_bytes: usize,
    saw_records: bool,
}

impl<R: BufRead> Splitter<R> {
    pub(crate) fn new(reader: R, max_record_bytes: usize) -> Self {
        Splitter {
            reader,
            state: State::Start,
            offset: 0,
            max_record_bytes,
            saw_records: false,
        }
    }

    /// Bytes of the (decompressed) document consumed so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Put the next record's bytes in `buf` (cleared first).
    pub(crate) fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<Next, EnvelopeError> {
        buf.clear();
        loop {
            match self.state {
                State::Start => {
                    match self.peek_non_ws()? {
                        None => return Err(EnvelopeError::Empty),
                        Some(b'{') => self.consume(1),
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
                        self.consume(1);
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
                        self.consume(1);
                    }
                    let key = self.read_key()?;
                    match self.peek_non_ws()?.ok_or(EnvelopeError::Truncated)? {
                        b':' => self.consume(1),
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
                        self.consume(1);
                        self.saw_records = true;
                        self.state = State::Records { first: true };
                    } else {
                        // Another top-level member: skip its value, keep nothing.
                        self.scan_value(None)?;
                        self.state = State::Members { first: false };
                    }
                }
                State::Records { first } => {
                    let b = self.peek_non_ws()?.ok_or(EnvelopeError::Truncated)?;
                    if b == b']' {
                        self.consume(1);
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
                        self.consume(1);
                        if self.peek_non_ws()?.is_none() {
                            return Err(EnvelopeError::Truncated);
                        }
                    }
                    self.state = State::Records { first: false };
                    let len = self.scan_value(Some(buf))?;
                    if len > self.max_record_bytes as u64 {
                        buf.clear();
                        return Ok(Next::TooLarge(len));
                    }
                    return Ok(Next::Record);
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
                            offset: self.offset,
                            reason: "the document has no \"Records\" array".into(),
                        });
                    }
                    return Ok(Next::End);
                }
            }
        }
    }

    fn shape(&self, reason: String) -> EnvelopeError {
        EnvelopeError::Shape {
            offset: self.offset,
            reason,
        }
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.offset += n as u64;
    }

    /// Skip whitespace and return the next byte without consuming it.
    fn peek_non_ws(&mut self) -> Result<Option<u8>, EnvelopeError> {
        loop {
            let chunk = fill(&mut self.reader)?;
            if chunk.is_empty() {
                return Ok(None);
            }
            match chunk.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = chunk[i];
                    self.consume(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = chunk.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Read a top-level key (small; longer keys are cut, which only matters for names we ignore).
    fn read_key(&mut self) -> Result<String, EnvelopeError> {
        match self.peek_non_ws()? {
            Some(b'"') => {}
            Some(b) => return Err(self.shape(format!("expected a quoted key, found {}", show(b)))),
            None => return Err(EnvelopeError::Truncated),
        }
        let mut key = Vec::new();
        self.scan_value(Some(&mut key))?;
        Ok(serde_json::from_slice::<String>(&key)
            .unwrap_or_else(|_| String::from_utf8_lossy(&key).into_owned()))
    }

    /// Consume one JSON value, copying its bytes to `out` up to the record
    /// limit (beyond it, bytes are counted but not kept). Returns its length.
    fn scan_value(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<u64, EnvelopeError> {
        let limit = self.max_record_bytes;
        let mut len: u64 = 0;
        let mut depth: usize = 0;
        let mut in_string = false;
        let mut escaped = false;
        let mut started = false;
        let mut scalar = false;
        loop {
            let chunk = fill(&mut self.reader)?;
            if chunk.is_empty() {
                if scalar && depth == 0 && !in_string {
                    return Ok(len); // a bare scalar at end of stream; the caller reports truncation
                }
                return Err(EnvelopeError::Truncated);
            }
            let mut i = 0;
            let mut end = None;
            while i < chunk.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        i += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(j) => {
                            i += j;
                            if chunk[i] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                if depth == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                let b = chunk[i];
                if !started {
                    started = true;
                    match b {
                        b'{' | b'[' => depth = 1,
                        b'"' => in_string = true,
                        _ => scalar = true,
                    }
                    i += 1;
                    if scalar && matches!(b, b',' | b']' | b'}') {
                        // An empty value (e.g. "[1,]"): let the JSON parser report it.
                        end = Some(i);
                        break;
                    }
                    continue;
                }
                if scalar {
                    if matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace() {
                        end = Some(i);
                        break;
                    }
                    i += 1;
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            let take = end.unwrap_or(chunk.len());
            if let Some(out) = out.as_deref_mut() {
                let room = (limit as u64).saturating_sub(len);
                if room > 0 {
                    let keep = take.min(room as usize + 1);
                    out.extend_from_slice(&chunk[..keep]);
                }
            }
            len += take as u64;
            self.consume(take);
            if end.is_some() {
                return Ok(len);
            }
        }
    }
}

fn fill<R: BufRead>(reader: &mut R) -> io::Result<&[u8]> {
    while let Err(e) = reader.fill_buf() {
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    reader.fill_buf()
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
    use std::io::BufReader;

    fn split(doc: &[u8], cap: usize, limit: usize) -> Result<Vec<String>, EnvelopeError> {
        let mut s = Splitter::new(BufReader::with_capacity(cap, doc), limit);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            match s.next_record(&mut buf)? {
                Next::Record => out.push(String::from_utf8(buf.clone()).unwrap()),
                Next::TooLarge(n) => out.push(format!("<too large: {n}>")),
                Next::End => return Ok(out),
            }
        }
    }

    #[test]
    fn splits_records_across_tiny_buffers() {
        let doc = br#" { "x": {"Records": [1]}, "Records" : [ {"a":"}\"]"}, 42 ,"s", [1,[2]], null, true ] , "y":[] } "#;
        for cap in [1, 2, 3, 7, 64] {
            assert_eq!(
                split(doc, cap, 1 << 20).unwrap(),
                vec![r#"{"a":"}\"]"}"#, "42", r#""s""#, "[1,[2]]", "null", "true"],
                "buffer {cap}"
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
        assert_eq!(
            split(doc, 4, 10).unwrap(),
            vec!["<too large: 24>", r#"{"b":1}"#]
        );
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
            let e = split(doc, 3, 100).unwrap_err();
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
            match split(&doc[..cut], 5, 100) {
                Err(EnvelopeError::Truncated) => {}
                other => panic!("cut at {cut}: {other:?}"),
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
