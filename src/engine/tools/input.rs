//! Turning a tool call's JSON arguments into a typed input, with errors a model can fix.
//!
//! Models sometimes quote numbers and booleans (`"limit": "50"`); those are accepted
//! rather than bounced, since the intent is unambiguous.

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::Value;

use super::ToolError;

/// Deserialises `input` into `T`, naming `tool` and the offending field on failure.
pub fn parse<T: DeserializeOwned>(tool: &str, input: Value) -> Result<T, ToolError> {
    if !input.is_object() {
        return Err(ToolError::invalid(
            tool,
            format!("the input must be a JSON object, got {input}"),
        ));
    }
    serde_json::from_value(input).map_err(|e| ToolError::invalid(tool, e.to_string()))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient {
    Number(serde_json::Number),
    Bool(bool),
    Text(String),
}

/// An optional non-negative integer that may arrive as a number or a numeric string.
pub fn opt_u64<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let value: Option<Lenient> = Option::deserialize(de)?;
    match value {
        None => Ok(None),
        Some(Lenient::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a non-negative integer, got {n}"))),
        Some(Lenient::Text(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                D::Error::custom(format!("expected a non-negative integer, got {s:?}"))
            })
        }
        Some(Lenient::Bool(b)) => Err(D::Error::custom(format!(
            "expected a non-negative integer, got {b}"
        ))),
    }
}

/// An optional boolean that may arrive as `true`/`false` or as the strings of those.
pub fn opt_bool<'de, D: Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
    use serde::de::Error;
    let value: Option<Lenient> = Option::deserialize(de)?;
    match value {
        None => Ok(None),
        Some(Lenient::Bool(b)) => Ok(Some(b)),
        Some(Lenient::Text(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Lenient::Text(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(Lenient::Text(s)) => Err(D::Error::custom(format!(
            "expected true or false, got {s:?}"
        ))),
        Some(Lenient::Number(n)) => {
            Err(D::Error::custom(format!("expected true or false, got {n}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    struct Probe {
        #[allow(dead_code)]
        name: String,
        #[serde(default, deserialize_with = "opt_u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
    }

    #[test]
    fn numbers_and_booleans_may_be_quoted() {
        let p: Probe = parse("T", json!({"name": "x", "n": "42", "b": "true"})).unwrap();
        assert_eq!((p.n, p.b), (Some(42), Some(true)));
        let p: Probe = parse("T", json!({"name": "x", "n": 7.0, "b": false})).unwrap();
        assert_eq!((p.n, p.b), (Some(7), Some(false)));
        let p: Probe = parse("T", json!({"name": "x", "n": null})).unwrap();
        assert_eq!((p.n, p.b), (None, None));
    }

    #[test]
    fn errors_name_the_tool_and_the_problem() {
        let err = parse::<Probe>("T", json!({"n": 1}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid input for T") && err.contains("name"),
            "{err}"
        );
        let err = parse::<Probe>("T", json!({"name": "x", "n": -3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("non-negative integer"), "{err}");
        let err = parse::<Probe>("T", json!({"name": "x", "b": "yes"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("true or false"), "{err}");
        let err = parse::<Probe>("T", json!("text")).unwrap_err().to_string();
        assert!(err.contains("JSON object"), "{err}");
    }
}
