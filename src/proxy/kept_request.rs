//! The request a continuation extends, kept for the life of a stream.
//!
//! A Task call can come at any point of a stream, and its continuation is that
//! request plus the output so far; but most streams never continue, and a stream
//! spends most of its life quiet (the model thinking, Codex holding it open). So a
//! quiet stream's request is packed: serialised and zstd-compressed off the
//! runtime, a few KiB in place of the whole body (megabytes in a long session).

use std::io::Write;

use bytes::Bytes;

use crate::wire::request::{ParseError, ResponsesRequest};

/// Fast: packing runs on most turns, unpacking only when a Task continues one.
const LEVEL: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    #[error("could not unpack the kept request: {0}")]
    Unpack(#[source] std::io::Error),
    #[error("the kept request no longer parses: {0}")]
    Parse(#[from] ParseError),
}

#[derive(Debug, Clone)]
pub enum KeptRequest {
    Parsed(ResponsesRequest),
    /// The request as sent, zstd-compressed.
    Packed(Bytes),
}

impl KeptRequest {
    pub fn is_packed(&self) -> bool {
        matches!(self, KeptRequest::Packed(_))
    }

    /// The packed form: CPU-bound, for a blocking thread. The request's chunks (its
    /// body's own slices and what the proxy wrote) are compressed as they are, so a
    /// long session is never joined into one more copy of itself.
    pub fn pack(request: &ResponsesRequest) -> std::io::Result<Bytes> {
        let chunks = request.to_chunks();
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), LEVEL)?;
        // Known up front, so zstd sizes its tables for the input, not for a stream.
        encoder.set_pledged_src_size(Some(size))?;
        for chunk in &chunks {
            encoder.write_all(chunk)?;
        }
        let mut packed = encoder.finish()?;
        packed.shrink_to_fit();
        Ok(Bytes::from(packed))
    }

    /// The request, unpacked if need be: CPU-bound when packed.
    pub fn into_request(self) -> Result<ResponsesRequest, KeptError> {
        match self {
            KeptRequest::Parsed(request) => Ok(request),
            KeptRequest::Packed(packed) => {
                let mut raw = Vec::new();
                zstd::stream::copy_decode(&packed[..], &mut raw).map_err(KeptError::Unpack)?;
                Ok(ResponsesRequest::parse(&Bytes::from(raw))?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ResponsesRequest {
        let body = serde_json::json!({
            "model": "gpt-5.5", "stream": true, "instructions": "Be brief. ".repeat(200),
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "héllo \"there\"\n"}]}],
            "tools": [{"type": "function", "name": "Task", "parameters": {}}],
            "x_unknown": {"kept": [1, 2.5, null]},
        });
        ResponsesRequest::parse(&Bytes::from(body.to_string())).unwrap()
    }

    #[test]
    fn packed_requests_come_back_byte_for_byte_and_smaller() {
        let request = request();
        let packed = KeptRequest::pack(&request).unwrap();
        let raw = request.to_bytes();
        assert!(
            packed.len() * 4 < raw.len(),
            "{} of {}",
            packed.len(),
            raw.len()
        );
        let back = KeptRequest::Packed(packed).into_request().unwrap();
        assert_eq!(back.to_bytes(), raw);
        let parsed = KeptRequest::Parsed(request).into_request().unwrap();
        assert_eq!(parsed.to_bytes(), raw);
    }

    #[test]
    fn an_edited_request_packs_as_it_would_be_sent() {
        let mut request = request();
        let mut tools = request.tools.clone().unwrap_or_default();
        tools.push(crate::wire::request::RawJson::from_value(
            &serde_json::json!({"type": "function", "name": "Added"}),
        ));
        request.set_tools(tools);
        assert!(request.to_chunks().len() > 1, "the edit should make chunks");
        let packed = KeptRequest::pack(&request).unwrap();
        let back = KeptRequest::Packed(packed).into_request().unwrap();
        assert_eq!(back.to_bytes(), request.to_bytes());
    }

    #[test]
    fn a_damaged_pack_is_a_clear_error() {
        let e = KeptRequest::Packed(Bytes::from_static(b"not zstd"))
            .into_request()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("could not unpack the kept request"),
            "{e}"
        );
        let not_json = zstd::bulk::compress(b"{\"input\": [", LEVEL).unwrap();
        let e = KeptRequest::Packed(not_json.into())
            .into_request()
            .unwrap_err();
        assert!(matches!(e, KeptError::Parse(_)), "{e}");
    }
}
