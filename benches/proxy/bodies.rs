//! Request bodies for `POST /v1/responses`, shaped like the ones Codex sends.
//!
//! `codex_turn` is a Codex turn of a given size: developer and user messages, the
//! `<environment_context>` message, then history (reasoning items, `shell` calls and
//! their outputs holding code and command output, assistant messages), the new user
//! message, and the `tools` array. Tool outputs are JSON inside a JSON string, so a
//! long session is dense with `\n` and `\"` escapes, which is what the request
//! scanner pays for. `plain_string` is the Python kit's shape: one long plain string.

use serde_json::{json, Value};

/// Codex's base instructions are long prose; a slice of similar text.
const INSTRUCTIONS: &str = "You are Codex, a coding agent based on GPT-5. You and the user share the same workspace and collaborate to achieve the user's goals.\n\n## General\n\n- When searching for text or files, prefer using `rg` or `rg --files` respectively because `rg` is much faster than alternatives like `grep`.\n\n## Editing constraints\n\n- Default to ASCII when editing or creating files. Only introduce non-ASCII or other Unicode characters when there is a clear justification.\n- Add succinct code comments that explain what is going on if code is not self-explanatory.\n- You may be in a dirty git worktree. NEVER revert existing changes you did not make unless explicitly requested.\n\n## Plan tool\n\nWhen using the planning tool:\n- Skip using the planning tool for straightforward tasks (roughly the easiest 25%).\n- Do not make single-step plans.\n\n## Presenting your work and final message\n\nYou are producing plain text that will later be styled by the CLI. Follow these rules exactly. Formatting should make results easy to scan, but not feel mechanical.\n";

const CODE: [&str; 16] = [
    "pub fn parse_header(line: &str) -> Result<(String, String), ParseError> {",
    "    let (name, value) = line.split_once(':').ok_or(ParseError::MissingColon)?;",
    "    if name.trim().is_empty() {",
    "        return Err(ParseError::EmptyName { line: line.to_string() });",
    "    }",
    "    Ok((name.trim().to_ascii_lowercase(), value.trim().to_string()))",
    "}",
    "",
    "#[test]",
    "fn quoted_values_keep_their_quotes() {",
    "    let (k, v) = parse_header(\"Content-Type: \\\"text/plain\\\"\").unwrap();",
    "    assert_eq!(v, \"\\\"text/plain\\\"\", \"value was {v:?}\");",
    "    // A tab\tand a backslash \\ survive too.",
    "    let msg = format!(\"{k}={v}\\n\");",
    "    println!(\"{}\", msg);",
    "}",
];

const SHELL: [&str; 8] = [
    "   Compiling parser v0.3.1 (/home/dev/project/crates/parser)",
    "    Finished `test` profile [unoptimized + debuginfo] target(s) in 4.21s",
    "     Running unittests src/lib.rs (target/debug/deps/parser-5d1c0e2f9a8b7c6d)",
    "test header::tests::quoted_values_keep_their_quotes ... FAILED",
    "thread 'header::tests::quoted_values_keep_their_quotes' panicked at src/header.rs:42:9:",
    "assertion `left == right` failed: value was \"text/plain\"",
    "src/header.rs:12:    let (name, value) = line.split_once(':').ok_or(ParseError::MissingColon)?;",
    "test result: FAILED. 41 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
];

