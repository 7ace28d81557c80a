//! Model specs as users write them: `inherit`, an alias, `provider:model`, or a bare
//! model id. Pure parsing; the router turns the result into callable candidates.

use std::fmt;

/// The pseudo-provider meaning "the Codex session's own upstream and credentials".
pub const INHERIT: &str = "inherit";

/// One resolved choice, before credentials are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The session's upstream; `model` None keeps the session's model.
    Inherit { model: Option<String> },
    /// A configured provider and a model id it knows.
    Provider { provider: String, model: String },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inherit { model: None } => f.write_str(INHERIT),
            Self::Inherit { model: Some(m) } => write!(f, "{INHERIT}:{m}"),
            Self::Provider { provider, model } => write!(f, "{provider}:{model}"),
        }
    }
}

/// Parse an explicit entry (`inherit`, `inherit:model`, `provider:model`) where the
/// provider must be one of `known`. Used for alias lists, where bare ids are ambiguous.
pub fn parse_explicit(entry: &str, known: &[&str]) -> Result<Target, String> {
    let entry = entry.trim();
    if entry.eq_ignore_ascii_case(INHERIT) {
        return Ok(Target::Inherit { model: None });
    }
    let Some((provider, model)) = entry.split_once(':') else {
        return Err(format!(
            "`{entry}` names no provider; write `provider:model` with provider one of {}, or `inherit`",
            known.join(", ")
        ));
    };
    let (provider, model) = (provider.trim().to_ascii_lowercase(), model.trim());
    if model.is_empty() {
        return Err(format!(
            "`{entry}` has an empty model id after `{provider}:`"
        ));
    }
    if provider == INHERIT {
        return Ok(Target::Inherit {
            model: Some(model.to_owned()),
        });
    }
    if !known.contains(&provider.as_str()) {
        return Err(format!(
            "unknown provider `{provider}` in `{entry}`; known providers: {}, inherit",
            known.join(", ")
        ));
    }
    Ok(Target::Provider {
        provider,
        model: model.to_owned(),
    })
}

/// Split `provider:model` when the prefix is a known provider (or `inherit`); a model id
/// that merely contains a colon (`llama3:8b`) is not split.
pub fn split_provider<'a>(spec: &'a str, known: &[&str]) -> Option<(&'a str, &'a str)> {
    let (provider, model) = spec.split_once(':')?;
    let p = provider.trim();
    let known_prefix =
        p.eq_ignore_ascii_case(INHERIT) || known.iter().any(|k| k.eq_ignore_ascii_case(p));
    (known_prefix && !model.trim().is_empty()).then_some((p, model.trim()))
}

/// The provider a bare model id obviously belongs to, from its family name.
/// Model families that several providers serve (gpt, llama, ...) return None.
pub fn infer_provider(model: &str) -> Option<&'static str> {
    let m = model.to_ascii_lowercase();
    if m.starts_with("claude") {
        Some("anthropic")
    } else if m.starts_with("gemini") {
        Some("gemini")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["openai", "anthropic", "gemini", "chat"];

    #[test]
    fn parses_explicit_entries() {
        assert_eq!(
            parse_explicit("inherit", KNOWN),
            Ok(Target::Inherit { model: None })
        );
        assert_eq!(
            parse_explicit("inherit:gpt-5-mini", KNOWN),
            Ok(Target::Inherit {
                model: Some("gpt-5-mini".into())
            })
        );
        assert_eq!(
            parse_explicit(" Anthropic:claude-sonnet-4-5 ", KNOWN),
            Ok(Target::Provider {
                provider: "anthropic".into(),
                model: "claude-sonnet-4-5".into()
            })
        );
        assert_eq!(
            parse_explicit("chat:llama3:8b", KNOWN),
            Ok(Target::Provider {
                provider: "chat".into(),
                model: "llama3:8b".into()
            }),
            "only the first colon splits"
        );
    }

    #[test]
    fn explicit_entry_errors_say_what_to_write() {
        let e = parse_explicit("gpt-5", KNOWN).unwrap_err();
        assert!(
            e.contains("names no provider") && e.contains("openai, anthropic"),
            "{e}"
        );
        let e = parse_explicit("mistral:large", KNOWN).unwrap_err();
        assert!(e.contains("unknown provider `mistral`"), "{e}");
        let e = parse_explicit("openai:", KNOWN).unwrap_err();
        assert!(e.contains("empty model id"), "{e}");
    }

    #[test]
    fn splits_only_known_prefixes() {
        assert_eq!(
            split_provider("gemini:gemini-2.5-pro", KNOWN),
            Some(("gemini", "gemini-2.5-pro"))
        );
        assert_eq!(
            split_provider("inherit:gpt-5", KNOWN),
            Some(("inherit", "gpt-5"))
        );
        assert_eq!(split_provider("llama3:8b", KNOWN), None);
        assert_eq!(split_provider("claude-haiku-4-5", KNOWN), None);
        assert_eq!(split_provider("openai:", KNOWN), None);
    }

    #[test]
    fn infers_only_unambiguous_families() {
        assert_eq!(infer_provider("claude-opus-4-5"), Some("anthropic"));
        assert_eq!(infer_provider("Gemini-2.5-Flash"), Some("gemini"));
        assert_eq!(infer_provider("gpt-5"), None);
        assert_eq!(infer_provider("llama-3.3-70b"), None);
    }

    #[test]
    fn targets_display_as_specs() {
        let t = Target::Provider {
            provider: "openai".into(),
            model: "gpt-5".into(),
        };
        assert_eq!(t.to_string(), "openai:gpt-5");
        assert_eq!(Target::Inherit { model: None }.to_string(), "inherit");
    }
}
