//! Each case takes a migrated, empty store; `main.rs` runs it on SQLite and on PostgreSQL.

use futures::future::join_all;
use hive::bus::event::TaskChange;
use hive::domain::agent::{AgentInfo, AgentKind, AgentStatus};
use hive::domain::task::{Priority, TaskStatus};
use hive::domain::time::now_ms;
use hive::store::manager::{Persist, Write};
use hive::store::models::{NewSupervisorEvent, StoredAgent};
use hive::store::retention::{Cutoffs, Pruned};
use hive::store::TaskFilter;
use serde_json::json;

use crate::fixture::{task, Fixture};

pub async fn migrations_run_once_and_then_find_nothing_to_do(f: &Fixture) {
    assert_eq!(f.migrated, 8, "a fresh database gets every migration");
    assert_eq!(f.database.migrate().await.unwrap(), 0);
}

pub async fn a_created_task_reads_back_field_for_field(f: &Fixture) {
    let mut t = task("worker", Priority::High);
    t.input = json!({"op": "echo", "value": {"nested": [1, 2.5, "ünïcode", null]}}).into();
    t.required_capabilities = vec!["gpu".to_owned().try_into().unwrap()]
        .try_into()
        .unwrap();
    t.idempotency_key = Some("order-7".into());
    t.timeout_ms = 1_234;
    t.max_retries = 7;
    let created = f.create(t.clone()).await;
    assert!(!created.existing);
    assert_eq!(created.task, t);
    assert_eq!(f.store.task(&t.id).await.unwrap(), Some(t));
    assert_eq!(f.store.task("no-such-task").await.unwrap(), None);
}

pub async fn a_repeated_idempotency_key_answers_the_first_task_even_within_one_batch(f: &Fixture) {
    let keyed = |key: &str| {
        let mut t = task("worker", Priority::Normal);
        t.idempotency_key = Some(key.to_owned());
        t
    };
    // Sent together, these two land in one batch: the second must still find the first.
    let (first, second) = (keyed("k"), keyed("k"));
    let (a, b) = futures::join!(f.create(first.clone()), f.create(second));
    assert!(!a.existing);
    assert!(b.existing);
    assert_eq!(b.task.id, first.id);
    // And after the commit, in a batch of its own.
    let again = f.create(keyed("k")).await;
    assert!(again.existing);
    assert_eq!(again.task.id, first.id);
    let other = f.create(keyed("other")).await;
    assert!(!other.existing);
    let all = f.store.tasks(&filter(100)).await.unwrap();
    assert_eq!(all.len(), 2, "one row per key");
}

pub async fn the_last_state_wins_and_every_step_is_in_the_history(f: &Fixture) {
    let mut t = task("worker", Priority::Normal);
    f.create(t.clone()).await;
    // Three changes in one batch, as a fast task produces them.
    t.status = TaskStatus::Running;
    t.attempts = 1;
    t.agent_id = Some("agent-1".into());
    t.started_at = Some(now_ms());
    f.update(&t, Some(TaskChange::Started));
    t.status = TaskStatus::Queued;
    t.error = Some("boom".into());
    t.agent_id = None;
    f.update(&t, Some(TaskChange::Retrying));
    t.status = TaskStatus::Running;
    t.attempts = 2;
    t.agent_id = Some("agent-2".into());
    f.update(&t, Some(TaskChange::Started));
    t.status = TaskStatus::Succeeded;
    t.result = Some(json!({"answer": 42}));
    t.error = None;
    t.finished_at = Some(now_ms());
    f.update(&t, Some(TaskChange::Succeeded));
    f.flush().await;

    assert_eq!(f.store.task(&t.id).await.unwrap(), Some(t.clone()));
    let history = f.store.task_events(&t.id).await.unwrap();
    let steps: Vec<(&str, i32, Option<&str>)> = history
        .iter()
        .map(|e| (e.kind.as_str(), e.attempt, e.error.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            ("queued", 0, None),
            ("started", 1, None),
            ("retrying", 1, Some("boom")),
            ("started", 2, None),
            ("succeeded", 2, None),
        ]
    );
    assert_eq!(history[3].agent_id.as_deref(), Some("agent-2"));
}

fn filter(limit: i64) -> TaskFilter {
    TaskFilter {
        limit,
        ..TaskFilter::default()
    }
}

