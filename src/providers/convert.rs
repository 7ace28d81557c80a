//! Small translation rules every provider dialect shares.

use serde_json::Value;

use super::{Block, ModelRequest, ProviderError};

/// A tool result's text for APIs without an error flag: the model must still learn
/// that the tool failed, so failed results say so up front.
pub fn tool_output(content: &str, is_error: bool) -> String {
    if is_error && !content.starts_with("Error") {
        format!("Error: {content}")
    } else {
        content.to_owned()
    }
}

/// A base64 image as a `data:` URL.
pub fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// The refusal for an image a provider cannot take (never dropped silently).
/// `what` completes "… is not supported by this provider".
pub fn image_refused(provider: &str, what: &str) -> ProviderError {
    ProviderError::Unsupported {
        provider: provider.to_owned(),
        what: what.to_owned(),
    }
}

/// The refusal for an image in an assistant message, which no API takes.
pub fn assistant_image_refused(provider: &str) -> ProviderError {
    image_refused(
        provider,
        "an image in an assistant message (images can only come from the user)",
    )
}

/// A temperature as its shortest decimal (`0.2`, not the f32's `0.20000000298023224`).
pub fn temperature(t: f32) -> Value {
    let shortest: f64 = t.to_string().parse().unwrap_or(f64::from(t));
    Value::from(shortest)
}

/// Refuse a request with images when the endpoint is configured without image support.
pub fn check_images(
    provider: &str,
    req: &ModelRequest,
    allowed: bool,
) -> Result<(), ProviderError> {
    let has_image = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|b| matches!(b, Block::Image { .. }));
    if has_image && !allowed {
        return Err(image_refused(
            provider,
            &format!("image input on this endpoint (`images = false` under [providers.{provider}]; set it to true if the endpoint accepts images)"),
        ));
    }
    Ok(())
}

/// A tool result where the API only allows it from the user.
pub fn misplaced_tool_result(provider: &str, call_id: &str) -> ProviderError {
    ProviderError::InvalidRequest {
        provider: provider.to_owned(),
        message: format!(
            "tool result for call `{call_id}` is in an assistant message; tool results belong in user messages"
        ),
    }
}

/// Tool call arguments as the model wrote them; text that is not JSON is kept as a
/// string so nothing is lost and the tool can report the problem to the model.
pub fn parse_arguments(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// Tool call arguments as the JSON text the OpenAI dialects send back.
pub fn arguments_text(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_tool_output_is_marked_once() {
        assert_eq!(tool_output("no such file", true), "Error: no such file");
        assert_eq!(tool_output("Error: exit 1", true), "Error: exit 1");
        assert_eq!(tool_output("ok", false), "ok");
    }

    #[test]
    fn temperatures_keep_their_written_value() {
        assert_eq!(temperature(0.2), json!(0.2));
        assert_eq!(temperature(1.0), json!(1.0));
    }

    #[test]
    fn arguments_round_trip_even_when_malformed() {
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({"a":1}));
        assert_eq!(parse_arguments(""), json!({}));
        let bad = parse_arguments(r#"{"a":"#);
        assert_eq!(bad, json!(r#"{"a":"#));
        assert_eq!(arguments_text(&bad), r#"{"a":"#);
        assert_eq!(arguments_text(&json!({"a":1})), r#"{"a":1}"#);
    }
}
