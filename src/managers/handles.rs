//! The current address of each manager, as the layers above reach them.

use std::sync::Arc;

use hive_actors::Supervisor;

use super::communication::CommunicationManager;
use super::configuration::ConfigurationManager;
use super::lifecycle::LifecycleManager;
use super::orchestrator::Orchestrator;
use super::performance::PerformanceManager;
use super::security::SecurityManager;
use super::slot::Slot;
use crate::store::manager::StoreManager;

/// The managers of the tree, as their supervisors last started them. Owned by the managers layer
/// and handed to what needs them: the HTTP handlers and the plugins take the whole set; each
/// manager takes the slots of the managers it talks to; the agents and the cluster reach the
/// orchestrator behind ports they define ([`super::to_orchestrator`]).
#[derive(Default)]
pub struct Handles {
    pub store: Arc<Slot<StoreManager>>,
    pub configuration: Arc<Slot<ConfigurationManager>>,
    pub security: Arc<Slot<SecurityManager>>,
    pub communication: Arc<Slot<CommunicationManager>>,
    pub orchestrator: Arc<Slot<Orchestrator>>,
    pub lifecycle_supervisor: Arc<Slot<Supervisor>>,
    pub lifecycle: Arc<Slot<LifecycleManager>>,
    pub performance: Arc<Slot<PerformanceManager>>,
}