/// The tools Codex offers (shape of its `shell`, `apply_patch`, `update_plan`, `view_image`).
fn tools() -> Value {
    let string = |d: &str| json!({"type": "string", "description": d});
    json!([
        {"type": "function", "name": "shell", "description": "Runs a shell command and returns its output.\n- Always set the `workdir` param when using the shell function. Do not use `cd` unless absolutely necessary.", "strict": false,
         "parameters": {"type": "object", "properties": {
            "command": {"type": "array", "items": {"type": "string"}, "description": "The command to execute"},
            "workdir": string("The working directory to execute the command in"),
            "timeout_ms": {"type": "number", "description": "The timeout for the command in milliseconds"},
            "with_escalated_permissions": {"type": "boolean", "description": "Whether to request escalated permissions. Set to true if command needs to be run without sandbox restrictions"},
            "justification": string("Only set if with_escalated_permissions is true. 1-sentence explanation of why we want to run this command.")},
          "required": ["command"], "additionalProperties": false}},
        {"type": "custom", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files. This is a FREEFORM tool, so do not wrap the patch in JSON.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch\nbegin_patch: \"*** Begin Patch\" LF\nend_patch: \"*** End Patch\" LF?\n\nhunk: add_hunk | delete_hunk | update_hunk\nadd_hunk: \"*** Add File: \" filename LF add_line+\ndelete_hunk: \"*** Delete File: \" filename LF\nupdate_hunk: \"*** Update File: \" filename LF change_move? change?\n\nfilename: /(.+)/\nadd_line: \"+\" /(.*)/ LF -> line\n\nchange_move: \"*** Move to: \" filename LF\nchange: (change_context | change_line)+ eof_line?\nchange_context: (\"@@\" | \"@@ \" /(.+)/) LF\nchange_line: (\"+\" | \"-\" | \" \") /(.*)/ LF\neof_line: \"*** End of File\" LF\n\n%import common.LF\n"}},
        {"type": "function", "name": "update_plan", "description": "Updates the task plan.\nProvide an optional explanation and a list of plan items, each with a step and status.\nAt most one step can be in_progress at a time.", "strict": false,
         "parameters": {"type": "object", "properties": {"explanation": {"type": "string"},
            "plan": {"type": "array", "description": "The list of steps", "items": {"type": "object", "properties": {"step": {"type": "string"}, "status": {"type": "string", "description": "One of: pending, in_progress, completed"}}, "required": ["step", "status"], "additionalProperties": false}}},
          "required": ["plan"], "additionalProperties": false}},
        {"type": "function", "name": "view_image", "description": "Attach a local image (by filesystem path) to the conversation context for this turn.", "strict": false,
         "parameters": {"type": "object", "properties": {"path": string("Local filesystem path to an image file")}, "required": ["path"], "additionalProperties": false}}
    ])
}

fn message(role: &str, text: &str) -> Value {
    let kind = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})
}

/// Deterministic pseudo-random source for the history.
struct Gen(fastrand::Rng);

impl Gen {
    fn lines(&mut self, pool: &[&str], n: usize) -> String {
        let mut out = String::new();
        for _ in 0..n {
            out.push_str(pool[self.0.usize(..pool.len())]);
            out.push('\n');
        }
        out
    }

    fn base64(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..n)
            .map(|_| ALPHABET[self.0.usize(..64)] as char)
            .collect()
    }

    /// One exchange of the agent loop: reasoning, a shell call, its output, and
    /// sometimes a short assistant message.
    fn history_step(&mut self, k: usize, cwd: &str) -> Vec<Value> {
        let call_id = format!("call_{:024x}", self.0.u128(..) & ((1u128 << 96) - 1));
        let (command, output) = if k.is_multiple_of(2) {
            let n = self.0.usize(20..90);
            (
                format!("sed -n '1,{n}p' crates/parser/src/header.rs"),
                self.lines(&CODE, n),
            )
        } else {
            let n = self.0.usize(8..40);
            ("cargo test -p parser".to_string(), self.lines(&SHELL, n))
        };
        let arguments =
            json!({"command": ["bash", "-lc", command], "workdir": cwd, "timeout_ms": 120_000});
        let output =
            json!({"output": output, "metadata": {"exit_code": k % 3, "duration_seconds": 0.4}});
        let sealed = self.0.usize(600..1600);
        let mut items = vec![
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "**Inspecting the header parser**\n\nChecking how quoted values are trimmed."}],
                   "content": null, "encrypted_content": format!("gAAAAAB{}", self.base64(sealed))}),
            json!({"type": "function_call", "name": "shell", "arguments": arguments.to_string(), "call_id": call_id}),
            json!({"type": "function_call_output", "call_id": call_id, "output": output.to_string()}),
        ];
        if k % 5 == 4 {
            items.push(message(
                "assistant",
                "The parser trims the quotes along with the whitespace; I'll change `trim_matches` to `trim` and rerun the tests.",
            ));
        }
        items
    }
}

