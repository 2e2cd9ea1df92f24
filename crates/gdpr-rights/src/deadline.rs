//! Deadline arithmetic in calendar months (Art. 12(3), read with Regulation 1182/71).

use time::{Date, Month};

/// `date` plus `months` calendar months; a day the target month lacks becomes its last day
/// (31 January + 1 month = 28 or 29 February).
#[must_use]
pub fn add_months(date: Date, months: u32) -> Date {
    let zero_based = date.month() as u32 - 1 + months;
    let year = date.year() + (zero_based / 12) as i32;
    let month = Month::try_from((zero_based % 12 + 1) as u8).unwrap_or(Month::December);
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MAX)
}

/// The last day to answer a request received on `received`: one month later, plus the months
/// of an extension (at most two), all counted from the day of receipt.
///
/// Counting from receipt rather than chaining month additions matters at month ends: a request
/// received on 31 January and extended by two months is due on 30 April, not 28 April.
#[must_use]
pub fn due_date(received: Date, extension_months: u8) -> Date {
    add_months(received, 1 + u32::from(extension_months.min(2)))
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn deadline_table() {
        let cases = [
            (date!(2026 - 01 - 15), 0, date!(2026 - 02 - 15)),
            (date!(2026 - 01 - 31), 0, date!(2026 - 02 - 28)),
            (date!(2028 - 01 - 31), 0, date!(2028 - 02 - 29)),
            (date!(2026 - 03 - 31), 0, date!(2026 - 04 - 30)),
            (date!(2026 - 12 - 31), 0, date!(2027 - 01 - 31)),
            (date!(2026 - 12 - 15), 0, date!(2027 - 01 - 15)),
            (date!(2026 - 02 - 28), 0, date!(2026 - 03 - 28)),
            (date!(2026 - 01 - 31), 2, date!(2026 - 04 - 30)),
            (date!(2026 - 01 - 31), 1, date!(2026 - 03 - 31)),
            (date!(2026 - 11 - 30), 2, date!(2027 - 02 - 28)),
            (date!(2026 - 11 - 30), 9, date!(2027 - 02 - 28)),
        ];
        for (received, ext, due) in cases {
            assert_eq!(
                due_date(received, ext),
                due,
                "received {received}, extension {ext}"
            );
        }
    }

    #[test]
    fn adding_months_crosses_years() {
        assert_eq!(add_months(date!(2026 - 05 - 31), 21), date!(2028 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 05 - 31), 0), date!(2026 - 05 - 31));
    }
}