pub async fn lists_filter_by_status_role_priority_and_time_and_page_stably(f: &Fixture) {
    let mut ids = Vec::new();
    for i in 0..12 {
        let role = if i % 2 == 0 { "even" } else { "odd" };
        let priority = if i % 3 == 0 {
            Priority::Low
        } else {
            Priority::High
        };
        let mut t = task(role, priority);
        t.created_at = 1_000 * i;
        ids.push(f.create(t).await.task.id);
    }
    let mut done = f.store.task(&ids[5]).await.unwrap().unwrap();
    done.status = TaskStatus::Cancelled;
    done.finished_at = Some(now_ms());
    f.update(&done, Some(TaskChange::Cancelled));
    f.flush().await;

    let ids_of = |tasks: Vec<hive::domain::task::TaskRecord>| {
        tasks.into_iter().map(|t| t.id).collect::<Vec<_>>()
    };
    let odd = TaskFilter {
        role: Some("odd".to_owned().try_into().unwrap()),
        ..filter(100)
    };
    let expected: Vec<_> = ids.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(ids_of(f.store.tasks(&odd).await.unwrap()), expected);
    let low = TaskFilter {
        priority: Some(Priority::Low),
        ..filter(100)
    };
    let expected: Vec<_> = ids.iter().step_by(3).cloned().collect();
    assert_eq!(ids_of(f.store.tasks(&low).await.unwrap()), expected);
    let cancelled = TaskFilter {
        status: Some(TaskStatus::Cancelled),
        ..filter(100)
    };
    assert_eq!(
        ids_of(f.store.tasks(&cancelled).await.unwrap()),
        [ids[5].clone()]
    );
    // Created in [3 s, 7 s): tasks 3, 4, 5 and 6.
    let window = TaskFilter {
        created_since: Some(3_000),
        created_until: Some(7_000),
        ..filter(100)
    };
    assert_eq!(ids_of(f.store.tasks(&window).await.unwrap()), ids[3..7]);

    // Pages of 5 in id order; a task created between pages does not shift the next page.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = f
            .store
            .tasks(&TaskFilter {
                after: after.clone(),
                ..filter(5)
            })
            .await
            .unwrap();
        if seen.is_empty() {
            f.create(task("late", Priority::Normal)).await;
        }
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        seen.extend(ids_of(page));
    }
    assert_eq!(seen.len(), 13);
    assert_eq!(seen[..12], ids[..]);
}

pub async fn unfinished_tasks_are_the_queued_and_running_ones_oldest_first(f: &Fixture) {
    let queued = f.create(task("w", Priority::Low)).await.task;
    let mut running = f.create(task("w", Priority::Normal)).await.task;
    let mut finished = f.create(task("w", Priority::Normal)).await.task;
    running.status = TaskStatus::Running;
    running.attempts = 1;
    f.update(&running, Some(TaskChange::Started));
    finished.status = TaskStatus::Dead;
    finished.finished_at = Some(now_ms());
    f.update(&finished, Some(TaskChange::Dead));
    f.flush().await;
    let ids: Vec<_> = f
        .store
        .unfinished_tasks(None, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.status))
        .collect();
    assert_eq!(
        ids,
        [
            (queued.id, TaskStatus::Queued),
            (running.id, TaskStatus::Running)
        ]
    );
    let counts = f.store.task_counts().await.unwrap();
    for (status, n) in [("queued", 1), ("running", 1), ("dead", 1)] {
        assert!(counts.contains(&(status.to_owned(), n)), "{counts:?}");
    }
}

