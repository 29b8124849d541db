//! The `DateTime` scalar: RFC 3339 in UTC, whatever format GHL sent.
//!
//! GHL mixes ISO-8601 with `Z`, ISO with offsets, `YYYY-MM-DD HH:mm:ss` (contact appointments,
//! no zone: read as UTC) and bare dates; all of them come out as `2024-03-01T10:20:30.123Z`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// An instant, serialised as RFC 3339 in UTC (`2024-03-01T10:20:30.123Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An RFC 3339 date-time in UTC, e.g. `2024-03-01T10:20:30.123Z`.
#[Scalar(name = "DateTime", specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|dt| DateTime(dt.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("expected an RFC 3339 date-time such as 2024-03-01T10:20:30Z")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_rfc3339())
    }
}

impl DateTime {
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Reads any of GHL's date formats; `None` for anything else.
    pub fn from_ghl(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(raw) {
            return Some(Self(dt.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(raw, format) {
                return Some(Self(Utc.from_utc_datetime(&naive)));
            }
        }
        if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            return date.and_hms_opt(0, 0, 0).map(|naive| Self(Utc.from_utc_datetime(&naive)));
        }
        raw.parse::<i64>().ok().and_then(Self::from_epoch_millis)
    }

    /// GHL sometimes types times as `object`: accept strings and epoch milliseconds.
    pub fn from_ghl_value(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::String(s) => Self::from_ghl(s),
            serde_json::Value::Number(n) => n.as_i64().and_then(Self::from_epoch_millis),
            _ => None,
        }
    }

    fn from_epoch_millis(ms: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(ms).single().map(Self)
    }
}

/// Parses an optional GHL date string.
pub fn ghl_date(raw: Option<&str>) -> Option<DateTime> {
    raw.and_then(DateTime::from_ghl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ghl_date_format_becomes_rfc3339_utc() {
        let cases = [
            ("2021-07-02T05:18:26.704Z", "2021-07-02T05:18:26.704Z"),
            ("2023-09-25T16:00:00+05:30", "2023-09-25T10:30:00.000Z"),
            ("2021-07-16 11:00:00", "2021-07-16T11:00:00.000Z"),
            ("2021-07-16", "2021-07-16T00:00:00.000Z"),
            ("1631087949919", "2021-09-08T07:59:09.919Z"),
        ];
        for (raw, expected) in cases {
            assert_eq!(DateTime::from_ghl(raw).map(|d| d.to_rfc3339()).as_deref(), Some(expected), "{raw}");
        }
    }

    #[test]
    fn garbage_dates_are_none() {
        assert_eq!(DateTime::from_ghl("Date format YYYY-MM-DD"), None);
        assert_eq!(DateTime::from_ghl_value(&serde_json::json!({"a": 1})), None);
    }
}
