//! Cost estimates: token usage times a price table in USD per million tokens.
//!
//! The built-in prices are list prices at the time of writing and only estimates;
//! `[providers.prices]` in the config adds or replaces entries.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::Usage;

/// USD per million tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning included).
    pub output: f64,
    /// Input tokens read from the provider's cache; the input price when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

impl Price {
    /// The cost of `usage` in USD. `usage.input_tokens` counts cached tokens too.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        let per_token = |price: f64, tokens: u64| price * tokens as f64 / 1_000_000.0;
        per_token(self.input, fresh)
            + per_token(self.cached_input.unwrap_or(self.input), cached)
            + per_token(self.output, usage.output_tokens)
    }
}

/// Prices keyed by `provider:model`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    entries: IndexMap<String, Price>,
}

impl PriceTable {
    /// The built-in list prices (estimates).
    pub fn builtin() -> Self {
        let p = |input, output, cached| Price {
            input,
            output,
            cached_input: Some(cached),
        };
        let entries = [
            ("anthropic:claude-haiku-4-5", p(1.0, 5.0, 0.1)),
            ("anthropic:claude-sonnet-4-5", p(3.0, 15.0, 0.3)),
            ("anthropic:claude-opus-4-5", p(5.0, 25.0, 0.5)),
            ("openai:gpt-5", p(1.25, 10.0, 0.125)),
            ("openai:gpt-5-mini", p(0.25, 2.0, 0.025)),
            ("gemini:gemini-2.5-pro", p(1.25, 10.0, 0.125)),
            ("gemini:gemini-2.5-flash", p(0.30, 2.50, 0.03)),
        ];
        Self {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }

    /// Add or replace entries (keys are `provider:model`).
    pub fn extend(&mut self, entries: impl IntoIterator<Item = (String, Price)>) {
        self.entries.extend(entries);
    }

    /// The price for `provider:model`, else for the same model id under another
    /// provider (the session's `inherit` upstream bills like `openai`).
    pub fn price(&self, provider: &str, model: &str) -> Option<&Price> {
        self.entries
            .get(&format!("{provider}:{model}"))
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|(key, _)| key.split_once(':').is_some_and(|(_, m)| m == model))
                    .map(|(_, price)| price)
            })
    }

    /// Estimated cost in USD, None when the model has no price.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        self.price(provider, model).map(|p| p.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, cached: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
        }
    }

    #[test]
    fn cost_splits_cached_and_fresh_input() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cached_input: Some(0.3),
        };
        // 800k fresh * $3 + 200k cached * $0.3 + 100k out * $15 = 2.4 + 0.06 + 1.5
        let c = price.cost(&usage(1_000_000, 200_000, 100_000));
        assert!((c - 3.96).abs() < 1e-9, "{c}");
        let no_cache_price = Price {
            cached_input: None,
            ..price
        };
        let c = no_cache_price.cost(&usage(1_000_000, 200_000, 0));
        assert!((c - 3.0).abs() < 1e-9, "{c}");
    }

    #[test]
    fn looks_up_exact_then_by_model_id() {
        let mut t = PriceTable::builtin();
        t.extend([(
            "chat:llama-3.3-70b".to_owned(),
            Price {
                input: 0.6,
                output: 1.2,
                cached_input: None,
            },
        )]);
        let c = t
            .cost("chat", "llama-3.3-70b", &usage(1_000_000, 0, 1_000_000))
            .expect("priced");
        assert!((c - 1.8).abs() < 1e-9, "{c}");
        let openai = t.price("openai", "gpt-5").copied();
        assert!(openai.is_some());
        assert_eq!(t.price("inherit", "gpt-5").copied(), openai);
        assert_eq!(t.cost("chat", "unknown-model", &usage(1, 0, 1)), None);
    }

    #[test]
    fn overrides_replace_builtins() {
        let mut t = PriceTable::builtin();
        let cheap = Price {
            input: 0.0,
            output: 0.0,
            cached_input: None,
        };
        t.extend([("openai:gpt-5".to_owned(), cheap)]);
        assert_eq!(t.price("openai", "gpt-5"), Some(&cheap));
    }
}
