//! A small, allocation-free JSON scanner over borrowed text.
//!
//! Records are parsed one level at a time: an object is walked as
//! `(key, Raw)` pairs, and only the values a column needs are decoded.
//! Free-form objects are never re-serialised: their exact text is kept.
//!
//! Skipping a value validates it as strictly as `serde_json` does (RFC 8259
//! grammar, no control characters in strings, escapes checked), without
//! recursion and without building anything: strings, the bulk of CloudTrail
//! text, are scanned eight bytes at a time. The text must already be valid
//! UTF-8 (it is a `&str`), so only the JSON grammar is checked here.

use std::borrow::Cow;
use std::fmt;

/// The exact text of one valid JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw<'a> {
    text: &'a str,
    /// A string holding escapes (known from the scan, so no second look).
    escaped: bool,
}

impl<'a> Raw<'a> {
    /// The value's text, as written.
    pub(crate) fn get(&self) -> &'a str {
        self.text
    }

    /// Parse `text` as exactly one JSON value (surrounding whitespace allowed).
    #[cfg(test)]
    pub(crate) fn parse(text: &'a str) -> Result<Raw<'a>, JsonError> {
        let mut p = Parser::new(text);
        p.ws();
        let start = p.pos;
        let escaped = p.value()?;
        let end = p.pos;
        p.end()?;
        Ok(Raw {
            text: &text[start..end],
            escaped,
        })
    }
}

/// Why a text is not valid JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// Byte offset in the text being parsed.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

/// A JSON value seen from its first byte, with strings already unescaped.
#[derive(Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A number, as written.
    Number(&'a str),
    Str(Cow<'a, str>),
    /// An object or an array: its exact text.
    Nested(&'a str),
}

/// Look at a raw value and decode it when it is a scalar.
#[inline(always)]
pub(crate) fn scalar(raw: Raw<'_>) -> Scalar<'_> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') if raw.escaped => Scalar::Str(unquote(text)),
        Some(b'"') => Scalar::Str(Cow::Borrowed(&text[1..text.len() - 1])),
        Some(b'n') => Scalar::Null,
        Some(b't') => Scalar::Bool(true),
        Some(b'f') => Scalar::Bool(false),
        Some(b'{') | Some(b'[') => Scalar::Nested(text),
        _ => Scalar::Number(text),
    }
}

/// The value of a JSON string literal (`text` includes its quotes).
fn unquote(text: &str) -> Cow<'_, str> {
    let inner = &text[1..text.len().saturating_sub(1).max(1)];
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        Cow::Borrowed(inner)
    } else {
        // Rare: escapes. The text was validated when the Raw was made.
        serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(inner))
    }
}

/// A string column value: strings as they are, numbers and booleans as their
/// JSON text (lossless), `null` as `None`. Objects and arrays do not fit: `Err`.
#[inline(always)]
pub(crate) fn as_text(raw: Raw<'_>) -> Result<Option<Cow<'_, str>>, ()> {
    match scalar(raw) {
        Scalar::Null => Ok(None),
        Scalar::Str(s) => Ok(Some(s)),
        Scalar::Number(n) => Ok(Some(Cow::Borrowed(n))),
        Scalar::Bool(b) => Ok(Some(Cow::Borrowed(if b { "true" } else { "false" }))),
        Scalar::Nested(_) => Err(()),
    }
}

/// A boolean column value: JSON booleans, and the strings `"true"`/`"false"`
/// that CloudTrail writes for some flags. Anything else does not fit: `Err`.
pub(crate) fn as_bool(raw: Raw<'_>) -> Result<Option<bool>, ()> {
    match scalar(raw) {
        Scalar::Null => Ok(None),
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(()),
    }
}

/// A JSON-text column value: the exact text, or `None` for `null`.
pub(crate) fn as_json(raw: Raw<'_>) -> Option<&str> {
    match raw.get() {
        "null" => None,
        text => Some(text),
    }
}

/// Call `f(key, value)` for every member of the JSON object `text`, in order.
///
/// Fails when `text` is not an object or is not valid JSON.
pub(crate) fn for_each_member<'a, F>(text: &'a str, f: F) -> Result<(), JsonError>
where
    F: FnMut(Cow<'a, str>, Raw<'a>),
{
    let mut p = Parser::new(text);
    p.pos = object_members(text, f)?;
    p.end()
}

