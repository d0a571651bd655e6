//! Redaction (`--redact`): blank the values of secret-looking keys in the
//! free-form JSON columns.
//!
//! CloudTrail writes some secrets in clear, for example the temporary
//! credentials in `responseElements.credentials` of STS calls. By default
//! trail keeps them as CloudTrail wrote them (nothing is dropped); with
//! redaction on, the value of every key named like a secret (`sessionToken`,
//! `secretAccessKey`, `password`, ... ignoring case) becomes `***REDACTED***`,
//! wherever it is nested, and the rest of the object is kept in its order.

/// What a redacted value becomes.
pub const REDACTED: &str = "***REDACTED***";

/// Keys whose values are secrets (compared ignoring ASCII case).
pub const SECRET_KEYS: &[&str] = &[
    "sessionToken",
    "secretAccessKey",
    "password",
    "newPassword",
    "oldPassword",
    "currentPassword",
    "clientSecret",
    "privateKey",
    "accessToken",
    "refreshToken",
    "idToken",
    "secretString",
    "secretBinary",
    "samlAssertion",
];

/// The redacted form of a JSON text, or `None` when it holds no secret key
/// (the common case, decided without parsing).
///
/// ```
/// let text = r#"{"credentials":{"accessKeyId":"ASIA1","sessionToken":"IQoJ..."}}"#;
/// assert_eq!(
///     trail_parse::redact::redact_json(text).as_deref(),
///     Some(r#"{"credentials":{"accessKeyId":"ASIA1","sessionToken":"***REDACTED***"}}"#)
/// );
/// assert_eq!(trail_parse::redact::redact_json(r#"{"bucketName":"b"}"#), None);
/// ```
pub fn redact_json(text: &str) -> Option<String> {
    if !SECRET_KEYS.iter().any(|k| contains_ignore_case(text, k)) {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    if !redact_value(&mut value) {
        return None;
    }
    serde_json::to_string(&value).ok()
}

fn redact_value(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            let mut changed = false;
            for (k, v) in map.iter_mut() {
                if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) && !v.is_null() {
                    *v = serde_json::Value::String(REDACTED.to_string());
                    changed = true;
                } else {
                    changed |= redact_value(v);
                }
            }
            changed
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| redact_value(v) | c),
        _ => false,
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_case_insensitive() {
        let text = r#"{"a":[{"SessionToken":"x","keep":1}],"b":{"Password":"p","secretAccessKey":null},"z":0}"#;
        assert_eq!(
            redact_json(text).unwrap(),
            r#"{"a":[{"SessionToken":"***REDACTED***","keep":1}],"b":{"Password":"***REDACTED***","secretAccessKey":null},"z":0}"#
        );
        assert_eq!(
            redact_json(r#"{"note":"the password is in the manual"}"#),
            None,
            "values are not keys"
        );
        assert_eq!(redact_json("not json with password"), None);
    }
}
