//! Query-string values read as FastAPI reads them, so contaxy's clients
//! (which send Python's `str(True)`, `"True"`) are understood.
//!
//! Every boolean query parameter of every route is read with [`flag`]
//! (`#[serde(default, deserialize_with = "crate::query::flag")]`): `true`,
//! `false`, `1`, `0`, `yes`, `no`, `on`, `off`, in any case. Anything else
//! is a 400 naming the parameter. [`optional_flag`] is the same for a
//! parameter whose absence means "the server's default" (`wait`).
//!
//! [`calendar_day`] reads a date the way contaxy compares them: the day
//! of a timestamp (RFC 3339, or Python's `str(datetime)`) in its own
//! offset, or a plain `YYYY-MM-DD`.

use serde::{Deserialize, Deserializer, de};

/// The words FastAPI (pydantic 1) reads as `true` and as `false`.
const TRUE: [&str; 4] = ["true", "1", "yes", "on"];
const FALSE: [&str; 4] = ["false", "0", "no", "off"];

/// Reads a boolean query parameter the way FastAPI does.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_flag(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "`{text}` is not a boolean (true/false, 1/0, yes/no, on/off)"
        ))
    })
}

/// Reads a boolean query parameter that may be left out (`None`).
pub fn optional_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    flag(deserializer).map(Some)
}

/// Reads a calendar day (see the module documentation).
pub fn calendar_day<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<chrono::NaiveDate>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_calendar_day(&text).map(Some).ok_or_else(|| {
        de::Error::custom(format!(
            "`{text}` is neither a date (YYYY-MM-DD) nor a timestamp (RFC 3339)"
        ))
    })
}

/// The day of `text`: a timestamp's date in its own offset, or a date.
pub fn parse_calendar_day(text: &str) -> Option<chrono::NaiveDate> {
    let text = text.trim();
    if let Ok(stamp) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(stamp.date_naive());
    }
    if let Ok(stamp) = text.parse::<chrono::DateTime<chrono::FixedOffset>>() {
        return Some(stamp.date_naive());
    }
    if let Ok(stamp) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(stamp.date());
    }
    text.parse::<chrono::NaiveDate>().ok()
}

/// `Some(value)` for a word FastAPI reads as a boolean, in any case.
pub fn parse_flag(text: &str) -> Option<bool> {
    let lower = text.trim().to_ascii_lowercase();
    if TRUE.contains(&lower.as_str()) {
        Some(true)
    } else if FALSE.contains(&lower.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Query {
        #[serde(default, deserialize_with = "flag")]
        wait: bool,
    }

    fn read(query: &str) -> Result<bool, String> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().expect("uri");
        axum::extract::Query::<Query>::try_from_uri(&uri)
            .map(|q| q.0.wait)
            .map_err(|e| e.body_text())
    }

    #[test]
    fn every_word_fastapi_reads_is_read() {
        for yes in ["true", "True", "TRUE", "1", "yes", "Yes", "on", "ON"] {
            assert_eq!(read(&format!("wait={yes}")), Ok(true), "{yes}");
        }
        for no in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert_eq!(read(&format!("wait={no}")), Ok(false), "{no}");
        }
        assert_eq!(read(""), Ok(false));
        let refused = read("wait=maybe").expect_err("not a boolean");
        assert!(refused.contains("maybe"), "{refused}");
        assert!(read("wait=").is_err());
    }

    #[test]
    fn a_calendar_day_is_the_date_as_written() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_calendar_day("2026-12-03"), day(2026, 12, 3));
        assert_eq!(parse_calendar_day("2026-12-03T23:30:00Z"), day(2026, 12, 3));
        // Python's str(datetime), in its own offset (not moved to UTC).
        assert_eq!(
            parse_calendar_day("2026-12-03 23:30:00.123456+05:00"),
            day(2026, 12, 3)
        );
        assert_eq!(parse_calendar_day("2026-12-03 01:00:00"), day(2026, 12, 3));
        assert_eq!(parse_calendar_day("yesterday"), None);
    }
}
