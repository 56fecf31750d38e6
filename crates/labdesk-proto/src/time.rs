//! Timestamps as the store keeps them: UTC, millisecond precision, one fixed text form.
//!
//! One fixed form matters twice: timestamps stored as text sort correctly as text (due-date
//! ranges, "newest first"), and a value folded out of the revision chain compares equal to the
//! value in the current row.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, truncated to milliseconds, UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Timestamp(#[cfg_attr(feature = "ts", ts(type = "string"))] DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        let millis = at.timestamp_millis();
        Self(Utc.timestamp_millis_opt(millis).single().unwrap_or(at))
    }

    pub fn from_millis(millis: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(millis).single().map(Self)
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Parses what people and scripts type: RFC 3339 with any offset, `YYYY-MM-DD HH:MM[:SS]`
    /// (taken as UTC), or a bare `YYYY-MM-DD` (midnight UTC).
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self::from_datetime(at.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
            if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Self::from_datetime(at.and_utc()));
            }
        }
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            if let Some(at) = day.and_hms_opt(0, 0, 0) {
                return Ok(Self::from_datetime(at.and_utc()));
            }
        }
        Err(TimestampError(text.to_owned()))
    }
}

/// A text that is not a date or time we understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date or time: use YYYY-MM-DD, YYYY-MM-DD HH:MM, or RFC 3339 (2026-11-21T09:30:00Z)")]
pub struct TimestampError(pub String);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// On the wire a timestamp is RFC 3339 text in UTC with milliseconds.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
            .examples(["2026-11-21T09:30:00.000Z"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_is_fixed_width_so_it_sorts_as_text() {
        let a = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        let b = Timestamp::parse("2026-01-02T03:04:05.5Z").unwrap();
        assert_eq!(a.to_string(), "2026-01-02T03:04:05.000Z");
        assert_eq!(b.to_string(), "2026-01-02T03:04:05.500Z");
        assert!(a.to_string() < b.to_string(), "text order must follow time order");
    }

    #[test]
    fn offsets_dates_and_local_forms_are_all_understood() {
        let utc = Timestamp::parse("2026-03-01T10:00:00+02:00").unwrap();
        assert_eq!(utc.to_string(), "2026-03-01T08:00:00.000Z");
        assert_eq!(Timestamp::parse("2026-03-01").unwrap().to_string(), "2026-03-01T00:00:00.000Z");
        assert_eq!(Timestamp::parse("2026-03-01 14:30").unwrap().to_string(), "2026-03-01T14:30:00.000Z");
    }

    #[test]
    fn a_bad_date_says_which_forms_work() {
        let err = Timestamp::parse("next tuesday").unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "the message should show the accepted forms: {err}");
    }

    #[test]
    fn serde_round_trip_is_exact() {
        let t = Timestamp::now();
        let json = serde_json::to_string(&t).unwrap();
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(t, back);
    }
}
