//! Schedules: a maintenance flow that recurs for a client, written as an RFC 5545 recurrence
//! rule and expanded (by the `rrule` crate) in the client's time zone.
//!
//! Nothing is stored per occurrence. A run is due on its occurrence's day in the schedule's
//! time zone and overdue from the next day on, until a batch is started for it
//! ([`crate::batch::ScheduledRun`]); [`due_runs`] derives that from the schedule, the
//! occurrences batches were started for, and the time now. Occurrences fall at noon local
//! time, a time every day has, so a daylight-saving change never moves one to another day or
//! drops it.

use std::collections::BTreeSet;

use chrono::{Datelike, TimeZone};
use rrule::RRuleSet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::batch::{MAX_NAME_BYTES, checked_name, iso_date};
use crate::session::MAX_TEXT_BYTES;

/// Longest recurrence rule, in bytes.
pub const MAX_RULE_BYTES: usize = 500;
/// Most overdue runs listed per schedule (the most recent); older ones are counted.
pub const MAX_OVERDUE_LISTED: usize = 50;
/// How far ahead the next run is shown as upcoming, in days.
pub const UPCOMING_DAYS: i64 = 7;
/// Most occurrences expanded for one schedule at a time: a daily schedule over 270 years. The
/// first day is at most [`MAX_YEARS_BACK`] years back, so a real schedule never reaches it; a
/// schedule that would is refused, never cut short silently.
const MAX_EXPANSION: usize = 100_000;
/// The earliest first day, and how far ahead one may be.
pub const MAX_YEARS_BACK: i32 = 30;
pub const MAX_YEARS_AHEAD: i32 = 10;

/// A schedule as it is synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub flow_id: Uuid,
    pub flow_title: String,
    pub client: String,
    /// The recurrence, an RFC 5545 `RRULE` value such as `FREQ=MONTHLY;BYDAY=2TU`.
    pub rule: String,
    /// The client's time zone, an IANA name such as `Europe/London`.
    pub time_zone: String,
    /// The first day the rule may fall on (its `DTSTART`), in the time zone.
    #[serde(with = "iso_date")]
    pub first_day: time::Date,
    /// The saved target list a due run's batch takes its targets from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_list: Option<String>,
    pub created_by: String,
}

/// A rule as typed (`RRULE:` prefix or not, any case), in its stored form, or why it is not
/// one this product runs.
pub fn normalise_rule(text: &str) -> Result<String, String> {
    let text = text.trim();
    let text = match text.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => &text[6..],
        _ => text,
    };
    let mut rule = text.trim().to_ascii_uppercase();
    // A date-only UNTIL (RFC 5545 allows it) means through that day; with a DTSTART in a time
    // zone the rule must say it in UTC: the day's last second covers noon there in every zone.
    if let Some(until) = rule
        .split(';')
        .find_map(|part| part.strip_prefix("UNTIL="))
        .filter(|until| until.len() == 8 && until.bytes().all(|byte| byte.is_ascii_digit()))
    {
        rule = rule.replace(&format!("UNTIL={until}"), &format!("UNTIL={until}T235959Z"));
    }
    for part in rule.split(';') {
        if matches!(part, "COUNT=0" | "INTERVAL=0") {
            return Err(format!("{part} makes a rule that never runs; remove it"));
        }
    }
    if rule.is_empty() {
        return Err("the recurrence rule is empty; give one such as FREQ=MONTHLY;BYDAY=2TU".into());
    }
    if rule.len() > MAX_RULE_BYTES {
        return Err(format!(
            "the recurrence rule is {} bytes; the limit is {MAX_RULE_BYTES}",
            rule.len()
        ));
    }
    if rule.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("give the recurrence rule on one line, without spaces (one RRULE value such as FREQ=MONTHLY;BYDAY=2TU)".into());
    }
    if rule.contains("DTSTART") || rule.contains(':') {
        return Err(
            "give only the RRULE value (such as FREQ=MONTHLY;BYDAY=2TU); the first day is --start"
                .into(),
        );
    }
    let frequency = rule
        .split(';')
        .find_map(|part| part.strip_prefix("FREQ="))
        .ok_or(
            "the recurrence rule has no FREQ; start it with FREQ=DAILY, WEEKLY, MONTHLY or YEARLY",
        )?;
    if matches!(frequency, "HOURLY" | "MINUTELY" | "SECONDLY") {
        return Err(format!(
            "a schedule recurs at most daily; FREQ={frequency} is not one (use FREQ=DAILY with INTERVAL for every few days)"
        ));
    }
    if rule.contains("BYHOUR") || rule.contains("BYMINUTE") || rule.contains("BYSECOND") {
        return Err(
            "a schedule names days, not times of day; remove BYHOUR, BYMINUTE and BYSECOND".into(),
        );
    }
    Ok(rule)
}

/// An IANA time zone name, checked.
pub fn check_time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("{name:?} is not a time zone; give an IANA name such as Europe/London or America/New_York")
    })
}

/// The day `at` falls on in `time_zone`.
pub fn day_in(time_zone: &str, at: OffsetDateTime) -> Result<time::Date, String> {
    let zone = check_time_zone(time_zone)?;
    let local = zone
        .timestamp_opt(at.unix_timestamp(), 0)
        .single()
        .ok_or("the time is out of range")?;
    to_date(local.date_naive())
}

fn to_date(day: chrono::NaiveDate) -> Result<time::Date, String> {
    u16::try_from(day.ordinal())
        .ok()
        .and_then(|ordinal| time::Date::from_ordinal_date(day.year(), ordinal).ok())
        .ok_or_else(|| format!("{day} is out of range"))
}