pub async fn agents_keep_status_and_restarts_and_deleted_ones_are_not_started_again(f: &Fixture) {
    let agent = |name: &str| AgentInfo {
        id: uuid::Uuid::now_v7().to_string().into(),
        name: Some(name.into()),
        kind: std::sync::Arc::new(AgentKind {
            role: "worker".to_owned().try_into().unwrap(),
            capabilities: vec!["gpu".to_owned().try_into().unwrap()]
                .try_into()
                .unwrap(),
            executor: Default::default(),
        }),
        created_at: now_ms(),
        node: None,
    };
    let (kept, deleted) = (agent("kept"), agent("deleted"));
    // Created without a name: the default is stored as text and derived again when read.
    let elsewhere = AgentInfo {
        node: Some("node-b".into()),
        name: None,
        ..agent("elsewhere")
    };
    f.create_agents(vec![kept.clone(), deleted.clone(), elsewhere.clone()])
        .await;
    for (info, restarts, is_deleted) in [(&kept, 3, false), (&deleted, 0, true)] {
        f.writer.do_send(Persist(Write::UpdateAgent {
            id: info.id.to_string(),
            status: AgentStatus::Idle,
            restarts,
            deleted: is_deleted,
        }));
    }
    f.flush().await;
    let stored = |info: &AgentInfo, restarts| StoredAgent {
        info: info.clone(),
        restarts,
        state: None,
    };
    assert_eq!(f.store.live_agents(None).await.unwrap(), [stored(&kept, 3)]);
    // Each node starts its own agents; any node can read any agent.
    assert_eq!(
        f.store.live_agents(Some("node-b")).await.unwrap(),
        [stored(&elsewhere, 0)]
    );
    assert_eq!(
        f.store.agent(&elsewhere.id).await.unwrap(),
        Some(stored(&elsewhere, 0))
    );
    assert_eq!(
        elsewhere.name(),
        format!("worker-{}", &elsewhere.id[elsewhere.id.len() - 8..])
    );
    assert_eq!(f.store.agent(&deleted.id).await.unwrap(), None);
}

pub async fn agents_of_one_kind_read_back_share_it(f: &Fixture) {
    let kind = |role: &str| {
        std::sync::Arc::new(AgentKind {
            role: role.to_owned().try_into().unwrap(),
            capabilities: Default::default(),
            executor: Default::default(),
        })
    };
    let (workers, critics) = (kind("worker"), kind("critic"));
    // Ids in creation order: a batch of workers, one critic, another worker of the same kind.
    let agents: Vec<AgentInfo> = [&workers, &workers, &workers, &critics, &workers]
        .into_iter()
        .map(|kind| AgentInfo {
            id: uuid::Uuid::now_v7().to_string().into(),
            name: None,
            kind: kind.clone(),
            created_at: now_ms(),
            node: None,
        })
        .collect();
    f.create_agents(agents.clone()).await;
    f.flush().await;

    let read: Vec<AgentInfo> = f
        .store
        .live_agents(None)
        .await
        .unwrap()
        .into_iter()
        .map(|stored| stored.info)
        .collect();
    assert_eq!(read, agents);
    // A restarted server holds one kind per run of rows, not one per agent.
    let same = |a: usize, b: usize| std::sync::Arc::ptr_eq(&read[a].kind, &read[b].kind);
    assert!(same(0, 1) && same(1, 2), "a batch shares its kind");
    assert!(!same(2, 3) && !same(3, 4));
    assert_eq!(read[4].kind, workers);
}

