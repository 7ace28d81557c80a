//! Strips secrets from text and JSON before they reach the ledger.
//!
//! The ledger is a log that outlives the request, so redaction errs towards hiding too
//! much: a false positive costs a `[REDACTED]` in a log line, a false negative leaks a key.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Patterns for secrets that can be recognised by their shape alone, applied in order.
/// Each replacement keeps any prefix that says what kind of secret was there.
static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // A truncated capture may lack the END line: hide everything after BEGIN then.
        (
            r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
            "[REDACTED PRIVATE KEY]",
        ),
        (r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*", "$1 [REDACTED]"),
        (r"\bsk-ant-[A-Za-z0-9_\-]{8,}", "sk-ant-[REDACTED]"),
        (r"\bsk-[A-Za-z0-9_\-]{16,}", "sk-[REDACTED]"),
        (r"\bAIza[0-9A-Za-z_\-]{30,}", "AIza[REDACTED]"),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| match Regex::new(pattern) {
        Ok(re) => Some((re, replacement)),
        // Unreachable with the literals above; covered by the tests.
        Err(err) => {
            tracing::error!(%err, "redaction pattern does not compile");
            None
        }
    })
    .collect()
});

/// `password=x`, `GITHUB_TOKEN: x`, `"api_key": "x"` in free text or JSON that did not parse.
/// `token\b` keeps counters such as `max_tokens=100` readable.
static KEY_VALUE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let pattern = r#"(?i)\b([A-Za-z0-9_\-]*(?:api[_\-]?key|secret|passw(?:or)?d|token|authorization|cookie))\b(["']?\s*[=:]\s*)("[^"]*"|'[^']*'|(?:basic|bearer|token|digest)\s+[^\s"',;&]+|[^\s"',;&]+)"#;
    Regex::new(pattern)
        .inspect_err(|err| tracing::error!(%err, "redaction pattern does not compile"))
        .ok()
});

/// Replaces every secret-shaped substring of `text`.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (re, replacement) in SHAPES.iter() {
        if let Cow::Owned(replaced) = re.replace_all(&out, *replacement) {
            out = Cow::Owned(replaced);
        }
    }
    if let Some(re) = KEY_VALUE.as_ref() {
        if let Cow::Owned(replaced) = re.replace_all(&out, |caps: &Captures<'_>| {
            // A quoted value stays quoted so JSON-looking text keeps its shape.
            let quote = match caps[3].chars().next() {
                Some(q @ ('"' | '\'')) => q.to_string(),
                _ => String::new(),
            };
            format!("{}{}{quote}{REDACTED}{quote}", &caps[1], &caps[2])
        }) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

/// Returns a copy of `value` with secret-named keys blanked and every string redacted.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact_text(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let v = if is_secret_key(key) && !v.is_null() {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_json(v)
                    };
                    (key.clone(), v)
                })
                .collect(),
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}

/// Redacts text that is probably JSON: structurally if it parses, as plain text otherwise.
pub fn redact_json_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => redact_json(&value).to_string(),
        Err(_) => redact_text(text).into_owned(),
    }
}

