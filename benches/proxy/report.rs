//! The figures as a table on stdout and as JSON.

use serde_json::{json, Value};

/// How a figure compares with direct.
#[derive(Debug, Clone, Copy)]
pub enum Versus {
    /// proxy − direct, same unit.
    Added(f64),
    /// proxy / direct.
    Ratio(f64),
}

/// A target and whether it was met.
#[derive(Debug, Clone)]
pub struct Goal {
    pub text: String,
    pub met: bool,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: &'static str,
    pub figure: String,
    pub unit: &'static str,
    pub direct: Option<f64>,
    pub proxy: Option<f64>,
    pub versus: Option<Versus>,
    pub goal: Option<Goal>,
}

impl Row {
    pub fn new(key: &'static str, figure: impl Into<String>, unit: &'static str) -> Row {
        Row {
            key,
            figure: figure.into(),
            unit,
            direct: None,
            proxy: None,
            versus: None,
            goal: None,
        }
    }

    pub fn direct(mut self, v: f64) -> Row {
        self.direct = Some(v);
        self
    }

    pub fn proxy(mut self, v: f64) -> Row {
        self.proxy = Some(v);
        self
    }

    /// proxy − direct.
    pub fn added(mut self) -> Row {
        if let (Some(d), Some(p)) = (self.direct, self.proxy) {
            self.versus = Some(Versus::Added(p - d));
        }
        self
    }

    /// proxy / direct.
    pub fn ratio(mut self) -> Row {
        if let (Some(d), Some(p)) = (self.direct, self.proxy) {
            self.versus = Some(Versus::Ratio(p / d));
        }
        self
    }

    /// The added value (or the proxy's own, when there is no direct) must be below `limit`.
    pub fn below(mut self, limit: f64) -> Row {
        let v = match self.versus {
            Some(Versus::Added(a)) => a,
            _ => self.proxy.unwrap_or(f64::NAN),
        };
        self.goal = Some(Goal {
            text: format!("< {} {}", num(limit), self.unit),
            met: v < limit,
        });
        self
    }

    /// The ratio must be at least `min`.
    pub fn at_least_ratio(mut self, min: f64) -> Row {
        let met = matches!(self.versus, Some(Versus::Ratio(r)) if r >= min);
        self.goal = Some(Goal {
            text: format!(">= {min}x direct"),
            met,
        });
        self
    }

    /// The proxy's value must equal `want`.
    pub fn equals(mut self, want: f64) -> Row {
        self.goal = Some(Goal {
            text: format!("= {}", num(want)),
            met: self.proxy == Some(want) && self.direct.is_none_or(|d| d == want),
        });
        self
    }

    fn to_json(&self) -> Value {
        let (added, ratio) = match self.versus {
            Some(Versus::Added(a)) => (Some(a), None),
            Some(Versus::Ratio(r)) => (None, Some(r)),
            None => (None, None),
        };
        json!({
            "key": self.key, "figure": self.figure, "unit": self.unit,
            "direct": self.direct.map(finite), "proxy": self.proxy.map(finite),
            "added": added.map(finite), "ratio": ratio.map(finite),
            "target": self.goal.as_ref().map(|g| g.text.clone()),
            "met": self.goal.as_ref().map(|g| g.met),
        })
    }
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// A number with as many decimals as its size deserves.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 || v == v.trunc() && a >= 10.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Prints the table.
pub fn print_table(rows: &[Row]) {
    let w = rows
        .iter()
        .map(|r| r.figure.len())
        .max()
        .unwrap_or(20)
        .max(20);
    println!(
        "{:<4}{:<w$}  {:>11}  {:>11}  {:>13}  {:>14}  met",
        "#", "figure", "direct", "proxy", "added/ratio", "target"
    );
    println!(
        "{}",
        "-".repeat(w + 4 + 2 + 11 + 2 + 11 + 2 + 13 + 2 + 14 + 5)
    );
    for r in rows {
        let val = |v: Option<f64>| v.map_or("".to_string(), |v| format!("{} {}", num(v), r.unit));
        let vs = match r.versus {
            Some(Versus::Added(a)) => {
                format!("{}{} {}", if a >= 0.0 { "+" } else { "" }, num(a), r.unit)
            }
            Some(Versus::Ratio(x)) => format!("{x:.2}x"),
            None => String::new(),
        };
        let (goal, met) = match &r.goal {
            Some(g) => (g.text.clone(), if g.met { "yes" } else { "NO" }),
            None => (String::new(), ""),
        };
        println!(
            "{:<4}{:<w$}  {:>11}  {:>11}  {:>13}  {:>14}  {met}",
            r.key,
            r.figure,
            val(r.direct),
            val(r.proxy),
            vs,
            goal
        );
    }
}

/// The rows as JSON values.
pub fn rows_json(rows: &[Row]) -> Value {
    Value::Array(rows.iter().map(Row::to_json).collect())
}
