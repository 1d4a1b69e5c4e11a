//! The runner's year in a few lines of text, as `rdsync goal` and `rdsync stats` print it:
//! pure functions of the server's bodies (`sync_core::running`), so the wording is tested
//! without a server.
//!
//! ```text
//! 2026: 246 of 250 running days (98.4%)
//! on track, 16 days ahead
//! 4 to go: 0.9 days a week from now on (so far 5.1 a week)
//! streak: 7 days now, longest in 2026: 14 days
//! next achievement: 250 Running Days, 4 more running days
//! ```

use sync_core::running::{
    Achievement, DashboardBody, DashboardStats, Goal, GoalProgressBody, InsightsBody, PaceMetrics,
    PersonalBests, Progress, Streaks, GOAL_ACHIEVEMENT_ID,
};

/// `rdsync goal`: the year's goal, how far along the runner is, the streaks and the next
/// achievement, one line each.
pub fn goal_summary(body: &GoalProgressBody) -> String {
    Year {
        goal: &body.goal,
        progress: &body.progress,
        pace: &body.pace_metrics,
        streaks: &body.streaks,
        achievements: &body.achievements,
        totals: &body.stats,
    }
    .lines()
    .join("\n")
}

/// `rdsync stats`: [`goal_summary`]'s lines from the dashboard (with the achievements of the
/// insights of the same year), then the distance and time run and the personal bests.
pub fn stats_summary(dashboard: &DashboardBody, insights: &InsightsBody) -> String {
    let mut lines = Year {
        goal: &dashboard.goal,
        progress: &dashboard.progress,
        pace: &dashboard.pace_metrics,
        streaks: &dashboard.streaks,
        achievements: &insights.achievements,
        totals: &dashboard.stats,
    }
    .lines();
    lines.push(totals_line(&dashboard.stats));
    lines.extend(bests_line(&insights.personal_bests));
    lines.join("\n")
}

/// The parts of a body the year's lines are made of.
struct Year<'a> {
    goal: &'a Goal,
    progress: &'a Progress,
    pace: &'a PaceMetrics,
    streaks: &'a Streaks,
    achievements: &'a [Achievement],
    totals: &'a DashboardStats,
}

impl Year<'_> {
    fn lines(&self) -> Vec<String> {
        let progress = self.progress;
        let mut lines = vec![format!(
            "{}: {} of {} ({:.1}%){}",
            self.goal.year,
            progress.days_completed,
            running_days(u32::from(self.goal.target_days)),
            progress.percent_complete,
            if self.goal.is_default() {
                ", the default goal"
            } else {
                ""
            },
        )];
        if progress.days_remaining == 0 {
            lines.push(match self.pace.projected_completion {
                Some(day) => format!("goal reached on {day}"),
                None => "goal reached".to_owned(),
            });
        } else {
            lines.push(match progress.days_ahead {
                0 => "on track".to_owned(),
                ahead if ahead > 0 => format!("on track, {} ahead", days(ahead.unsigned_abs())),
                behind => format!("{} behind", days(behind.unsigned_abs())),
            });
            lines.push(if self.pace.open_days == 0 {
                format!(
                    "the year ended {} short of the goal",
                    running_days(progress.days_remaining)
                )
            } else {
                format!(
                    "{} to go: {:.1} days a week from now on (so far {:.1} a week)",
                    progress.days_remaining,
                    self.pace.required_days_per_week,
                    self.pace.current_pace_per_week
                )
            });
        }
        // The current streak is about today, whatever the year; the longest is the year's.
        lines.push(format!(
            "streak: {} now, longest in {}: {}",
            days(self.streaks.current),
            self.goal.year,
            days(self.streaks.longest)
        ));
        lines.push(match self.achievements.iter().find(|a| !a.is_unlocked) {
            Some(next) => format!("next achievement: {}, {}", next.name, self.left_for(next)),
            None => "every achievement unlocked".to_owned(),
        });
        lines
    }

    /// What is left to unlock `achievement`, from its id's kind (`days_`, `km_`, `goal`);
    /// its description for a kind this client does not know, or when the numbers already
    /// read as reached (the rounding of the totals).
    fn left_for(&self, achievement: &Achievement) -> String {
        let completed = self.progress.days_completed;
        let milestone = achievement.milestone;
        let left = if achievement.id.starts_with("days_") || achievement.id == GOAL_ACHIEVEMENT_ID {
            (milestone > completed).then(|| {
                plural(
                    milestone - completed,
                    "more running day",
                    "more running days",
                )
            })
        } else if achievement.id.starts_with("km_") {
            let km = f64::from(milestone) - self.totals.total_distance_km;
            (km >= 0.05).then(|| format!("{km:.1} km more"))
        } else {
            None
        };
        left.unwrap_or_else(|| achievement.description.clone())
    }
}

