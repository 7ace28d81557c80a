//! Tool input schemas: make sure each is an object schema, and rewrite one into the
//! OpenAPI subset Gemini's `functionDeclarations` accept.
//!
//! Gemini rejects keywords it does not know (`additionalProperties`, `$schema`,
//! `$ref`, `const`, type arrays, ...). We keep what it understands, rewrite what has
//! an equivalent (local `$ref` inlined, `["string","null"]` → `nullable`, `oneOf` →
//! `anyOf`, `const` → one-value `enum`), and move what it cannot express (non-string
//! enums) into the description so the model still sees it.

use serde_json::{json, Map, Value};

/// The schema as an object schema; anything else (null, `true`, a non-object) becomes
/// an object that takes no properties, which every provider accepts.
pub fn object_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) if m.get("type").is_none_or(|t| t == "object") => {
            let mut m = m.clone();
            m.insert("type".into(), json!("object"));
            if !m.contains_key("properties") {
                m.insert("properties".into(), json!({}));
            }
            Value::Object(m)
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

/// Gemini `parameters` for a tool, or None when the tool takes no arguments
/// (Gemini rejects an object schema with no properties).
pub fn gemini_parameters(schema: &Value) -> Option<Value> {
    let converted = Gemini { root: schema }.convert(schema, 0);
    let has_properties = converted
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    has_properties.then_some(converted)
}

/// Deeper than this, a `$ref` is assumed to recurse and is cut off.
const MAX_REF_DEPTH: usize = 8;

/// Keywords Gemini's Schema takes as they are.
const PLAIN_KEYS: &[&str] = &[
    "description",
    "title",
    "nullable",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "default",
    "example",
    "propertyOrdering",
];

struct Gemini<'a> {
    root: &'a Value,
}

impl Gemini<'_> {
    fn convert(&self, schema: &Value, depth: usize) -> Value {
        let Some(src) = schema.as_object() else {
            return json!({"type": "string"});
        };
        if let Some(target) = src.get("$ref").and_then(Value::as_str) {
            return match self.lookup(target) {
                Some(found) if depth < MAX_REF_DEPTH => {
                    let mut inlined = self.convert(found, depth + 1);
                    if let (Some(d), Some(obj)) = (src.get("description"), inlined.as_object_mut())
                    {
                        obj.insert("description".into(), d.clone());
                    }
                    inlined
                }
                _ => json!({"type": "object", "description": format!("(see {target})")}),
            };
        }

        let mut out = Map::new();
        for key in PLAIN_KEYS {
            if let Some(v) = src.get(*key) {
                out.insert((*key).into(), v.clone());
            }
        }
        self.convert_type(src, &mut out);
        self.convert_enum(src, &mut out);
        if let Some(props) = src.get("properties").and_then(Value::as_object) {
            let converted: Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), self.convert(v, depth)))
                .collect();
            if let Some(required) = src.get("required").and_then(Value::as_array) {
                let kept: Vec<Value> = required
                    .iter()
                    .filter(|r| r.as_str().is_some_and(|r| converted.contains_key(r)))
                    .cloned()
                    .collect();
                if !kept.is_empty() {
                    out.insert("required".into(), Value::Array(kept));
                }
            }
            out.insert("properties".into(), Value::Object(converted));
        }
        if let Some(items) = src.get("items") {
            let items = items.as_array().and_then(|a| a.first()).unwrap_or(items);
            out.insert("items".into(), self.convert(items, depth));
        }
        if let Some(alts) = src.get("anyOf").or_else(|| src.get("oneOf")) {
            self.convert_any_of(alts, depth, &mut out);
        }
        if let Some(all) = src.get("allOf").and_then(Value::as_array) {
            for part in all {
                merge(&mut out, self.convert(part, depth));
            }
        }
        if out.get("type") == Some(&json!("object")) && !out.contains_key("properties") {
            out.insert("properties".into(), json!({}));
        }
        Value::Object(out)
    }

    /// `type` as Gemini wants it: one name; `null` in a type list becomes `nullable`.
    fn convert_type(&self, src: &Map<String, Value>, out: &mut Map<String, Value>) {
        let types: Vec<&str> = match src.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let nullable = types.contains(&"null");
        let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        match types.as_slice() {
            [] => {}
            [one] => {
                out.insert("type".into(), json!(one));
                if let Some(format) = src.get("format").and_then(Value::as_str) {
                    if format_supported(one, format) {
                        out.insert("format".into(), json!(format));
                    }
                }
            }
            many => {
                let alts: Vec<Value> = many.iter().map(|t| json!({"type": t})).collect();
                out.insert("anyOf".into(), Value::Array(alts));
            }
        }
        if nullable {
            out.insert("nullable".into(), json!(true));
        }
    }

    /// Gemini enums are strings; other values go into the description instead.
    fn convert_enum(&self, src: &Map<String, Value>, out: &mut Map<String, Value>) {
        let values: Vec<Value> = match (src.get("enum"), src.get("const")) {
            (Some(Value::Array(vs)), _) => vs.clone(),
            (None, Some(c)) => vec![c.clone()],
            _ => return,
        };
        if values.iter().all(Value::is_string) {
            out.insert("type".into(), json!("string"));
            out.insert("enum".into(), Value::Array(values));
            return;
        }
        let listed: Vec<String> = values.iter().map(Value::to_string).collect();
        let note = format!("One of: {}.", listed.join(", "));
        let description = match out.get("description").and_then(Value::as_str) {
            Some(d) => format!("{d} {note}"),
            None => note,
        };
        out.insert("description".into(), json!(description));
    }

    fn convert_any_of(&self, alts: &Value, depth: usize, out: &mut Map<String, Value>) {
        let Some(alts) = alts.as_array() else { return };
        let is_null = |v: &Value| v.get("type") == Some(&json!("null"));
        if alts.iter().any(is_null) {
            out.insert("nullable".into(), json!(true));
        }
        let mut kept: Vec<Value> = alts
            .iter()
            .filter(|a| !is_null(a))
            .map(|a| self.convert(a, depth))
            .collect();
        match kept.len() {
            0 => {}
            1 => merge(out, kept.remove(0)),
            _ => {
                out.insert("anyOf".into(), Value::Array(kept));
            }
        }
    }

    /// A local reference: `#/$defs/Name` or `#/definitions/Name` (JSON pointer).
    fn lookup(&self, target: &str) -> Option<&Value> {
        let pointer = target.strip_prefix('#')?;
        self.root.pointer(pointer)
    }
}

