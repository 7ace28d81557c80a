//! Checks that make the figures mean what they say: the bodies are what the proxy's
//! pipeline parses, and the byte-for-byte comparison can fail.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde_json::Value;

use crate::bodies;
use crate::client::{Conn, Outcome};
use crate::mock::bench_id;
use crate::phases::{Shared, Target, BODY_16K, BODY_4M_PLAIN, BODY_4M_SESSION, OK, STREAM};
use crate::Res;

/// The bodies are what the proxy's pipeline understands (so the bench measures the
/// pipeline, not the relay-unchanged fallback) and have the intended shape.
pub fn check_bodies(bodies: &[Bytes], cwd: &str) -> Res<()> {
    use codex_plus::wire::environment::Environment;
    use codex_plus::wire::request::ResponsesRequest;
    for (i, body) in bodies.iter().enumerate() {
        serde_json::from_slice::<Value>(body).map_err(|e| format!("body {i} is not JSON: {e}"))?;
        let req = ResponsesRequest::parse(body)
            .map_err(|e| format!("body {i}: the proxy's parser refuses it: {e}"))?;
        if req.stream != Some(true) || req.input.is_empty() {
            return Err(format!("body {i}: not a streamed request with input").into());
        }
        if i != BODY_4M_PLAIN {
            let env = Environment::from_request(&req)
                .ok_or(format!("body {i}: no <environment_context>"))?;
            if env.cwd.to_string_lossy() != cwd || req.tools.as_ref().is_none_or(|t| t.is_empty()) {
                return Err(format!("body {i}: wrong workspace or no tools").into());
            }
        }
    }
    let session = &bodies[BODY_4M_SESSION];
    if bodies::escapes_per_kib(session) < 20.0 || req_items(session)? < 1000 {
        return Err("the 4 MiB session body is not a long, escape-dense history".into());
    }
    Ok(())
}

fn req_items(body: &Bytes) -> Res<usize> {
    Ok(codex_plus::wire::request::ResponsesRequest::parse(body)?
        .input
        .len())
}

/// The checks can fail: a stream for another id or with one byte changed is caught,
/// and each target relays one stream intact.
pub async fn self_check(shared: &Shared) -> Res<()> {
    let t = &shared.templates[&STREAM];
    let (a, b) = (bench_id(1), bench_id(2));
    let body = t.render(&a);
    let mut altered = body.to_vec();
    altered[body.len() / 2] ^= 1;
    if !t.matches(&body, &a)
        || t.matches(&body, &b)
        || t.matches(&altered, &a)
        || t.matches(&body[1..], &a)
    {
        return Err("self-check: the body comparison does not tell streams apart".into());
    }
    for target in [Target::Direct, Target::Proxy] {
        let mut conn = Conn::connect(shared.addr(target)).await?;
        let mut out = Outcome::default();
        shared
            .run(&mut conn, target, &STREAM, BODY_16K, true, &mut out)
            .await?;
        if shared.count(target, OK) != 1 || out.events.len() != t.event_count() {
            return Err(format!(
                "self-check: {} relayed {} bytes / {} events; expected {} bytes / {} events",
                target.tag(),
                out.body.len(),
                out.events.len(),
                t.len(),
                t.event_count()
            )
            .into());
        }
    }
    if shared
        .mock
        .counters
        .request_mismatches
        .load(Ordering::Relaxed)
        != 0
    {
        return Err("self-check: the mock received an altered request body".into());
    }
    Ok(())
}
