//! PostgreSQL schema: native `uuid` and `timestamptz`.

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        change_seq -> BigInt,
        workout_count -> BigInt,
        sync_count -> BigInt,
        last_sync_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        time_zone -> Text,
        history_version -> BigInt,
        history_floor -> Nullable<Date>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    workouts (id) {
        id -> Uuid,
        user_id -> Uuid,
        client_id -> Text,
        start_time -> Timestamptz,
        start_offset_minutes -> Integer,
        start_date -> Date,
        end_time -> Timestamptz,
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
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_records (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        fingerprint -> Text,
        response_body -> Text,
        sync_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    syncs (id) {
        id -> Uuid,
        user_id -> Uuid,
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
        client_sync_timestamp -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    goals (user_id, year) {
        user_id -> Uuid,
        year -> Integer,
        target_days -> Integer,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Uuid,
        user_id -> Uuid,
        url -> Text,
        events -> Text,
        secret -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        subscription_id -> Uuid,
        user_id -> Uuid,
        event_id -> Uuid,
        event_type -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamptz>,
        claim_token -> Nullable<Uuid>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Uuid,
        delivery_id -> Uuid,
        user_id -> Uuid,
        subscription_id -> Uuid,
        event_id -> Uuid,
        event_type -> Text,
        attempt -> Integer,
        started_at -> Timestamptz,
        duration_ms -> BigInt,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ingest_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_throttles (budget_key) {
        budget_key -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
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
