//! Checks that make the figures mean what they say: the bodies are what the proxy's
//! pipeline parses, and the byte-for-byte comparison can fail.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use codex_plus::wire::request::{RawJson, ResponsesRequest};
use serde_json::{json, Value};

use crate::bodies;
use crate::client::{Conn, Outcome};
use crate::mock::bench_id;
use crate::phases::{Shared, Target, BODY_16K, BODY_4M_PLAIN, BODY_4M_SESSION, OK, STREAM};
use crate::request_check::Arrived;
use crate::Res;

/// The bodies are what the proxy's pipeline understands (so the bench measures the
/// pipeline, not the relay-unchanged fallback) and have the intended shape.
pub fn check_bodies(bodies: &[Bytes], cwd: &str) -> Res<()> {
    use codex_plus::wire::environment::Environment;
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

fn request_check_tells_apart(shared: &Shared) -> Res<()> {
    let body = shared.mock.body(BODY_16K);
    let mut req = ResponsesRequest::parse(body)?;
    req.input.push(RawJson::from_value(
        &json!({"type": "message", "role": "developer", "content": []}),
    ));
    let mut tools = req.tools.clone().unwrap_or_default();
    tools.push(RawJson::from_value(
        &json!({"type": "function", "name": "Task"}),
    ));
    req.set_tools(tools);
    let extended = req.to_bytes();
    let mut changed = body.to_vec();
    changed[body.len() / 2] ^= 1;
    let mut shorter = ResponsesRequest::parse(body)?;
    shorter.input.pop();
    let cases: [(&[u8], Arrived); 4] = [
        (body, Arrived::Identical),
        (&extended, Arrived::Extended),
        (&changed, Arrived::Altered),
        (&shorter.to_bytes(), Arrived::Altered),
    ];
    for (got, want) in cases {
        if shared.mock.classify(BODY_16K, got) != Some(want) {
            return Err(
                format!("self-check: a request body that should be {want:?} is not").into(),
            );
        }
    }
    Ok(())
}

fn req_items(body: &Bytes) -> Res<usize> {
    Ok(ResponsesRequest::parse(body)?.input.len())
}

/// The checks can fail: a stream for another id or with one byte changed is caught,
/// a request body that lost or changed anything is told from one the proxy only
/// extended, and each target relays one stream intact.
pub async fn self_check(shared: &Shared) -> Res<()> {
    request_check_tells_apart(shared)?;
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
    // With the default configuration; PROXY_BENCH_CONFIG may turn features off.
    if std::env::var_os("PROXY_BENCH_CONFIG").is_none()
        && shared
            .mock
            .counters
            .request_whole_pipeline
            .load(Ordering::Relaxed)
            == 0
    {
        return Err(
            "self-check: the proxied turn did not offer the workspace's agents with a status line"
                .into(),
        );
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
