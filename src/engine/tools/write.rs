//! `Write`: create or overwrite a file with the given text.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::parse;
use super::{Tool, ToolContext, ToolError};

/// Writes a whole file, creating missing parent directories.
pub struct Write;

#[derive(Deserialize)]
struct Input {
    file_path: String,
    content: String,
}

#[async_trait]
impl Tool for Write {
    fn name(&self) -> &'static str {
        "Write"
    }

    fn description(&self) -> &'static str {
        "Write a file in the workspace, replacing it if it exists and creating missing \
         parent directories. file_path should be absolute. For a change to part of an \
         existing file prefer Edit, which only sends the changed text."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "Absolute path of the file to write"},
                "content": {"type": "string", "description": "The complete new content of the file"}
            },
            "required": ["file_path", "content"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        false
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        let path = ctx.resolve_path(&input.file_path)?;
        let shown = path.display().to_string();
        let existed = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_dir() => {
                return Err(ToolError::Failed(format!(
                    "{shown} is a directory; give the path of a file inside it"
                )))
            }
            Ok(_) => true,
            Err(_) => false,
        };
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                ToolError::Failed(format!(
                    "cannot create the directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        tokio::fs::write(&path, input.content.as_bytes())
            .await
            .map_err(|e| ToolError::Failed(format!("cannot write {shown}: {e}")))?;
        let lines = input.content.lines().count();
        let verb = if existed { "Overwrote" } else { "Created" };
        Ok(format!(
            "{verb} {shown} ({} bytes, {lines} lines).",
            input.content.len()
        ))
    }
}
