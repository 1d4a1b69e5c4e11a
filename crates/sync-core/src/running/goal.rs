//! Goals: one `target_days` per user and year, checked against the calendar.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::calendar::days_in_year;
use crate::time::{serde_format, truncate_to_seconds};

/// The target of a year without a goal, unless the server is configured otherwise.
pub const DEFAULT_TARGET_DAYS: u16 = 300;
/// The earliest year a goal (or a year's numbers) may be asked for.
pub const MIN_YEAR: i32 = 2000;
/// The latest year a goal (or a year's numbers) may be asked for.
pub const MAX_YEAR: i32 = 2100;

/// A year outside [`MIN_YEAR`]..=[`MAX_YEAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be between 2000 and 2100")]
pub struct YearOutOfRange {
    /// The year as given.
    pub year: i64,
}

/// A `target_days` outside 1..=the number of days in the goal's year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be between 1 and {max}")]
pub struct TargetOutOfRange {
    /// The target as given.
    pub target_days: i64,
    /// The days in the goal's year (366 when the year itself is not valid).
    pub max: u16,
}

/// Why a goal was refused, per field (at least one is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid goal: {}", self.summary())]
pub struct GoalError {
    /// The problem with `year`, if any.
    pub year: Option<YearOutOfRange>,
    /// The problem with `target_days`, if any.
    pub target_days: Option<TargetOutOfRange>,
}

impl GoalError {
    /// The messages per field, as the contract's error body carries them in `errors`.
    ///
    /// ```
    /// let error = sync_core::running::validate_goal(2025, 366).unwrap_err();
    /// let fields = error.field_errors();
    /// assert_eq!(fields["target_days"], vec!["must be between 1 and 365".to_string()]);
    /// assert!(!fields.contains_key("year"));
    /// ```
    pub fn field_errors(&self) -> BTreeMap<String, Vec<String>> {
        let mut fields = BTreeMap::new();
        if let Some(problem) = self.year {
            fields.insert("year".to_owned(), vec![problem.to_string()]);
        }
        if let Some(problem) = self.target_days {
            fields.insert("target_days".to_owned(), vec![problem.to_string()]);
        }
        fields
    }

    fn summary(&self) -> String {
        self.field_errors()
            .into_iter()
            .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Checks a year asked for: [`MIN_YEAR`] to [`MAX_YEAR`].
pub fn validate_year(year: i64) -> Result<i32, YearOutOfRange> {
    i32::try_from(year)
        .ok()
        .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
        .ok_or(YearOutOfRange { year })
}

/// A year and target that passed [`validate_goal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidGoal {
    year: i32,
    target_days: u16,
}

impl ValidGoal {
    /// The goal's year, 2000 to 2100.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The target, 1 to the days in [`ValidGoal::year`].
    pub fn target_days(&self) -> u16 {
        self.target_days
    }
}

/// Checks a goal as set with `PUT /goals/{year}`: the year from 2000 to 2100, `target_days`
/// from 1 to the number of days in that year (366 only in a leap year). Both fields are checked,
/// so a request with two problems hears of both.
///
/// ```
/// use sync_core::running::validate_goal;
/// assert_eq!(validate_goal(2024, 366).unwrap().target_days(), 366);
/// assert!(validate_goal(2025, 366).is_err());
/// let both = validate_goal(1999, 0).unwrap_err();
/// assert!(both.year.is_some() && both.target_days.is_some());
/// ```
pub fn validate_goal(year: i64, target_days: i64) -> Result<ValidGoal, GoalError> {
    let valid_year = validate_year(year);
    let max = match valid_year {
        Ok(year) => days_in_year(year),
        Err(_) => 366,
    };
    let valid_target = u16::try_from(target_days)
        .ok()
        .filter(|t| (1..=max).contains(t))
        .ok_or(TargetOutOfRange { target_days, max });
    match (valid_year, valid_target) {
        (Ok(year), Ok(target_days)) => Ok(ValidGoal { year, target_days }),
        (year, target) => Err(GoalError {
            year: year.err(),
            target_days: target.err(),
        }),
    }
}

/// A year's goal as served: `{year, target_days, created_at, updated_at}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    /// The calendar year.
    pub year: i32,
    /// Running days aimed for in the year.
    pub target_days: u16,
    /// When the goal was first set (whole seconds, UTC); null for the default goal.
    #[serde(serialize_with = "serde_format::server_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub created_at: Option<DateTime<Utc>>,
    /// When the goal was last changed (whole seconds, UTC); null for the default goal.
    #[serde(serialize_with = "serde_format::server_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Goal {
    /// The goal of a year that has none set: `default_target` (the server's configured
    /// default, [`DEFAULT_TARGET_DAYS`] unless changed), kept within 1..=the days of that year,
    /// with null timestamps.
    ///
    /// ```
    /// use sync_core::running::{Goal, DEFAULT_TARGET_DAYS};
    /// let goal = Goal::default_for(2025, DEFAULT_TARGET_DAYS);
    /// assert_eq!(goal.target_days, 300);
    /// assert_eq!(
    ///     serde_json::to_string(&goal).unwrap(),
    ///     r#"{"year":2025,"target_days":300,"created_at":null,"updated_at":null}"#
    /// );
    /// ```
    pub fn default_for(year: i32, default_target: u16) -> Goal {
        Goal {
            year,
            target_days: default_target.clamp(1, days_in_year(year)),
            created_at: None,
            updated_at: None,
        }
    }

