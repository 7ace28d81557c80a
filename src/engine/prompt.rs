//! A subagent's system prompt: the agent's body, notes on how subagents work, and the
//! environment block Claude Code adds (working directory, git, platform, date).

use std::path::Path;
use std::sync::OnceLock;

use time::{OffsetDateTime, UtcOffset};

/// Facts about where the subagent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The working directory, as shown.
    pub cwd: String,
    /// A `.git` exists in it or an ancestor.
    pub is_git_repo: bool,
    /// `linux`, `macos`, ...
    pub platform: &'static str,
    /// `YYYY-MM-DD`.
    pub date: String,
}

impl Environment {
    /// The environment of `cwd` now (looks for `.git` in it and its ancestors).
    pub fn detect(cwd: &Path) -> Self {
        Self {
            cwd: cwd.display().to_string(),
            is_git_repo: cwd.ancestors().any(|dir| dir.join(".git").exists()),
            platform: std::env::consts::OS,
            date: today(),
        }
    }
}

fn today() -> String {
    // Asked once: the time crate reads /proc on every try, and refuses in a
    // multi-threaded process (then UTC is close enough).
    static OFFSET: OnceLock<UtcOffset> = OnceLock::new();
    let offset =
        *OFFSET.get_or_init(|| UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC));
    let now = OffsetDateTime::now_utc().to_offset(offset);
    let format = time::macros::format_description!("[year]-[month]-[day]");
    now.format(&format).unwrap_or_default()
}

const SUBAGENT_NOTES: &str = "\
Notes:
- You are running as a subagent. Only your final message is returned to the agent that \
started you, so make it complete on its own: what you found or did, and the relevant file \
paths and snippets.
- Use absolute file paths in tool calls and in your answer; each Bash call starts afresh in \
the working directory.
- Do not use emojis.";

/// The system prompt for an agent whose body is `body`. Pure.
pub fn system_prompt(body: &str, env: &Environment) -> String {
    let yes_no = if env.is_git_repo { "Yes" } else { "No" };
    format!(
        "{}\n\n{SUBAGENT_NOTES}\n\nHere is useful information about the environment you are running in:\n<env>\nWorking directory: {}\nIs directory a git repo: {yes_no}\nPlatform: {}\nToday's date: {}\n</env>",
        body.trim_end(),
        env.cwd,
        env.platform,
        env.date,
    )
}

/// `system` with the bodies of the agent's `skills:` after it, each in a `<skill>`
/// block naming its folder, as Claude Code loads them at a subagent's start. Pure.
/// The names not found come back for the caller to report.
pub fn with_skills(
    mut system: String,
    wanted: &[String],
    skills: &crate::claude::CommandSet,
) -> (String, Vec<String>) {
    let mut missing = Vec::new();
    for name in wanted {
        match skills.get(name).filter(|s| s.skill_dir.is_some()) {
            Some(skill) => {
                let base = skill
                    .skill_dir
                    .as_deref()
                    .map(crate::claude::command_render::skill_base_line)
                    .unwrap_or_default();
                system.push_str(&format!(
                    "\n\n<skill name=\"{}\">\n{base}{}\n</skill>",
                    skill.name,
                    skill.body.trim()
                ));
            }
            None => missing.push(name.clone()),
        }
    }
    (system, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_skills_follow_its_prompt_and_missing_ones_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".claude/skills/lint");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("SKILL.md"),
            "---\ndescription: Lint\n---\nRun the linter first.\n",
        )
        .unwrap();
        let set = crate::claude::CommandSet::load(
            tmp.path(),
            &crate::claude::discovery::Roots::with_home(tmp.path().join("home")),
        );
        let (system, missing) =
            with_skills("You review.".into(), &["lint".into(), "nope".into()], &set);
        assert_eq!(
            system,
            format!("You review.\n\n<skill name=\"lint\">\nBase directory for this skill: {}\n\nRun the linter first.\n</skill>", dir.display())
        );
        assert_eq!(missing, ["nope"]);
    }

    #[test]
    fn the_body_comes_first_then_notes_and_the_environment() {
        let env = Environment {
            cwd: "/work/app".into(),
            is_git_repo: true,
            platform: "linux",
            date: "2025-06-01".into(),
        };
        let prompt = system_prompt("You review code.\n\n", &env);
        assert!(
            prompt.starts_with("You review code.\n\nNotes:\n"),
            "{prompt}"
        );
        assert!(prompt.ends_with(
            "<env>\nWorking directory: /work/app\nIs directory a git repo: Yes\nPlatform: linux\nToday's date: 2025-06-01\n</env>"
        ));
    }

    #[test]
    fn detect_finds_git_in_an_ancestor() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let inner = tmp.path().join("a/b");
        std::fs::create_dir_all(&inner)?;
        assert!(!Environment::detect(&inner).is_git_repo);
        std::fs::create_dir(tmp.path().join(".git"))?;
        let env = Environment::detect(&inner);
        assert!(env.is_git_repo);
        assert_eq!(env.date.len(), 10);
        assert_eq!(env.cwd, inner.display().to_string());
        Ok(())
    }
}
