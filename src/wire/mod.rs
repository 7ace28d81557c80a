//! The Responses API on the wire: the SSE codec, request bodies, stream events.
//! Pure: no I/O here, so every byte-level rule is a unit test.

pub mod encoding;
pub mod environment;
pub mod event;
pub mod request;
pub mod scan;
pub mod sse;
