//! The settings that change while the server runs: what `GET /api/v1/config` shows and
//! `PATCH /api/v1/config` changes. They start from the configuration (file, environment, flags);
//! once an operator has changed them, the stored version wins at the next start.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Config, Plugins, SloTargets};
use crate::domain::strict_json::Strict;

/// Longest period any setting in milliseconds may hold: a day.
const MAX_MS: u64 = 86_400_000;
/// Largest count limit (queues, subscribers, fan-out, requests per second).
const MAX_COUNT: u64 = 1_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Requests per second per token (or client address); 0 turns the limit off.
    pub rate_limit: u32,
    /// Queue-wait target per priority class, in milliseconds.
    pub slo: SloTargets,
    /// First retry delay of a failed task; doubles per attempt.
    pub retry_backoff_ms: u64,
    /// Most unfinished tasks addressed to one agent.
    pub max_agent_queue: usize,
    pub max_topic_subscribers: usize,
    pub max_topic_fanout: usize,
    /// How long finished tasks and supervision history are kept; 0 keeps them for ever.
    pub retention_ms: u64,
    /// How long audit entries are kept; 0 keeps them for ever.
    pub audit_retention_ms: u64,
    /// Shedding, alerts and autoscaler thresholds and bounds.
    pub plugins: Plugins,
    /// What the log shows: a level (`info`) or per-module directives (`info,hive::store=debug`).
    pub log_level: String,
}

/// A setting that is wrong: its path (`slo.normal_ms`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub field: String,
    pub detail: String,
}