impl Schedule {
    /// Checks a schedule (from this device or elsewhere) and reads its recurrence.
    pub fn recurrence(&self) -> Result<RRuleSet, String> {
        let rule = normalise_rule(&self.rule)?;
        if rule != self.rule {
            return Err("the rule is not in its stored form".to_owned());
        }
        let zone = check_time_zone(&self.time_zone)?;
        if zone.name() != self.time_zone {
            return Err(format!(
                "the time zone is written {:?}; write it {:?}",
                self.time_zone,
                zone.name()
            ));
        }
        checked_name("the client", &self.client)?;
        if let Some(list) = &self.target_list {
            checked_name("the target list's name", list)?;
        }
        if self.flow_title.len() > MAX_TEXT_BYTES || self.created_by.len() > MAX_NAME_BYTES * 2 {
            return Err("the schedule's texts are too long".to_owned());
        }
        let day = self.first_day;
        let text = format!(
            "DTSTART;TZID={}:{:04}{:02}{:02}T120000\nRRULE:{rule}",
            zone.name(),
            day.year(),
            u8::from(day.month()),
            day.day()
        );
        text.parse::<RRuleSet>()
            .map_err(|error| format!("the recurrence rule {rule:?} is not valid: {error}"))
    }

    /// Checks a schedule as every peer does before storing it: readable, its first day within
    /// [`MAX_YEARS_BACK`] and [`MAX_YEARS_AHEAD`] of `today`'s year, and a rule that runs at
    /// least once (`FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30` never does: it would never be due).
    pub fn check(&self) -> Result<(), String> {
        let set = self.recurrence()?;
        let year = self.first_day.year();
        if !(1990..=2200).contains(&year) {
            return Err(format!(
                "the first day {} is out of range; give a day of this era",
                crate::batch::format_date(self.first_day)
            ));
        }
        if set.into_iter().next().is_none() {
            return Err(format!(
                "the rule {:?} never falls on a day; check BYMONTH, BYMONTHDAY and the like",
                self.rule
            ));
        }
        Ok(())
    }

    /// The first day's range for a new schedule made `today`.
    pub fn check_first_day(first_day: time::Date, today: time::Date) -> Result<(), String> {
        let years = first_day.year() - today.year();
        if !(-MAX_YEARS_BACK..=MAX_YEARS_AHEAD).contains(&years) {
            return Err(format!(
                "the first day {} is more than {} years from today; give a nearer one",
                crate::batch::format_date(first_day),
                if years < 0 {
                    MAX_YEARS_BACK
                } else {
                    MAX_YEARS_AHEAD
                }
            ));
        }
        Ok(())
    }

    /// The rule's next occurrence days from `from` (inclusive), at most `count`, for a person
    /// checking what they typed.
    pub fn next_days(&self, from: time::Date, count: usize) -> Result<Vec<time::Date>, String> {
        let set = self.recurrence()?;
        let mut days = Vec::new();
        for occurrence in set.into_iter().take(MAX_EXPANSION) {
            let day = to_date(occurrence.date_naive())?;
            if day >= from {
                days.push(day);
                if days.len() >= count {
                    break;
                }
            }
        }
        Ok(days)
    }
}

/// Where a run of a schedule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueState {
    /// Its day has passed and no batch was started for it.
    Overdue,
    /// Its day is today (in the client's time zone).
    Due,
    /// The next run, within [`UPCOMING_DAYS`].
    Upcoming,
}

impl DueState {
    pub fn label(self) -> &'static str {
        match self {
            DueState::Overdue => "overdue",
            DueState::Due => "due today",
            DueState::Upcoming => "upcoming",
        }
    }
}

/// One run of a schedule that needs doing (or soon will).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueRun {
    pub schedule_id: Uuid,
    #[serde(with = "iso_date")]
    pub occurrence: time::Date,
    pub state: DueState,
}

/// A schedule's runs that need doing: every occurrence up to today with no batch started for
/// it (`started`: the occurrence days batches were started for), overdue or due today, the
/// most recent [`MAX_OVERDUE_LISTED`] of them listed and the rest counted in the second value;
/// then the next occurrence within [`UPCOMING_DAYS`], if any.
pub fn due_runs(
    schedule_id: Uuid,
    schedule: &Schedule,
    started: &BTreeSet<time::Date>,
    now: OffsetDateTime,
) -> Result<(Vec<DueRun>, usize), String> {
    let set = schedule.recurrence()?;
    let today = day_in(&schedule.time_zone, now)?;
    let horizon = today + time::Duration::days(UPCOMING_DAYS);
    let mut waiting: Vec<DueRun> = Vec::new();
    let mut upcoming = None;
    let mut expanded = 0;
    for occurrence in &set {
        expanded += 1;
        if expanded > MAX_EXPANSION {
            return Err(format!(
                "the schedule has more than {MAX_EXPANSION} runs since its first day; give it a later first day"
            ));
        }
        let day = to_date(occurrence.date_naive())?;
        if day > horizon {
            break;
        }
        if started.contains(&day) {
            continue;
        }
        if day > today {
            upcoming = Some(DueRun {
                schedule_id,
                occurrence: day,
                state: DueState::Upcoming,
            });
            break;
        }
        waiting.push(DueRun {
            schedule_id,
            occurrence: day,
            state: if day == today {
                DueState::Due
            } else {
                DueState::Overdue
            },
        });
    }
    let dropped = waiting.len().saturating_sub(MAX_OVERDUE_LISTED);
    let mut runs: Vec<DueRun> = waiting.split_off(dropped);
    runs.extend(upcoming);
    Ok((runs, dropped))
}
