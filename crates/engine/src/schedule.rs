//! When the service's jobs run: cron expressions in UTC. A job never overlaps itself, and the runs
//! missed while the service was down are made up by one run at start, never a pile of catch-up
//! runs. Pure: the clock and the last runs come in, what is due goes out, so the rules are tested
//! under a controlled clock.

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("schedule {expression:?}: {reason}")]
pub struct ScheduleError {
    pub expression: String,
    pub reason: String,
}

/// A cron expression in UTC: five fields (`minute hour day-of-month month day-of-week`, as in
/// crontab) or six with seconds first.
#[derive(Debug, Clone)]
pub struct Cron {
    expression: String,
    schedule: cron::Schedule,
}

impl Cron {
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        let fail = |reason: String| ScheduleError {
            expression: expression.to_owned(),
            reason,
        };
        let trimmed = expression.trim();
        let mut fields: Vec<String> = trimmed.split_whitespace().map(str::to_owned).collect();
        match fields.len() {
            5 => fields.insert(0, "0".into()),
            6 => {}
            n => {
                return Err(fail(format!(
                    "{n} fields; expected 5 (minute hour day month weekday) or 6"
                )));
            }
        }
        // crontab ORs a restricted day of the month with a restricted weekday; the cron crate
        // ANDs them. Rather than run on days nobody meant, such an expression is refused.
        if fields[3] != "*" && fields[3] != "?" && fields[5] != "*" && fields[5] != "?" {
            return Err(fail(
                "it restricts both the day of the month and the weekday; give one of them and * for the other".into(),
            ));
        }
        fields[5] = crontab_weekdays(&fields[5]).map_err(fail)?;
        let with_seconds = fields.join(" ");
        let schedule = cron::Schedule::from_str(&with_seconds).map_err(|e| fail(e.to_string()))?;
        // An expression that never fires (February 30th) would silently disable its job.
        if schedule.upcoming(Utc).next().is_none() {
            return Err(fail("it never fires".into()));
        }
        Ok(Self {
            expression: trimmed.to_owned(),
            schedule,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The newest time at or before `now_ms` the expression fires at, if any.
    pub fn latest_at_or_before(&self, now_ms: i64) -> Option<i64> {
        // `after` is exclusive: start just past `now` so a fire at exactly `now` counts.
        let start = DateTime::<Utc>::from_timestamp_millis(now_ms.checked_add(1)?)?;
        self.schedule.after(&start).next_back().map(|t| t.timestamp_millis())
    }

    /// The first time after `t_ms` the expression fires at, if any.
    pub fn next_after(&self, t_ms: i64) -> Option<i64> {
        let start = DateTime::<Utc>::from_timestamp_millis(t_ms)?;
        self.schedule.after(&start).next().map(|t| t.timestamp_millis())
    }
}

/// The weekday field in crontab's numbering (0 or 7 Sunday, 1 Monday … 6 Saturday) turned into
/// the cron crate's (1 Sunday … 7 Saturday). Names (`MON`, `sun-sat`) mean the same in both and
/// pass as they are.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    let day = |s: &str| -> Result<Option<u32>, String> {
        if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            match s.parse::<u32>() {
                Ok(n @ 0..=7) => Ok(Some(n % 7 + 1)),
                _ => Err(format!("weekday {s} is out of range (0-7, 0 and 7 are Sunday)")),
            }
        } else {
            Ok(None)
        }
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step = step.map(|s| format!("/{s}")).unwrap_or_default();
        match range.split_once('-') {
            Some((a, b)) => match (day(a)?, day(b)?) {
                // `5-7` (Friday to Sunday): Sunday is 1 in the crate, so the range splits.
                (Some(from), Some(1)) if b != "0" && from > 1 && step.is_empty() => {
                    items.push(format!("{from}-7"));
                    items.push("1".into());
                }
                (Some(from), Some(to)) => items.push(format!("{from}-{to}{step}")),
                _ => items.push(item.to_owned()),
            },
            None => match day(range)? {
                Some(d) => items.push(format!("{d}{step}")),
                None => items.push(item.to_owned()),
            },
        }
    }
    Ok(items.join(","))
}

/// What the scheduler knows of one job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobState {
    /// When its last run started (from `job_runs`, across restarts).
    pub last_started_ms: Option<i64>,
    /// A run is under way now.
    pub running: bool,
}

