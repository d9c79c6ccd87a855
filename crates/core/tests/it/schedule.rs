//! Schedules: the rules a person may type (case table), occurrence days checked by hand against
//! a calendar (second Tuesdays across daylight-saving changes, every 90 days, the 31st, the
//! last day of the month, leap days), due, overdue and upcoming runs in zones far from UTC and
//! on days whose local midnight does not exist, and the property that `due_runs` never lists a
//! run out of its window, twice, or after a batch was started for it.

use std::collections::BTreeSet;

use chrono::Datelike;
use proptest::prelude::*;
use rf_core::schedule::{
    DueRun, DueState, MAX_OVERDUE_LISTED, Schedule, UPCOMING_DAYS, check_time_zone, day_in,
    due_runs, normalise_rule,
};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

const SCHEDULE_ID: Uuid = Uuid::from_u128(0x5c4e_d01e_0000_4000_8000_0000_0000_0001);

fn schedule(rule: &str, time_zone: &str, first_day: Date) -> Schedule {
    Schedule {
        flow_id: Uuid::from_u128(0xdfff_e377_ce48_4594_aca9_3f9a_debd_3bd2),
        flow_title: "Monthly Windows Server patching".into(),
        client: "Northwind Traders".into(),
        rule: normalise_rule(rule).unwrap(),
        time_zone: time_zone.into(),
        first_day,
        target_list: Some("Production servers".into()),
        created_by: "Grace Hopper".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Rules as typed.

#[test]
fn normalise_rule_cases() {
    let too_long = format!("FREQ=DAILY{}", ";BYMONTH=1".repeat(50));
    let cases: Vec<(&str, &str, Result<&str, &str>)> = vec![
        (
            "stored form",
            "FREQ=MONTHLY;BYDAY=2TU",
            Ok("FREQ=MONTHLY;BYDAY=2TU"),
        ),
        (
            "RRULE: prefix",
            "RRULE:FREQ=MONTHLY;BYDAY=2TU",
            Ok("FREQ=MONTHLY;BYDAY=2TU"),
        ),
        (
            "lowercase, prefix too",
            "rrule:freq=monthly;byday=2tu",
            Ok("FREQ=MONTHLY;BYDAY=2TU"),
        ),
        (
            "surrounding spaces, and after the prefix",
            "  RRULE: FREQ=WEEKLY;BYDAY=MO\n",
            Ok("FREQ=WEEKLY;BYDAY=MO"),
        ),
        (
            "every 90 days",
            "freq=daily;interval=90",
            Ok("FREQ=DAILY;INTERVAL=90"),
        ),
        (
            "last day of the month",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            Ok("FREQ=MONTHLY;BYMONTHDAY=-1"),
        ),
        (
            "hourly",
            "FREQ=HOURLY",
            Err("a schedule recurs at most daily; FREQ=HOURLY"),
        ),
        (
            "hourly in lowercase",
            "freq=hourly;interval=6",
            Err("FREQ=HOURLY is not one"),
        ),
        (
            "minutely",
            "FREQ=MINUTELY;INTERVAL=30",
            Err("at most daily"),
        ),
        ("secondly", "RRULE:FREQ=SECONDLY", Err("at most daily")),
        (
            "a time of day",
            "FREQ=DAILY;BYHOUR=9",
            Err("a schedule names days, not times of day; remove BYHOUR"),
        ),
        (
            "minutes",
            "FREQ=WEEKLY;BYDAY=SA;BYMINUTE=30",
            Err("remove BYHOUR, BYMINUTE"),
        ),
        ("seconds", "FREQ=DAILY;BYSECOND=0", Err("not times of day")),
        (
            "DTSTART inside the value",
            "FREQ=DAILY;DTSTART=20270101",
            Err("give only the RRULE value"),
        ),
        (
            "a DTSTART line before the rule",
            "DTSTART:20270101T090000Z;FREQ=DAILY",
            Err("the first day is --start"),
        ),
        (
            "DTSTART and RRULE on two lines",
            "DTSTART:20270101T090000Z\nRRULE:FREQ=DAILY",
            Err("on one line, without spaces"),
        ),
        (
            "a space inside",
            "FREQ=MONTHLY; BYDAY=2TU",
            Err("on one line, without spaces"),
        ),
        ("empty", "", Err("the recurrence rule is empty")),
        ("only spaces", "   ", Err("the recurrence rule is empty")),
        (
            "only the prefix",
            "RRULE:",
            Err("the recurrence rule is empty"),
        ),
        (
            "no FREQ",
            "BYDAY=2TU",
            Err("the recurrence rule has no FREQ"),
        ),
        ("FREQ misspelt", "FREQUENCY=DAILY", Err("has no FREQ")),
        ("too long", &too_long, Err("bytes; the limit is 500")),
    ];
    for (name, typed, expected) in cases {
        match (expected, normalise_rule(typed)) {
            (Ok(expected), Ok(rule)) => assert_eq!(rule, expected, "{name}"),
            (Err(fragment), Err(message)) => {
                assert!(message.contains(fragment), "{name}: {message}")
            }
            (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn time_zones_are_iana_names() {
    for name in [
        "Europe/London",
        "Pacific/Auckland",
        "America/Santiago",
        "UTC",
    ] {
        assert_eq!(check_time_zone(name).unwrap().name(), name);
    }
    for name in ["Mars/Olympus_Mons", "GMT+25", "", "London"] {
        let message = check_time_zone(name).unwrap_err();
        assert!(message.contains("is not a time zone"), "{name}: {message}");
    }
}

#[test]
fn a_stored_schedule_is_checked_before_it_is_expanded() {
    let good = schedule(
        "FREQ=MONTHLY;BYDAY=2TU",
        "Europe/London",
        date!(2027 - 01 - 01),
    );
    assert!(good.recurrence().is_ok());
    let cases: Vec<(&str, Schedule, &str)> = vec![
        (
            "rule not in its stored form",
            Schedule {
                rule: "rrule:freq=monthly;byday=2tu".into(),
                ..good.clone()
            },
            "not in its stored form",
        ),
        (
            "unknown zone",
            Schedule {
                time_zone: "Europe/Londres".into(),
                ..good.clone()
            },
            "is not a time zone",
        ),
        (
            "empty client",
            Schedule {
                client: " ".into(),
                ..good.clone()
            },
            "the client is empty",
        ),
        (
            "a rule the recurrence library refuses",
            Schedule {
                rule: "FREQ=MONTHLY;BYDAY=2XX".into(),
                ..good.clone()
            },
            "is not valid",
        ),
    ];
    for (name, bad, fragment) in cases {
        let message = bad.recurrence().unwrap_err();
        assert!(message.contains(fragment), "{name}: {message}");
        let message = due_runs(
            SCHEDULE_ID,
            &bad,
            &BTreeSet::new(),
            datetime!(2027-03-09 12:00 UTC),
        )
        .unwrap_err();
        assert!(message.contains(fragment), "{name} (due runs): {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Occurrence days, each checked by hand against a calendar.

#[test]
fn occurrence_days_cases() {
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Date,
        Date,
        Vec<Date>,
    );
    let cases: Vec<Case> = vec![
        (
            "second Tuesday in London, through both 2027 clock changes (28 March, 31 October)",
            "FREQ=MONTHLY;BYDAY=2TU",
            "Europe/London",
            date!(2027 - 01 - 01),
            date!(2027 - 01 - 01),
            vec![
                date!(2027 - 01 - 12),
                date!(2027 - 02 - 09),
                date!(2027 - 03 - 09),
                date!(2027 - 04 - 13),
                date!(2027 - 05 - 11),
                date!(2027 - 06 - 08),
                date!(2027 - 07 - 13),
                date!(2027 - 08 - 10),
                date!(2027 - 09 - 14),
                date!(2027 - 10 - 12),
                date!(2027 - 11 - 09),
                date!(2027 - 12 - 14),
                date!(2028 - 01 - 11),
            ],
        ),
        (
            "every Sunday in London: both clock-change Sundays are there",
            "FREQ=WEEKLY;BYDAY=SU",
            "Europe/London",
            date!(2027 - 01 - 01),
            date!(2027 - 03 - 20),
            vec![
                date!(2027 - 03 - 21),
                date!(2027 - 03 - 28),
                date!(2027 - 04 - 04),
            ],
        ),
        (
            "every day in London across the autumn change",
            "FREQ=DAILY",
            "Europe/London",
            date!(2027 - 10 - 30),
            date!(2027 - 10 - 30),
            vec![
                date!(2027 - 10 - 30),
                date!(2027 - 10 - 31),
                date!(2027 - 11 - 01),
            ],
        ),
        (
            "every 90 days from 4 January 2027",
            "FREQ=DAILY;INTERVAL=90",
            "Europe/London",
            date!(2027 - 01 - 04),
            date!(2027 - 01 - 01),
            vec![
                date!(2027 - 01 - 04),
                date!(2027 - 04 - 04),
                date!(2027 - 07 - 03),
                date!(2027 - 10 - 01),
                date!(2027 - 12 - 30),
                date!(2028 - 03 - 29),
            ],
        ),
        (
            "the 31st skips the months without one",
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "Europe/London",
            date!(2027 - 01 - 01),
            date!(2027 - 01 - 01),
            vec![
                date!(2027 - 01 - 31),
                date!(2027 - 03 - 31),
                date!(2027 - 05 - 31),
                date!(2027 - 07 - 31),
                date!(2027 - 08 - 31),
                date!(2027 - 10 - 31),
                date!(2027 - 12 - 31),
            ],
        ),
        (
            "the last day of each month, 29 February 2028 included",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "America/New_York",
            date!(2027 - 11 - 01),
            date!(2027 - 11 - 01),
            vec![
                date!(2027 - 11 - 30),
                date!(2027 - 12 - 31),
                date!(2028 - 01 - 31),
                date!(2028 - 02 - 29),
                date!(2028 - 03 - 31),
                date!(2028 - 04 - 30),
            ],
        ),
        (
            "the last day of February, in a common year",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1",
            "UTC",
            date!(2026 - 01 - 01),
            date!(2026 - 01 - 01),
            vec![
                date!(2026 - 02 - 28),
                date!(2027 - 02 - 28),
                date!(2028 - 02 - 29),
            ],
        ),
        (
            "29 February only in leap years",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "UTC",
            date!(2027 - 01 - 01),
            date!(2027 - 01 - 01),
            vec![
                date!(2028 - 02 - 29),
                date!(2032 - 02 - 29),
                date!(2036 - 02 - 29),
            ],
        ),
        (
            "every day in Santiago across 5 September 2027, which has no midnight",
            "FREQ=DAILY",
            "America/Santiago",
            date!(2027 - 09 - 03),
            date!(2027 - 09 - 01),
            vec![
                date!(2027 - 09 - 03),
                date!(2027 - 09 - 04),
                date!(2027 - 09 - 05),
                date!(2027 - 09 - 06),
            ],
        ),
        (
            "Sundays in São Paulo, 4 November 2018 (no midnight) included",
            "FREQ=WEEKLY;BYDAY=SU",
            "America/Sao_Paulo",
            date!(2018 - 10 - 01),
            date!(2018 - 10 - 20),
            vec![
                date!(2018 - 10 - 21),
                date!(2018 - 10 - 28),
                date!(2018 - 11 - 04),
                date!(2018 - 11 - 11),
            ],
        ),
        (
            "every day in Auckland across its April 2027 change",
            "FREQ=DAILY",
            "Pacific/Auckland",
            date!(2027 - 04 - 03),
            date!(2027 - 04 - 03),
            vec![
                date!(2027 - 04 - 03),
                date!(2027 - 04 - 04),
                date!(2027 - 04 - 05),
            ],
        ),
        (
            "a count ends the rule",
            "FREQ=MONTHLY;BYDAY=2TU;COUNT=3",
            "Europe/London",
            date!(2027 - 01 - 01),
            date!(2027 - 01 - 01),
            vec![
                date!(2027 - 01 - 12),
                date!(2027 - 02 - 09),
                date!(2027 - 03 - 09),
            ],
        ),
    ];
    for (name, rule, zone, first_day, from, expected) in cases {
        let days = schedule(rule, zone, first_day)
            .next_days(from, expected.len() + 1)
            .unwrap();
        // A rule with a count has no more; the others have one more after the expected days.
        let more = if rule.contains("COUNT") { 0 } else { 1 };
        assert_eq!(days.len(), expected.len() + more, "{name}: {days:?}");
        assert_eq!(days[..expected.len()], expected, "{name}");
    }
}

#[test]
fn the_first_day_is_not_an_occurrence_unless_the_rule_says_so() {
    // 1 January 2027 is a Friday: a second-Tuesday schedule starting then first falls on the 12th.
    let days = schedule(
        "FREQ=MONTHLY;BYDAY=2TU",
        "Europe/London",
        date!(2027 - 01 - 01),
    )
    .next_days(date!(2026 - 01 - 01), 1)
    .unwrap();
    assert_eq!(days, [date!(2027 - 01 - 12)]);
    let (runs, dropped) = due_runs(
        SCHEDULE_ID,
        &schedule(
            "FREQ=MONTHLY;BYDAY=2TU",
            "Europe/London",
            date!(2027 - 01 - 01),
        ),
        &BTreeSet::new(),
        datetime!(2027-01-05 12:00 UTC),
    )
    .unwrap();
    assert_eq!(
        (runs_of(&runs), dropped),
        (vec![(date!(2027 - 01 - 12), DueState::Upcoming)], 0)
    );
}

// ---------------------------------------------------------------------------------------------
// Today in the client's time zone.

#[test]
fn day_in_follows_the_zone() {
    let cases: Vec<(&str, OffsetDateTime, Date)> = vec![
        (
            "UTC",
            datetime!(2027-03-09 12:30 UTC),
            date!(2027 - 03 - 09),
        ),
        // 01:30 on 10 March in Auckland (UTC+13 in summer).
        (
            "Pacific/Auckland",
            datetime!(2027-03-09 12:30 UTC),
            date!(2027 - 03 - 10),
        ),
        // 19:00 on 9 March in Los Angeles (UTC-8 until 14 March).
        (
            "America/Los_Angeles",
            datetime!(2027-03-10 03:00 UTC),
            date!(2027 - 03 - 09),
        ),
        (
            "Pacific/Kiritimati",
            datetime!(2027-03-09 10:30 UTC),
            date!(2027 - 03 - 10),
        ),
        (
            "Pacific/Pago_Pago",
            datetime!(2027-03-09 10:30 UTC),
            date!(2027 - 03 - 08),
        ),
        // 00:30 BST on 31 October, the night the clocks go back.
        (
            "Europe/London",
            datetime!(2027-10-30 23:30 UTC),
            date!(2027 - 10 - 31),
        ),
        // 23:30 on 4 September at UTC-4, then 01:30 on 5 September at UTC-3.
        (
            "America/Santiago",
            datetime!(2027-09-05 03:30 UTC),
            date!(2027 - 09 - 04),
        ),
        (
            "America/Santiago",
            datetime!(2027-09-05 04:30 UTC),
            date!(2027 - 09 - 05),
        ),
        (
            "America/Sao_Paulo",
            datetime!(2018-11-04 02:30 UTC),
            date!(2018 - 11 - 03),
        ),
        (
            "America/Sao_Paulo",
            datetime!(2018-11-04 03:30 UTC),
            date!(2018 - 11 - 04),
        ),
        // The instant's own offset does not matter, only the instant.
        (
            "Europe/London",
            datetime!(2027-03-09 23:30 -05:00),
            date!(2027 - 03 - 10),
        ),
    ];
    for (zone, at, expected) in cases {
        assert_eq!(day_in(zone, at), Ok(expected), "{zone} at {at}");
    }
    assert!(day_in("Nowhere/Land", datetime!(2027-03-09 12:30 UTC)).is_err());
}

fn runs_of(runs: &[DueRun]) -> Vec<(Date, DueState)> {
    runs.iter()
        .inspect(|run| assert_eq!(run.schedule_id, SCHEDULE_ID))
        .map(|run| (run.occurrence, run.state))
        .collect()
}

fn days(list: &[Date]) -> BTreeSet<Date> {
    list.iter().copied().collect()
}

/// A case of `due_runs`: the schedule, the occurrence days already started, the time now, and
/// the runs listed (nothing dropped).
struct DueCase {
    name: &'static str,
    rule: &'static str,
    zone: &'static str,
    first_day: Date,
    started: Vec<Date>,
    now: OffsetDateTime,
    expected: Vec<(Date, DueState)>,
}

#[test]
fn due_runs_cases() {
    use DueState::{Due, Overdue, Upcoming};
    let tuesdays = "FREQ=MONTHLY;BYDAY=2TU";
    let january = date!(2027 - 01 - 01);
    let all_before_june = vec![
        date!(2027 - 01 - 12),
        date!(2027 - 02 - 09),
        date!(2027 - 03 - 09),
        date!(2027 - 04 - 13),
        date!(2027 - 05 - 11),
    ];
    let cases = vec![
        DueCase {
            name: "missed runs overdue, today's due, a started one not listed",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: january,
            started: vec![date!(2027 - 02 - 09)],
            now: datetime!(2027-05-11 09:00 UTC),
            expected: vec![
                (date!(2027 - 01 - 12), Overdue),
                (date!(2027 - 03 - 09), Overdue),
                (date!(2027 - 04 - 13), Overdue),
                (date!(2027 - 05 - 11), Due),
            ],
        },
        DueCase {
            name: "today's run started: nothing left",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: january,
            started: all_before_june.clone(),
            now: datetime!(2027-05-11 09:00 UTC),
            expected: vec![],
        },
        DueCase {
            name: "the next run within a week is upcoming",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: january,
            started: all_before_june.clone(),
            now: datetime!(2027-06-03 09:00 UTC),
            expected: vec![(date!(2027 - 06 - 08), Upcoming)],
        },
        DueCase {
            name: "exactly seven days ahead is upcoming",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: january,
            started: all_before_june.clone(),
            now: datetime!(2027-06-01 12:00 UTC),
            expected: vec![(date!(2027 - 06 - 08), Upcoming)],
        },
        DueCase {
            name: "eight days ahead is not listed",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: january,
            started: all_before_june.clone(),
            now: datetime!(2027-05-31 12:00 UTC),
            expected: vec![],
        },
        DueCase {
            name: "an upcoming run already started is not listed",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: january,
            started: [all_before_june.clone(), vec![date!(2027 - 06 - 08)]].concat(),
            now: datetime!(2027-06-03 09:00 UTC),
            expected: vec![],
        },
        DueCase {
            name: "a run after the rule's count ended is never listed",
            rule: "FREQ=MONTHLY;BYDAY=2TU;COUNT=2",
            zone: "Europe/London",
            first_day: january,
            started: vec![],
            now: datetime!(2027-03-08 09:00 UTC),
            expected: vec![
                (date!(2027 - 01 - 12), Overdue),
                (date!(2027 - 02 - 09), Overdue),
            ],
        },
        DueCase {
            name: "first day in the future: only the first run, upcoming",
            rule: "FREQ=DAILY",
            zone: "Europe/London",
            first_day: date!(2027 - 06 - 01),
            started: vec![],
            now: datetime!(2027-05-28 12:00 UTC),
            expected: vec![(date!(2027 - 06 - 01), Upcoming)],
        },
        DueCase {
            name: "first day more than a week away: nothing",
            rule: "FREQ=DAILY",
            zone: "Europe/London",
            first_day: date!(2027 - 07 - 01),
            started: vec![],
            now: datetime!(2027-05-28 12:00 UTC),
            expected: vec![],
        },
        DueCase {
            name: "first day near, but the rule's first day later",
            rule: tuesdays,
            zone: "Europe/London",
            first_day: date!(2027 - 06 - 01),
            started: vec![],
            now: datetime!(2027-05-28 12:00 UTC),
            expected: vec![],
        },
        // Zones far from UTC: today is the zone's day, not UTC's.
        DueCase {
            name: "Auckland: 9 March has ended though it is 9 March in UTC",
            rule: tuesdays,
            zone: "Pacific/Auckland",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-09 12:30 UTC),
            expected: vec![(date!(2027 - 03 - 09), Overdue)],
        },
        DueCase {
            name: "UTC at the same instant: 9 March is due",
            rule: tuesdays,
            zone: "UTC",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-09 12:30 UTC),
            expected: vec![(date!(2027 - 03 - 09), Due)],
        },
        DueCase {
            name: "Auckland: 9 March is due while UTC is still on the 8th",
            rule: tuesdays,
            zone: "Pacific/Auckland",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-08 11:30 UTC),
            expected: vec![(date!(2027 - 03 - 09), Due)],
        },
        DueCase {
            name: "UTC at that instant: 9 March is upcoming",
            rule: tuesdays,
            zone: "UTC",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-08 11:30 UTC),
            expected: vec![(date!(2027 - 03 - 09), Upcoming)],
        },
        DueCase {
            name: "Los Angeles: still 9 March in the evening though UTC is on the 10th",
            rule: tuesdays,
            zone: "America/Los_Angeles",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-10 03:00 UTC),
            expected: vec![(date!(2027 - 03 - 09), Due)],
        },
        DueCase {
            name: "UTC at that instant: 9 March is overdue",
            rule: tuesdays,
            zone: "UTC",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-10 03:00 UTC),
            expected: vec![(date!(2027 - 03 - 09), Overdue)],
        },
        DueCase {
            name: "Kiritimati (UTC+14): already 10 March",
            rule: tuesdays,
            zone: "Pacific/Kiritimati",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-09 10:30 UTC),
            expected: vec![(date!(2027 - 03 - 09), Overdue)],
        },
        DueCase {
            name: "Pago Pago (UTC-11): still 8 March",
            rule: tuesdays,
            zone: "Pacific/Pago_Pago",
            first_day: january,
            started: vec![date!(2027 - 01 - 12), date!(2027 - 02 - 09)],
            now: datetime!(2027-03-09 10:30 UTC),
            expected: vec![(date!(2027 - 03 - 09), Upcoming)],
        },
        // Clock changes.
        DueCase {
            name: "London, 00:30 BST on 31 October (30 October in UTC)",
            rule: "FREQ=DAILY",
            zone: "Europe/London",
            first_day: date!(2027 - 10 - 29),
            started: vec![date!(2027 - 10 - 29), date!(2027 - 10 - 30)],
            now: datetime!(2027-10-30 23:30 UTC),
            expected: vec![
                (date!(2027 - 10 - 31), Due),
                (date!(2027 - 11 - 01), Upcoming),
            ],
        },
        DueCase {
            name: "London, 00:30 GMT on 28 March, before the clocks go forward",
            rule: "FREQ=DAILY",
            zone: "Europe/London",
            first_day: date!(2027 - 03 - 26),
            started: vec![date!(2027 - 03 - 26)],
            now: datetime!(2027-03-28 00:30 UTC),
            expected: vec![
                (date!(2027 - 03 - 27), Overdue),
                (date!(2027 - 03 - 28), Due),
                (date!(2027 - 03 - 29), Upcoming),
            ],
        },
        DueCase {
            name: "Santiago, 01:30 on 5 September, a day with no midnight",
            rule: "FREQ=DAILY",
            zone: "America/Santiago",
            first_day: date!(2027 - 09 - 03),
            started: vec![date!(2027 - 09 - 03)],
            now: datetime!(2027-09-05 04:30 UTC),
            expected: vec![
                (date!(2027 - 09 - 04), Overdue),
                (date!(2027 - 09 - 05), Due),
                (date!(2027 - 09 - 06), Upcoming),
            ],
        },
        DueCase {
            name: "Santiago, 23:30 on 4 September, just before the missing midnight",
            rule: "FREQ=DAILY",
            zone: "America/Santiago",
            first_day: date!(2027 - 09 - 03),
            started: vec![date!(2027 - 09 - 03)],
            now: datetime!(2027-09-05 03:30 UTC),
            expected: vec![
                (date!(2027 - 09 - 04), Due),
                (date!(2027 - 09 - 05), Upcoming),
            ],
        },
        DueCase {
            name: "São Paulo, Sunday 4 November 2018 (no midnight) is due, the next Sunday upcoming",
            rule: "FREQ=WEEKLY;BYDAY=SU",
            zone: "America/Sao_Paulo",
            first_day: date!(2018 - 10 - 01),
            started: vec![
                date!(2018 - 10 - 07),
                date!(2018 - 10 - 14),
                date!(2018 - 10 - 21),
                date!(2018 - 10 - 28),
            ],
            now: datetime!(2018-11-04 03:30 UTC),
            expected: vec![
                (date!(2018 - 11 - 04), Due),
                (date!(2018 - 11 - 11), Upcoming),
            ],
        },
        DueCase {
            name: "São Paulo, 23:30 on the Saturday before",
            rule: "FREQ=WEEKLY;BYDAY=SU",
            zone: "America/Sao_Paulo",
            first_day: date!(2018 - 10 - 01),
            started: vec![
                date!(2018 - 10 - 07),
                date!(2018 - 10 - 14),
                date!(2018 - 10 - 21),
                date!(2018 - 10 - 28),
            ],
            now: datetime!(2018-11-04 02:30 UTC),
            expected: vec![(date!(2018 - 11 - 04), Upcoming)],
        },
    ];
    for case in cases {
        let name = case.name;
        let (runs, dropped) = due_runs(
            SCHEDULE_ID,
            &schedule(case.rule, case.zone, case.first_day),
            &days(&case.started),
            case.now,
        )
        .unwrap();
        assert_eq!((runs_of(&runs), dropped), (case.expected, 0), "{name}");
    }
}

#[test]
fn more_than_fifty_waiting_keeps_the_most_recent() {
    // Every day from 1 January 2027; on 1 March 59 days are overdue and one is due.
    let daily = schedule("FREQ=DAILY", "UTC", date!(2027 - 01 - 01));
    let now = datetime!(2027-03-01 12:00 UTC);
    let (runs, dropped) = due_runs(SCHEDULE_ID, &daily, &BTreeSet::new(), now).unwrap();
    let listed = runs_of(&runs);
    assert_eq!(dropped, 60 - MAX_OVERDUE_LISTED);
    assert_eq!(listed.len(), MAX_OVERDUE_LISTED + 1);
    assert_eq!(listed[0], (date!(2027 - 01 - 11), DueState::Overdue));
    assert_eq!(
        listed[MAX_OVERDUE_LISTED - 2],
        (date!(2027 - 02 - 28), DueState::Overdue)
    );
    assert_eq!(
        listed[MAX_OVERDUE_LISTED - 1],
        (date!(2027 - 03 - 01), DueState::Due)
    );
    assert_eq!(
        listed[MAX_OVERDUE_LISTED],
        (date!(2027 - 03 - 02), DueState::Upcoming)
    );

    // Started days among the oldest are neither listed nor counted.
    let started = days(&[
        date!(2027 - 01 - 01),
        date!(2027 - 01 - 02),
        date!(2027 - 01 - 03),
        date!(2027 - 01 - 20),
    ]);
    let (runs, dropped) = due_runs(SCHEDULE_ID, &daily, &started, now).unwrap();
    assert_eq!(dropped, 56 - MAX_OVERDUE_LISTED);
    assert_eq!(runs[0].occurrence, date!(2027 - 01 - 10));
    assert!(
        runs.iter()
            .all(|run| run.occurrence != date!(2027 - 01 - 20))
    );
    assert_eq!(runs.len(), MAX_OVERDUE_LISTED + 1);

    // Exactly fifty waiting: nothing dropped.
    let (runs, dropped) = due_runs(
        SCHEDULE_ID,
        &daily,
        &BTreeSet::new(),
        datetime!(2027-02-19 12:00 UTC),
    )
    .unwrap();
    assert_eq!((runs.len(), dropped), (MAX_OVERDUE_LISTED + 1, 0));
    assert_eq!(runs[0].occurrence, date!(2027 - 01 - 01));
}

// ---------------------------------------------------------------------------------------------
// Property: whatever the rule, zone, start and time, the runs listed keep to their window.

const RULES: [&str; 8] = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=90",
    "FREQ=WEEKLY;BYDAY=MO,TH",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA",
    "FREQ=MONTHLY;BYDAY=2TU",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
];

