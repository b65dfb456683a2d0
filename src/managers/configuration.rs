//! The ConfigurationManager actor: owns the live settings (`config::settings`). A change is a
//! JSON merge patch, checked as a whole, stored as a new version (who, what, when), then
//! applied to the running server at once: the settings snapshot every reader reads, the rate
//! limits, the store's retention, the log filter. At start it applies the newest stored version,
//! so a restart keeps what operators changed; on several nodes each applies the versions
//! another node stored, when that node announces one and every few seconds in case the
//! announcement was lost.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::Shutdown;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::bus::event::{ConfigChanged, Event};
use crate::config::settings::{diff, SettingError, Settings};
use crate::context::Hive;
use crate::domain::time::now_ms;
use crate::managers::slot::Slot;
use crate::snapshots::rate_limits::RateLimits;
use crate::store::config_versions::ConfigVersion;
use crate::store::manager::{SetRetention, StoreManager};
use crate::store::retention::Retention;
use crate::store::StoreError;

/// How often a node of several looks for a version another node stored.
const LOOK_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {}", .0.field, .0.detail)]
    Invalid(SettingError),
    #[error("the settings changed meanwhile (now version {0}); read them and try again")]
    Conflict(i64),
    #[error("no version {0} of the settings")]
    UnknownVersion(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The settings now and their version.
pub type Current = (i64, Arc<Settings>);

/// Change the settings by a merge patch, as `author`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PatchConfig {
    pub patch: Value,
    pub author: String,
    pub reply: oneshot::Sender<Result<Current, ConfigError>>,
}

/// Make the settings what they were at `version`, as a new version.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Rollback {
    pub version: i64,
    pub author: String,
    pub reply: oneshot::Sender<Result<Current, ConfigError>>,
}

/// Apply the newest stored version if it is newer than the one applied.
#[derive(Message)]
#[rtype(result = "()")]
struct Reload;

pub struct ConfigurationManager {
    hive: Hive,
    /// Told the retention periods.
    store: Arc<Slot<StoreManager>>,
}

impl ConfigurationManager {
    pub fn new(hive: Hive, store: Arc<Slot<StoreManager>>) -> Self {
        Self { hive, store }
    }

    /// Version `version` (by `author`) from now on, everywhere it acts; announced as applied
    /// on this node.
    fn apply(&self, version: i64, settings: Settings, author: String) {
        let before = self.hive.settings.load();
        if before.rate_limit != settings.rate_limit {
            self.hive
                .rate_limits
                .store(RateLimits::new(settings.rate_limit).map(Arc::new));
        }
        if before.log_level != settings.log_level {
            if let Err(e) = crate::config::log_level::set(&settings.log_level) {
                tracing::warn!(error = %e, "cannot change the log level");
            }
        }
        if (before.retention_ms, before.audit_retention_ms)
            != (settings.retention_ms, settings.audit_retention_ms)
        {
            if let Some(store) = self.store.get() {
                let retention = Retention::new(settings.retention_ms, settings.audit_retention_ms);
                self.hive
                    .kinds
                    .store
                    .do_send(&store, SetRetention(retention));
            }
        }
        self.hive.settings.set(version, settings);
        self.hive.metrics.config_version.set(version);
        tracing::info!(version, %author, "settings applied");
        let node = self.hive.cluster().map(|c| c.node.to_string());
        self.hive.bus.publish(Event::ConfigChanged(ConfigChanged {
            version,
            author,
            node,
        }));
    }

    /// Store `settings` as the next version and apply it; answered with it, or why not.
    fn change(
        &mut self,
        settings: Settings,
        patch: Value,
        author: String,
        reply: oneshot::Sender<Result<Current, ConfigError>>,
        ctx: &mut Context<Self>,
    ) {
        let version = self.hive.settings.version() + 1;
        let row = match serde_json::to_string(&settings) {
            Ok(text) => ConfigVersion {
                version,
                settings: text,
                patch: patch.to_string(),
                author: author.clone(),
                at: now_ms(),
            },
            Err(e) => {
                let _ = reply.send(Err(StoreError::Corrupt(e.to_string()).into()));
                return;
            }
        };
        // The settings as the server started are version 0, stored with the first change, so
        // that a rollback can return to them.
        let start = (version == 1).then(|| ConfigVersion {
            version: 0,
            settings: serde_json::to_string(&*self.hive.settings.load()).unwrap_or_default(),
            patch: "{}".into(),
            author: "start".into(),
            at: row.at,
        });
        let store = self.hive.store.clone();
        // Waited on: one change at a time here, each on the version before it.
        ctx.wait(
            async move {
                if let Some(start) = start {
                    store.add_config_version(&start).await?;
                }
                store.add_config_version(&row).await
            }
            .into_actor(self)
            .map(move |added, act, ctx| match added {
                Ok(true) => {
                    act.apply(version, settings, author);
                    let _ = reply.send(Ok((version, act.hive.settings.load())));
                }
                Ok(false) => {
                    // Another node stored that version: catch up, and say so.
                    ctx.notify(Reload);
                    let _ = reply.send(Err(ConfigError::Conflict(version)));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            }),
        );
    }
}

impl Actor for ConfigurationManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.hive.kinds.configuration.actor_started();
        // The stored settings before anything else is asked of this manager.
        ctx.notify(Reload);
        if self.hive.cluster().is_some() {
            ctx.run_interval(LOOK_EVERY, |_, ctx| ctx.notify(Reload));
            let mut events = self.hive.bus.subscribe();
            let me = ctx.address();
            ctx.spawn(
                async move {
                    use tokio::sync::broadcast::error::RecvError;
                    loop {
                        match events.recv().await {
                            Ok(p) if matches!(&p.event, Event::Relayed { kind, .. } if *kind == "config.changed") => {
                                me.do_send(Reload)
                            }
                            Ok(_) => {}
                            Err(RecvError::Lagged(_)) => me.do_send(Reload),
                            Err(RecvError::Closed) => return,
                        }
                    }
                }
                .into_actor(self),
            );
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.hive.kinds.configuration.actor_stopped();
    }
}

