//! `NotebookEdit`: replace, insert or delete one cell of a Jupyter notebook (`.ipynb`),
//! with Claude Code's input. The same path rules as Edit and Write apply.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::input::parse;
use super::{Tool, ToolContext, ToolError};

pub struct NotebookEdit;

#[derive(Deserialize)]
struct Input {
    notebook_path: String,
    #[serde(default)]
    cell_id: Option<String>,
    new_source: String,
    #[serde(default)]
    cell_type: Option<String>,
    #[serde(default)]
    edit_mode: Option<String>,
}

#[async_trait]
impl Tool for NotebookEdit {
    fn name(&self) -> &'static str {
        "NotebookEdit"
    }

    fn description(&self) -> &'static str {
        "Replace, insert or delete one cell of a Jupyter notebook (.ipynb). notebook_path \
         must be absolute. cell_id names the cell (its id, or its 0-based index); with \
         edit_mode insert, the new cell goes after it (first when no cell_id) and needs \
         cell_type. Replacing a code cell clears its outputs."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "notebook_path": {"type": "string", "description": "Absolute path of the notebook"},
                "cell_id": {"type": "string", "description": "The cell to edit (its id, or 0-based index); for insert, the cell to insert after"},
                "new_source": {"type": "string", "description": "The new source of the cell"},
                "cell_type": {"type": "string", "enum": ["code", "markdown"], "description": "The cell's type; required for insert"},
                "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"], "description": "What to do (default replace)"}
            },
            "required": ["notebook_path", "new_source"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        false
    }

    async fn call(&self, input: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let input: Input = parse(self.name(), input)?;
        let path = ctx.resolve_path(&input.notebook_path)?;
        let shown = path.display().to_string();
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| ToolError::Failed(format!("cannot read {shown}: {e}")))?;
        let mut notebook: Value = serde_json::from_str(&text)
            .map_err(|e| ToolError::Failed(format!("{shown} is not a notebook (not JSON: {e})")))?;
        let said =
            edit(&mut notebook, &input).map_err(|e| ToolError::Failed(format!("{shown}: {e}")))?;
        let mut out = serde_json::to_string_pretty(&notebook)
            .map_err(|e| ToolError::Failed(format!("cannot write {shown}: {e}")))?;
        out.push('\n');
        tokio::fs::write(&path, out)
            .await
            .map_err(|e| ToolError::Failed(format!("cannot write {shown}: {e}")))?;
        Ok(format!("{said} in {shown}."))
    }
}

/// The edit, on the notebook's JSON; what was done, or why it cannot be.
fn edit(notebook: &mut Value, input: &Input) -> Result<String, String> {
    let cells = notebook
        .get_mut("cells")
        .and_then(Value::as_array_mut)
        .ok_or("it has no `cells` list, so it is not a Jupyter notebook")?;
    let find = |cells: &[Value], id: &str| {
        cells
            .iter()
            .position(|c| c["id"] == id)
            .or_else(|| id.parse::<usize>().ok().filter(|i| *i < cells.len()))
    };
    let mode = input.edit_mode.as_deref().unwrap_or("replace");
    let at = match input.cell_id.as_deref() {
        Some(id) => Some(find(cells, id).ok_or_else(|| {
            format!(
                "no cell `{id}` (by id or 0-based index; it has {} cells)",
                cells.len()
            )
        })?),
        None => None,
    };
    match mode {
        "replace" => {
            let i = at.ok_or("replace needs cell_id")?;
            let cell = &mut cells[i];
            if let Some(kind) = &input.cell_type {
                cell["cell_type"] = kind.clone().into();
            }
            cell["source"] = input.new_source.clone().into();
            if cell["cell_type"] == "code" {
                cell["outputs"] = json!([]);
                cell["execution_count"] = Value::Null;
            } else if let Some(map) = cell.as_object_mut() {
                map.remove("outputs");
                map.remove("execution_count");
            }
            Ok(format!("Replaced cell {i}"))
        }
        "insert" => {
            let kind = input
                .cell_type
                .as_deref()
                .ok_or("insert needs cell_type (code or markdown)")?;
            let mut cell = json!({"cell_type": kind, "id": new_id(cells), "metadata": {}, "source": input.new_source});
            if kind == "code" {
                cell["outputs"] = json!([]);
                cell["execution_count"] = Value::Null;
            }
            let i = at.map_or(0, |i| i + 1);
            cells.insert(i, cell);
            Ok(format!("Inserted a {kind} cell at {i}"))
        }
        "delete" => {
            let i = at.ok_or("delete needs cell_id")?;
            cells.remove(i);
            Ok(format!("Deleted cell {i}"))
        }
        other => Err(format!(
            "unknown edit_mode `{other}`; use replace, insert or delete"
        )),
    }
}

/// A cell id not used yet in this notebook.
fn new_id(cells: &[Value]) -> String {
    (cells.len()..)
        .map(|n| format!("cell-{n}"))
        .find(|id| !cells.iter().any(|c| c["id"] == id.as_str()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook() -> Value {
        json!({"cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Title"},
            {"cell_type": "code", "id": "load", "metadata": {}, "source": "x = 1", "outputs": [{"output_type": "stream", "text": "old"}], "execution_count": 3}
        ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    }

    fn input(mode: &str, cell: Option<&str>, kind: Option<&str>) -> Input {
        Input {
            notebook_path: "/w/n.ipynb".into(),
            cell_id: cell.map(str::to_string),
            new_source: "y = 2".into(),
            cell_type: kind.map(str::to_string),
            edit_mode: Some(mode.into()),
        }
    }

    #[test]
    fn replace_insert_and_delete_as_claude_code_does() {
        let mut nb = notebook();
        assert_eq!(
            edit(&mut nb, &input("replace", Some("load"), None)).unwrap(),
            "Replaced cell 1"
        );
        assert_eq!(nb["cells"][1]["source"], "y = 2");
        assert_eq!(
            nb["cells"][1]["outputs"],
            json!([]),
            "a replaced code cell loses its outputs"
        );
        assert_eq!(nb["cells"][1]["execution_count"], Value::Null);

        assert_eq!(
            edit(&mut nb, &input("insert", Some("intro"), Some("code"))).unwrap(),
            "Inserted a code cell at 1"
        );
        assert_eq!(nb["cells"][1]["id"], "cell-2");
        assert_eq!(
            edit(&mut nb, &input("insert", None, Some("markdown"))).unwrap(),
            "Inserted a markdown cell at 0"
        );
        assert_eq!(nb["cells"].as_array().unwrap().len(), 4);
        // By index, as the older notebooks without ids need.
        assert_eq!(
            edit(&mut nb, &input("delete", Some("0"), None)).unwrap(),
            "Deleted cell 0"
        );
        assert_eq!(nb["cells"][0]["id"], "intro");
    }

    #[test]
    fn bad_edits_say_what_is_wrong() {
        let mut nb = notebook();
        let e = edit(&mut nb, &input("replace", Some("nope"), None)).unwrap_err();
        assert!(e.contains("no cell `nope`") && e.contains("2 cells"), "{e}");
        assert!(edit(&mut nb, &input("insert", None, None))
            .unwrap_err()
            .contains("needs cell_type"));
        assert!(edit(&mut nb, &input("move", Some("load"), None))
            .unwrap_err()
            .contains("unknown edit_mode `move`"));
        assert!(
            edit(&mut json!({"x": 1}), &input("replace", Some("0"), None))
                .unwrap_err()
                .contains("not a Jupyter notebook")
        );
        assert_eq!(nb, notebook(), "nothing changed");
    }
}