const ZONES: [&str; 9] = [
    "UTC",
    "Europe/London",
    "Pacific/Auckland",
    "America/Los_Angeles",
    "America/Santiago",
    "America/Sao_Paulo",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kolkata",
];

fn chrono_date(day: chrono::NaiveDate) -> Date {
    Date::from_calendar_date(
        day.year(),
        time::Month::try_from(day.month() as u8).unwrap(),
        day.day() as u8,
    )
    .unwrap()
}

/// The day `at` falls on in `zone`, worked out with chrono-tz directly.
fn zone_day(zone: &str, at: OffsetDateTime) -> Date {
    let zone: chrono_tz::Tz = zone.parse().unwrap();
    chrono_date(
        chrono::DateTime::from_timestamp(at.unix_timestamp(), 0)
            .unwrap()
            .with_timezone(&zone)
            .date_naive(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn due_runs_keep_to_their_window(
        rule in prop::sample::select(RULES.to_vec()),
        zone in prop::sample::select(ZONES.to_vec()),
        first in 0..4000i64,
        after in -40..500i64,
        second_of_day in 0..86_400i64,
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let first_day = date!(2018 - 01 - 01) + time::Duration::days(first);
        let schedule = schedule(rule, zone, first_day);
        let now = first_day.midnight().assume_utc()
            + time::Duration::days(after)
            + time::Duration::seconds(second_of_day);
        let today = zone_day(zone, now);
        let horizon = today + time::Duration::days(UPCOMING_DAYS);
        // Every occurrence up to the horizon, to pick started days from and to check against.
        let occurrences: Vec<Date> = schedule
            .recurrence()
            .unwrap()
            .into_iter()
            .map(|occurrence| chrono_date(occurrence.date_naive()))
            .take_while(|day| *day <= horizon)
            .collect();
        let started: BTreeSet<Date> = if occurrences.is_empty() {
            BTreeSet::new()
        } else {
            picks.iter().map(|pick| occurrences[pick.index(occurrences.len())]).collect()
        };

        let (runs, dropped) = due_runs(SCHEDULE_ID, &schedule, &started, now).unwrap();
        for run in &runs {
            prop_assert_eq!(run.schedule_id, SCHEDULE_ID);
            prop_assert!(run.occurrence <= horizon, "{:?} after {}", run, horizon);
            prop_assert!(run.occurrence >= first_day, "{:?} before the first day", run);
            prop_assert!(!started.contains(&run.occurrence), "{:?} was started", run);
            prop_assert!(occurrences.contains(&run.occurrence), "{:?} is no occurrence", run);
            match run.state {
                DueState::Overdue => prop_assert!(run.occurrence < today, "{:?} today {}", run, today),
                DueState::Due => prop_assert_eq!(run.occurrence, today),
                DueState::Upcoming => prop_assert!(run.occurrence > today, "{:?} today {}", run, today),
            }
        }
        prop_assert!(
            runs.windows(2).all(|pair| pair[0].occurrence < pair[1].occurrence),
            "not in order or listed twice: {:?}", runs
        );
        let upcoming: Vec<&DueRun> = runs.iter().filter(|run| run.state == DueState::Upcoming).collect();
        prop_assert!(upcoming.len() <= 1);
        // The upcoming run is the first one after today not started yet, when within the week.
        let next = occurrences.iter().find(|day| **day > today && !started.contains(day));
        prop_assert_eq!(upcoming.first().map(|run| run.occurrence), next.copied());
        // Every run waiting up to today is listed (the most recent fifty) or counted.
        let waiting: Vec<Date> = occurrences
            .iter()
            .copied()
            .filter(|day| *day <= today && !started.contains(day))
            .collect();
        let listed: Vec<Date> = runs
            .iter()
            .filter(|run| run.state != DueState::Upcoming)
            .map(|run| run.occurrence)
            .collect();
        prop_assert!(listed.len() <= MAX_OVERDUE_LISTED);
        prop_assert_eq!(listed.len() + dropped, waiting.len());
        prop_assert_eq!(&listed[..], &waiting[dropped..]);
    }
}

#[test]
fn a_long_running_daily_schedule_is_expanded_to_today() {
    // Daily since 2000: more than 10,000 runs before today, none cut off silently.
    let daily = schedule("FREQ=DAILY", "UTC", date!(2000 - 01 - 01));
    let now = datetime!(2027-05-20 12:00 UTC);
    let (runs, dropped) = due_runs(SCHEDULE_ID, &daily, &BTreeSet::new(), now).unwrap();
    assert_eq!(runs.len(), 51, "the 50 most recent waiting, then the next");
    assert_eq!(dropped, 10_002 - 50);
    let last: Vec<(Date, DueState)> = runs_of(&runs[runs.len() - 2..]);
    assert_eq!(
        last,
        [
            (date!(2027 - 05 - 20), DueState::Due),
            (date!(2027 - 05 - 21), DueState::Upcoming)
        ]
    );
}

#[test]
fn rules_that_never_run_are_refused_and_a_date_only_until_is_through_that_day() {
    for rule in [
        "FREQ=DAILY;COUNT=0",
        "FREQ=WEEKLY;INTERVAL=0",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
    ] {
        let error = normalise_rule(rule)
            .and_then(|rule| schedule(&rule, "UTC", date!(2027 - 01 - 01)).check())
            .unwrap_err();
        assert!(error.contains("never"), "{rule}: {error}");
    }
    let until = normalise_rule("FREQ=MONTHLY;BYDAY=2TU;UNTIL=20271214").unwrap();
    assert_eq!(until, "FREQ=MONTHLY;BYDAY=2TU;UNTIL=20271214T235959Z");
    for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/London"] {
        let monthly = schedule(&until, zone, date!(2027 - 11 - 01));
        monthly.check().unwrap();
        assert_eq!(
            monthly.next_days(date!(2027 - 11 - 01), 5).unwrap(),
            [date!(2027 - 11 - 09), date!(2027 - 12 - 14)],
            "{zone}: the UNTIL day itself is a run"
        );
    }
    let padded = Schedule {
        time_zone: " Europe/London ".into(),
        ..schedule("FREQ=DAILY", "Europe/London", date!(2027 - 01 - 01))
    };
    assert!(
        padded.check().is_err(),
        "a stored zone is in its checked form"
    );
}
