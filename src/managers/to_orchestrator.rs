//! The orchestrator behind the ports of the layers below it: the agents report through
//! [`Reports`], the cluster hands over work through [`TaskHolder`].

use std::sync::Arc;

use actix::prelude::*;

use super::orchestrator::Orchestrator;
use super::slot::Slot;
use crate::agents::report::{AgentUp, Reports, TaskFinished};
use crate::cluster::port::{Adopt, LeaseChanged, Release, TaskHolder, Wanted};
use crate::context::Hive;

/// The orchestrator as the agents and the cluster reach it: through its current address, past
/// its mailbox probe. A message for an orchestrator between incarnations is dropped; the
/// orchestrator's recovery takes over what it would have said.
pub struct ToOrchestrator {
    hive: Hive,
    orchestrator: Arc<Slot<Orchestrator>>,
}

impl ToOrchestrator {
    pub fn new(hive: Hive, orchestrator: Arc<Slot<Orchestrator>>) -> Arc<Self> {
        Arc::new(Self { hive, orchestrator })
    }

    fn send<M>(&self, message: M)
    where
        Orchestrator: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        if let Some(orchestrator) = self.orchestrator.get() {
            self.hive.kinds.orchestrator.do_send(&orchestrator, message);
        }
    }
}

impl Reports for ToOrchestrator {
    fn up(&self, message: AgentUp) {
        self.send(message);
    }

    fn finished(&self, message: TaskFinished) {
        self.send(message);
    }
}

impl TaskHolder for ToOrchestrator {
    fn wanted(&self, message: Wanted) {
        self.send(message);
    }

    fn adopt(&self, message: Adopt) {
        self.send(message);
    }

    fn release(&self, message: Release) {
        self.send(message);
    }

    fn lease_changed(&self, message: LeaseChanged) {
        self.send(message);
    }
}

impl crate::store::workflow::Releases for ToOrchestrator {
    fn released(&self, tasks: Vec<crate::domain::task::TaskRecord>) {
        self.send(super::orchestrator::messages::Released(tasks));
    }
}