/// Like [`for_each_member`] for an object at the start of `text` (leading
/// whitespace allowed), whatever follows it; returns where the object ends.
pub(crate) fn object_members<'a, F>(text: &'a str, mut f: F) -> Result<usize, JsonError>
where
    F: FnMut(Cow<'a, str>, Raw<'a>),
{
    object_members_predicted(text, &[], |key, value| {
        f(key.name(&[]), value.raw()?);
        Ok(())
    })
}

/// A key an object usually holds, as compact JSON writes it (`"name":`),
/// for [`object_members_predicted`]: recognised with two 16-byte compares.
pub(crate) struct ExpectedKey {
    name: &'static str,
    pattern: [u128; 2],
    mask: [u128; 2],
    len: usize,
}

impl ExpectedKey {
    /// `name` must be at most 29 bytes long and need no escaping.
    pub(crate) const fn new(name: &'static str) -> ExpectedKey {
        let key = name.as_bytes();
        let len = key.len() + 3;
        assert!(len <= 32, "an expected key is at most 29 bytes long");
        let mut bytes = [0u8; 32];
        let mut ones = [0u8; 32];
        bytes[0] = b'"';
        let mut i = 0;
        while i < key.len() {
            bytes[i + 1] = key[i];
            i += 1;
        }
        bytes[len - 2] = b'"';
        bytes[len - 1] = b':';
        let mut j = 0;
        while j < len {
            ones[j] = 0xff;
            j += 1;
        }
        ExpectedKey {
            name,
            pattern: [le_u128(&bytes, 0), le_u128(&bytes, 16)],
            mask: [le_u128(&ones, 0), le_u128(&ones, 16)],
            len,
        }
    }

    /// The key, unquoted.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Whether `text` starts with `"name":`.
    #[inline(always)]
    fn starts(&self, text: &[u8]) -> bool {
        match text.get(..32) {
            Some(head) => {
                let mut lo = [0u8; 16];
                let mut hi = [0u8; 16];
                lo.copy_from_slice(&head[..16]);
                hi.copy_from_slice(&head[16..]);
                let lo = (u128::from_le_bytes(lo) ^ self.pattern[0]) & self.mask[0];
                let hi = (u128::from_le_bytes(hi) ^ self.pattern[1]) & self.mask[1];
                lo | hi == 0
            }
            None => {
                let key = self.name.as_bytes();
                text.len() >= self.len
                    && text[0] == b'"'
                    && &text[1..self.len - 2] == key
                    && text[self.len - 2..self.len] == *b"\":"
            }
        }
    }
}

const fn le_u128(bytes: &[u8; 32], at: usize) -> u128 {
    let mut v = 0u128;
    let mut i = 0;
    while i < 16 {
        v |= (bytes[at + i] as u128) << (8 * i);
        i += 1;
    }
    v
}

/// A member's key as [`object_members_predicted`] found it.
pub(crate) enum Key<'a> {
    /// `expected[i]`.
    Expected(usize),
    /// Any other key, unescaped.
    Other(Cow<'a, str>),
}

impl<'a> Key<'a> {
    /// The key's name, unescaped; `expected` is the list it was found with.
    pub(crate) fn name(self, expected: &[ExpectedKey]) -> Cow<'a, str> {
        match self {
            Key::Expected(i) => Cow::Borrowed(expected[i].name),
            Key::Other(key) => key,
        }
    }
}