fn totals_line(totals: &DashboardStats) -> String {
    let mut line = format!(
        "distance: {:.1} km in {:.1} h",
        totals.total_distance_km, totals.total_duration_hours
    );
    if let Some(pace) = totals.avg_pace_min_per_km.and_then(min_sec) {
        line += &format!(", {pace} min/km on average");
    }
    line
}

fn bests_line(bests: &PersonalBests) -> Option<String> {
    let longest = bests
        .longest_run_km
        .zip(bests.longest_run_date)
        .map(|(km, day)| format!("longest run {km:.2} km on {day}"));
    let fastest = bests
        .fastest_pace_min_per_km
        .and_then(min_sec)
        .zip(bests.fastest_pace_date)
        .map(|(pace, day)| format!("fastest pace {pace} min/km on {day}"));
    let parts: Vec<String> = longest.into_iter().chain(fastest).collect();
    (!parts.is_empty()).then(|| format!("best: {}", parts.join(", ")))
}

/// Minutes per km as `m:ss` (5.33 → `5:20`); nothing for a pace that is not a positive number.
fn min_sec(min_per_km: f64) -> Option<String> {
    if !(min_per_km.is_finite() && min_per_km > 0.0) {
        return None;
    }
    // Saturates for an absurd pace instead of overflowing.
    let seconds = (min_per_km * 60.0).round() as u64;
    Some(format!("{}:{:02}", seconds / 60, seconds % 60))
}

fn days(n: u32) -> String {
    plural(n, "day", "days")
}

