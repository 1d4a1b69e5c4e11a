//! Outbound webhooks' rules: the event catalogue, which events a subscription takes, the retry
//! schedule, and which achievements a change unlocked. No I/O: the store writes each event in
//! the transaction of the change that caused it, and the server's worker delivers it
//! (docs/webhooks.md).
//!
//! ```
//! use sync_core::webhooks::{EventSet, EventType, RetrySchedule};
//!
//! let events = EventSet::from_names(&serde_json::json!(["sync.completed", "goal.reached"])).unwrap();
//! assert!(events.contains(EventType::GoalReached));
//! assert!(!events.contains(EventType::WorkoutCreated));
//! assert_eq!(events.to_stored(), "sync.completed,goal.reached");
//!
//! // Eight attempts over about a day: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h apart.
//! let schedule = RetrySchedule::standard();
//! assert_eq!(schedule.max_attempts(), 8);
//! assert_eq!(schedule.delay_after(1), Some(chrono::Duration::seconds(5)));
//! assert_eq!(schedule.delay_after(8), None);
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

use crate::running::{achievements, Achievement, Goal, YearData};
use crate::wire::FieldErrors;

/// Every event the server sends, by its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// `workout.created`: a workout was stored for the first time (by a sync).
    WorkoutCreated,
    /// `workout.updated`: a workout's content changed (a sync with a newer version, or an edit).
    WorkoutUpdated,
    /// `workout.deleted`: a workout became a tombstone (a sync's deletion, or `DELETE`).
    WorkoutDeleted,
    /// `sync.completed`: a sync was applied (never sent for a replay).
    SyncCompleted,
    /// `goal.reached`: a year's running days reached its target.
    GoalReached,
    /// `achievement.unlocked`: an achievement of the catalogue went from locked to unlocked.
    AchievementUnlocked,
    /// `webhook.test`: sent on request to one subscription (`POST /webhooks/{id}/test`); not
    /// subscribable.
    WebhookTest,
}

impl EventType {
    /// The events a subscription can name, in catalogue order.
    pub const SUBSCRIBABLE: [EventType; 6] = [
        EventType::WorkoutCreated,
        EventType::WorkoutUpdated,
        EventType::WorkoutDeleted,
        EventType::SyncCompleted,
        EventType::GoalReached,
        EventType::AchievementUnlocked,
    ];

