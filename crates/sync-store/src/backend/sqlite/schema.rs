//! SQLite schema: UUIDs as text, times as Unix milliseconds (see `crate::types`).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        change_seq -> BigInt,
        workout_count -> BigInt,
        sync_count -> BigInt,
        last_sync_at -> Nullable<BigInt>,
        created_at -> BigInt,
        time_zone -> Text,
        history_version -> BigInt,
        history_floor -> Nullable<Date>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        user_agent -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    workouts (id) {
        id -> Text,
        user_id -> Text,
        client_id -> Text,
        start_time -> BigInt,
        start_offset_minutes -> Integer,
        start_date -> Date,
        end_time -> BigInt,
        duration_seconds -> BigInt,
        distance_meters -> Double,
        energy_burned_kcal -> Nullable<Double>,
        avg_heart_rate -> Nullable<Integer>,
        max_heart_rate -> Nullable<Integer>,
        avg_pace_seconds_per_km -> Nullable<Double>,
        source -> Text,
        client_version -> BigInt,
        revision -> BigInt,
        change_seq -> BigInt,
        deleted_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    idempotency_records (user_id, key) {
        user_id -> Text,
        key -> Text,
        fingerprint -> Text,
        response_body -> Text,
        sync_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    syncs (id) {
        id -> Text,
        user_id -> Text,
        seq -> BigInt,
        mode -> Text,
        idempotency_key -> Nullable<Text>,
        created -> Integer,
        updated -> Integer,
        unchanged -> Integer,
        deleted -> Integer,
        conflicts -> Integer,
        rejected -> Integer,
        change_seq -> BigInt,
        client_sync_timestamp -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    goals (user_id, year) {
        user_id -> Text,
        year -> Integer,
        target_days -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        user_id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        subscription_id -> Text,
        user_id -> Text,
        event_id -> Text,
        event_type -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<BigInt>,
        claim_token -> Nullable<Text>,
        created_at -> BigInt,
        completed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        user_id -> Text,
        subscription_id -> Text,
        event_id -> Text,
        event_type -> Text,
        attempt -> Integer,
        started_at -> BigInt,
        duration_ms -> BigInt,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    ingest_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_throttles (budget_key) {
        budget_key -> Text,
        failures -> Integer,
        locked_until -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(workouts -> users (user_id));
diesel::joinable!(goals -> users (user_id));
diesel::joinable!(webhook_subscriptions -> users (user_id));
diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(ingest_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    workouts,
    idempotency_records,
    syncs,
    goals,
    webhook_subscriptions,
    webhook_deliveries,
    webhook_attempts,
    ingest_tokens,
    login_throttles
);