/// Whether a JSON key names a credential (`api_key`, `accessToken`, `Set-Cookie`, ...).
pub fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 8] = [
        "apikey",
        "api_key",
        "api-key",
        "secret",
        "password",
        "passwd",
        "authorization",
        "cookie",
    ];
    let key = key.to_ascii_lowercase();
    if WORDS.iter().any(|word| key.contains(word)) {
        return true;
    }
    // "token" names a secret (access_token, x-auth-token); "tokens" counts them (max_tokens).
    key.match_indices("token").any(|(at, word)| {
        let rest = &key[at + word.len()..];
        !["s", "_count", "count", "izer"]
            .iter()
            .any(|suffix| rest.starts_with(suffix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_patterns_compile() {
        assert_eq!(SHAPES.len(), 5);
        assert!(KEY_VALUE.is_some());
    }

    #[test]
    fn bearer_tokens_are_hidden() {
        assert_eq!(
            redact_text("curl -H 'Authorization: Bearer abc.def-123' x"),
            "curl -H 'Authorization: [REDACTED]' x"
        );
        assert_eq!(redact_text("bearer xyz=="), "bearer [REDACTED]");
    }

    #[test]
    fn provider_key_shapes_are_hidden() {
        assert_eq!(
            redact_text("key sk-proj-abcdefghijklmnop1234 end"),
            "key sk-[REDACTED] end"
        );
        assert_eq!(
            redact_text("use sk-ant-api03-AAAAbbbbCCCC please"),
            "use sk-ant-[REDACTED] please"
        );
        assert_eq!(
            redact_text("g=AIzaSyA1234567890abcdefghijklmnopqrstu."),
            "g=AIza[REDACTED]."
        );
    }

    #[test]
    fn short_or_embedded_lookalikes_are_kept() {
        for text in [
            "pip install sk-learn",
            "task-abcdefghijklmnopqrstuvwxyz",
            "AIzab",
        ] {
            assert_eq!(redact_text(text), text, "{text}");
        }
        assert!(matches!(redact_text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn private_key_blocks_are_hidden_even_when_truncated() {
        let text =
            "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----\nb";
        assert_eq!(redact_text(text), "a\n[REDACTED PRIVATE KEY]\nb");
        let cut = "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz";
        assert_eq!(redact_text(cut), "x [REDACTED PRIVATE KEY]");
        let public = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----";
        assert_eq!(redact_text(public), public);
    }

    #[test]
    fn key_value_pairs_in_text_are_hidden() {
        assert_eq!(
            redact_text("GITHUB_TOKEN=ghp_123 make"),
            "GITHUB_TOKEN=[REDACTED] make"
        );
        assert_eq!(
            redact_text("mysql --password=hunter2 -u root"),
            "mysql --password=[REDACTED] -u root"
        );
        assert_eq!(
            redact_text(r#"{"api_key": "abc", "n": 1"#),
            r#"{"api_key": "[REDACTED]", "n": 1"#
        );
        assert_eq!(redact_text("Cookie: session=abc"), "Cookie: [REDACTED]");
        assert_eq!(
            redact_text("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: [REDACTED]"
        );
    }

    #[test]
    fn token_counters_are_not_secrets() {
        let text = "max_tokens=100 input_tokens: 5";
        assert_eq!(redact_text(text), text);
        for key in ["max_tokens", "input_tokens", "token_count", "tokenizer"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secret_keys_are_recognised_in_any_case() {
        for key in [
            "api_key",
            "apiKey",
            "X-API-KEY",
            "access_token",
            "accessToken",
            "Token",
            "client_secret",
            "PASSWORD",
            "Authorization",
            "Set-Cookie",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["command", "file_path", "description", "keyboard"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn json_values_under_secret_keys_are_blanked_at_any_depth() {
        let input = json!({
            "command": "echo Bearer abc123",
            "headers": {"Authorization": "xyz", "Accept": "json"},
            "auth": [{"password": 1234, "user": "me"}],
            "token": null,
            "max_tokens": 5,
            "cookie": {"a": "b"}
        });
        let expected = json!({
            "command": "echo Bearer [REDACTED]",
            "headers": {"Authorization": "[REDACTED]", "Accept": "json"},
            "auth": [{"password": "[REDACTED]", "user": "me"}],
            "token": null,
            "max_tokens": 5,
            "cookie": "[REDACTED]"
        });
        assert_eq!(redact_json(&input), expected);
    }

    #[test]
    fn json_text_keeps_key_order_and_falls_back_to_text() {
        assert_eq!(
            redact_json_text(r#"{"z":1,"secret":"s","a":"sk-abcdefghijklmnopqrst"}"#),
            r#"{"z":1,"secret":"[REDACTED]","a":"sk-[REDACTED]"}"#
        );
        assert_eq!(
            redact_json_text(r#"{"secret": "s", broken"#),
            r#"{"secret": "[REDACTED]", broken"#
        );
    }
}