pub async fn a_task_is_held_by_one_node_and_a_lost_nodes_tasks_move_once(f: &Fixture) {
    let (a, b) = (
        task("worker", Priority::Normal),
        task("worker", Priority::High),
    );
    let done = task("worker", Priority::Normal);
    for t in [&a, &b, &done] {
        f.create(t.clone()).await;
    }
    let mut finished = done.clone();
    finished.status = TaskStatus::Succeeded;
    f.update(&finished, None);
    f.flush().await;

    // Two nodes read the same entries at once: each task goes to exactly one of them, and a
    // finished task to neither.
    let ids = [a.id.as_str(), b.id.as_str(), done.id.as_str()];
    let (one, two) = futures::join!(f.store.take(&ids, "n1"), f.store.take(&ids, "n2"));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.len() + two.len(), 2, "{one:?} {two:?}");
    let holder = |id: &str| {
        if one.iter().any(|t| t.id == id) {
            "n1"
        } else {
            "n2"
        }
    };
    assert!(one.iter().chain(&two).all(|t| t.id != done.id));
    // Taking again what one already holds answers it again (a restart re-reads its entries),
    // and the other node still gets nothing.
    let again = f.store.take(&[a.id.as_str()], holder(&a.id)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].node.as_deref(), Some(holder(&a.id)));
    let other = if holder(&a.id) == "n1" { "n2" } else { "n1" };
    assert!(f
        .store
        .take(&[a.id.as_str()], other)
        .await
        .unwrap()
        .is_empty());

    // n1 and n2 are lost; two survivors race for each: every task moves exactly once.
    let (x, y) = futures::join!(f.store.take_over("n1", "n3"), f.store.take_over("n1", "n4"));
    let (p, q) = futures::join!(f.store.take_over("n2", "n3"), f.store.take_over("n2", "n4"));
    let moved = [x.unwrap(), y.unwrap(), p.unwrap(), q.unwrap()].concat();
    let mut moved_ids: Vec<&str> = moved.iter().map(|t| t.id.as_str()).collect();
    moved_ids.sort();
    let mut expected = vec![a.id.as_str(), b.id.as_str()];
    expected.sort();
    assert_eq!(moved_ids, expected);

    // Fencing (PostgreSQL, which nodes share): the node that held `b` before it was taken over
    // (thought lost, still running) writes nothing more to it; its holder's writes count.
    let shared = f.database.kind() == "postgres";
    let taken_b = moved.iter().find(|t| t.id == b.id).unwrap().clone();
    let mut stale = taken_b.clone();
    stale.node = Some(holder(&b.id).to_owned());
    stale.status = TaskStatus::Succeeded;
    stale.result = Some(json!("from the node that lost it"));
    f.update(&stale, None);
    f.flush().await;
    let stored = f.store.task(&b.id).await.unwrap().unwrap();
    if shared {
        assert_eq!(stored.status, TaskStatus::Queued, "{stored:?}");
    }
    let mut current = taken_b;
    current.status = TaskStatus::Running;
    current.attempts = 1;
    f.update(&current, None);
    f.flush().await;
    assert_eq!(f.store.task(&b.id).await.unwrap().unwrap(), current);

    // A holder lets go of a queued task: unheld again, it is found among the unheld ones.
    let holder_of_a = moved
        .iter()
        .find(|t| t.id == a.id)
        .unwrap()
        .node
        .clone()
        .unwrap();
    assert_eq!(
        f.store
            .release(&[a.id.as_str()], "someone-else")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.store
            .release(&[a.id.as_str()], &holder_of_a)
            .await
            .unwrap(),
        1
    );
    let unheld = f.store.unheld(now_ms() + 1, 10).await.unwrap();
    assert_eq!(
        unheld.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str()]
    );
    assert!(f.store.unheld(a.created_at, 10).await.unwrap().is_empty());
}

pub async fn supervision_decisions_are_kept_in_order_and_filter_by_supervisor(f: &Fixture) {
    for (supervisor, child, kind) in [
        ("pool:worker", "a", "child_exited"),
        ("pool:worker", "a", "child_restarted"),
        ("root", "store", "child_restarted"),
        ("pool:worker", "b", "supervisor_gave_up"),
    ] {
        f.writer
            .do_send(Persist(Write::SupervisorEvent(NewSupervisorEvent {
                at: now_ms(),
                supervisor: supervisor.into(),
                child: child.into(),
                kind,
                reason: Some("panic: boom".into()),
                restarts: Some(1),
            })));
    }
    f.flush().await;
    let pool = f
        .store
        .supervisor_events(Some("pool:worker"), None, 100)
        .await
        .unwrap();
    let kinds: Vec<_> = pool.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["child_exited", "child_restarted", "supervisor_gave_up"]
    );
    let after_first = f
        .store
        .supervisor_events(None, Some(pool[0].id), 2)
        .await
        .unwrap();
    let children: Vec<_> = after_first.iter().map(|e| e.child.as_str()).collect();
    assert_eq!(children, ["a", "store"]);
}

pub async fn concurrent_creates_share_commits_and_every_one_is_readable_once_answered(f: &Fixture) {
    const TASKS: usize = 1_000;
    let created = join_all((0..TASKS).map(|_| async {
        let created = f.create(task("bulk", Priority::Normal)).await;
        // Answered means committed: the read side sees it at once.
        let read = f.store.task(&created.task.id).await.unwrap();
        assert_eq!(read.as_ref(), Some(&created.task));
        created.task.id
    }))
    .await;
    assert_eq!(created.len(), TASKS);
    let commits = f.metrics.store_batch_size.get_sample_count();
    assert!(
        commits < TASKS as u64 / 4,
        "{TASKS} writes sent together took {commits} commits"
    );
}

