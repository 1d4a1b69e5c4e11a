//! The cache's tables (see `migrations/`).

diesel::table! {
    workouts (id) {
        id -> Text,
        start_time -> Text,
        start_offset_minutes -> Integer,
        end_time -> Text,
        duration_seconds -> BigInt,
        distance_meters -> Double,
        energy_burned_kcal -> Nullable<Double>,
        avg_heart_rate -> Nullable<Integer>,
        max_heart_rate -> Nullable<Integer>,
        avg_pace_seconds_per_km -> Nullable<Double>,
        source -> Text,
        origin_hash -> Nullable<Text>,
        server_id -> Nullable<Text>,
        revision -> Nullable<BigInt>,
        deleted -> Bool,
        needs_sync -> Bool,
        synced_at -> Nullable<Text>,
        local_version -> BigInt,
        batch_key -> Nullable<Text>,
        batch_version -> Nullable<BigInt>,
        rejected -> Nullable<Text>,
        updated_at -> Text,
    }
}

diesel::table! {
    kv (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    pending_batches (seq) {
        seq -> Integer,
        idempotency_key -> Text,
        mode -> Text,
        body -> Text,
        created_at -> Text,
    }
}