    /// The wire name, e.g. `workout.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::WorkoutCreated => "workout.created",
            EventType::WorkoutUpdated => "workout.updated",
            EventType::WorkoutDeleted => "workout.deleted",
            EventType::SyncCompleted => "sync.completed",
            EventType::GoalReached => "goal.reached",
            EventType::AchievementUnlocked => "achievement.unlocked",
            EventType::WebhookTest => "webhook.test",
        }
    }

    /// The event of a wire name (`webhook.test` included).
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .chain([EventType::WebhookTest])
            .find(|t| t.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of subscribable events (what one subscription receives, or what any of a user's
/// subscriptions receives).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSet(u8);

/// Why an `events` list was refused: the messages per field (`events`, `events[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event list is not valid")]
pub struct EventListError {
    /// Messages per field at fault.
    pub errors: FieldErrors,
}

impl EventSet {
    /// The events of a request's `events` value: a non-empty JSON array of distinct names
    /// from [`EventType::SUBSCRIBABLE`].
    pub fn from_names(value: &Value) -> Result<EventSet, EventListError> {
        let mut errors: FieldErrors = BTreeMap::new();
        let Some(names) = value.as_array() else {
            errors.insert(
                "events".into(),
                vec!["must be an array of event names".into()],
            );
            return Err(EventListError { errors });
        };
        if names.is_empty() || names.len() > EventType::SUBSCRIBABLE.len() {
            errors.insert(
                "events".into(),
                vec![format!(
                    "must name from 1 to {} events",
                    EventType::SUBSCRIBABLE.len()
                )],
            );
            return Err(EventListError { errors });
        }
        let mut set = EventSet::default();
        for (i, name) in names.iter().enumerate() {
            let field = format!("events[{i}]");
            let known = name
                .as_str()
                .and_then(EventType::parse)
                .filter(|t| EventType::SUBSCRIBABLE.contains(t));
            match known {
                None => {
                    errors.insert(field, vec![format!("must be one of {}", catalogue())]);
                }
                Some(t) if set.contains(t) => {
                    errors.insert(field, vec!["is named twice".into()]);
                }
                Some(t) => set.0 |= t.bit(),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(EventListError { errors })
        }
    }

    /// Whether the set holds `event`.
    pub fn contains(self, event: EventType) -> bool {
        self.0 & event.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Both sets' events.
    pub fn union(self, other: EventSet) -> EventSet {
        EventSet(self.0 | other.0)
    }

    /// The events, in catalogue order.
    pub fn events(self) -> impl Iterator<Item = EventType> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .filter(move |t| self.contains(*t))
    }

    /// The wire names, in catalogue order.
    pub fn names(self) -> Vec<String> {
        self.events().map(|t| t.as_str().to_owned()).collect()
    }

    /// The stored form: the names, comma separated, in catalogue order.
    pub fn to_stored(self) -> String {
        self.names().join(",")
    }

    /// Reads the stored form back; `None` when it names an unknown event.
    pub fn from_stored(text: &str) -> Option<EventSet> {
        let mut set = EventSet::default();
        for name in text.split(',').filter(|n| !n.is_empty()) {
            let event = EventType::parse(name).filter(|t| EventType::SUBSCRIBABLE.contains(t))?;
            set.0 |= event.bit();
        }
        Some(set)
    }

    /// Whether any event of the set needs the achievements worked out (`goal.reached`,
    /// `achievement.unlocked`): only then does a change pay for reading its years.
    pub fn wants_milestones(self) -> bool {
        self.contains(EventType::GoalReached) || self.contains(EventType::AchievementUnlocked)
    }
}

fn catalogue() -> String {
    EventType::SUBSCRIBABLE.map(EventType::as_str).join(", ")
}

/// When a failed delivery is tried again: the delay after each failed attempt, then no more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<chrono::Duration>,
}

impl RetrySchedule {
    /// Seven retries after the first attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
    /// apart (the schedule of the Standard Webhooks reference service): the last attempt comes
    /// about 27.6 hours after the first, so a receiver down for a day still gets everything.
    pub fn standard() -> RetrySchedule {
        let seconds = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        RetrySchedule {
            delays: seconds.into_iter().map(chrono::Duration::seconds).collect(),
        }
    }

    /// A schedule of these delays (an empty list means a single attempt).
    pub fn new(delays: Vec<chrono::Duration>) -> RetrySchedule {
        RetrySchedule { delays }
    }

    /// How long to wait after `attempts_made` failed attempts (from 1), or `None` when that
    /// was the last one.
    pub fn delay_after(&self, attempts_made: u32) -> Option<chrono::Duration> {
        let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// Attempts in all: the first and one per delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// The delays, in order.
    pub fn delays(&self) -> &[chrono::Duration] {
        &self.delays
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::standard()
    }
}

/// The achievements of a year that are unlocked after a change and were not before it, in
/// catalogue order (`goal` included, when the year's goal became reached). Achievements are
/// derived from the workouts, so one that locked again (a deleted workout) and unlocks later
/// is unlocked again.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{Goal, RunFact, YearData};
/// use sync_core::webhooks::newly_unlocked;
///
/// let day = NaiveDate::from_ymd_opt(2025, 3, 2).unwrap();
/// let run = RunFact {
///     id: uuid::Uuid::new_v4(),
///     start_time: Utc.with_ymd_and_hms(2025, 3, 2, 7, 15, 0).unwrap(),
///     date: day,
///     distance_meters: 5_000.0,
///     duration_seconds: 1_800,
/// };
/// let before = YearData::new(2025, day, []).unwrap();
/// let after = YearData::new(2025, day, [run]).unwrap();
/// let goal = Goal::default_for(2025, 1);
/// let unlocked: Vec<String> = newly_unlocked(&before, &goal, &after, &goal)
///     .into_iter()
///     .map(|a| a.id)
///     .collect();
/// assert_eq!(unlocked, ["days_1", "goal"]);
/// ```
pub fn newly_unlocked(
    before: &YearData,
    goal_before: &Goal,
    after: &YearData,
    goal_after: &Goal,
) -> Vec<Achievement> {
    let was_unlocked: Vec<(String, bool)> = achievements(before, goal_before)
        .into_iter()
        .map(|a| (a.id, a.is_unlocked))
        .collect();
    achievements(after, goal_after)
        .into_iter()
        .filter(|a| {
            a.is_unlocked
                && !was_unlocked
                    .iter()
                    .any(|(id, unlocked)| *id == a.id && *unlocked)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::json;

    use crate::running::{RunFact, GOAL_ACHIEVEMENT_ID};

    #[test]
    fn an_event_list_names_each_known_event_once() {
        let all = EventSet::from_names(&json!([
            "achievement.unlocked",
            "workout.created",
            "workout.updated",
            "workout.deleted",
            "sync.completed",
            "goal.reached"
        ]))
        .unwrap();
        assert_eq!(all.events().count(), 6);
        assert_eq!(EventSet::from_stored(&all.to_stored()), Some(all));
        assert_eq!(all.names()[0], "workout.created");

        let refused = |v: Value| EventSet::from_names(&v).unwrap_err().errors;
        assert!(refused(json!([])).contains_key("events"));
        assert!(refused(json!("sync.completed")).contains_key("events"));
        assert!(refused(Value::from(vec!["sync.completed"; 7])).contains_key("events"));
        let errors = refused(json!([
            "sync.completed",
            "webhook.test",
            3,
            "sync.completed"
        ]));
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["events[1]", "events[2]", "events[3]"]
        );
        assert_eq!(EventSet::from_stored("sync.completed,nonsense"), None);
    }

    #[test]
    fn milestones_are_wanted_only_by_the_goal_and_achievement_events() {
        let only_workouts = EventSet::from_names(&json!(["workout.created"])).unwrap();
        assert!(!only_workouts.wants_milestones());
        let goal = EventSet::from_names(&json!(["goal.reached"])).unwrap();
        assert!(only_workouts.union(goal).wants_milestones());
    }

    #[test]
    fn the_schedule_gives_up_after_its_last_delay() {
        let schedule = RetrySchedule::standard();
        let total: i64 = schedule.delays().iter().map(|d| d.num_seconds()).sum();
        // About a day: between 24 and 28 hours from the first attempt to the last.
        assert!((24 * 3600..28 * 3600).contains(&total), "{total}");
        assert_eq!(schedule.delay_after(0), None);
        assert_eq!(schedule.delay_after(7), Some(chrono::Duration::hours(10)));
        assert_eq!(schedule.delay_after(8), None);
        let once = RetrySchedule::new(Vec::new());
        assert_eq!((once.max_attempts(), once.delay_after(1)), (1, None));
    }

    #[test]
    fn only_what_the_change_unlocked_is_reported() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2025, 1, d).unwrap();
        let run = |d: u32| RunFact {
            id: uuid::Uuid::new_v4(),
            start_time: Utc.with_ymd_and_hms(2025, 1, d, 7, 0, 0).unwrap(),
            date: day(d),
            distance_meters: 7_500.0,
            duration_seconds: 2400,
        };
        let six: Vec<RunFact> = (1..=6).map(run).collect();
        let seven: Vec<RunFact> = six.iter().cloned().chain([run(7)]).collect();
        let before = YearData::new(2025, day(7), six).unwrap();
        let after = YearData::new(2025, day(7), seven).unwrap();
        let goal = Goal::default_for(2025, 300);
        let ids: Vec<String> = newly_unlocked(&before, &goal, &after, &goal)
            .into_iter()
            .map(|a| a.id)
            .collect();
        // The seventh day, and the 52.5 km it brought past 50 km; days_1 was already unlocked.
        assert_eq!(ids, ["days_7", "km_50"]);

        // Lowering the target to what is done reaches the goal without a new workout.
        let lower = Goal::default_for(2025, 7);
        let ids: Vec<String> = newly_unlocked(&after, &goal, &after, &lower)
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, [GOAL_ACHIEVEMENT_ID]);
        // Nothing changed: nothing unlocked.
        assert!(newly_unlocked(&after, &lower, &after, &lower).is_empty());
    }
}