fn running_days(n: u32) -> String {
    plural(n, "running day", "running days")
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};
    use sync_core::running::{self, RunFact, YearData};

    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// A run of `km` at 06:00 UTC on `day`, 5 minutes per km.
    fn run(day: NaiveDate, km: f64) -> RunFact {
        RunFact {
            id: uuid::Uuid::new_v4(),
            start_time: Utc.from_utc_datetime(&day.and_hms_opt(6, 0, 0).unwrap()),
            date: day,
            distance_meters: km * 1000.0,
            duration_seconds: (km * 300.0) as i64,
        }
    }

    /// Runs of `km` on `count` consecutive days from `first`.
    fn runs(first: NaiveDate, count: u64, km: f64) -> Vec<RunFact> {
        (0..count)
            .map(|i| run(first + chrono::Days::new(i), km))
            .collect()
    }

    fn data(year: i32, today: NaiveDate, runs: Vec<RunFact>) -> YearData {
        let mut data = YearData::new(year, today, runs).unwrap();
        data.fill_running_days(|_| Ok::<_, std::convert::Infallible>(Vec::new()))
            .unwrap();
        data
    }

    fn set_goal(year: i32, target: i64) -> Goal {
        let at: DateTime<Utc> = Utc.with_ymd_and_hms(year, 1, 1, 9, 0, 0).unwrap();
        Goal::set(running::validate_goal(year.into(), target).unwrap(), at, at)
    }

    /// `goal_summary`'s lines for `runs` seen on `today`, against `goal` (of its year).
    fn goal_lines(today: NaiveDate, runs: Vec<RunFact>, goal: Goal) -> Vec<String> {
        let body = running::goal_progress(&data(goal.year, today, runs), &goal);
        goal_summary(&body).lines().map(str::to_owned).collect()
    }

    /// `stats_summary`'s lines, as [`goal_lines`].
    fn stats_lines(today: NaiveDate, runs: Vec<RunFact>, goal: Goal) -> Vec<String> {
        let data = data(goal.year, today, runs);
        let text = stats_summary(
            &running::dashboard(&data, &goal, Vec::new()),
            &running::insights(&data, &goal),
        );
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn ahead_behind_on_track_reached_and_over() {
        let d = |month, day| date(2025, month, day);
        let mut ahead = runs(d(1, 2), 3, 5.0);
        ahead.extend(runs(d(1, 9), 2, 5.0));
        // (what, today, runs, goal, the lines)
        let cases = [
            (
                // 3 of 100 expected on 10 January, 5 done, the last two today and yesterday.
                "ahead",
                d(1, 10),
                ahead,
                set_goal(2025, 100),
                [
                    "2025: 5 of 100 running days (5.0%)",
                    "on track, 2 days ahead",
                    "95 to go: 1.9 days a week from now on (so far 3.5 a week)",
                    "streak: 2 days now, longest in 2025: 3 days",
                    "next achievement: One Week of Runs, 2 more running days",
                ],
            ),
            (
                // 1 March: 59 of 365 days gone, so 49 of 300 expected; 10 done, none recent.
                "behind",
                d(3, 1),
                runs(d(1, 1), 10, 10.0),
                Goal::default_for(2025, 300),
                [
                    "2025: 10 of 300 running days (3.3%), the default goal",
                    "39 days behind",
                    "290 to go: 6.6 days a week from now on (so far 1.2 a week)",
                    "streak: 0 days now, longest in 2025: 10 days",
                    "next achievement: One Month of Runs, 20 more running days",
                ],
            ),
            (
                // round(10 ÷ 365 × 73) = 2 expected on 10 January.
                "exactly on pace",
                d(1, 10),
                runs(d(1, 9), 2, 5.0),
                set_goal(2025, 73),
                [
                    "2025: 2 of 73 running days (2.7%)",
                    "on track",
                    "71 to go: 1.4 days a week from now on (so far 1.4 a week)",
                    "streak: 2 days now, longest in 2025: 2 days",
                    "next achievement: One Week of Runs, 5 more running days",
                ],
            ),
            (
                "one day behind",
                d(1, 10),
                runs(d(1, 10), 1, 5.0),
                set_goal(2025, 73),
                [
                    "2025: 1 of 73 running days (1.4%)",
                    "1 day behind",
                    "72 to go: 1.4 days a week from now on (so far 0.7 a week)",
                    "streak: 1 day now, longest in 2025: 1 day",
                    "next achievement: One Week of Runs, 6 more running days",
                ],
            ),
            (
                "a past year not reached",
                date(2026, 3, 1),
                runs(d(12, 1), 2, 5.0),
                set_goal(2025, 100),
                [
                    "2025: 2 of 100 running days (2.0%)",
                    "98 days behind",
                    "the year ended 98 running days short of the goal",
                    "streak: 0 days now, longest in 2025: 2 days",
                    "next achievement: One Week of Runs, 5 more running days",
                ],
            ),
        ];
        for (what, today, runs, goal, expected) in cases {
            assert_eq!(goal_lines(today, runs, goal), expected, "{what}");
        }
    }

    #[test]
    fn goal_reached_says_when() {
        let lines = goal_lines(
            date(2025, 6, 1),
            runs(date(2025, 2, 1), 20, 3.0),
            set_goal(2025, 15),
        );
        assert_eq!(
            lines,
            [
                "2025: 20 of 15 running days (100.0%)",
                "goal reached on 2025-02-15",
                "streak: 0 days now, longest in 2025: 20 days",
                "next achievement: One Month of Runs, 10 more running days",
            ]
        );
    }

    #[test]
    fn no_runs_stats() {
        // 1 January: 1 of 300 expected already.
        let lines = stats_lines(date(2025, 1, 1), Vec::new(), Goal::default_for(2025, 300));
        assert_eq!(
            lines,
            [
                "2025: 0 of 300 running days (0.0%), the default goal",
                "1 day behind",
                "300 to go: 5.8 days a week from now on (so far 0.0 a week)",
                "streak: 0 days now, longest in 2025: 0 days",
                "next achievement: First Run, 1 more running day",
                "distance: 0.0 km in 0.0 h",
            ]
        );
    }

    #[test]
    fn stats_add_distance_time_and_bests() {
        // 7 runs of 8 km at 5 min/km, then one of 3 km at 6 min/km.
        let mut list = runs(date(2025, 1, 1), 7, 8.0);
        let mut slow = run(date(2025, 1, 8), 3.0);
        slow.duration_seconds = 3 * 360;
        list.push(slow);
        let lines = stats_lines(date(2025, 1, 9), list, set_goal(2025, 200));
        assert_eq!(
            lines[4],
            "next achievement: One Month of Runs, 22 more running days"
        );
        assert_eq!(
            lines[5],
            "distance: 59.0 km in 5.0 h, 5:03 min/km on average"
        );
        assert_eq!(
            lines[6],
            "best: longest run 8.00 km on 2025-01-01, fastest pace 5:00 min/km on 2025-01-01"
        );
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn the_next_distance_achievement_says_the_km_left() {
        // 2024 (leap), every day run: all day milestones but the km ones and the goal.
        let today = date(2024, 12, 31);
        let data = data(2024, today, runs(date(2024, 1, 1), 366, 1.0));
        let body = running::goal_progress(&data, &Goal::default_for(2024, 300));
        let text = goal_summary(&body);
        assert!(
            text.ends_with("next achievement: 500 km, 134.0 km more"),
            "{text}"
        );
    }

    #[test]
    fn every_achievement_unlocked() {
        let today = date(2024, 12, 31);
        let data = data(2024, today, runs(date(2024, 1, 1), 366, 6.0));
        let body = running::goal_progress(&data, &set_goal(2024, 366));
        assert!(body.achievements.iter().all(|a| a.is_unlocked));
        let text = goal_summary(&body);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "2024: 366 of 366 running days (100.0%)",
                "goal reached on 2024-12-31",
                "streak: 366 days now, longest in 2024: 366 days",
                "every achievement unlocked",
            ]
        );
    }

    #[test]
    fn an_unknown_achievement_shows_its_description_and_odd_numbers_do_not_panic() {
        let today = date(2025, 1, 1);
        let data = data(2025, today, Vec::new());
        let mut body = running::goal_progress(&data, &Goal::default_for(2025, 300));
        body.achievements.insert(
            0,
            Achievement {
                id: "elevation_1000".into(),
                name: "Climber".into(),
                description: "Climb 1000 m in one year.".into(),
                milestone: 1000,
                unlocked_at: None,
                is_unlocked: false,
            },
        );
        body.stats.avg_pace_min_per_km = Some(f64::NAN);
        body.stats.total_distance_km = f64::INFINITY;
        body.progress.days_ahead = i32::MIN;
        let text = goal_summary(&body);
        assert!(
            text.contains("next achievement: Climber, Climb 1000 m in one year."),
            "{text}"
        );
        assert!(text.contains("2147483648 days behind"), "{text}");
        assert_eq!(min_sec(f64::MAX), Some(format!("{}:15", u64::MAX / 60)));
        assert_eq!(min_sec(-1.0), None);
        assert_eq!(min_sec(5.999), Some("6:00".into()));
        assert_eq!(totals_line(&body.stats), "distance: inf km in 0.0 h");
    }
}