/// Call `f(key, member)` for every member of the object at the start of
/// `text` (leading whitespace allowed), whatever follows it; returns where
/// the object ends. Each value is handed over unscanned: the callback skips
/// it ([`Member::raw`]) or walks an object in place ([`Member::walk`]), so
/// nested objects are scanned once, not once per level. A value the
/// callback leaves alone is skipped. Errors from the callback (the JSON
/// errors of a walk) end the walk.
///
/// Keys are predicted for objects whose keys usually come in one order
/// (CloudTrail records): the next key is first compared with the one
/// `expected` after the previous key, which skips scanning it and looking it
/// up. A key seen elsewhere in `expected` (a different order, escapes,
/// whitespace) is still reported as [`Key::Expected`]; with no expected
/// keys every key is [`Key::Other`].
pub(crate) fn object_members_predicted<'a, F>(
    text: &'a str,
    expected: &[ExpectedKey],
    f: F,
) -> Result<usize, JsonError>
where
    F: FnMut(Key<'a>, Member<'_, 'a>) -> Result<(), JsonError>,
{
    let mut p = Parser::new(text);
    p.ws();
    p.members_predicted(expected, f)?;
    Ok(p.pos)
}

/// A member's value, not scanned yet (see [`object_members_predicted`]).
pub(crate) struct Member<'p, 'a> {
    p: &'p mut Parser<'a>,
}

impl<'a> Member<'_, 'a> {
    /// Skip the value, validating it; its exact text.
    #[inline(always)]
    pub(crate) fn raw(self) -> Result<Raw<'a>, JsonError> {
        let start = self.p.pos;
        let escaped = self.p.member_value()?;
        Ok(Raw {
            text: &self.p.text[start..self.p.pos],
            escaped,
        })
    }

    /// Whether the value is an object (what [`Member::walk`] takes).
    pub(crate) fn is_object(&self) -> bool {
        self.p.bytes.get(self.p.pos) == Some(&b'{')
    }

    /// Whether the value is an array (what [`Member::elements`] takes).
    pub(crate) fn is_array(&self) -> bool {
        self.p.bytes.get(self.p.pos) == Some(&b'[')
    }

    /// Walk an array value element by element in place; its exact text.
    /// An element the callback leaves alone is skipped.
    pub(crate) fn elements<F>(self, f: F) -> Result<Raw<'a>, JsonError>
    where
        F: FnMut(Member<'_, 'a>) -> Result<(), JsonError>,
    {
        let start = self.p.pos;
        self.p.elements(f)?;
        Ok(Raw {
            text: &self.p.text[start..self.p.pos],
            escaped: false,
        })
    }

    /// Walk an object value member by member in place, its keys predicted
    /// from `expected` (see [`object_members_predicted`]); its exact text.
    pub(crate) fn walk<F>(self, expected: &[ExpectedKey], f: F) -> Result<Raw<'a>, JsonError>
    where
        F: FnMut(Key<'a>, Member<'_, 'a>) -> Result<(), JsonError>,
    {
        let start = self.p.pos;
        self.p.members_predicted(expected, f)?;
        Ok(Raw {
            text: &self.p.text[start..self.p.pos],
            escaped: false,
        })
    }
}

/// The length of the JSON value at the start of `text` (leading whitespace
/// allowed), whatever follows it.
#[cfg(test)]
pub(crate) fn value_len(text: &str) -> Result<usize, JsonError> {
    let mut p = Parser::new(text);
    p.value()?;
    Ok(p.pos)
}

/// Call `f(value)` for every element of the JSON array `text`, in order.
///
/// Fails when `text` is not an array or is not valid JSON.
pub(crate) fn for_each_element<'a, F>(text: &'a str, mut f: F) -> Result<(), JsonError>
where
    F: FnMut(Raw<'a>),
{
    let mut p = Parser::new(text);
    p.ws();
    p.elements(|value| {
        f(value.raw()?);
        Ok(())
    })?;
    p.end()
}

/// The members of an object as a small vector; an empty vector for anything
/// that is not an object (null, a truncated string, an array).
pub(crate) fn members(text: Option<&str>) -> Vec<(Cow<'_, str>, Raw<'_>)> {
    let mut out = Vec::new();
    if let Some(text) = text {
        if text.starts_with('{') {
            let _ = for_each_member(text, |k, v| out.push((k, v)));
        }
    }
    out
}

/// The first member whose key equals one of `names`, ignoring ASCII case
/// (services disagree on `key`/`Key`).
pub(crate) fn lookup<'a>(members: &[(Cow<'a, str>, Raw<'a>)], names: &[&str]) -> Option<Raw<'a>> {
    names.iter().find_map(|name| {
        members
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    })
}

/// `lookup` then `as_text`, ignoring values that are not scalars.
pub(crate) fn lookup_text<'a>(
    members: &[(Cow<'a, str>, Raw<'a>)],
    names: &[&str],
) -> Option<Cow<'a, str>> {
    lookup(members, names).and_then(|v| as_text(v).ok().flatten())
}

/// Append `"key":value` to a JSON object being built in `out` (which starts with `{`).
pub(crate) fn push_member(out: &mut String, key: &str, value: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    // Keys come from valid JSON; re-escaping them keeps the output valid whatever they hold.
    match serde_json::to_string(key) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
    out.push(':');
    out.push_str(value);
}