pub async fn the_sla_rows_measure_queue_wait_from_the_last_time_a_task_became_due(f: &Fixture) {
    let before = now_ms();
    let mut t = task("w", Priority::Critical);
    t.created_at = before - 10_000;
    t.queued_at = before - 300;
    f.create(t.clone()).await;
    t.status = TaskStatus::Succeeded;
    t.attempts = 2;
    t.started_at = Some(before - 100);
    t.finished_at = Some(before + 50);
    f.update(&t, Some(TaskChange::Succeeded));
    // Finished without ever starting (cancelled while queued): no wait or run time to report.
    let mut cancelled = f.create(task("w", Priority::Low)).await.task;
    cancelled.status = TaskStatus::Cancelled;
    cancelled.finished_at = Some(before + 60);
    f.update(&cancelled, Some(TaskChange::Cancelled));
    // Finished before the window.
    let mut old = f.create(task("w", Priority::Critical)).await.task;
    old.status = TaskStatus::Succeeded;
    old.started_at = Some(before - 60_000);
    old.finished_at = Some(before - 50_000);
    f.update(&old, Some(TaskChange::Succeeded));
    f.flush().await;
    let rows = f.store.finished_since(before - 1_000).await.unwrap();
    assert_eq!(rows, [(Priority::Critical, 200, 150)]);
}

/// The status counts as `GET /api/v1/system/status` reads them, every status present.
async fn counts(f: &Fixture) -> std::collections::BTreeMap<String, i64> {
    let mut all: std::collections::BTreeMap<String, i64> = TaskStatus::ALL
        .into_iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    all.extend(f.store.task_counts().await.unwrap());
    all.retain(|_, n| *n != 0);
    all
}

fn count_of(pairs: &[(&str, i64)]) -> std::collections::BTreeMap<String, i64> {
    pairs.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
}

pub async fn status_counts_follow_every_change_of_status_and_only_those(f: &Fixture) {
    let mut a = task("worker", Priority::Normal);
    a.idempotency_key = Some("once".into());
    let b = task("worker", Priority::Normal);
    f.create(a.clone()).await;
    f.create(b.clone()).await;
    // A repeated key stores nothing and counts nothing.
    f.create(a.clone()).await;
    assert_eq!(counts(f).await, count_of(&[("queued", 2)]));

    a.status = TaskStatus::Running;
    a.attempts = 1;
    f.update(&a, Some(TaskChange::Started));
    // The same status again (a new attempt number) is not a change.
    a.attempts = 2;
    f.update(&a, None);
    f.flush().await;
    assert_eq!(counts(f).await, count_of(&[("queued", 1), ("running", 1)]));

    a.status = TaskStatus::Succeeded;
    a.finished_at = Some(now_ms());
    f.update(&a, Some(TaskChange::Succeeded));
    let mut b2 = b.clone();
    b2.status = TaskStatus::Cancelled;
    b2.finished_at = Some(now_ms());
    f.update(&b2, Some(TaskChange::Cancelled));
    f.flush().await;
    assert_eq!(
        counts(f).await,
        count_of(&[("cancelled", 1), ("succeeded", 1)])
    );
}