fn wrong(field: &str, detail: impl Into<String>) -> SettingError {
    SettingError {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

impl Settings {
    /// The settings a server starts with before any change is stored.
    pub fn from_config(config: &Config, log_level: &str) -> Self {
        Self {
            rate_limit: config.rate_limit,
            slo: config.slo.clone(),
            retry_backoff_ms: config.retry_backoff_ms,
            max_agent_queue: config.max_agent_queue,
            max_topic_subscribers: config.max_topic_subscribers,
            max_topic_fanout: config.max_topic_fanout,
            retention_ms: config.retention_ms,
            audit_retention_ms: config.audit_retention_ms,
            plugins: config.plugins.clone(),
            log_level: log_level.to_owned(),
        }
    }

    /// These settings with a JSON merge patch (RFC 7396) applied, checked as a whole: the first
    /// wrong field, by path, if any. Nothing is half-applied: the answer is new settings or an
    /// error.
    pub fn patched(&self, patch: &Value) -> Result<Settings, SettingError> {
        if !patch.is_object() {
            return Err(wrong(
                "body",
                "a merge patch of the settings is a JSON object",
            ));
        }
        let mut doc = serde_json::to_value(self).map_err(|e| wrong("", e.to_string()))?;
        json_patch::merge(&mut doc, patch);
        Self::read(doc)
    }

    /// Settings from their JSON, checked.
    pub fn read(doc: Value) -> Result<Settings, SettingError> {
        // The path names an unknown key itself; a missing one (removed with null) is named
        // from the message, as the path stops at its parent.
        let settings: Settings = serde_path_to_error::deserialize(Strict(doc)).map_err(|e| {
            let path = e.path().to_string();
            let detail = e.into_inner().to_string();
            let missing = detail
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            let field = match missing {
                Some(key) if path == "." => key.to_owned(),
                Some(key) => format!("{path}.{key}"),
                None => path,
            };
            SettingError { field, detail }
        })?;
        settings.check()?;
        Ok(settings)
    }

    /// Bounds a parser does not know.
    fn check(&self) -> Result<(), SettingError> {
        let count = |field: &str, v: u64, min: u64| {
            if (min..=MAX_COUNT).contains(&v) {
                Ok(())
            } else {
                Err(wrong(
                    field,
                    format!("must be between {min} and {MAX_COUNT}"),
                ))
            }
        };
        let ms = |field: &str, v: u64, min: u64| {
            if (min..=MAX_MS).contains(&v) {
                Ok(())
            } else {
                Err(wrong(
                    field,
                    format!("must be between {min} and {MAX_MS} ms"),
                ))
            }
        };
        count("rate_limit", u64::from(self.rate_limit), 0)?;
        for (name, v) in [
            ("slo.critical_ms", self.slo.critical_ms),
            ("slo.high_ms", self.slo.high_ms),
            ("slo.normal_ms", self.slo.normal_ms),
            ("slo.low_ms", self.slo.low_ms),
        ] {
            ms(name, v, 1)?;
        }
        ms("retry_backoff_ms", self.retry_backoff_ms, 1)?;
        count("max_agent_queue", self.max_agent_queue as u64, 1)?;
        count(
            "max_topic_subscribers",
            self.max_topic_subscribers as u64,
            1,
        )?;
        count("max_topic_fanout", self.max_topic_fanout as u64, 1)?;
        for (name, v) in [
            ("retention_ms", self.retention_ms),
            ("audit_retention_ms", self.audit_retention_ms),
        ] {
            // 0 keeps for ever; anything shorter than a second would delete what was just done.
            if v != 0 && !(1_000..=365 * MAX_MS).contains(&v) {
                return Err(wrong(
                    name,
                    "must be 0 (keep for ever) or 1,000 ms to 365 days",
                ));
            }
        }
        let plugins = &self.plugins;
        ms("plugins.shedding.hold_ms", plugins.shedding.hold_ms, 0)?;
        ms("plugins.alerts.cooldown_ms", plugins.alerts.cooldown_ms, 0)?;
        ms("plugins.alerts.timeout_ms", plugins.alerts.timeout_ms, 1)?;
        ms("plugins.autoscaler.idle_ms", plugins.autoscaler.idle_ms, 0)?;
        ms(
            "plugins.autoscaler.cooldown_ms",
            plugins.autoscaler.cooldown_ms,
            0,
        )?;
        for (field, v) in [
            (
                "plugins.shedding.min_confidence",
                plugins.shedding.min_confidence,
            ),
            (
                "plugins.alerts.min_confidence",
                plugins.alerts.min_confidence,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(wrong(field, "must be between 0 and 1"));
            }
        }
        plugins
            .validate()
            .map_err(|e| wrong("plugins", e.to_string()))?;
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| wrong("log_level", format!("not a level or directive list: {e}")))?;
        Ok(())
    }
}

/// The merge patch that turns `from` into `to` (RFC 7396): changed members as they are in `to`,
/// removed ones as null, objects compared member by member. What history shows a rollback did.
pub fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (key, new) in b {
                match a.get(key) {
                    Some(old) if old == new => {}
                    Some(old) if old.is_object() && new.is_object() => {
                        patch.insert(key.clone(), diff(old, new));
                    }
                    _ => {
                        patch.insert(key.clone(), new.clone());
                    }
                }
            }
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Settings {
        Settings::from_config(&Config::default(), "info")
    }

    #[test]
    fn a_patch_changes_what_it_names_and_keeps_the_rest() {
        let s = base()
            .patched(&json!({"slo": {"normal_ms": 750}, "rate_limit": 20}))
            .unwrap();
        assert_eq!(s.slo.normal_ms, 750);
        assert_eq!(s.slo.high_ms, base().slo.high_ms);
        assert_eq!(s.rate_limit, 20);
    }

    #[test]
    fn a_wrong_patch_names_the_field_and_changes_nothing() {
        let e = base()
            .patched(&json!({"slo": {"normal_ms": 0}}))
            .unwrap_err();
        assert_eq!(e.field, "slo.normal_ms");
        let e = base()
            .patched(&json!({"slo": {"norml_ms": 5}}))
            .unwrap_err();
        assert_eq!(e.field, "slo.norml_ms");
        assert!(e.detail.contains("unknown field"), "{}", e.detail);
        let e = base().patched(&json!({"colour": "blue"})).unwrap_err();
        assert_eq!(e.field, "colour");
        let e = base().patched(&json!({"rate_limit": "fast"})).unwrap_err();
        assert_eq!(e.field, "rate_limit");
        let e = base()
            .patched(&json!({"log_level": "info,[[["}))
            .unwrap_err();
        assert_eq!(e.field, "log_level");
        let e = base()
            .patched(&json!({"plugins": {"shedding": {"min_confidence": 2.0}}}))
            .unwrap_err();
        assert_eq!(e.field, "plugins.shedding.min_confidence");
        // A setting that may not be left out cannot be removed with null.
        assert_eq!(
            base()
                .patched(&json!({"rate_limit": null}))
                .unwrap_err()
                .field,
            "rate_limit"
        );
    }

    #[test]
    fn the_diff_of_two_settings_patches_one_into_the_other() {
        let from = serde_json::to_value(base()).unwrap();
        let changed = base()
            .patched(&json!({"slo": {"low_ms": 60_000}, "log_level": "debug"}))
            .unwrap();
        let to = serde_json::to_value(&changed).unwrap();
        let patch = diff(&from, &to);
        assert_eq!(
            patch,
            json!({"slo": {"low_ms": 60_000}, "log_level": "debug"})
        );
        let again = serde_json::to_value(base().patched(&patch).unwrap()).unwrap();
        assert_eq!(again, to);
    }
}
