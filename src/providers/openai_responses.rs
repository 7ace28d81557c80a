//! OpenAI Responses API provider (`POST {base}/responses`, streamed and collected).
//! Used for `inherit`: the session's own upstream, credentials and model.
