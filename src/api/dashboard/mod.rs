//! `/dashboard`: one page that shows what the proxy runs, live.
//!
//! - `GET /dashboard`, `/dashboard/app.js`, `/dashboard/app.css`: the page and its
//!   assets, built into the binary, under a Content-Security-Policy that allows
//!   nothing but these same-origin files and this origin's API.
//! - `GET /api/dashboard`: the snapshot: sessions, running and finished Tasks,
//!   providers' breakers and stream counts.
//! - `GET /api/dashboard/events`: Server-Sent Events. First a `snapshot`, then a `task`
//!   event for every change of any Task (the engine's feed, as it happens), and a
//!   `state` event when the sessions or health changed (looked at once a second, only
//!   while the stream is open: those change on every turn, and the turn path must not
//!   pay for a dashboard). A listener that falls behind gets a fresh `snapshot`.
//!
//! The page reads Tasks' transcripts and cancels them through `/api/tasks`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use crate::engine::feed::preview;
use crate::engine::{TaskSnapshot, TaskUpdate};
use crate::error::ProxyError;
use crate::hooks::sessions::SessionView;
use crate::providers::breaker::BreakerSnapshot;
use crate::state::SharedState;

const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Only this origin's own files and API; no inline code, no frames, no forms.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Finished Tasks the snapshot lists.
pub const FINISHED_SHOWN: usize = 30;

/// How often an open stream looks at the sessions and health for changes.
const STATE_EVERY: Duration = Duration::from_secs(1);

/// `GET /dashboard`.
pub async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

/// `GET /dashboard/app.js`.
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /dashboard/app.css`.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            // Built in: a new binary brings new files, so always ask again.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub version: &'static str,
    pub uptime_secs: u64,
    /// The proxy's clock (Unix ms), for elapsed times in a browser whose clock differs.
    pub now_ms: i64,
    /// Queued and running Tasks, oldest first (background ones marked).
    pub running: Vec<TaskSnapshot>,
    /// The latest ended Tasks, newest first.
    pub finished: Vec<TaskSnapshot>,
    #[serde(flatten)]
    pub state: LiveState,
}

/// What changes with every turn: looked at, not pushed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveState {
    /// Open Codex sessions, the latest active first.
    pub sessions: Vec<SessionView>,
    pub health: Health,
}

/// Streams and providers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `/responses` streams being relayed now.
    pub open_streams: i64,
    /// Requests relayed since start, model calls among them, and streams the proxy ended
    /// with `response.failed`.
    pub requests: u64,
    pub responses: u64,
    pub stream_failures: u64,
    pub upstream_errors: u64,
    /// Whether Tasks run, and how many at once.
    pub tasks_enabled: bool,
    pub max_concurrent: usize,
    /// Each provider's circuit breaker.
    pub breakers: BTreeMap<String, BreakerSnapshot>,
}

fn live_state(state: &SharedState) -> LiveState {
    let s = &state.stats;
    let engine = &state.engine;
    LiveState {
        sessions: state.sessions.list(),
        health: Health {
            open_streams: s.open_streams.get(),
            requests: s.requests.get(),
            responses: s.responses_requests.get(),
            stream_failures: s.stream_failures.get(),
            upstream_errors: s.upstream_errors.get(),
            tasks_enabled: engine.config().enabled,
            max_concurrent: engine.config().max_concurrent,
            breakers: engine.router().breaker_snapshots(),
        },
    }
}

/// The snapshot now. Finished Tasks come from the ledger (earlier runs of the proxy
/// too), as this process remembers them when it does.
pub async fn snapshot_of(state: &SharedState) -> Result<Snapshot, ProxyError> {
    // Writes are queued: a Task that just ended is listed.
    if let Err(e) = state.ledger.flush().await {
        tracing::warn!("ledger flush before the dashboard's snapshot failed: {e}");
    }
    let ledger = state.ledger.clone();
    let engine = state.engine.clone();
    let finished = tokio::task::spawn_blocking(move || {
        // Running ones are among the latest rows; ask for enough to fill the list.
        let records = ledger.tasks(FINISHED_SHOWN * 2, 0)?;
        Ok::<_, crate::store::StoreError>(
            records
                .iter()
                .filter(|r| r.status.is_terminal())
                .take(FINISHED_SHOWN)
                .map(|r| {
                    engine
                        .remembered(&r.id)
                        .filter(|t| t.status.is_terminal())
                        .unwrap_or_else(|| TaskSnapshot::from_record(r))
                })
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map_err(|e| ProxyError::Internal(e.to_string()))?
    .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let cut = |mut t: TaskSnapshot| {
        t.output = preview(&t.output);
        t
    };
    Ok(Snapshot {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        now_ms: crate::store::Timestamp::now().as_millis(),
        running: state.engine.running().into_iter().map(cut).collect(),
        finished: finished.into_iter().map(cut).collect(),
        state: live_state(state),
    })
}

/// `GET /api/dashboard`.
pub async fn snapshot(State(state): State<SharedState>) -> Result<Json<Snapshot>, ProxyError> {
    snapshot_of(&state).await.map(Json)
}

/// An open event stream's place.
struct Watch {
    state: SharedState,
    feed: Receiver<Arc<TaskUpdate>>,
    tick: tokio::time::Interval,
    /// The live state last sent, to send only changes.
    sent: Option<LiveState>,
    /// A snapshot is owed: at the start, and after falling behind.
    resync: bool,
}

/// `GET /api/dashboard/events`.
pub async fn events(
    State(state): State<SharedState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribed before the snapshot is taken: no change falls between the two.
    let feed = state.engine.watch();
    let mut tick = tokio::time::interval(STATE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let closing = state.closing.clone();
    let watch = Watch {
        state,
        feed,
        tick,
        sent: None,
        resync: true,
    };
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        let event = w.next().await?;
        Some((Ok(event), w))
    });
    // Ends when the proxy starts shutting down, so it does not hold the shutdown up.
    let stream = futures_util::StreamExt::take_until(stream, closing.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

impl Watch {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.resync {
                self.resync = false;
                // The first tick fires at once: skip it, the snapshot has the state.
                self.tick.reset();
                return Some(match snapshot_of(&self.state).await {
                    Ok(snapshot) => {
                        self.sent = Some(snapshot.state.clone());
                        json_event("snapshot", &snapshot)
                    }
                    Err(e) => Event::default().event("error").data(e.to_string()),
                });
            }
            tokio::select! {
                update = self.feed.recv() => match update {
                    Ok(update) => return Some(json_event("task", &*update)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "a dashboard fell behind; it gets a new snapshot");
                        self.resync = true;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.tick.tick() => {
                    let now = live_state(&self.state);
                    if self.sent.as_ref() != Some(&now) {
                        let event = json_event("state", &now);
                        self.sent = Some(now);
                        return Some(event);
                    }
                }
            }
        }
    }
}

fn json_event<T: Serialize>(name: &'static str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}
