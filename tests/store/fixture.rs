//! A migrated database with its writer (a running StoreManager) and its read side.

use std::sync::Arc;

use actix::prelude::*;
use hive::bus::event::TaskChange;
use hive::bus::EventBus;
use hive::domain::agent::AgentInfo;
use hive::domain::task::{NewTask, Priority, TaskRecord, TaskStatus};
use hive::domain::time::now_ms;
use hive::metrics::Metrics;
use hive::store::manager::{Created, Flush, Persist, Prune, StoreManager, Write};
use hive::store::retention::{Cutoffs, Pruned, Retention};
use hive::store::{Database, Store};
use hive_actors::{ExitSlot, MailboxProbe};
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::postgres_schema::{self, Schema};

pub struct Fixture {
    pub database: Database,
    pub store: Store,
    pub writer: Addr<StoreManager>,
    pub metrics: Arc<Metrics>,
    /// Migrations the fixture's own migration run applied.
    pub migrated: usize,
    /// What the writer released since the last look (see [`Fixture::released`]).
    released: Arc<Released>,
    _sqlite_dir: Option<TempDir>,
    _schema: Option<Schema>,
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::Sqlite(dir.path().join("hive.db"));
        Self::open(database, Some(dir), None).await
    }

    pub async fn postgres(test: &str) -> Option<Fixture> {
        let schema = postgres_schema::schema(test).await?;
        let database = Database::Postgres(schema.url.clone());
        Some(Self::open(database, None, Some(schema)).await)
    }

    async fn open(database: Database, dir: Option<TempDir>, schema: Option<Schema>) -> Fixture {
        let migrated = database.migrate().await.expect("migrations apply");
        let metrics = Arc::new(Metrics::new().unwrap());
        let released = Arc::new(Released::default());
        let writer = StoreManager::new(
            database.clone(),
            ExitSlot::default(),
            Arc::new(MailboxProbe::new("store", 4096)),
            metrics.clone(),
            EventBus::default(),
            // Retention runs only when a case asks (`Fixture::prune`), with the cut-offs it gives.
            Retention::default(),
        )
        .releasing_to(released.clone())
        .start();
        Fixture {
            store: Store::new(&database),
            database,
            writer,
            metrics,
            migrated,
            released,
            _sqlite_dir: dir,
            _schema: schema,
        }
    }

    /// Send a new task and wait for the commit that holds it.
    pub async fn create(&self, task: TaskRecord) -> Created {
        let (reply, committed) = oneshot::channel();
        self.writer
            .send(Persist(Write::CreateTask {
                task,
                clock: None,
                reply,
            }))
            .await
            .unwrap();
        committed.await.unwrap().expect("the task is stored")
    }

    /// Send a new state without waiting; [`Fixture::flush`] waits for it.
    pub fn update(&self, task: &TaskRecord, change: Option<TaskChange>) {
        let (spec, state) = task.clone().split();
        self.writer.do_send(Persist(Write::UpdateTask {
            spec,
            state,
            change,
            agent_state: None,
            sends: Vec::new(),
        }));
    }

    /// The tasks the writer's commits released since the last call.
    pub fn released(&self) -> Vec<TaskRecord> {
        std::mem::take(&mut *self.released.0.lock().unwrap())
    }

    pub async fn status(&self, id: &str) -> TaskStatus {
        self.store
            .task(id)
            .await
            .unwrap()
            .expect("the task exists")
            .status
    }

    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.writer.send(Flush(tx)).await.unwrap();
        rx.await.unwrap();
    }

    /// One retention pass with these cut-offs, once everything sent before it is committed.
    pub async fn prune(&self, cutoffs: Cutoffs) -> Pruned {
        self.flush().await;
        let (reply, done) = oneshot::channel();
        self.writer.send(Prune { cutoffs, reply }).await.unwrap();
        done.await.unwrap().expect("the retention pass commits")
    }

    pub async fn create_agents(&self, agents: Vec<AgentInfo>) {
        let (reply, committed) = oneshot::channel();
        self.writer
            .send(Persist(Write::CreateAgents {
                agents,
                state: None,
                topics: Vec::new(),
                reply,
            }))
            .await
            .unwrap();
        committed.await.unwrap().expect("agents are stored");
    }
}

/// Whoever runs tasks, as the writer sees it: here, a list of what it released.
#[derive(Default)]
pub struct Released(std::sync::Mutex<Vec<TaskRecord>>);

impl hive::store::workflow::Releases for Released {
    fn released(&self, tasks: Vec<TaskRecord>) {
        self.0.lock().unwrap().extend(tasks);
    }
}

/// A queued task of `role` and `priority`, accepted now as a client's request would be.
pub fn task(role: &str, priority: Priority) -> TaskRecord {
    let request =
        json!({"role": role, "input": {"op": "echo", "value": role}, "priority": priority});
    let new: NewTask = serde_json::from_value(request).unwrap();
    TaskRecord::accepted(new, role.to_owned().try_into().unwrap(), now_ms())
}
