//! China Standard Time (GMT+8, no daylight saving), the zone every Chinese
//! commerce platform writes its wall-clock times in: TOP's and JOS's
//! `timestamp` parameters, order times, chat-log times. Plugins have no
//! clock; these turn the host's Unix milliseconds into such text and back.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

fn offset() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).expect("+08:00 is a valid offset")
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset())
}

/// `yyyy-MM-dd HH:mm:ss` in GMT+8 for Unix milliseconds `ms`.
pub fn datetime(ms: i64) -> String {
    let at = at(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `yyyy-MM-dd HH:mm:ss.SSS` in GMT+8 for Unix milliseconds `ms`.
pub fn datetime_millis(ms: i64) -> String {
    format!("{}.{:03}", datetime(ms), ms.rem_euclid(1000))
}

/// Unix milliseconds of a GMT+8 `yyyy-MM-dd HH:mm:ss` time, optionally with
/// a fraction (`.SSS`) and the offset written out (`+0800` / `+08:00`), or
/// `None` if the text is not such a time.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text
        .strip_suffix("+0800")
        .or_else(|| text.strip_suffix("+08:00"))
        .unwrap_or(text);
    let (date, clock) = text.split_once(' ')?;
    let (clock, millis) = match clock.split_once('.') {
        Some((clock, fraction)) if !fraction.is_empty() && fraction.len() <= 3 => {
            let digits = fraction.parse::<i64>().ok()?;
            (clock, digits * 10_i64.pow(3 - fraction.len() as u32))
        }
        Some(_) => return None,
        None => (clock, 0),
    };
    let mut date_parts = date.split('-').map(|p| p.parse::<i32>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let mut clock_parts = clock.split(':').map(|p| p.parse::<u8>().ok());
    let (hour, minute, second) = (
        clock_parts.next()??,
        clock_parts.next()??,
        clock_parts.next()??,
    );
    if date_parts.next().is_some() || clock_parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset());
    Some(at.unix_timestamp() * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_beijing_time() {
        // 2016-01-01 04:00:00.123 UTC.
        assert_eq!(datetime(1_451_620_800_123), "2016-01-01 12:00:00");
        assert_eq!(
            datetime_millis(1_451_620_800_123),
            "2016-01-01 12:00:00.123"
        );
        assert_eq!(
            datetime_millis(1_451_620_800_007),
            "2016-01-01 12:00:00.007"
        );
    }

    #[test]
    fn times_are_read_back_with_or_without_fraction_and_offset() {
        assert_eq!(
            parse_datetime("2016-01-01 12:00:00"),
            Some(1_451_620_800_000)
        );
        assert_eq!(
            parse_datetime("2016-01-01 12:00:00.123+0800"),
            Some(1_451_620_800_123)
        );
        assert_eq!(
            parse_datetime("2016-01-01 12:00:00.5+08:00"),
            Some(1_451_620_800_500)
        );
        for bad in [
            "2016-13-01 12:00:00",
            "2016-01-01 25:00:00",
            "2016-01-01 12:00:00.",
            "2016-01-01 12:00:00:00",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }
}
