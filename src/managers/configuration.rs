//! The ConfigurationManager actor: owns the typed configuration the server runs with and answers
//! for it. Settings that can change at run time go through it, so there is one writer.

use std::sync::Arc;

use actix::prelude::*;
use hive_actors::Shutdown;

use crate::config::Config;

#[derive(Message)]
#[rtype(result = "Arc<Config>")]
pub struct CurrentConfig;

pub struct ConfigurationManager {
    config: Arc<Config>,
}

impl ConfigurationManager {
    pub fn new(config: Arc<Config>) -> Self {
        Self { config }
    }
}

impl Actor for ConfigurationManager {
    type Context = Context<Self>;
}

impl Handler<CurrentConfig> for ConfigurationManager {
    type Result = MessageResult<CurrentConfig>;

    fn handle(&mut self, _: CurrentConfig, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.config.clone())
    }
}

impl Handler<Shutdown> for ConfigurationManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
