//! Codex's tool calls as Claude Code hooks expect to see them.
//!
//! A team's hooks match Claude Code's tool names (`Bash`, `Edit`, `Read`) and read
//! Claude Code's inputs (`tool_input.command`). Codex calls its tools differently
//! (`exec_command {cmd}`, the lite dialect's `exec` JavaScript cell, `apply_patch`
//! with a patch), so each call is presented under its Claude Code name and shape,
//! and the raw Codex name matches too. An `updatedInput` from a hook is mapped back
//! onto the Codex call.

use serde_json::{json, Value};

/// A Codex call as hooks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolView {
    /// Claude Code's name for it (`Bash`, `Edit`, `Read`), or Codex's own when there is none.
    pub tool_name: String,
    /// Codex's own name.
    pub codex_name: String,
    /// The input in Claude Code's shape.
    pub tool_input: Value,
}

impl ToolView {
    /// Names a hook matcher is tried against: the Claude Code name, then Codex's.
    pub fn match_names(&self) -> Vec<&str> {
        let mut names = vec![self.tool_name.as_str()];
        if self.codex_name != self.tool_name {
            names.push(self.codex_name.as_str());
        }
        names
    }
}

/// The call's own input: parsed `arguments` of a function call, or the raw text of a custom tool call.
fn raw_input(item: &Value) -> Value {
    match (item["arguments"].as_str(), item["input"].as_str()) {
        (Some(args), _) => serde_json::from_str(args).unwrap_or_else(|_| json!(args)),
        (None, Some(input)) => json!(input),
        _ => Value::Null,
    }
}

/// Claude Code's name for a Codex tool (the same mapping as `view`).
pub fn claude_name(codex_name: &str) -> &str {
    match codex_name {
        "exec_command" | "shell_command" | "shell" | "container.exec" | "exec" => "Bash",
        "apply_patch" => "Edit",
        "view_image" => "Read",
        other => other,
    }
}

/// How a `function_call` / `custom_tool_call` item looks to a hook.
pub fn view(item: &Value) -> ToolView {
    let codex_name = item["name"].as_str().unwrap_or_default().to_string();
    let input = raw_input(item);
    let (tool_name, tool_input) = match codex_name.as_str() {
        "exec_command" => (
            "Bash",
            bash_input(
                input["cmd"].as_str().unwrap_or_default(),
                input["justification"].as_str(),
            ),
        ),
        "shell_command" => (
            "Bash",
            bash_input(input["command"].as_str().unwrap_or_default(), None),
        ),
        "shell" | "container.exec" => (
            "Bash",
            bash_input(&shell_argv_command(&input["command"]), None),
        ),
        // The lite dialect's code cell: JavaScript that calls the tools.
        "exec" => ("Bash", bash_input(input.as_str().unwrap_or_default(), None)),
        "apply_patch" => {
            let patch = input
                .as_str()
                .or(input["input"].as_str())
                .unwrap_or_default();
            let files = patch_files(patch);
            (
                "Edit",
                json!({
                    "file_path": files.first().cloned().unwrap_or_default(),
                    "file_paths": files,
                    "patch": patch,
                }),
            )
        }
        "view_image" => ("Read", json!({"file_path": input["path"]})),
        _ => (codex_name.as_str(), input),
    };
    ToolView {
        tool_name: tool_name.to_string(),
        codex_name,
        tool_input,
    }
}

fn bash_input(command: &str, description: Option<&str>) -> Value {
    let mut input = json!({"command": command});
    if let Some(d) = description {
        input["description"] = json!(d);
    }
    input
}

/// `["bash", "-lc", "ls -la"]` → `ls -la`; any other argv joined with shell quoting.
fn shell_argv_command(argv: &Value) -> String {
    let parts: Vec<&str> = argv
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match parts.as_slice() {
        [shell, flag, script]
            if shell.ends_with("sh") && flag.starts_with('-') && flag.contains('c') =>
        {
            script.to_string()
        }
        _ => shell_words::join(parts),
    }
}