/// Whether a job is due at `now_ms`: its schedule fired since its last run started (or it never
/// ran), and it is not running. However many fire times passed since, this is one run.
pub fn is_due(cron: &Cron, state: JobState, now_ms: i64) -> bool {
    if state.running {
        return false;
    }
    match (cron.latest_at_or_before(now_ms), state.last_started_ms) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(fired), Some(started)) => started < fired,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const H: i64 = 60 * MIN;
    /// 2024-03-01T10:00:00Z.
    const T10: i64 = 1_709_287_200_000;

    #[test]
    fn minute_five_fires_at_minute_five_and_not_before() {
        let hourly = Cron::parse("5 * * * *").unwrap();
        let ran_at_905 = JobState {
            last_started_ms: Some(T10 - H + 5 * MIN),
            running: false,
        };
        assert!(!is_due(&hourly, ran_at_905, T10 + 5 * MIN - 1));
        assert!(is_due(&hourly, ran_at_905, T10 + 5 * MIN));
        assert!(is_due(&hourly, ran_at_905, T10 + 30 * MIN));
        // Once run at 10:05 it waits for 11:05.
        let ran_at_1005 = JobState {
            last_started_ms: Some(T10 + 5 * MIN),
            running: false,
        };
        assert!(!is_due(&hourly, ran_at_1005, T10 + H + 4 * MIN));
        assert!(is_due(&hourly, ran_at_1005, T10 + H + 5 * MIN));
        assert_eq!(hourly.next_after(T10 + 5 * MIN), Some(T10 + H + 5 * MIN));
    }

    #[test]
    fn a_running_job_never_starts_again() {
        let every_minute = Cron::parse("* * * * *").unwrap();
        let running = JobState {
            last_started_ms: Some(T10),
            running: true,
        };
        assert!(!is_due(&every_minute, running, T10 + 10 * MIN));
        assert!(is_due(
            &every_minute,
            JobState {
                running: false,
                ..running
            },
            T10 + 10 * MIN
        ));
    }

    #[test]
    fn a_day_of_missed_runs_is_one_run_at_start() {
        let hourly = Cron::parse("5 * * * *").unwrap();
        let down_for_a_day = JobState {
            last_started_ms: Some(T10 - 24 * H),
            running: false,
        };
        let start = T10 + 20 * MIN;
        assert!(is_due(&hourly, down_for_a_day, start));
        // The catch-up run started at `start`: nothing more until the next fire time.
        let caught_up = JobState {
            last_started_ms: Some(start),
            running: false,
        };
        assert!(!is_due(&hourly, caught_up, start + 30 * MIN));
        assert!(is_due(&hourly, caught_up, T10 + H + 5 * MIN));
        // A job that never ran runs at once.
        assert!(is_due(&hourly, JobState::default(), start));
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        let err = Cron::parse("5 * * *").unwrap_err();
        assert_eq!(err.expression, "5 * * *");
        assert!(err.reason.contains("4 fields"), "{err}");
        assert!(Cron::parse("61 * * * *").is_err());
        assert!(Cron::parse("0 0 30 2 *").unwrap_err().reason.contains("never fires"));
        assert_eq!(Cron::parse(" 0 3 * * * ").unwrap().expression(), "0 3 * * *");
        assert!(Cron::parse("0 0 3 * * *").is_ok(), "six fields, seconds first");
        assert!(Cron::parse("0 3 1 * 1").unwrap_err().reason.contains("both"));
        assert!(Cron::parse("0 3 * * 8").is_err());
    }

    #[test]
    fn weekdays_are_crontab_s_sunday_zero() {
        // 2024-03-01 is a Friday; 2024-03-03 a Sunday, 2024-03-04 a Monday.
        let day = 24 * H;
        let fri = T10 - 10 * H;
        let next = |expr: &str| Cron::parse(expr).unwrap().next_after(fri).unwrap();
        assert_eq!(next("0 3 * * 1"), fri + 3 * day + 3 * H, "1 is Monday");
        assert_eq!(next("0 3 * * 0"), fri + 2 * day + 3 * H, "0 is Sunday");
        assert_eq!(next("0 3 * * 7"), fri + 2 * day + 3 * H, "7 is Sunday too");
        assert_eq!(next("0 3 * * MON"), fri + 3 * day + 3 * H);
        assert_eq!(
            next("0 3 * * 1-5"),
            fri + 3 * H,
            "Monday to Friday includes this Friday"
        );
        assert_eq!(next("0 3 * * 6-7"), fri + day + 3 * H, "Saturday and Sunday");
        let weekend = Cron::parse("0 3 * * 6-7").unwrap();
        assert_eq!(weekend.next_after(fri + day + 3 * H), Some(fri + 2 * day + 3 * H));
        assert_eq!(weekend.next_after(fri + 2 * day + 3 * H), Some(fri + 8 * day + 3 * H));
    }
}
