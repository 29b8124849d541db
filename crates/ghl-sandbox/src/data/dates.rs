//! The date formats GHL puts on the wire: ISO-8601 with milliseconds and `Z` (contacts, tasks, notes),
//! `YYYY-MM-DD HH:mm:ss` (contact appointments) and epoch milliseconds (the `startAfter` cursor).
//! Dates are stored as epoch milliseconds and formatted on the way out.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::Serializer;

/// `2024-03-01T10:20:30.123Z`.
pub(crate) fn iso(ms: i64) -> String {
    let buf = iso_bytes(ms);
    std::str::from_utf8(&buf).unwrap_or("1970-01-01T00:00:00.000Z").to_owned()
}

/// [`iso`] into a stack buffer: every contact read formats a few dates, and chrono's formatter
/// costs more than the rest of the serialization. Years outside 0–9999 clamp to the epoch.
fn iso_bytes(ms: i64) -> [u8; 24] {
    let mut buf = *b"1970-01-01T00:00:00.000Z";
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return buf;
    };
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return buf;
    }
    let fields: [(usize, u32, usize); 7] = [
        (0, year.unsigned_abs(), 4),
        (5, t.month(), 2),
        (8, t.day(), 2),
        (11, t.hour(), 2),
        (14, t.minute(), 2),
        (17, t.second(), 2),
        (20, t.timestamp_subsec_millis().min(999), 3),
    ];
    for (at, mut value, width) in fields {
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    buf
}

/// `2024-03-01 10:20:30`, the format of `GetEventSchema` times.
pub(crate) fn event_time(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => String::from("1970-01-01 00:00:00"),
    }
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Parses an ISO-8601 / RFC 3339 timestamp (`2020-10-25T11:00:00Z`, with or without fraction or
/// offset, or a bare `2020-10-25`) into epoch milliseconds.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis())
}

/// Parses a date of birth in any of the formats `CreateContactDto.dateOfBirth` documents
/// (`YYYY/MM/DD`, `MM/DD/YYYY`, `YYYY-MM-DD`, `MM-DD-YYYY`, with `.` or `_` too) or an ISO timestamp,
/// and answers it the way GHL stores it: `1990-09-25T00:00:00.000Z`.
pub(crate) fn parse_birth_date(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(ms) = parse_iso(s) {
        return Some(iso(ms));
    }
    let normalized: String = s.chars().map(|c| if matches!(c, '/' | '.' | '_') { '-' } else { c }).collect();
    let date = NaiveDate::parse_from_str(&normalized, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(&normalized, "%m-%d-%Y")).ok()?;
    date.and_hms_opt(0, 0, 0).map(|t| iso(t.and_utc().timestamp_millis()))
}

/// `serialize_with` for epoch-ms fields shown as ISO.
pub(crate) fn ser_iso<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    let buf = iso_bytes(*ms);
    s.serialize_str(std::str::from_utf8(&buf).unwrap_or("1970-01-01T00:00:00.000Z"))
}

/// `serialize_with` for epoch-ms fields shown as `YYYY-MM-DD HH:mm:ss`.
pub(crate) fn ser_event_time<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&event_time(*ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_have_milliseconds_and_z() {
        assert_eq!(iso(1_709_288_430_123), "2024-03-01T10:20:30.123Z");
        assert_eq!(event_time(1_709_288_430_123), "2024-03-01 10:20:30");
        assert_eq!(iso(-631_152_000_000), "1950-01-01T00:00:00.000Z");
        assert_eq!(iso(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn iso_input_accepts_offsets_and_bare_dates() {
        assert_eq!(parse_iso("2020-10-25T11:00:00Z"), Some(1_603_623_600_000));
        assert_eq!(parse_iso("2020-10-25T13:00:00+02:00"), Some(1_603_623_600_000));
        assert_eq!(parse_iso("2020-10-25"), Some(1_603_584_000_000));
        assert_eq!(parse_iso("next tuesday"), None);
    }

    #[test]
    fn birth_dates_accept_the_documented_formats() {
        for s in ["1990-09-25", "1990/09/25", "09/25/1990", "09-25-1990", "1990.09.25", "09_25_1990"] {
            assert_eq!(parse_birth_date(s).as_deref(), Some("1990-09-25T00:00:00.000Z"), "{s}");
        }
        assert_eq!(parse_birth_date("25th of September"), None);
    }
}
