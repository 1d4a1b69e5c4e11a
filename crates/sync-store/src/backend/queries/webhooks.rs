//! Webhooks (docs/webhooks.md): subscriptions, the outbox, and the delivery worker's claims.
//!
//! **The outbox.** A change that causes events (a sync, a workout edit or delete, a goal
//! change) loads the user's subscriptions with [`Outbox::load`] inside its own transaction,
//! adds its events, and writes one delivery row per event and subscription that wants it with
//! [`Outbox::write`] before it commits: a rolled-back change leaves no delivery, and a
//! committed one leaves every delivery, whatever happens to the process afterwards. A user
//! without subscriptions costs the change one indexed read. `goal.reached` and
//! `achievement.unlocked` need the year's achievements before and after the change
//! ([`queue_milestones`]); only a user subscribed to one of them pays for reading the years.
//!
//! **The worker's claim.** A pending delivery's `next_attempt_at` is when it is due; a worker
//! claims due rows by moving it to the end of its lease and stamping a `claim_token`, so a
//! worker that dies leaves rows that fall due again when the lease lapses. The result of an
//! attempt is recorded only under the claim that made it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use sync_core::running::{
    progress, today_in, DateSpan, Goal, RunFact, Tz, YearData, GOAL_ACHIEVEMENT_ID, MAX_YEAR,
    MIN_YEAR,
};
use sync_core::webhooks::{newly_unlocked, EventSet, EventType};
use sync_core::wire::{
    AchievementUnlockedData, EventBody, GoalReachedData, TestEventData, WorkoutEventData,
};
use sync_core::{StoredWorkout, WorkoutView};
use uuid::Uuid;

use super::rows::GoalRow;
use super::schema::{goals, webhook_attempts, webhook_deliveries, webhook_subscriptions};
use super::spans::run_facts;
use super::{hooks, Conn};
use crate::types::{DbTime, DbUuid};
use crate::webhooks::{
    AttemptResult, ClaimedDelivery, CreateWebhookOutcome, DeliveryAttempt, NewWebhook, Webhook,
    WebhookSecret, MAX_WEBHOOKS_PER_USER,
};
use crate::StoreError;

/// Delivery rows per insert statement: 12 binds each keeps a chunk far under SQLite's 32,766.
const DELIVERY_CHUNK: usize = 500;

/// `webhook_deliveries.state`.
const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_subscriptions)]
struct SubscriptionRow {
    id: DbUuid,
    user_id: DbUuid,
    url: String,
    events: String,
    secret: String,
    created_at: DbTime,
}