/// Files an `apply_patch` patch touches, in order.
fn patch_files(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| {
            ["*** Update File: ", "*** Add File: ", "*** Delete File: "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .map(|f| f.trim().to_string())
        .collect()
}

/// The Codex call with a hook's `updatedInput` applied; None when it cannot be mapped.
pub fn apply_updated_input(item: &Value, updated: &Value) -> Option<Value> {
    let name = item["name"].as_str()?;
    let mut out = item.clone();
    let command = updated["command"].as_str();
    match name {
        "exec_command" => {
            let mut args = raw_input(item);
            args["cmd"] = json!(command?);
            out["arguments"] = json!(args.to_string());
        }
        "shell_command" => {
            let mut args = raw_input(item);
            args["command"] = json!(command?);
            out["arguments"] = json!(args.to_string());
        }
        "shell" | "container.exec" => {
            let mut args = raw_input(item);
            args["command"] = json!(["bash", "-lc", command?]);
            out["arguments"] = json!(args.to_string());
        }
        "exec" => out["input"] = json!(command?),
        "apply_patch" => {
            let patch = updated["patch"].as_str()?;
            if item.get("input").is_some() {
                out["input"] = json!(patch);
            } else {
                out["arguments"] = json!(json!({"input": patch}).to_string());
            }
        }
        _ if item.get("arguments").is_some() => out["arguments"] = json!(updated.to_string()),
        _ => {
            out["input"] = json!(updated
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| updated.to_string()))
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Value) -> Value {
        json!({"type": "function_call", "name": name, "call_id": "c", "arguments": args.to_string()})
    }

    #[test]
    fn exec_command_is_bash_and_both_names_match() {
        let v = view(&call(
            "exec_command",
            json!({"cmd": "rm proof.txt", "justification": "cleanup"}),
        ));
        assert_eq!(v.tool_name, "Bash");
        assert_eq!(
            v.tool_input,
            json!({"command": "rm proof.txt", "description": "cleanup"})
        );
        assert_eq!(v.match_names(), ["Bash", "exec_command"]);
        assert_eq!(claude_name("exec_command"), v.tool_name);
        assert_eq!(claude_name("exec"), "Bash");
        assert_eq!(claude_name("apply_patch"), "Edit");
        assert_eq!(claude_name("update_plan"), "update_plan");
    }

    #[test]
    fn shell_argv_and_lite_exec_cells_are_bash() {
        let v = view(&call(
            "shell",
            json!({"command": ["bash", "-lc", "ls -la"]}),
        ));
        assert_eq!(v.tool_input["command"], "ls -la");
        let v = view(&call(
            "shell",
            json!({"command": ["git", "commit", "-m", "two words"]}),
        ));
        assert_eq!(v.tool_input["command"], "git commit -m 'two words'");
        let cell = json!({"type": "custom_tool_call", "name": "exec", "call_id": "c",
            "input": "await tools.exec_command({cmd: 'rm x'})"});
        let v = view(&cell);
        assert_eq!(v.tool_name, "Bash");
        assert_eq!(
            v.tool_input["command"],
            "await tools.exec_command({cmd: 'rm x'})"
        );
    }

    #[test]
    fn apply_patch_is_edit_with_its_files() {
        let patch = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: b.txt\n+hi\n*** End Patch";
        let custom = json!({"type": "custom_tool_call", "name": "apply_patch", "call_id": "c", "input": patch});
        let v = view(&custom);
        assert_eq!(v.tool_name, "Edit");
        assert_eq!(v.tool_input["file_path"], "src/a.rs");
        assert_eq!(v.tool_input["file_paths"], json!(["src/a.rs", "b.txt"]));
        assert_eq!(v.tool_input["patch"], patch);
    }

    #[test]
    fn other_tools_keep_their_name_and_arguments() {
        let v = view(&call("update_plan", json!({"plan": []})));
        assert_eq!(v.tool_name, "update_plan");
        assert_eq!(v.match_names(), ["update_plan"]);
        assert_eq!(v.tool_input, json!({"plan": []}));
        assert_eq!(
            view(&call("view_image", json!({"path": "/a.png"}))).tool_input["file_path"],
            "/a.png"
        );
    }

    #[test]
    fn updated_input_maps_back_onto_the_codex_call() {
        let item = call(
            "exec_command",
            json!({"cmd": "rm -rf build", "login": false}),
        );
        let out = apply_updated_input(&item, &json!({"command": "rm -rf ./build"})).unwrap();
        let args: Value = serde_json::from_str(out["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"cmd": "rm -rf ./build", "login": false}));

        let cell =
            json!({"type": "custom_tool_call", "name": "exec", "call_id": "c", "input": "old()"});
        assert_eq!(
            apply_updated_input(&cell, &json!({"command": "new()"})).unwrap()["input"],
            "new()"
        );

        let shell = call("shell", json!({"command": ["bash", "-lc", "ls"]}));
        let out = apply_updated_input(&shell, &json!({"command": "ls -a"})).unwrap();
        assert!(out["arguments"].as_str().unwrap().contains("\"ls -a\""));

        assert!(
            apply_updated_input(&item, &json!({"not_command": 1})).is_none(),
            "unmappable input is refused"
        );
        let other = call("update_plan", json!({"plan": []}));
        let out = apply_updated_input(&other, &json!({"plan": [1]})).unwrap();
        assert_eq!(out["arguments"], json!({"plan": [1]}).to_string());
    }
}