impl Handler<Reload> for ConfigurationManager {
    type Result = ();

    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        let store = self.hive.store.clone();
        ctx.wait(
            async move { store.latest_config().await }
                .into_actor(self)
                .map(|latest, act, _| {
                    match latest {
                        Ok(Some(latest)) if latest.version > act.hive.settings.version() => {
                            act.apply_stored(latest)
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the stored settings; keeping these")
                        }
                    }
                    // Ready to serve once the stored settings are applied (or known to be none).
                    act.hive.recovered.send_modify(|r| r.settings = true);
                }),
        );
    }
}

impl ConfigurationManager {
    /// Apply a version another process stored. Read over the settings now, so that one stored
    /// by an older server (without a setting added since) keeps that setting as it is.
    fn apply_stored(&self, latest: ConfigVersion) {
        let read = serde_json::from_str::<Value>(&latest.settings)
            .map_err(|e| e.to_string())
            .and_then(|stored| {
                let mut doc =
                    serde_json::to_value(&*self.hive.settings.load()).map_err(|e| e.to_string())?;
                json_patch::merge(&mut doc, &stored);
                Settings::read(doc).map_err(|e| format!("{}: {}", e.field, e.detail))
            });
        match read {
            Ok(settings) => self.apply(latest.version, settings, latest.author),
            Err(e) => {
                tracing::error!(version = latest.version, error = %e, "cannot apply the stored settings; keeping these")
            }
        }
    }
}

impl Handler<PatchConfig> for ConfigurationManager {
    type Result = ();

    fn handle(&mut self, msg: PatchConfig, ctx: &mut Context<Self>) {
        self.hive.kinds.configuration.handled();
        let PatchConfig {
            patch,
            author,
            reply,
        } = msg;
        match self.hive.settings.load().patched(&patch) {
            Ok(settings) => self.change(settings, patch, author, reply, ctx),
            Err(e) => {
                let _ = reply.send(Err(ConfigError::Invalid(e)));
            }
        }
    }
}

impl Handler<Rollback> for ConfigurationManager {
    type Result = ();

    fn handle(&mut self, msg: Rollback, ctx: &mut Context<Self>) {
        self.hive.kinds.configuration.handled();
        let Rollback {
            version,
            author,
            reply,
        } = msg;
        let store = self.hive.store.clone();
        ctx.wait(
            async move { store.config_version(version).await }
                .into_actor(self)
                .map(move |found, act, ctx| {
                    let old = match found {
                        Ok(Some(old)) => old,
                        Ok(None) => {
                            let _ = reply.send(Err(ConfigError::UnknownVersion(version)));
                            return;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e.into()));
                            return;
                        }
                    };
                    let now = serde_json::to_value(&*act.hive.settings.load()).unwrap_or_default();
                    let target = serde_json::from_str::<Value>(&old.settings).unwrap_or_default();
                    // What the rollback changes, as a merge patch: history shows it like any
                    // other change.
                    let mut patch = diff(&now, &target);
                    if let Value::Object(fields) = &mut patch {
                        // Settings added since that version are kept as they are.
                        fields.retain(|_, v| !v.is_null());
                    }
                    match act.hive.settings.load().patched(&patch) {
                        Ok(settings) => act.change(settings, patch, author, reply, ctx),
                        Err(e) => {
                            let _ = reply.send(Err(ConfigError::Invalid(e)));
                        }
                    }
                }),
        );
    }
}

impl Handler<Shutdown> for ConfigurationManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