/// A cursor over JSON text.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

/// Open containers while skipping a value: one bit per level (1 = object),
/// the first 64 levels in a word, deeper ones in a vector (never allocated
/// for real CloudTrail records).
struct Nesting {
    depth: usize,
    low: u64,
    deep: Vec<bool>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth < 64 {
            self.low = (self.low & !(1 << self.depth)) | (u64::from(object) << self.depth);
        } else {
            self.deep.push(object);
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.depth -= 1;
        if self.depth >= 64 {
            self.deep.pop();
        }
    }

    /// Whether the innermost open container is an object.
    fn in_object(&self) -> bool {
        let top = self.depth - 1;
        if top < 64 {
            self.low >> top & 1 == 1
        } else {
            self.deep.last().copied().unwrap_or(false)
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest byte of `w` that is `"`, `\`
/// or a control character (bytes above the first one may be flagged too).
#[inline]
fn string_stops(w: u64) -> u64 {
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let s = w ^ (ONES * u64::from(b'\\'));
    let slash = s.wrapping_sub(ONES) & !s;
    (control | quote | slash) & HIGHS
}

/// The index of the first `"`, `\\` or control character at or after `i`,
/// or `bytes.len()` when there is none. ([`string_stops`] may flag bytes
/// after a real stop, never before one, so its lowest flag is exact.)
#[inline]
fn next_stop(bytes: &[u8], mut i: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = bytes
        .get(i..i + 16)
        .and_then(|c| <&[u8; 16]>::try_from(c).ok())
    {
        // SAFETY: `string_stops_sse2` only needs SSE2, which this build
        // enables (the cfg above: SSE2 is part of the x86_64 baseline), so
        // the CPU running it has the instructions. It reads nothing but `chunk`.
        #[allow(unsafe_code)]
        let stops = unsafe { string_stops_sse2(chunk) };
        if stops != 0 {
            return i + stops.trailing_zeros() as usize;
        }
        i += 16;
    }
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let stops = string_stops(u64::from_le_bytes(word));
        if stops != 0 {
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    bytes
        .get(i..)
        .and_then(|rest| {
            rest.iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        })
        .map_or(bytes.len().max(i), |at| i + at)
}

/// One bit per byte of `chunk` that is `"`, `\\` or a control character:
/// sixteen bytes in a few SSE2 instructions (strings are most of the text).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
#[target_feature(enable = "sse2")]
fn string_stops_sse2(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&chunk[..8]);
    hi.copy_from_slice(&chunk[8..]);
    // One unaligned 16-byte load once optimised.
    let v = _mm_set_epi64x(i64::from_le_bytes(hi), i64::from_le_bytes(lo));
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
    let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, slash), control)) as u32
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            reason,
        }
    }

    #[inline]
    fn peek(&self) -> Result<u8, JsonError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err("unexpected end of the text"))
    }

    /// Skip whitespace. CloudTrail writes compact JSON, so the common case
    /// (the next byte is not whitespace) is one comparison, inlined.
    #[inline(always)]
    fn ws(&mut self) {
        if self.bytes.get(self.pos).is_some_and(|&b| b > b' ') {
            return;
        }
        self.ws_rest();
    }

    #[inline(never)]
    fn ws_rest(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), JsonError> {
        if self.peek()? != byte {
            return Err(self.err(reason));
        }
        self.pos += 1;
        Ok(())
    }

    /// Only whitespace may follow.
    fn end(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.pos != self.bytes.len() {
            return Err(self.err("trailing characters after the value"));
        }
        Ok(())
    }

    /// A member's key and its colon; the key borrowed unless it holds escapes.
    #[inline(always)]
    fn key(&mut self) -> Result<Cow<'a, str>, JsonError> {
        if self.peek()? != b'"' {
            return Err(self.err("expected a quoted key"));
        }
        let start = self.pos;
        let escaped = self.string()?;
        let quoted = &self.text[start..self.pos];
        let key = if escaped {
            unquote(quoted)
        } else {
            Cow::Borrowed(&quoted[1..quoted.len() - 1])
        };
        self.ws();
        self.expect(b':', "expected ':' after a key")?;
        Ok(key)
    }

    /// Skip a member's key and its colon.
    #[inline]
    fn skip_key(&mut self) -> Result<(), JsonError> {
        if self.peek()? != b'"' {
            return Err(self.err("expected a quoted key"));
        }
        self.string()?;
        self.ws();
        self.expect(b':', "expected ':' after a key")
    }

    /// Skip a string starting at its opening quote; `true` when it holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<bool, JsonError> {
        // Most strings end at their first stop: no call, no register spills.
        let i = next_stop(self.bytes, self.pos + 1);
        if self.bytes.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(false);
        }
        self.string_rest(i)
    }

    /// The rest of a string from its first stop that is not the closing quote
    /// (an escape, a control character or the end of the text).
    #[inline(never)]
    fn string_rest(&mut self, mut i: usize) -> Result<bool, JsonError> {
        let bytes = self.bytes;
        let mut escaped = false;
        loop {
            let Some(&b) = bytes.get(i) else {
                self.pos = i;
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match bytes.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = bytes.get(i + 2..i + 6).unwrap_or_default();
                            if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                                self.pos = i;
                                return Err(self.err("invalid \\u escape in a string"));
                            }
                            i += 6;
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.err("invalid escape in a string"));
                        }
                    }
                }
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.err("control character in a string"));
                }
                _ => i += 1,
            }
            i = next_stop(bytes, i);
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        if self.bytes.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(self.err("invalid literal"));
        }
        self.pos += word.len();
        Ok(())
    }

    /// Walk the object at the cursor, handing each member to `f`, keys
    /// predicted (see [`object_members_predicted`]). The key reading is
    /// written into the loop: reading keys through a closure measured +3.5%
    /// instructions for a whole run.
    fn members_predicted<F>(&mut self, expected: &[ExpectedKey], mut f: F) -> Result<(), JsonError>
    where
        F: FnMut(Key<'a>, Member<'_, 'a>) -> Result<(), JsonError>,
    {
        self.expect(b'{', "expected an object")?;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        let mut guess = 0;
        loop {
            // The expected key, or one of the two after it (optional keys absent).
            let ahead = (guess..guess + 3).find(|&i| {
                expected
                    .get(i)
                    .is_some_and(|e| e.starts(&self.bytes[self.pos..]))
            });
            let key = match ahead {
                Some(i) => {
                    self.pos += expected[i].len;
                    guess = i + 1;
                    Key::Expected(i)
                }
                None => {
                    let key = self.key()?;
                    match expected.iter().position(|e| e.name == key) {
                        Some(i) => {
                            guess = i + 1;
                            Key::Expected(i)
                        }
                        None => Key::Other(key),
                    }
                }
            };
            self.ws();
            let start = self.pos;
            f(key, Member { p: self })?;
            if self.pos == start {
                // Left alone: skip it (every value is at least one byte).
                self.member_value()?;
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.ws();
                }
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' after an object member")),
            }
        }
    }

    /// Walk the array at the cursor, handing each element to `f`.
    fn elements<F>(&mut self, mut f: F) -> Result<(), JsonError>
    where
        F: FnMut(Member<'_, 'a>) -> Result<(), JsonError>,
    {
        self.expect(b'[', "expected an array")?;
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let start = self.pos;
            f(Member { p: self })?;
            if self.pos == start {
                // Left alone: skip it (every value is at least one byte).
                self.member_value()?;
            }
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' after an array element")),
            }
        }
    }

    /// [`Parser::value`] with its most common case, a string, inlined.
    #[inline(always)]
    fn member_value(&mut self) -> Result<bool, JsonError> {
        if self.bytes.get(self.pos) == Some(&b'"') {
            self.string()
        } else {
            self.value()
        }
    }

    /// Skip one value (objects and arrays whole), validating it; `true`
    /// when the value is a string holding escapes.
    fn value(&mut self) -> Result<bool, JsonError> {
        let mut open = Nesting {
            depth: 0,
            low: 0,
            deep: Vec::new(),
        };
        'value: loop {
            self.ws();
            match self.peek()? {
                b'{' => {
                    self.pos += 1;
                    self.ws();
                    if self.peek()? == b'}' {
                        self.pos += 1;
                    } else {
                        open.push(true);
                        self.skip_key()?;
                        continue 'value;
                    }
                }
                b'[' => {
                    self.pos += 1;
                    self.ws();
                    if self.peek()? == b']' {
                        self.pos += 1;
                    } else {
                        open.push(false);
                        continue 'value;
                    }
                }
                b'"' => {
                    let escaped = self.string()?;
                    if open.depth == 0 {
                        return Ok(escaped);
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(self.err("expected a value")),
            }
            // After a value: close containers until one continues.
            loop {
                if open.depth == 0 {
                    return Ok(false);
                }
                self.ws();
                let object = open.in_object();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if object {
                            self.ws();
                            self.skip_key()?;
                        }
                        continue 'value;
                    }
                    b'}' if object => {
                        self.pos += 1;
                        open.pop();
                    }
                    b']' if !object => {
                        self.pos += 1;
                        open.pop();
                    }
                    _ => {
                        return Err(self.err(if object {
                            "expected ',' or '}' in an object"
                        } else {
                            "expected ',' or ']' in an array"
                        }))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Raw<'_> {
        Raw::parse(s).unwrap()
    }

    #[test]
    fn scalars_and_coercions() {
        assert_eq!(
            as_text(raw(r#""a\"b""#)),
            Ok(Some(Cow::Owned("a\"b".into())))
        );
        assert_eq!(
            as_text(raw("123456789012")),
            Ok(Some(Cow::Borrowed("123456789012")))
        );
        assert_eq!(as_text(raw("true")).unwrap().as_deref(), Some("true"));
        assert_eq!(as_text(raw("null")), Ok(None));
        assert_eq!(as_text(raw("{}")), Err(()));
        assert_eq!(as_bool(raw(r#""true""#)), Ok(Some(true)));
        assert_eq!(as_bool(raw("false")), Ok(Some(false)));
        assert_eq!(as_bool(raw(r#""maybe""#)), Err(()));
        assert_eq!(as_bool(raw("1")), Err(()));
        assert_eq!(as_json(raw(r#"{"a": [1, 2]}"#)), Some(r#"{"a": [1, 2]}"#));
        assert_eq!(as_json(raw("null")), None);
    }

    /// Predicted keys: the same members as the plain walk whatever the
    /// order, spacing or escapes, with expected keys named by their index.
    #[test]
    fn predicted_keys_agree_with_the_plain_walk() {
        static EXPECTED: [ExpectedKey; 4] = [
            ExpectedKey::new("a"),
            ExpectedKey::new("optional"),
            ExpectedKey::new("sessionCredentialFromConsole"),
            ExpectedKey::new("d"),
        ];
        let texts = [
            r#"{"a":1,"optional":2,"sessionCredentialFromConsole":3,"d":4}"#,
            r#"{"a":1,"d":4}"#,
            r#"{"d":4,"a":[1,{"a":2}],"x":"y","sessionCredentialFromConsole":"true"}"#,
            r#"{ "a" : 1 , "\u0064":4,"ab":5,"":6,"d":{}}"#,
            r#"{"sessionCredentialFromConsole":"0123456789abcdef"}"#,
            r#"{"a":1,"#,
            r#"{"a" 1}"#,
            r#"{}"#,
        ];
        for text in texts {
            let mut plain = Vec::new();
            let theirs = object_members(text, |k, v| plain.push((k.into_owned(), v.get())));
            let mut predicted = Vec::new();
            let ours = object_members_predicted(text, &EXPECTED, |k, v| {
                let name = match k {
                    Key::Expected(i) => EXPECTED[i].name().to_string(),
                    Key::Other(k) => {
                        assert!(EXPECTED.iter().all(|e| e.name() != k), "{k} is expected");
                        k.into_owned()
                    }
                };
                predicted.push((name, v.raw()?.get()));
                Ok(())
            });
            assert_eq!(ours, theirs, "{text}");
            assert_eq!(predicted, plain, "{text}");
        }
    }

    #[test]
    fn members_keep_order_and_exact_text() {
        let text = r#"{"b": {"x": 1.50}, "a\u0041": "v", "b": 2}"#;
        let mut seen = Vec::new();
        for_each_member(text, |k, v| {
            seen.push((k.into_owned(), v.get().to_string()))
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("b".into(), r#"{"x": 1.50}"#.into()),
                ("aA".into(), r#""v""#.into()),
                ("b".into(), "2".into())
            ]
        );
        assert!(for_each_member("42", |_, _| {}).is_err());
        assert!(for_each_member("{} x", |_, _| {}).is_err());
    }

    #[test]
    fn elements_in_order() {
        let mut seen = Vec::new();
        for_each_element(r#" [1, "two" ,{"three":[3]}, [] ] "#, |v| {
            seen.push(v.get().to_string())
        })
        .unwrap();
        assert_eq!(seen, vec!["1", r#""two""#, r#"{"three":[3]}"#, "[]"]);
        assert!(for_each_element("[1,]", |_| {}).is_err());
        assert!(for_each_element("{}", |_| {}).is_err());
    }

    #[test]
    fn lookup_ignores_case() {
        let text = r#"{"Key":"k","databaseName":"db"}"#;
        let m = members(Some(text));
        assert_eq!(lookup_text(&m, &["key"]).as_deref(), Some("k"));
        assert_eq!(lookup_text(&m, &["DatabaseName"]).as_deref(), Some("db"));
        assert!(members(Some(r#""truncated""#)).is_empty());
    }

    #[test]
    fn push_member_builds_valid_json() {
        let mut out = String::from("{");
        push_member(&mut out, "a\"b", "1");
        push_member(&mut out, "c", "{}");
        out.push('}');
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["a\"b"], 1);
    }

    /// The scanner accepts and rejects exactly what serde_json does.
    #[test]
    fn agrees_with_serde_json() {
        let cases = [
            "0",
            "-0",
            "01",
            "-",
            "1.",
            "1.5e",
            "1.5e+3",
            "1E-2",
            "-1.25",
            ".5",
            "+1",
            "\"plain\"",
            "\"a\\u00e9\\n\\\"\"",
            "\"bad \\x escape\"",
            "\"short \\u12\"",
            "\"tab\tinside\"",
            "\"unterminated",
            "\"0123456789abcdef0123456789\\\\\"",
            "\"ünïcødé and more than eight bytes\"",
            "true",
            "tru",
            "nul",
            "null ",
            "falsey",
            "[]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[[[]]]",
            "[[[]]",
            "{}",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "{a:1}",
            "{\"a\":[1,{\"b\":null}],\"c\":{\"d\":[]}}",
            " { \"x\" : [ true , false ] } ",
            "{\"a\":1}}",
            "[1]]",
            "{\"a\":[}",
            "[{]",
            "",
            "   ",
            "{\"a\":\"\\ud800\"}",
        ];
        for case in cases {
            let ours = Raw::parse(case).is_ok();
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(case).is_ok();
            // serde_json rejects lone surrogates only when it decodes a string into a
            // String; skipping (what RawValue does) accepts them, as we do.
            assert_eq!(ours, theirs, "{case:?}");
        }
    }

    #[test]
    fn errors_say_where() {
        let e = Raw::parse(r#"{"a": [1, 2,, 3]}"#).unwrap_err();
        assert_eq!(e.offset, 12);
        assert_eq!(e.to_string(), "expected a value at byte 12");
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 100_000;
        let text = "[".repeat(depth) + &"]".repeat(depth);
        assert!(Raw::parse(&text).is_ok());
        let mut mixed = String::new();
        for i in 0..200 {
            mixed.push_str(if i % 2 == 0 { "{\"k\":" } else { "[" });
        }
        mixed.push('1');
        for i in (0..200).rev() {
            mixed.push(if i % 2 == 0 { '}' } else { ']' });
        }
        assert!(Raw::parse(&mixed).is_ok());
        mixed.pop();
        mixed.push(']');
        assert!(
            Raw::parse(&mixed).is_err(),
            "a mismatched bracket past level 64"
        );
    }

    #[test]
    fn next_stop_finds_the_first_quote_backslash_or_control() {
        let naive = |bytes: &[u8], i: usize| {
            i + bytes[i..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(bytes.len() - i)
        };
        let alphabet = [b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, b'~'];
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..80 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        // Mostly plain bytes, so stops land anywhere in a chunk.
                        if rng % 8 == 0 {
                            alphabet[(rng >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + (rng >> 8) as u8 % 26
                        }
                    })
                    .collect();
                for start in 0..=len.min(20) {
                    assert_eq!(
                        next_stop(&bytes, start),
                        naive(&bytes, start),
                        "{bytes:?} from {start}"
                    );
                }
            }
        }
    }
}