impl SubscriptionRow {
    fn into_webhook(self) -> Result<Webhook, StoreError> {
        let events = EventSet::from_stored(&self.events)
            .ok_or_else(|| StoreError::Corrupt(format!("webhook events {:?}", self.events)))?;
        Ok(Webhook {
            id: self.id.0,
            user_id: self.user_id.0,
            url: self.url,
            events,
            secret: WebhookSecret::new(self.secret),
            created_at: self.created_at.0,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
// Multi-row inserts on SQLite need every column bound explicitly.
#[diesel(treat_none_as_default_value = false)]
struct DeliveryRow {
    id: DbUuid,
    subscription_id: DbUuid,
    user_id: DbUuid,
    event_id: DbUuid,
    event_type: String,
    payload: String,
    state: String,
    attempts: i32,
    next_attempt_at: Option<DbTime>,
    claim_token: Option<DbUuid>,
    created_at: DbTime,
    completed_at: Option<DbTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
#[diesel(treat_none_as_default_value = false)]
struct AttemptRow {
    id: DbUuid,
    delivery_id: DbUuid,
    user_id: DbUuid,
    subscription_id: DbUuid,
    event_id: DbUuid,
    event_type: String,
    attempt: i32,
    started_at: DbTime,
    duration_ms: i64,
    status_code: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<DbTime>,
}

impl AttemptRow {
    fn into_attempt(self) -> DeliveryAttempt {
        DeliveryAttempt {
            id: self.id.0,
            event_id: self.event_id.0,
            event_type: self.event_type,
            attempt: u32::try_from(self.attempt).unwrap_or(0),
            started_at: self.started_at.0,
            duration_ms: u64::try_from(self.duration_ms).unwrap_or(0),
            status_code: self.status_code.and_then(|s| u16::try_from(s).ok()),
            error: self.error,
            next_attempt_at: self.next_attempt_at.map(|t| t.0),
        }
    }
}

/// The deliveries one change queues, for the user's subscriptions that want each event.
pub(crate) struct Outbox {
    user_id: DbUuid,
    now: DateTime<Utc>,
    subscriptions: Vec<(DbUuid, EventSet)>,
    wanted: EventSet,
    rows: Vec<DeliveryRow>,
}

impl Outbox {
    /// The user's subscriptions and what they want: one read of their index.
    pub(crate) fn load(
        conn: &mut Conn,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Outbox, StoreError> {
        let found = hooks::key_and_subscriptions(conn, user_id, None)?.subscriptions;
        Outbox::of(user_id, now, found)
    }

    /// The outbox of a change by `user_id` at `now` whose subscriptions (id, stored event list)
    /// were read already, as a sync reads them with its key's record.
    pub(crate) fn of(
        user_id: Uuid,
        now: DateTime<Utc>,
        found: Vec<(DbUuid, String)>,
    ) -> Result<Outbox, StoreError> {
        let mut subscriptions = Vec::with_capacity(found.len());
        let mut wanted = EventSet::default();
        for (id, events) in found {
            let events = EventSet::from_stored(&events)
                .ok_or_else(|| StoreError::Corrupt(format!("webhook events {events:?}")))?;
            wanted = wanted.union(events);
            subscriptions.push((id, events));
        }
        Ok(Outbox {
            user_id: DbUuid(user_id),
            now,
            subscriptions,
            wanted,
            rows: Vec::new(),
        })
    }

    /// Whether the user has no subscription (the change has nothing to queue).
    pub(crate) fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// Whether any subscription wants `event`.
    pub(crate) fn wants(&self, event: EventType) -> bool {
        self.wanted.contains(event)
    }

    /// Whether any subscription wants an event worked out from the achievements.
    pub(crate) fn wants_milestones(&self) -> bool {
        self.wanted.wants_milestones()
    }

    /// Adds one event, for every subscription that wants it.
    pub(crate) fn add(&mut self, event: EventType, data: impl Serialize) -> Result<(), StoreError> {
        if !self.wants(event) {
            return Ok(());
        }
        let (event_id, payload) = event_payload(event, self.now, data)?;
        for (subscription, events) in &self.subscriptions {
            if events.contains(event) {
                self.rows.push(pending_delivery(
                    *subscription,
                    self.user_id,
                    event_id,
                    event,
                    payload.clone(),
                    self.now,
                ));
            }
        }
        Ok(())
    }

    /// Writes the queued deliveries, in as few statements as the chunk size allows.
    pub(crate) fn write(self, conn: &mut Conn) -> Result<(), StoreError> {
        for chunk in self.rows.chunks(DELIVERY_CHUNK) {
            diesel::insert_into(webhook_deliveries::table)
                .values(chunk)
                .execute(conn)?;
        }
        Ok(())
    }
}

/// A new event's id and its body as sent, `{id, type, created_at, data}`.
fn event_payload(
    event: EventType,
    now: DateTime<Utc>,
    data: impl Serialize,
) -> Result<(Uuid, String), StoreError> {
    let body = event_body(event, now, data)?;
    let payload = serde_json::to_string(&body)
        .map_err(|e| StoreError::Corrupt(format!("event not serialisable: {e}")))?;
    Ok((body.id, payload))
}

fn event_body(
    event: EventType,
    now: DateTime<Utc>,
    data: impl Serialize,
) -> Result<EventBody, StoreError> {
    let data = serde_json::to_value(data)
        .map_err(|e| StoreError::Corrupt(format!("event data not serialisable: {e}")))?;
    Ok(EventBody {
        id: Uuid::new_v4(),
        event_type: event.as_str().to_owned(),
        created_at: now,
        data,
    })
}

fn pending_delivery(
    subscription: DbUuid,
    user: DbUuid,
    event_id: Uuid,
    event: EventType,
    payload: String,
    now: DateTime<Utc>,
) -> DeliveryRow {
    DeliveryRow {
        id: DbUuid(Uuid::new_v4()),
        subscription_id: subscription,
        user_id: user,
        event_id: DbUuid(event_id),
        event_type: event.as_str().to_owned(),
        payload,
        state: PENDING.to_owned(),
        attempts: 0,
        next_attempt_at: Some(DbTime(now)),
        claim_token: None,
        created_at: DbTime(now),
        completed_at: None,
    }
}

/// A workout a change touched, as the achievement rules see it before and after the change
/// (`None`: not live then).
pub(crate) struct RunChange {
    pub id: Uuid,
    pub before: Option<RunFact>,
    pub after: Option<RunFact>,
}

/// How the years a change touched are compared: the user's zone (for "today", which the
/// rules take but the achievements do not depend on) and the configured default target.
pub(crate) struct MilestoneContext {
    pub zone: Tz,
    pub default_target: u16,
}

/// Queues `goal.reached` and `achievement.unlocked` for what `changes` (workouts written in
/// this transaction) unlocked. Per year touched (2000 to 2100; others have no achievements):
/// one read of that year's live workouts, as written; the year as it was is that read
/// without the changed workouts, plus their earlier state. The goals come in one read.
pub(crate) fn queue_milestones(
    conn: &mut Conn,
    outbox: &mut Outbox,
    context: &MilestoneContext,
    changes: &[RunChange],
) -> Result<(), StoreError> {
    if !outbox.wants_milestones() || changes.is_empty() {
        return Ok(());
    }
    let years: BTreeSet<i32> = changes
        .iter()
        .flat_map(|c| [&c.before, &c.after])
        .flatten()
        .map(|fact| chrono::Datelike::year(&fact.date))
        .filter(|year| (MIN_YEAR..=MAX_YEAR).contains(year))
        .collect();
    if years.is_empty() {
        return Ok(());
    }
    let goals = user_goals(conn, outbox.user_id)?;
    let changed: HashSet<Uuid> = changes.iter().map(|c| c.id).collect();
    let today = today_in(context.zone, outbox.now);
    for year in years {
        let span = DateSpan::year(year).ok_or_else(|| {
            StoreError::YearOutOfRange(sync_core::running::YearOutOfRange {
                year: i64::from(year),
            })
        })?;
        let after = run_facts(conn, outbox.user_id.0, span)?;
        let earlier = changes
            .iter()
            .filter_map(|c| c.before.clone())
            .filter(|fact| span.contains(fact.date));
        let before: Vec<RunFact> = after
            .iter()
            .filter(|fact| !changed.contains(&fact.id))
            .cloned()
            .chain(earlier)
            .collect();
        let goal = goals
            .get(&year)
            .cloned()
            .unwrap_or_else(|| Goal::default_for(year, context.default_target));
        let before = YearData::new(year, today, before)?;
        let after = YearData::new(year, today, after)?;
        queue_unlocked(outbox, &before, &goal, &after, &goal)?;
    }
    Ok(())
}

/// Queues what a goal change (`before` → `after`, the default goal for none) of `year`
/// unlocked, on the year's workouts as they are.
pub(crate) fn queue_goal_milestones(
    conn: &mut Conn,
    outbox: &mut Outbox,
    context: &MilestoneContext,
    before: &Goal,
    after: &Goal,
) -> Result<(), StoreError> {
    if !outbox.wants_milestones() {
        return Ok(());
    }
    let year = after.year;
    let span = DateSpan::year(year).ok_or(sync_core::running::YearOutOfRange {
        year: i64::from(year),
    })?;
    let runs = run_facts(conn, outbox.user_id.0, span)?;
    let data = YearData::new(year, today_in(context.zone, outbox.now), runs)?;
    queue_unlocked(outbox, &data, before, &data, after)
}

fn queue_unlocked(
    outbox: &mut Outbox,
    before: &YearData,
    goal_before: &Goal,
    after: &YearData,
    goal_after: &Goal,
) -> Result<(), StoreError> {
    for achievement in newly_unlocked(before, goal_before, after, goal_after) {
        if achievement.id == GOAL_ACHIEVEMENT_ID {
            outbox.add(
                EventType::GoalReached,
                GoalReachedData {
                    goal: goal_after.clone(),
                    days_completed: progress(after, goal_after).days_completed,
                    reached_at: achievement.unlocked_at,
                },
            )?;
        }
        outbox.add(
            EventType::AchievementUnlocked,
            AchievementUnlockedData {
                year: after.year(),
                achievement,
            },
        )?;
    }
    Ok(())
}

/// The user's goals by year (at most one per year the rules know).
fn user_goals(conn: &mut Conn, user: DbUuid) -> Result<BTreeMap<i32, Goal>, StoreError> {
    let rows: Vec<GoalRow> = goals::table
        .filter(goals::user_id.eq(user))
        .limit(i64::from(MAX_YEAR - MIN_YEAR + 1))
        .select(GoalRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| Ok((row.year, row.into_goal()?)))
        .collect()
}

pub(crate) fn create(
    conn: &mut Conn,
    user_id: Uuid,
    webhook: &NewWebhook,
    now: DateTime<Utc>,
) -> Result<CreateWebhookOutcome, StoreError> {
    hooks::write_transaction(conn, |conn| {
        // Serialises the count and the insert with the user's other writes.
        hooks::lock_user(conn, user_id)?;
        let existing: i64 = webhook_subscriptions::table
            .filter(webhook_subscriptions::user_id.eq(DbUuid(user_id)))
            .count()
            .get_result(conn)?;
        if existing >= MAX_WEBHOOKS_PER_USER {
            return Ok(CreateWebhookOutcome::LimitReached);
        }
        let row = SubscriptionRow {
            id: DbUuid(Uuid::new_v4()),
            user_id: DbUuid(user_id),
            url: webhook.url.clone(),
            events: webhook.events.to_stored(),
            secret: webhook.secret.expose().to_owned(),
            created_at: DbTime(now),
        };
        diesel::insert_into(webhook_subscriptions::table)
            .values(&row)
            .execute(conn)?;
        Ok(CreateWebhookOutcome::Created(row.into_webhook()?))
    })
}

pub(crate) fn list(conn: &mut Conn, user_id: Uuid) -> Result<Vec<Webhook>, StoreError> {
    let rows: Vec<SubscriptionRow> = webhook_subscriptions::table
        .filter(webhook_subscriptions::user_id.eq(DbUuid(user_id)))
        .order((
            webhook_subscriptions::created_at.asc(),
            webhook_subscriptions::id.asc(),
        ))
        .limit(MAX_WEBHOOKS_PER_USER)
        .select(SubscriptionRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(SubscriptionRow::into_webhook)
        .collect()
}

pub(crate) fn get(conn: &mut Conn, user_id: Uuid, id: Uuid) -> Result<Option<Webhook>, StoreError> {
    let row: Option<SubscriptionRow> = webhook_subscriptions::table
        .find(DbUuid(id))
        .filter(webhook_subscriptions::user_id.eq(DbUuid(user_id)))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?;
    row.map(SubscriptionRow::into_webhook).transpose()
}

pub(crate) fn delete(conn: &mut Conn, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let deleted = diesel::delete(
        webhook_subscriptions::table
            .find(DbUuid(id))
            .filter(webhook_subscriptions::user_id.eq(DbUuid(user_id))),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

pub(crate) fn queue_test(
    conn: &mut Conn,
    user_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<EventBody>, StoreError> {
    let Some(webhook) = get(conn, user_id, id)? else {
        return Ok(None);
    };
    let body = event_body(
        EventType::WebhookTest,
        now,
        TestEventData {
            webhook_id: webhook.id,
            message: "A test event from Running Days: this subscription receives events."
                .to_owned(),
        },
    )?;
    let payload = serde_json::to_string(&body)
        .map_err(|e| StoreError::Corrupt(format!("event not serialisable: {e}")))?;
    let row = pending_delivery(
        DbUuid(webhook.id),
        DbUuid(user_id),
        body.id,
        EventType::WebhookTest,
        payload,
        now,
    );
    // A subscription deleted meanwhile fails the foreign key: the same as not finding it.
    match diesel::insert_into(webhook_deliveries::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => Ok(Some(body)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn attempts(
    conn: &mut Conn,
    user_id: Uuid,
    id: Uuid,
    limit: i64,
) -> Result<Option<Vec<DeliveryAttempt>>, StoreError> {
    if get(conn, user_id, id)?.is_none() {
        return Ok(None);
    }
    let rows: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::user_id.eq(DbUuid(user_id)))
        .filter(webhook_attempts::subscription_id.eq(DbUuid(id)))
        .order((
            webhook_attempts::started_at.desc(),
            webhook_attempts::id.desc(),
        ))
        .limit(limit)
        .select(AttemptRow::as_select())
        .load(conn)?;
    Ok(Some(
        rows.into_iter().map(AttemptRow::into_attempt).collect(),
    ))
}

pub(crate) fn claim(
    conn: &mut Conn,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    hooks::write_transaction(conn, |conn| {
        let ids = hooks::lock_due_deliveries(conn, DbTime(now), limit)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let token = DbUuid(Uuid::new_v4());
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .set((
                webhook_deliveries::claim_token.eq(Some(token)),
                webhook_deliveries::next_attempt_at.eq(Some(DbTime(now + lease))),
            ))
            .execute(conn)?;
        let rows: Vec<(DeliveryRow, SubscriptionRow)> = webhook_deliveries::table
            .inner_join(webhook_subscriptions::table)
            .filter(webhook_deliveries::id.eq_any(&ids))
            .select((DeliveryRow::as_select(), SubscriptionRow::as_select()))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(delivery, subscription)| ClaimedDelivery {
                id: delivery.id.0,
                claim_token: token.0,
                subscription_id: subscription.id.0,
                user_id: delivery.user_id.0,
                event_id: delivery.event_id.0,
                event_type: delivery.event_type,
                payload: delivery.payload,
                attempts_made: u32::try_from(delivery.attempts).unwrap_or(0),
                url: subscription.url,
                secret: WebhookSecret::new(subscription.secret),
            })
            .collect())
    })
}

pub(crate) fn record_attempt(
    conn: &mut Conn,
    delivery: &ClaimedDelivery,
    result: &AttemptResult,
) -> Result<bool, StoreError> {
    let attempt = delivery.attempts_made.saturating_add(1);
    let (state, completed_at) = match (result.delivered, result.next_attempt_at) {
        (true, _) => (DELIVERED, Some(DbTime(result.started_at))),
        (false, Some(_)) => (PENDING, None),
        (false, None) => (FAILED, Some(DbTime(result.started_at))),
    };
    let next_attempt_at = if result.delivered {
        None
    } else {
        result.next_attempt_at.map(DbTime)
    };
    hooks::write_transaction(conn, |conn| {
        let updated = diesel::update(
            webhook_deliveries::table
                .find(DbUuid(delivery.id))
                .filter(webhook_deliveries::claim_token.eq(DbUuid(delivery.claim_token))),
        )
        .set((
            webhook_deliveries::state.eq(state),
            webhook_deliveries::attempts.eq(i32::try_from(attempt).unwrap_or(i32::MAX)),
            webhook_deliveries::next_attempt_at.eq(next_attempt_at),
            webhook_deliveries::claim_token.eq(None::<DbUuid>),
            webhook_deliveries::completed_at.eq(completed_at),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Ok(false);
        }
        diesel::insert_into(webhook_attempts::table)
            .values(&AttemptRow {
                id: DbUuid(Uuid::new_v4()),
                delivery_id: DbUuid(delivery.id),
                user_id: DbUuid(delivery.user_id),
                subscription_id: DbUuid(delivery.subscription_id),
                event_id: DbUuid(delivery.event_id),
                event_type: delivery.event_type.clone(),
                attempt: i32::try_from(attempt).unwrap_or(i32::MAX),
                started_at: DbTime(result.started_at),
                duration_ms: i64::try_from(result.duration.as_millis()).unwrap_or(i64::MAX),
                status_code: result.status_code.map(i32::from),
                error: result.error.clone(),
                next_attempt_at,
            })
            .execute(conn)?;
        Ok(true)
    })
}

/// Gives back what is still held under `claim_token` (not yet recorded), due at `now`.
pub(crate) fn release(
    conn: &mut Conn,
    claim_token: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::claim_token.eq(DbUuid(claim_token)))
            .filter(webhook_deliveries::state.eq(PENDING)),
    )
    .set((
        webhook_deliveries::claim_token.eq(None::<DbUuid>),
        webhook_deliveries::next_attempt_at.eq(Some(DbTime(now))),
    ))
    .execute(conn)?)
}

/// One workout written by a change, with the event it makes.
pub(crate) struct WorkoutChange<'a> {
    pub event: EventType,
    /// The row before the change; `None` for a new workout.
    pub before: Option<&'a StoredWorkout>,
    /// The row as written.
    pub after: &'a StoredWorkout,
}

/// Queues the events of workouts written in this transaction: one `workout.*` event each,
/// then whatever they unlocked. `sync_id` names the sync that wrote them, if one did.
pub(crate) fn queue_workout_events(
    conn: &mut Conn,
    outbox: &mut Outbox,
    context: &MilestoneContext,
    changes: &[WorkoutChange<'_>],
    sync_id: Option<Uuid>,
) -> Result<(), StoreError> {
    if outbox.is_empty() {
        return Ok(());
    }
    for change in changes {
        if outbox.wants(change.event) {
            outbox.add(
                change.event,
                WorkoutEventData {
                    workout: WorkoutView::from(change.after),
                    change_seq: change.after.change_seq,
                    sync_id,
                },
            )?;
        }
    }
    if outbox.wants_milestones() {
        let runs: Vec<RunChange> = changes
            .iter()
            .map(|change| RunChange {
                id: change.after.id,
                before: change.before.and_then(live_fact),
                after: live_fact(change.after),
            })
            .collect();
        queue_milestones(conn, outbox, context, &runs)?;
    }
    Ok(())
}

/// The workout as the achievement rules see it; `None` for a tombstone.
fn live_fact(w: &StoredWorkout) -> Option<RunFact> {
    (!w.is_deleted()).then_some(RunFact {
        id: w.id,
        start_time: w.content.start_time,
        date: w.start_date,
        distance_meters: w.content.distance_meters,
        duration_seconds: w.content.duration_seconds,
    })
}
