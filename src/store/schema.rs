// The diesel schema of `migrations/`; kept by hand in step with the migrations.

diesel::table! {
    agents (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        capabilities -> Text,
        executor -> Text,
        status -> Text,
        restarts -> BigInt,
        created_at -> BigInt,
        last_heartbeat -> Nullable<BigInt>,
        deleted_at -> Nullable<BigInt>,
        node -> Nullable<Text>,
        state -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        role -> Text,
        input -> Text,
        required_capabilities -> Text,
        priority -> SmallInt,
        status -> Text,
        timeout_ms -> BigInt,
        max_retries -> Integer,
        attempts -> Integer,
        idempotency_key -> Nullable<Text>,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        updated_at -> BigInt,
        queued_at -> BigInt,
        truncate_result -> Bool,
        node -> Nullable<Text>,
        agent -> Nullable<Text>,
        depends_on -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        dependencies -> Nullable<Text>,
        topic -> Nullable<Text>,
    }
}

diesel::table! {
    task_events (id) {
        id -> BigInt,
        task_id -> Text,
        at -> BigInt,
        kind -> Text,
        attempt -> Integer,
        agent_id -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    supervisor_events (id) {
        id -> BigInt,
        at -> BigInt,
        supervisor -> Text,
        child -> Text,
        kind -> Text,
        reason -> Nullable<Text>,
        restarts -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        name -> Nullable<Text>,
        role -> Text,
        digest -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        role -> Nullable<Text>,
        client -> Text,
        method -> Text,
        path -> Text,
        status -> Integer,
        outcome -> Text,
    }
}

diesel::table! {
    /// Tasks per status, kept by triggers on `tasks` (see the retention migration).
    task_counts (status) {
        status -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    /// Who waits for whom: `task_id` waits for `dependency_id`.
    task_dependencies (dependency_id, task_id) {
        dependency_id -> Text,
        task_id -> Text,
    }
}

diesel::table! {
    topic_subscriptions (topic, agent_id) {
        topic -> Text,
        agent_id -> Text,
    }
}

diesel::table! {
    config_versions (version) {
        version -> BigInt,
        settings -> Text,
        patch -> Text,
        author -> Text,
        at -> BigInt,
    }
}
