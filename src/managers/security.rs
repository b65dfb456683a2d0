//! The SecurityManager actor: owns the access policy the HTTP layer applies. Request checks read
//! its published snapshot, never its mailbox.

use std::sync::Arc;

use actix::prelude::*;
use arc_swap::ArcSwap;
use hive_actors::Shutdown;

use crate::config::Config;

/// What the HTTP layer enforces.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// Without API tokens the API is open, so the server serves loopback clients only.
    pub loopback_only: bool,
}

pub struct SecurityManager {
    policy: Arc<ArcSwap<AccessPolicy>>,
}

impl SecurityManager {
    pub fn new(config: &Config, policy: Arc<ArcSwap<AccessPolicy>>) -> Self {
        let loopback_only = config.addr.ip().is_loopback();
        policy.store(Arc::new(AccessPolicy { loopback_only }));
        Self { policy }
    }
}

impl Actor for SecurityManager {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if self.policy.load().loopback_only {
            tracing::info!(
                "no API tokens are configured: the API is open to loopback clients only"
            );
        }
    }
}

impl Handler<Shutdown> for SecurityManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
