//! SessionEnd: Codex never says a session ended, so a session that has been idle
//! past `[hooks] session_idle_secs` has ended, and every session ends at shutdown.

use std::time::Duration;

use super::sessions::Ended;
use super::HookEvent;
use crate::state::SharedState;

/// Why a session ended, as SessionEnd hooks see it (Claude Code's `other`; the proxy's
/// own reason rides along in `codexplus_reason`).
const REASON: &str = "other";

/// Fires SessionEnd for each ended session, all at once.
pub async fn fire(state: &SharedState, ended: Vec<Ended>, why: &str) {
    let runs = ended.into_iter().map(|e| {
        let state = state.clone();
        let why = why.to_string();
        async move {
            let input = state
                .hooks
                .input(HookEvent::SessionEnd, &e.session_id, &e.cwd)
                .with("reason", REASON)
                .with("codexplus_reason", why);
            state
                .hooks
                .fire(&e.cwd, HookEvent::SessionEnd, input, &[REASON])
                .await;
        }
    });
    futures_util::future::join_all(runs).await;
}

/// Ends idle sessions every so often, for as long as the proxy runs.
pub async fn sweep(state: SharedState) {
    let idle = state.config.hooks.session_idle();
    let every = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ended = state.sessions.take_idle(idle);
        if !ended.is_empty() {
            fire(&state, ended, "idle").await;
        }
    }
}