    /// A goal the runner set, with the times it was stored (kept to whole seconds, as served).
    pub fn set(valid: ValidGoal, created_at: DateTime<Utc>, updated_at: DateTime<Utc>) -> Goal {
        Goal {
            year: valid.year,
            target_days: valid.target_days,
            created_at: Some(truncate_to_seconds(created_at)),
            updated_at: Some(truncate_to_seconds(updated_at)),
        }
    }

    /// Whether this is the default goal of a year without one.
    pub fn is_default(&self) -> bool {
        self.created_at.is_none()
    }

    /// The target the numbers are computed against: at least 1, so that a hand-built goal of
    /// 0 days cannot divide by zero.
    pub(crate) fn effective_target(&self) -> u32 {
        u32::from(self.target_days.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leap_year_allows_366_days() {
        assert_eq!(validate_goal(2024, 366).unwrap().year(), 2024);
        let refused = validate_goal(2025, 366).unwrap_err();
        assert_eq!(refused.year, None);
        assert_eq!(
            refused.target_days,
            Some(TargetOutOfRange {
                target_days: 366,
                max: 365
            })
        );
    }

    #[test]
    fn years_and_targets_are_bounded() {
        assert!(validate_goal(2000, 1).is_ok());
        assert!(validate_goal(2100, 365).is_ok());
        for (year, target) in [(1999, 10), (2101, 10), (i64::MAX, 10), (i64::MIN, 10)] {
            let error = validate_goal(year, target).unwrap_err();
            assert_eq!(error.year, Some(YearOutOfRange { year }));
            assert_eq!(error.target_days, None);
            assert_eq!(
                error.field_errors()["year"],
                vec!["must be between 2000 and 2100"]
            );
        }
        for target in [0, -1, 367, i64::MAX] {
            let error = validate_goal(2024, target).unwrap_err();
            assert_eq!(error.year, None);
            assert_eq!(
                error.field_errors()["target_days"],
                vec!["must be between 1 and 366"]
            );
        }
    }

    #[test]
    fn both_problems_are_reported() {
        let error = validate_goal(1990, 400).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid goal: target_days must be between 1 and 366; year must be between 2000 and 2100"
        );
    }

    #[test]
    fn a_default_target_never_exceeds_the_year() {
        assert_eq!(Goal::default_for(2025, 366).target_days, 365);
        assert_eq!(Goal::default_for(2024, 366).target_days, 366);
        assert_eq!(Goal::default_for(2024, 0).target_days, 1);
        assert!(Goal::default_for(2024, 300).is_default());
    }

    #[test]
    fn set_goals_write_whole_seconds() {
        let valid = validate_goal(2024, 250).unwrap();
        let at = crate::time::parse_client_timestamp("2024-01-15T09:00:01.750Z")
            .unwrap()
            .utc;
        let goal = Goal::set(valid, at, at);
        assert!(!goal.is_default());
        let json = serde_json::to_value(&goal).unwrap();
        assert_eq!(json["created_at"], "2024-01-15T09:00:01Z");
        assert_eq!(json["target_days"], 250);
    }
}
