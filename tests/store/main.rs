//! The store's contract, run the same against SQLite and against a real PostgreSQL: each case is
//! written once (in `cases`) and instantiated per backend, each run on a database of its own.

// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/postgres.rs"]
mod postgres_schema;

mod cases;
mod fixture;

/// One `#[actix_rt::test]` per case and backend: `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_rt::test]
                async fn $case() {
                    let store = crate::fixture::Fixture::sqlite().await;
                    crate::cases::$case(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[actix_rt::test]
                async fn $case() {
                    let Some(store) = crate::fixture::Fixture::postgres(stringify!($case)).await
                    else {
                        return;
                    };
                    crate::cases::$case(&store).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_run_once_and_then_find_nothing_to_do,
    a_created_task_reads_back_field_for_field,
    a_repeated_idempotency_key_answers_the_first_task_even_within_one_batch,
    the_last_state_wins_and_every_step_is_in_the_history,
    lists_filter_by_status_role_priority_and_time_and_page_stably,
    unfinished_tasks_are_the_queued_and_running_ones_oldest_first,
    agents_keep_status_and_restarts_and_deleted_ones_are_not_started_again,
    agents_of_one_kind_read_back_share_it,
    a_task_is_held_by_one_node_and_a_lost_nodes_tasks_move_once,
    supervision_decisions_are_kept_in_order_and_filter_by_supervisor,
    concurrent_creates_share_commits_and_every_one_is_readable_once_answered,
    the_sla_rows_measure_queue_wait_from_the_last_time_a_task_became_due,
    retention_deletes_old_finished_tasks_with_their_history_and_the_counts_follow,
    status_counts_follow_every_change_of_status_and_only_those,
    an_agents_state_is_written_with_the_result_that_changed_it,
    a_lost_nodes_addressed_tasks_wait_for_it,
    a_dependencys_end_releases_or_cancels_its_dependants_in_its_own_commit,
);
