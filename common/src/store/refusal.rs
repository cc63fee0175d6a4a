//! Telling PostgreSQL errors apart by what they mean for a message: the
//! database away (wait and try again), the data itself refused (never
//! retried: the same data is refused again), or anything else.
//!
//! A refusal's reason is written for people reading a dead letter or an
//! action's `last_error`: never the database's own text, which names
//! internals (byte sequences, constraint names) and can echo the input.

use sqlx::Error;

/// Why PostgreSQL refused the data itself: SQLSTATE class 22 (data
/// exception) or 23 (integrity constraint violation), in words for people.
/// `None` for any other error.
pub fn data_refused(error: &Error) -> Option<String> {
    let code = error.as_database_error()?.code()?;
    let reason = match code.as_ref() {
        // text refuses a NUL byte (22021); jsonb refuses `\u0000` (22P05).
        "22021" | "22P05" => {
            "a string holds a NUL character, which PostgreSQL cannot store".to_owned()
        }
        "22001" => "a value is longer than the database allows".to_owned(),
        "22003" => "a number is out of the range the database allows".to_owned(),
        "23503" => "it refers to something that does not exist".to_owned(),
        "23505" => "it repeats a value that must be unique".to_owned(),
        other if other.starts_with("22") => {
            format!("a value the database cannot store (SQLSTATE {other})")
        }
        other if other.starts_with("23") => {
            format!("a value the database's rules refuse (SQLSTATE {other})")
        }
        _ => return None,
    };
    Some(reason)
}

/// Whether the error says the database is away or overloaded for now (no
/// connection, a shutdown, too many connections, a serialization conflict):
/// every message would meet it alike, so it is waited out, never counted
/// against the message.
pub fn is_unavailable(error: &Error) -> bool {
    match error {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources;
            // 57P01-03: shutdown or not accepting connections yet;
            // 40001/40P01: serialization failure, deadlock.
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "40001" | "40P01"
                )
        }),
        _ => false,
    }
}

/// A short description of an error that is neither of the above, for a
/// reason: its SQLSTATE, never its text.
pub fn describe(error: &Error) -> String {
    match error.as_database_error().and_then(|db| db.code()) {
        Some(code) => format!("SQLSTATE {code}"),
        None => "a database error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_without_a_database_code_are_not_refusals() {
        assert_eq!(data_refused(&Error::RowNotFound), None);
        assert!(is_unavailable(&Error::PoolTimedOut));
        assert!(!is_unavailable(&Error::RowNotFound));
        assert_eq!(describe(&Error::RowNotFound), "a database error");
    }
}
