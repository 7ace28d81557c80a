//! The agents every workspace has: `general-purpose`, `Explore` and `Plan`.

use super::agents::AgentDef;
use super::discovery::Source;
use super::tools_spec::{ToolEntry, ToolSpec};

const GENERAL_PURPOSE_PROMPT: &str = "\
You are a general-purpose agent. Another agent handed you a task; finish it completely and \
report back. Your final message is the only thing the caller will see, so it must stand on \
its own.

How to work:
- If you do not know where something lives, search broadly first (Glob for file names, Grep \
for contents), then narrow down. Try several names and spellings before concluding that \
something does not exist.
- Read a file before you change it, and change existing files rather than creating new ones. \
Do not write documentation or README files unless the task asks for them.
- Keep to the scope of the task. If you notice other problems, mention them instead of fixing \
them.
- Verify your work when you can: run the relevant tests, build or linter.

When you are done, reply with a short report: what you did or found, the absolute paths of \
the files involved, and the key lines or snippets that matter. Say plainly what you could not \
do and why.";

const EXPLORE_PROMPT: &str = "\
You are a read-only codebase explorer. Your job is to find things quickly and report them \
precisely. You must not create, modify, move or delete any file, and you must not run \
commands that change anything (no installs, no writes, no git commits or checkouts). Use \
Bash only for read-only commands such as ls, find, git status, git log, git diff or cat.

How to work:
- Use Glob to find files by name, Grep to find code by content, and Read to inspect what \
you found. Run independent searches in parallel when you can.
- Match your effort to the request: a quick lookup needs a few targeted searches; a \
\"very thorough\" request means checking every plausible location and naming convention.
- Follow the trail: from a definition to its callers, from a config key to where it is read.

Reply with what you found: absolute file paths with line numbers, short relevant excerpts, \
and a direct answer to the question. If something could not be found, say where you looked.";

const PLAN_PROMPT: &str = "\
You are a software architect. Your job is to explore the codebase and design an \
implementation plan; you do not implement it. You must not create, modify or delete any \
file, and you must not run commands that change anything. Use Bash only for read-only \
commands.

How to work:
- Understand the request and the existing code first: find the relevant modules, their \
conventions, and similar features you can model the change on.
- Consider the alternatives and pick one; say briefly why.
- Think about edge cases, error handling, migrations and tests.

Reply with a plan: the approach in a few sentences, then numbered steps that name the files \
and functions to change or add, the tests to write, and the risks or open questions. End \
with a list of the files that matter most for the implementation, as absolute paths.";

const READ_ONLY_EXCLUDED: [&str; 4] = ["Agent", "Edit", "Write", "NotebookEdit"];

/// The built-in agents, in listing order.
pub fn builtin_agents() -> Vec<AgentDef> {
    let read_only = || ToolSpec::List(READ_ONLY_EXCLUDED.map(ToolEntry::bare).to_vec());
    vec![
        builtin(
            "general-purpose",
            "General-purpose agent for researching complex questions, searching for code, and executing multi-step tasks. When you are searching for a keyword or file and are not confident that you will find the right match in the first few tries, use this agent to perform the search for you.",
            ToolSpec::None,
            GENERAL_PURPOSE_PROMPT,
        ),
        builtin(
            "Explore",
            "Fast read-only agent for exploring codebases: finding files by pattern, searching code for keywords, and answering questions about how the code works. When calling it, say how thorough it should be: \"quick\", \"medium\" or \"very thorough\".",
            read_only(),
            EXPLORE_PROMPT,
        ),
        builtin(
            "Plan",
            "Software architect agent for designing implementation plans. Use it to work out the steps, the files involved and the trade-offs of a change before making it. Read-only.",
            read_only(),
            PLAN_PROMPT,
        ),
    ]
}

/// The subagent of an `agent` hook: Read, Grep and Glob, as in Claude Code. Not a
/// workspace agent: no Task can name it.
pub fn hook_judge() -> AgentDef {
    let mut agent = builtin(
        "hook-judge",
        "Judges a hook's event for an `agent` hook.",
        ToolSpec::None,
        &format!(
            "{}\n\nUse Read, Grep and Glob to check the condition in the workspace before you answer.",
            crate::hooks::judge::SYSTEM
        ),
    );
    agent.tools = ToolSpec::List(["Read", "Grep", "Glob"].map(ToolEntry::bare).to_vec());
    agent
}

fn builtin(name: &str, description: &str, disallowed: ToolSpec, prompt: &str) -> AgentDef {
    AgentDef {
        name: name.to_string(),
        description: description.to_string(),
        tools: ToolSpec::All,
        disallowed_tools: disallowed,
        allowed_subagent_types: None,
        model: None,
        temperature: None,
        max_tokens: None,
        max_turns: None,
        timeout: None,
        effort: None,
        permission_mode: None,
        color: None,
        background: None,
        isolation: None,
        memory: None,
        skills: Vec::new(),
        mcp_servers: None,
        hooks: None,
        body: prompt.to_string(),
        source: Source::Builtin,
        path: None,
        diagnostics: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_purpose_has_all_tools_and_the_read_only_agents_do_not_write() {
        let agents = builtin_agents();
        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["general-purpose", "Explore", "Plan"]);
        assert_eq!(agents[0].effective_tools().len(), 12);
        assert_eq!(agents[0].tools_summary(), "All tools");
        for agent in &agents[1..] {
            assert_eq!(
                agent.effective_tools(),
                [
                    "Read",
                    "Glob",
                    "Grep",
                    "Bash",
                    "WebFetch",
                    "WebSearch",
                    "TodoWrite",
                    // As in Claude Code, they inherit MCP tools; in a read-only
                    // sandbox only those marked read-only are offered (engine/mcp/).
                    "mcp__*"
                ]
            );
            assert_eq!(
                agent.tools_summary(),
                "All tools except Agent, Edit, Write, NotebookEdit"
            );
            assert!(agent.body.contains("must not create, modify"));
        }
    }
}
