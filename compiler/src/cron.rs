//! Validation of crontab time fields (`cron_field_ok`), so `minute = "61"`
//! or `weekday = "funday"` fail at `mc check` instead of on the host.

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Whether `field` is a valid crontab field of `kind` (`minute`, `hour`,
/// `day`, `month` or `weekday`): `*`, numbers in range, names (months,
/// weekdays), ranges `a-b`, steps `*/n` or `a-b/n`, and `,` lists of these.
pub fn valid_field(field: &str, kind: &str) -> bool {
    let Some((min, max, names)) = bounds(kind) else {
        return false;
    };
    !field.is_empty()
        && field
            .split(',')
            .all(|part| valid_part(part.trim(), min, max, names))
}

fn bounds(kind: &str) -> Option<(u32, u32, &'static [&'static str])> {
    Some(match kind {
        "minute" => (0, 59, &[]),
        "hour" => (0, 23, &[]),
        "day" => (1, 31, &[]),
        "month" => (1, 12, &MONTHS),
        "weekday" => (0, 7, &WEEKDAYS),
        _ => return None,
    })
}

fn valid_part(part: &str, min: u32, max: u32, names: &[&str]) -> bool {
    let (range, step) = match part.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (part, None),
    };
    let step_ok = step.is_none_or(|s| s.parse::<u32>().is_ok_and(|n| n >= 1 && n <= max.max(1)));
    let range_ok = match range {
        "*" => true,
        r => match r.split_once('-') {
            Some((a, b)) => match (value(a, min, max, names), value(b, min, max, names)) {
                (Some(a), Some(b)) => a <= b,
                _ => false,
            },
            // A single value with a step (`5/10`) is accepted by cron too.
            None => value(r, min, max, names).is_some(),
        },
    };
    step_ok && range_ok
}

/// A number in range, or a name (its position, offset to the range).
fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Option<u32> {
    if let Ok(n) = text.parse::<u32>() {
        return (min..=max).contains(&n).then_some(n);
    }
    let lower = text.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u32 + min)
}

#[cfg(test)]
mod tests {
    use super::valid_field;

    #[test]
    fn accepts_what_crontab_accepts() {
        for (f, k) in [
            ("*", "minute"),
            ("*/5", "minute"),
            ("0,30", "minute"),
            ("0-59", "minute"),
            ("10-20/2", "minute"),
            ("23", "hour"),
            ("1", "day"),
            ("31", "day"),
            ("jan", "month"),
            ("Jan-Mar", "month"),
            ("12", "month"),
            ("sun", "weekday"),
            ("mon-fri", "weekday"),
            ("7", "weekday"),
            ("1,3,5", "weekday"),
        ] {
            assert!(valid_field(f, k), "{k} {f:?}");
        }
    }

    #[test]
    fn rejects_out_of_range_names_and_garbage() {
        for (f, k) in [
            ("61", "minute"),
            ("60", "minute"),
            ("24", "hour"),
            ("0", "day"),
            ("32", "day"),
            ("13", "month"),
            ("funday", "weekday"),
            ("8", "weekday"),
            ("", "minute"),
            ("*/0", "minute"),
            ("5-1", "hour"),
            ("1,,2", "hour"),
            ("jan", "minute"),
            ("*", "second"),
        ] {
            assert!(!valid_field(f, k), "{k} {f:?}");
        }
    }
}
