//! What a plugin is: an actor under the `plugins` supervisor, told of every monitor sample.

use actix::prelude::*;
use hive_actors::Shutdown;

use crate::snapshots::monitor::Insight;

/// A plugin: an actor told of every monitor sample.
pub trait Plugin: Actor<Context = Context<Self>> + Handler<Insight> + Handler<Shutdown> {
    /// Its name in the supervision tree and in metrics.
    const NAME: &'static str;
}