/// Fold a converted sub-schema into `out`: properties and required lists join, other
/// keys are taken where `out` has none.
fn merge(out: &mut Map<String, Value>, part: Value) {
    let Value::Object(part) = part else { return };
    for (key, value) in part {
        match (key.as_str(), out.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                mine.extend(theirs);
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                out.insert(key, value);
            }
        }
    }
}

fn format_supported(ty: &str, format: &str) -> bool {
    matches!(
        (ty, format),
        ("string", "enum" | "date-time")
            | ("integer", "int32" | "int64")
            | ("number", "float" | "double")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_schema_fills_in_what_providers_require() {
        assert_eq!(
            object_schema(&Value::Null),
            json!({"type":"object","properties":{}})
        );
        assert_eq!(
            object_schema(&json!({"properties":{"a":{"type":"string"}}})),
            json!({"properties":{"a":{"type":"string"}},"type":"object"})
        );
        assert_eq!(
            object_schema(&json!({"type":"string"})),
            json!({"type":"object","properties":{}}),
            "a non-object tool schema cannot be sent as tool input"
        );
    }

    #[test]
    fn gemini_drops_unknown_keywords_and_rewrites_the_rest() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "$defs": {"Mode": {"type": "string", "enum": ["fast", "slow"]}},
            "properties": {
                "path": {"type": "string", "description": "File path", "format": "uri"},
                "limit": {"type": ["integer", "null"], "format": "int32", "exclusiveMinimum": 0},
                "mode": {"$ref": "#/$defs/Mode", "description": "How"},
                "level": {"type": "integer", "enum": [1, 2, 3]},
                "kind": {"const": "file"},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "both": {"allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "number"}}, "required": ["b"]}
                ]}
            },
            "required": ["path", "ghost"]
        });
        insta::assert_json_snapshot!(gemini_parameters(&schema));
    }

    #[test]
    fn gemini_omits_parameters_for_tools_without_arguments() {
        assert_eq!(
            gemini_parameters(&json!({"type":"object","properties":{}})),
            None
        );
        assert_eq!(gemini_parameters(&json!({})), None);
    }

    #[test]
    fn recursive_refs_are_cut_off() {
        let schema = json!({
            "type": "object",
            "properties": {"node": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}}
        });
        let out = gemini_parameters(&schema).expect("has properties");
        let mut v = &out["properties"]["node"];
        let mut depth = 0;
        while let Some(child) = v.get("properties").and_then(|p| p.get("child")) {
            v = child;
            depth += 1;
        }
        assert_eq!(depth, MAX_REF_DEPTH);
        assert_eq!(v["description"], json!("(see #/$defs/Node)"));
    }
}