pub async fn retention_deletes_old_finished_tasks_with_their_history_and_the_counts_follow(
    f: &Fixture,
) {
    let now = now_ms();
    let long_ago = now - 3_600_000;
    let finished = |status: TaskStatus, at: i64| {
        let mut t = task("worker", Priority::Normal);
        t.created_at = at - 10;
        t.status = status;
        t.attempts = 1;
        t.started_at = Some(at - 5);
        t.finished_at = Some(at);
        t
    };
    let old_done = finished(TaskStatus::Succeeded, long_ago);
    let old_dead = finished(TaskStatus::Dead, long_ago + 1);
    let recent = finished(TaskStatus::Succeeded, now);
    // Accepted long ago but still running: never a candidate, however old.
    let mut old_running = task("worker", Priority::Normal);
    old_running.created_at = long_ago - 100;
    for t in [&old_done, &old_dead, &recent, &old_running] {
        let mut queued = t.clone();
        queued.status = TaskStatus::Queued;
        queued.finished_at = None;
        queued.started_at = None;
        f.create(queued).await;
    }
    for t in [&old_done, &old_dead, &recent] {
        f.update(t, Some(TaskChange::Started));
    }
    old_running.status = TaskStatus::Running;
    f.update(&old_running, Some(TaskChange::Started));
    let supervision = |at: i64, child: &str| NewSupervisorEvent {
        at,
        supervisor: "pool:worker".into(),
        child: child.into(),
        kind: "child_restarted",
        reason: Some("panic".into()),
        restarts: Some(1),
    };
    f.writer.do_send(Persist(Write::SupervisorEvent(supervision(
        long_ago, "old",
    ))));
    f.writer
        .do_send(Persist(Write::SupervisorEvent(supervision(now, "new"))));
    let audit = |at: i64, path: &str| hive::store::models::NewAuditEntry {
        at,
        actor: "anonymous".into(),
        role: None,
        client: "127.0.0.1".into(),
        method: "POST".into(),
        path: path.into(),
        status: 202,
        outcome: "ok",
    };
    f.writer.do_send(Persist(Write::Audit(vec![
        audit(long_ago, "/old"),
        audit(now, "/new"),
    ])));
    f.flush().await;
    assert_eq!(
        counts(f).await,
        count_of(&[("dead", 1), ("running", 1), ("succeeded", 2)])
    );

    let an_hour_ago_less_a_minute = Some(now - 60_000);
    let cut = Cutoffs {
        tasks: an_hour_ago_less_a_minute,
        audit: an_hour_ago_less_a_minute,
    };
    let pruned = f.prune(cut).await;
    assert_eq!(
        pruned,
        Pruned {
            tasks: 2,
            // Each pruned task had its queued and started entries.
            task_events: 4,
            supervisor_events: 1,
            audit: 1,
        }
    );
    for gone in [&old_done, &old_dead] {
        assert_eq!(f.store.task(&gone.id).await.unwrap(), None);
        assert!(f.store.task_events(&gone.id).await.unwrap().is_empty());
    }
    assert_eq!(
        f.store.task(&recent.id).await.unwrap().unwrap().id,
        recent.id
    );
    assert_eq!(f.store.task_events(&recent.id).await.unwrap().len(), 2);
    assert!(f.store.task(&old_running.id).await.unwrap().is_some());
    assert_eq!(
        counts(f).await,
        count_of(&[("running", 1), ("succeeded", 1)])
    );
    let children: Vec<String> = f
        .store
        .supervisor_events(None, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.child)
        .collect();
    assert_eq!(children, ["new"]);

    // Nothing is left past the cut-off: a second pass deletes nothing.
    assert_eq!(f.prune(cut).await, Pruned::default());
}

/// An agent's state is written with the result of the attempt that changed it, in one
/// transaction: read back, the two agree; an agent created with a state starts from it.
pub async fn an_agents_state_is_written_with_the_result_that_changed_it(f: &Fixture) {
    let kind = std::sync::Arc::new(AgentKind {
        role: "counter".to_owned().try_into().unwrap(),
        capabilities: Default::default(),
        executor: Default::default(),
    });
    let agent = AgentInfo {
        id: uuid::Uuid::now_v7().to_string().into(),
        name: None,
        kind,
        created_at: now_ms(),
        node: None,
    };
    let (reply, committed) = tokio::sync::oneshot::channel();
    f.writer
        .send(Persist(Write::CreateAgents {
            agents: vec![agent.clone()],
            state: Some(json!({"count": 41})),
            topics: Vec::new(),
            reply,
        }))
        .await
        .unwrap();
    committed.await.unwrap().unwrap();
    let read = f.store.agent(&agent.id).await.unwrap().unwrap();
    assert_eq!(read.state.as_deref(), Some(&json!({"count": 41})));

    let mut addressed = task("counter", Priority::Normal);
    addressed.agent = Some(agent.id.to_string());
    let mut task = f.create(addressed).await.task;
    for count in [42, 43] {
        task.status = TaskStatus::Succeeded;
        task.result = Some(json!({ "count": count }));
        let (spec, state) = task.clone().split();
        f.writer.do_send(Persist(Write::UpdateTask {
            spec,
            state,
            change: Some(TaskChange::Succeeded),
            agent_state: Some((
                agent.id.clone(),
                Some(std::sync::Arc::new(json!({ "count": count }))),
            )),
            sends: Vec::new(),
        }));
    }
    f.flush().await;
    let read = f.store.agent(&agent.id).await.unwrap().unwrap();
    assert_eq!(read.state.as_deref(), Some(&json!({"count": 43})));
    let stored = f.store.task(&task.id).await.unwrap().unwrap();
    assert_eq!(stored.result, Some(json!({"count": 43})));
    assert_eq!(stored.agent.as_deref(), Some(&*agent.id));
    // A null state is stored as such.
    let (spec, state) = task.clone().split();
    f.writer.do_send(Persist(Write::UpdateTask {
        spec,
        state,
        change: None,
        agent_state: Some((agent.id.clone(), None)),
        sends: Vec::new(),
    }));
    f.flush().await;
    assert_eq!(f.store.agent(&agent.id).await.unwrap().unwrap().state, None);
}

