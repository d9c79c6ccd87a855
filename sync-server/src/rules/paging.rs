//! Where a pull page ends, decided once for both back ends.

use crate::domain::error::StoreResult;

/// Most team changes one pull page may span.
pub const MAX_PULL_LIMIT: i64 = 5_000;

/// What one pulled row adds to a page beyond its document or payload: ids, numbers, names.
const PULLED_ROW_OVERHEAD_BYTES: u64 = 256;

/// Where a pull page ends, decided once for both back ends: after `since`, as many whole
/// changes as fit in `budget` bytes (a change is every row with one team number), and at
/// least one, however large, so a page always moves on. `sizes` are `(team_seq, bytes)` rows
/// in order, all at most `until`; reading stops at the first change that does not fit.
pub fn page_until(
    until: i64,
    budget: u64,
    sizes: impl IntoIterator<Item = StoreResult<(i64, i64)>>,
) -> StoreResult<i64> {
    let mut used: u64 = 0;
    let mut current: Option<(i64, u64)> = None;
    for row in sizes {
        let (seq, bytes) = row?;
        let bytes = u64::try_from(bytes).unwrap_or(0) + PULLED_ROW_OVERHEAD_BYTES;
        match current {
            Some((open, size)) if open == seq => current = Some((open, size + bytes)),
            _ => {
                if let Some((closed, size)) = current {
                    if used > 0 && used + size > budget {
                        return Ok(closed - 1);
                    }
                    used += size;
                }
                current = Some((seq, bytes));
            }
        }
        if let Some((open, size)) = current
            && used > 0
            && used + size > budget
        {
            return Ok(open - 1);
        }
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_pages_end_where_the_byte_budget_does() {
        let overhead = PULLED_ROW_OVERHEAD_BYTES as i64;
        // (name, rows as (team_seq, bytes), budget, until asked, until answered)
        type Case = (&'static str, Vec<(i64, i64)>, u64, i64, i64);
        let cases: Vec<Case> = vec![
            ("nothing to read", vec![], 100, 9, 9),
            ("everything fits", vec![(1, 10), (2, 10)], 10_000, 5, 5),
            (
                "the second change does not fit",
                vec![(3, 600 - overhead), (7, 600 - overhead)],
                1_000,
                9,
                6,
            ),
            (
                "one change larger than the budget still goes, alone",
                vec![(1, 5_000), (2, 10)],
                1_000,
                2,
                1,
            ),
            (
                "rows of one change are never split",
                vec![(1, 100), (2, 300), (2, 300), (3, 10)],
                1_000,
                3,
                1,
            ),
            (
                "a change that fits exactly is kept",
                vec![(1, 500 - overhead), (2, 500 - overhead), (3, 1)],
                1_000,
                3,
                2,
            ),
        ];
        for (name, rows, budget, until, expected) in cases {
            let got = page_until(until, budget, rows.into_iter().map(Ok)).unwrap();
            assert_eq!(got, expected, "{name}");
        }
    }
}
