//! An agent's transcript: what it said and did, kept in the ledger after each run so
//! `SendMessage` can continue it with its whole context (after a restart too).
//!
//! An agent is known by its first task's id; each run that continues it is a task
//! of its own, and replaces the agent's one transcript row.

use crate::providers::{Block, Message, Role};
use crate::store::{Timestamp, TranscriptRecord};

/// An agent to continue: its id, and its messages so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub agent_id: String,
    pub messages: Vec<Message>,
}

impl Resume {
    /// The agent a ledger row holds, with its latest run's messages, or why they
    /// cannot be read.
    pub fn from_record(
        record: &TranscriptRecord,
        messages: Option<&str>,
    ) -> Result<Resume, String> {
        let unreadable = |why: String| {
            format!(
                "the transcript of agent {} cannot be read ({why})",
                record.agent_id
            )
        };
        let json = messages.ok_or_else(|| {
            unreadable(format!(
                "no messages of its run {} are kept",
                record.last_task_id
            ))
        })?;
        let messages = serde_json::from_str(json).map_err(|e| unreadable(e.to_string()))?;
        Ok(Resume {
            agent_id: record.agent_id.clone(),
            messages,
        })
    }
}

/// Messages as the ledger keeps them.
pub fn to_json(messages: &[Message]) -> String {
    // Serialising plain data cannot fail; an empty list would only lose context.
    serde_json::to_string(messages).unwrap_or_else(|_| "[]".into())
}

/// What the model is sent when an agent is continued with `message`: its messages,
/// then the new one. A run that stopped between asking for tools and getting their
/// results gets error results for them first, so every provider takes the history;
/// a history that ends with the user's turn gets the message in that turn.
pub fn continued(prior: &[Message], message: &str) -> Vec<Message> {
    let mut messages = prior.to_vec();
    let unanswered: Vec<Block> = match messages.last() {
        Some(last) if last.role == Role::Assistant => last
            .content
            .iter()
            .filter_map(|b| match b {
                Block::ToolCall { id, .. } => Some(Block::ToolResult {
                    call_id: id.clone(),
                    content: "This call did not run: the agent was stopped before it.".into(),
                    is_error: true,
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !unanswered.is_empty() {
        messages.push(Message {
            role: Role::User,
            content: unanswered,
        });
    }
    let text = Block::Text {
        text: message.to_string(),
    };
    match messages.last_mut() {
        Some(last) if last.role == Role::User => last.content.push(text),
        _ => messages.push(Message {
            role: Role::User,
            content: vec![text],
        }),
    }
    messages
}

/// Everything a transcript row holds besides the messages.
pub struct About<'a> {
    pub agent_id: &'a str,
    pub task_id: &'a str,
    pub session_id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub agent: &'a str,
    pub model: Option<&'a str>,
    pub cwd: &'a std::path::Path,
    pub worktree: Option<&'a std::path::Path>,
}

/// The ledger row for an agent.
pub fn record(about: &About<'_>) -> TranscriptRecord {
    TranscriptRecord {
        agent_id: about.agent_id.to_string(),
        session_id: about.session_id.map(str::to_string),
        name: about.name.map(str::to_string),
        agent: about.agent.to_string(),
        model: about.model.map(str::to_string),
        cwd: about.cwd.display().to_string(),
        worktree: about.worktree.map(|p| p.display().to_string()),
        last_task_id: about.task_id.to_string(),
        updated_at: Timestamp::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assistant(content: Vec<Block>) -> Message {
        Message {
            role: Role::Assistant,
            content,
        }
    }

    fn text(t: &str) -> Block {
        Block::Text { text: t.into() }
    }

    #[test]
    fn a_finished_agent_gets_the_message_as_a_new_user_turn() {
        let prior = vec![
            Message::user_text("find x"),
            assistant(vec![text("x is in a.rs")]),
        ];
        let next = continued(&prior, "now fix it");
        assert_eq!(next.len(), 3);
        assert_eq!(&next[..2], &prior[..]);
        assert_eq!(next[2], Message::user_text("now fix it"));
        assert_eq!(continued(&[], "hi"), vec![Message::user_text("hi")]);
    }

    #[test]
    fn calls_a_stopped_run_never_answered_get_error_results_first() {
        let call = |id: &str| Block::ToolCall {
            id: id.into(),
            name: "Read".into(),
            input: json!({"file_path": "/w/a"}),
            meta: None,
        };
        let prior = vec![
            Message::user_text("go"),
            assistant(vec![text("reading"), call("c1"), call("c2")]),
        ];
        let next = continued(&prior, "go on");
        assert_eq!(next.len(), 3);
        let content = &next[2].content;
        assert_eq!(next[2].role, Role::User);
        assert!(
            matches!(&content[0], Block::ToolResult { call_id, is_error: true, .. } if call_id == "c1")
        );
        assert!(matches!(&content[1], Block::ToolResult { call_id, .. } if call_id == "c2"));
        assert_eq!(content[2], text("go on"));
    }

    #[test]
    fn a_history_ending_with_the_users_turn_gets_the_message_in_it() {
        let prior = vec![
            Message::user_text("go"),
            assistant(vec![text("…")]),
            Message {
                role: Role::User,
                content: vec![Block::ToolResult {
                    call_id: "c1".into(),
                    content: "ok".into(),
                    is_error: false,
                }],
            },
        ];
        let next = continued(&prior, "and then?");
        assert_eq!(next.len(), 3);
        assert_eq!(next[2].content.len(), 2);
        assert_eq!(next[2].content[1], text("and then?"));
    }

    #[test]
    fn a_record_round_trips_and_a_broken_one_says_whose_it_is() {
        let messages = vec![Message::user_text("a"), assistant(vec![text("b")])];
        let about = About {
            agent_id: "task_1",
            task_id: "task_2",
            session_id: Some("s"),
            name: Some("scout"),
            agent: "Explore",
            model: None,
            cwd: std::path::Path::new("/w"),
            worktree: None,
        };
        let row = record(&about);
        assert_eq!(row.last_task_id, "task_2");
        assert_eq!(row.name.as_deref(), Some("scout"));
        let resume = Resume::from_record(&row, Some(&to_json(&messages))).unwrap();
        assert_eq!(resume.agent_id, "task_1");
        assert_eq!(resume.messages, messages);
        let e = Resume::from_record(&row, Some("[{")).unwrap_err();
        assert!(
            e.contains("transcript of agent task_1 cannot be read"),
            "{e}"
        );
        let e = Resume::from_record(&row, None).unwrap_err();
        assert!(e.contains("no messages of its run task_2 are kept"), "{e}");
    }
}