/// A lost node's tasks addressed to its agents are not moved: the agents run only there, so the
/// tasks wait for the node, which takes them back when it starts again. Nor are they published
/// to a role's stream when no node holds them.
pub async fn a_lost_nodes_addressed_tasks_wait_for_it(f: &Fixture) {
    let plain = task("worker", Priority::Normal);
    let mut addressed = task("worker", Priority::Normal);
    addressed.agent = Some("agent-on-n1".into());
    for t in [&plain, &addressed] {
        f.create(t.clone()).await;
    }
    let ids = [plain.id.as_str(), addressed.id.as_str()];
    assert_eq!(f.store.take(&ids, "n1").await.unwrap().len(), 2);

    let moved = f.store.take_over("n1", "n2").await.unwrap();
    assert_eq!(
        moved.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [plain.id.as_str()]
    );
    let back = f.store.take_over("n1", "n1").await.unwrap();
    assert_eq!(
        back.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [addressed.id.as_str()]
    );

    let mut loose = task("worker", Priority::Normal);
    loose.agent = Some("agent-on-n1".into());
    f.create(loose).await;
    assert!(f
        .store
        .unheld(now_ms() + 1_000, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A task that depends on others: `waiting` until each has ended; the commit that stores the
/// last one's success queues it with their results (and hands it to whoever runs tasks), the
/// commit that stores a failure cancels it and what waits on it, down the graph.
pub async fn a_dependencys_end_releases_or_cancels_its_dependants_in_its_own_commit(f: &Fixture) {
    let first = f.create(task("w", Priority::Normal)).await.task;
    let other = f.create(task("w", Priority::Normal)).await.task;
    let waiter = |deps: &[&hive::domain::task::TaskRecord]| {
        let mut t = task("w", Priority::Normal);
        t.depends_on = deps.iter().map(|d| d.id.clone()).collect();
        t.status = TaskStatus::Waiting;
        t
    };
    let both = f.create(waiter(&[&first, &other])).await.task;
    assert_eq!(both.status, TaskStatus::Waiting);
    let after = f.create(waiter(&[&both])).await.task;
    let doomed = f.create(waiter(&[&other])).await.task;
    let doomed_too = f.create(waiter(&[&doomed])).await.task;

    let mut done = first.clone();
    done.status = TaskStatus::Succeeded;
    done.result = Some(json!({"v": 1}));
    f.update(&done, Some(TaskChange::Succeeded));
    f.flush().await;
    assert_eq!(
        f.status(&both.id).await,
        TaskStatus::Waiting,
        "one of two ended"
    );
    assert!(f.released().is_empty());

    let mut ended = other.clone();
    ended.status = TaskStatus::Succeeded;
    ended.result = Some(json!("two"));
    // `doomed` waits for `other` too, which succeeds: it is queued, and then fails.
    f.update(&ended, Some(TaskChange::Succeeded));
    f.flush().await;
    let released: Vec<String> = f.released().into_iter().map(|t| t.id).collect();
    let mut expected = vec![both.id.clone(), doomed.id.clone()];
    expected.sort();
    let mut got = released.clone();
    got.sort();
    assert_eq!(got, expected);
    let queued = f.store.task(&both.id).await.unwrap().unwrap();
    assert_eq!(queued.status, TaskStatus::Queued);
    assert_eq!(
        queued.dependencies.as_deref(),
        Some(&json!({ first.id.clone(): {"v": 1}, other.id.clone(): "two" }))
    );
    assert_eq!(f.status(&after.id).await, TaskStatus::Waiting);

    let mut failed = f.store.task(&doomed.id).await.unwrap().unwrap();
    failed.status = TaskStatus::Failed;
    f.update(&failed, Some(TaskChange::Failed));
    f.flush().await;
    let cancelled = f.store.task(&doomed_too.id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(
        cancelled.error.as_deref(),
        Some(&*format!("dependency {} ended failed", doomed.id))
    );
    let dependants = f.store.dependants(&first.id, 10).await.unwrap();
    assert_eq!(dependants.len(), 1);
    assert_eq!(dependants[0].id, both.id);

    // A new task whose dependencies all succeeded already is queued at once, in its own commit.
    let ready = f.create(waiter(&[&first, &other])).await.task;
    assert_eq!(ready.status, TaskStatus::Queued);
    assert!(ready.dependencies.is_some());
}