/// A Codex turn of `size` bytes (within one byte) whose workspace is `cwd`.
pub fn codex_turn(size: usize, cwd: &str) -> Vec<u8> {
    let env = format!(
        "<environment_context>\n  <cwd>{cwd}</cwd>\n  <approval_policy>on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n  <shell>bash</shell>\n</environment_context>"
    );
    let mut input = vec![
        message("developer", "<permissions instructions>\nFilesystem sandboxing defines which files can be read or written. `sandbox_mode` is `workspace-write`: The sandbox permits reading files, and editing files in `cwd` and `writable_roots`.\nApprovals are your mechanism to get user consent to run shell commands without the sandbox.\n</permissions instructions>"),
        message("user", &format!("# AGENTS.md instructions for {cwd}\n\n<INSTRUCTIONS>\n- Run `cargo fmt` and `cargo clippy` before committing.\n- Tests live next to the code.\n</INSTRUCTIONS>")),
        message("user", &env),
        message("user", "The header parser drops the quotes of quoted values; fix it and make the tests pass."),
    ];
    let body = |input: &[Value]| {
        json!({
            "model": "gpt-5-codex", "instructions": INSTRUCTIONS, "input": input, "tools": tools(),
            "tool_choice": "auto", "parallel_tool_calls": false,
            "reasoning": {"effort": "medium", "summary": "auto"}, "store": false, "stream": true,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "0199a6e1-0000-7000-8000-00000000bec0",
        })
    };
    let mut gen = Gen(fastrand::Rng::with_seed(size as u64));
    let latest = message(
        "user",
        "Now also handle header continuation lines, then run the whole test suite.",
    );
    let json_len = |v: &Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    // Each item added before `latest` adds its own length plus a comma.
    let mut len = json_len(&body(&[input.clone(), vec![latest.clone()]].concat()));
    let filler_text = gen.lines(&SHELL, size / 40 + 4);
    let filler = |chars: usize| {
        let text: String = filler_text.chars().take(chars).collect();
        json!({"type": "function_call_output", "call_id": "call_filler",
               "output": json!({"output": text, "metadata": {"exit_code": 0, "duration_seconds": 0.1}}).to_string()})
    };
    let room = |len: usize| size.saturating_sub(len + json_len(&filler(0)) + 1);
    // History steps while they fit, then one output sized to land on `size`.
    for k in 0.. {
        let step = gen.history_step(k, cwd);
        let step_len: usize = step.iter().map(|v| json_len(v) + 1).sum();
        if step_len > room(len) {
            break;
        }
        len += step_len;
        input.extend(step);
    }
    // Largest filler that fits: escaping makes the size a step function of the length.
    let base = len + 1;
    let (mut lo, mut hi) = (0, filler_text.chars().count());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if base + json_len(&filler(mid)) <= size {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    input.push(filler(lo));
    input.push(latest);
    serde_json::to_vec(&body(&input)).unwrap_or_default()
}

/// The Python kit's body shape (`make_body` in proxybench.py): one user message that
/// is one long plain string of words, no escapes; `size` bytes in all.
pub fn plain_string(size: usize) -> Vec<u8> {
    let words: Vec<&str> =
        "the quick brown fox jumps over the lazy dog while the proxy relays every byte "
            .split_whitespace()
            .collect();
    // The kit makes size/6 words (about 0.87 of the size); enough here to fill it all.
    let filler: String = (0..size / 4)
        .map(|i| words[i % words.len()])
        .collect::<Vec<_>>()
        .join(" ");
    let mut obj = json!({
        "model": "gpt-5-codex", "instructions": "You are a coding agent. ".repeat(40),
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": ""}]}],
        "tools": [], "tool_choice": "auto", "parallel_tool_calls": false, "reasoning": null,
        "store": false, "stream": true, "include": [], "prompt_cache_key": "proxybench",
    });
    let base = serde_json::to_vec(&obj).map_or(0, |b| b.len());
    obj["input"][0]["content"][0]["text"] =
        json!(filler[..size.saturating_sub(base).min(filler.len())]);
    serde_json::to_vec(&obj).unwrap_or_default()
}

/// Backslash escapes per KiB: how hard a body is on the scanner.
pub fn escapes_per_kib(body: &[u8]) -> f64 {
    let n = memchr::memchr_iter(b'\\', body).count();
    n as f64 * 1024.0 / body.len().max(1) as f64
}
