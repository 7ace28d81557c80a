//! The engine-wide feed: every task's progress on one broadcast, for the dashboard.
//!
//! Each task has its own event channel (`events.rs`); this one carries all of them,
//! each with the task's state at that moment. Nothing is built unless someone
//! listens: with no dashboard open, publishing costs one check of the receiver count.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use super::result::TaskSnapshot;

/// Updates buffered per listener; a slower one is told it lagged and reloads.
pub const FEED_BUFFER: usize = 1024;

/// Characters of a task's output the feed carries: a preview, not the result.
pub const PREVIEW_CHARS: usize = 280;

/// The `event` of an update that only moved a task's counts.
pub const PROGRESS: &str = "progress";

/// One task changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskUpdate {
    /// What happened: a task event's kind (`queued`, `started`, `tool_use`,
    /// `model_call`, `finished`), or `progress` when only its counts moved.
    pub event: &'static str,
    /// A line for people: the tool and its main argument, the model that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The task now, its output cut to a preview.
    pub task: TaskSnapshot,
}

/// The broadcast. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Feed {
    sender: broadcast::Sender<Arc<TaskUpdate>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            sender: broadcast::channel(FEED_BUFFER).0,
        }
    }
}

impl Feed {
    /// Whether anyone listens now.
    pub fn watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Sends the update `make` builds, only when someone listens.
    pub fn publish(&self, make: impl FnOnce() -> TaskUpdate) {
        if self.watched() {
            // A listener that left in between is fine: nobody missed anything.
            let _ = self.sender.send(Arc::new(make()));
        }
    }

    /// Updates from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TaskUpdate>> {
        self.sender.subscribe()
    }
}

/// `text` cut to `PREVIEW_CHARS` characters, with `…` when cut.
pub fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_while_nobody_listens() {
        let feed = Feed::default();
        assert!(!feed.watched());
        feed.publish(|| unreachable!("no listener: the update is never made"));
        let _rx = feed.subscribe();
        assert!(feed.watched());
    }

    #[test]
    fn previews_cut_long_text_at_a_character_boundary() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(PREVIEW_CHARS + 5);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(preview(&"x".repeat(PREVIEW_CHARS)).len(), PREVIEW_CHARS);
    }
}
