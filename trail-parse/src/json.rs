//! Small, allocation-free helpers over borrowed JSON text.
//!
//! Records are parsed one level at a time: an object is walked as
//! `(key, &RawValue)` pairs, and only the values a column needs are decoded.
//! Free-form objects are never re-serialised: their exact text is kept.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

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
pub(crate) fn scalar(raw: &RawValue) -> Scalar<'_> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => Scalar::Str(unquote(text)),
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
        // The text was validated by serde_json when the RawValue was made.
        serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(inner))
    }
}

/// A string column value: strings as they are, numbers and booleans as their
/// JSON text (lossless), `null` as `None`. Objects and arrays do not fit: `Err`.
pub(crate) fn as_text(raw: &RawValue) -> Result<Option<Cow<'_, str>>, ()> {
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
pub(crate) fn as_bool(raw: &RawValue) -> Result<Option<bool>, ()> {
    match scalar(raw) {
        Scalar::Null => Ok(None),
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(()),
    }
}

/// A JSON-text column value: the exact text, or `None` for `null`.
pub(crate) fn as_json(raw: &RawValue) -> Option<&str> {
    match raw.get() {
        "null" => None,
        text => Some(text),
    }
}

/// Call `f(key, value)` for every member of the JSON object `text`, in order.
///
/// Fails when `text` is not an object or is not valid JSON.
pub(crate) fn for_each_member<'a, F>(text: &'a str, f: F) -> Result<(), serde_json::Error>
where
    F: FnMut(Cow<'a, str>, &'a RawValue),
{
    let mut de = serde_json::Deserializer::from_str(text);
    MemberSeed(f).deserialize(&mut de)?;
    de.end()
}

/// The members of an object as a small vector; an empty vector for anything
/// that is not an object (null, a truncated string, an array).
pub(crate) fn members(text: Option<&str>) -> Vec<(Cow<'_, str>, &RawValue)> {
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
pub(crate) fn lookup<'a>(
    members: &[(Cow<'a, str>, &'a RawValue)],
    names: &[&str],
) -> Option<&'a RawValue> {
    names.iter().find_map(|name| {
        members
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    })
}

/// `lookup` then `as_text`, ignoring values that are not scalars.
pub(crate) fn lookup_text<'a>(
    members: &[(Cow<'a, str>, &'a RawValue)],
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

struct MemberSeed<F>(F);

impl<'de, F> DeserializeSeed<'de> for MemberSeed<F>
where
    F: FnMut(Cow<'de, str>, &'de RawValue),
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, F> Visitor<'de> for MemberSeed<F>
where
    F: FnMut(Cow<'de, str>, &'de RawValue),
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            (self.0)(key, value);
        }
        Ok(())
    }
}

/// An object key, borrowed from the input unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn scalars_and_coercions() {
        assert_eq!(
            as_text(&raw(r#""a\"b""#)),
            Ok(Some(Cow::Owned("a\"b".into())))
        );
        assert_eq!(
            as_text(&raw("123456789012")),
            Ok(Some(Cow::Borrowed("123456789012")))
        );
        assert_eq!(as_text(&raw("true")).unwrap().as_deref(), Some("true"));
        assert_eq!(as_text(&raw("null")), Ok(None));
        assert_eq!(as_text(&raw("{}")), Err(()));
        assert_eq!(as_bool(&raw(r#""true""#)), Ok(Some(true)));
        assert_eq!(as_bool(&raw("false")), Ok(Some(false)));
        assert_eq!(as_bool(&raw(r#""maybe""#)), Err(()));
        assert_eq!(as_bool(&raw("1")), Err(()));
        assert_eq!(as_json(&raw(r#"{"a": [1, 2]}"#)), Some(r#"{"a": [1, 2]}"#));
        assert_eq!(as_json(&raw("null")), None);
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
    fn lookup_ignores_case() {
        let r = raw(r#"{"Key":"k","databaseName":"db"}"#);
        let m = members(Some(r.get()));
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
}
