//! Timestamps as CloudTrail writes them.

use chrono::{DateTime, NaiveDate};

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the epoch for an ISO-8601 / RFC 3339 time such as
/// `2024-08-02T08:50:00Z` or `2024-08-02T08:50:00.123+02:00`.
///
/// ```
/// assert_eq!(trail_parse::time::parse_millis("1970-01-02T00:00:01.5Z"), Some(86_401_500));
/// assert_eq!(trail_parse::time::parse_millis("yesterday"), None);
/// ```
pub fn parse_millis(s: &str) -> Option<i64> {
    fast_utc(s).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// The UTC day (days since the epoch) of a millisecond timestamp.
pub fn day_of(millis: i64) -> i32 {
    millis.div_euclid(MS_PER_DAY) as i32
}

/// Days since the epoch of a date.
pub fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() as i32
}

/// `YYYY-MM-DDTHH:MM:SSZ` (the form CloudTrail writes) without going through chrono's parser.
fn fast_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let days = civil_days(num(0..4)?, num(5..7)?, num(8..10)?)?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(days * MS_PER_DAY + ((h * 3600 + m * 60 + sec) as i64) * 1000)
}

/// Days since the epoch of a valid proleptic Gregorian date (`None` for
/// `2024-02-30` and the like), in a few integer operations: two timestamps
/// per record went through chrono's date arithmetic before (Howard
/// Hinnant's `days_from_civil`).
fn civil_days(year: u32, month: u32, day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    // Years start in March, so the leap day is the last day of a year.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = i64::from((153 * ((month + 9) % 12) + 2) / 5 + day - 1);
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse_millis("2024-08-02T08:50:00Z"),
            Some(1_722_588_600_000)
        );
        assert_eq!(
            parse_millis("2024-08-02T10:50:00+02:00"),
            Some(1_722_588_600_000)
        );
        assert_eq!(
            parse_millis("2024-08-02T08:50:00.250Z"),
            Some(1_722_588_600_250)
        );
        assert_eq!(parse_millis("2024-02-30T08:50:00Z"), None);
        assert_eq!(parse_millis("2024-08-02T24:00:00Z"), None);
        for (y, m, d) in [
            (2000, 2, 29),
            (1900, 2, 29),
            (2024, 2, 29),
            (2023, 2, 29),
            (0, 2, 29),
        ] {
            let theirs =
                NaiveDate::from_ymd_opt(y as i32, m, d).map(|t| days_since_epoch(t) as i64);
            assert_eq!(civil_days(y, m, d), theirs, "{y}-{m}-{d}");
        }
        assert_eq!(civil_days(1970, 1, 1), Some(0));
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(1_722_588_600_000), 19_937);
    }

    proptest! {
        #[test]
        fn civil_days_agrees_with_chrono(y in 0u32..10_000, m in 0u32..14, d in 0u32..33) {
            let theirs = NaiveDate::from_ymd_opt(y as i32, m, d).map(|t| days_since_epoch(t) as i64);
            prop_assert_eq!(civil_days(y, m, d), theirs);
        }

        #[test]
        fn fast_path_agrees_with_chrono(secs in -2_000_000_000i64..8_000_000_000i64) {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let text = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            prop_assert_eq!(parse_millis(&text), Some(secs * 1000));
        }
    }
}
