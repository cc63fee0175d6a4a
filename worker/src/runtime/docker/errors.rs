//! Turning bollard's errors into [`RuntimeError`]s, by cause.

use bollard::errors::Error as BollardError;

use crate::runtime::error::RuntimeError;

/// What Docker says when a GPU device request cannot be served (no NVIDIA
/// container toolkit): a 500 that no retry will fix.
const NO_GPU_DRIVER: &str = "could not select device driver";

/// What Docker 20.10 says when a network named in a request matches two
/// networks (`network X is ambiguous (2 matches found on name)`).
const AMBIGUOUS: &str = "is ambiguous";

/// Classifies an error from the engine met during `operation`.
///
/// 404 becomes [`RuntimeError::NotFound`] naming `what`. Callers that treat a
/// 404 or 409 specially match on the bollard error before calling this.
pub fn classify(operation: &'static str, what: &str, error: BollardError) -> RuntimeError {
    match error {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => classify_status(operation, what, status_code, message),
        BollardError::RequestTimeoutError => RuntimeError::Timeout { operation },
        error @ (BollardError::IOError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. }
        | BollardError::SocketNotFoundError(_)) => RuntimeError::Unreachable {
            operation,
            source: error.into(),
        },
        // An error the engine reported in the middle of a streamed answer
        // (only image operations do): a failure on its side.
        BollardError::DockerStreamError { error } => RuntimeError::EngineFailure {
            operation,
            status: 500,
            message: error,
        },
        error => RuntimeError::Protocol {
            operation,
            source: error.into(),
        },
    }
}

fn classify_status(
    operation: &'static str,
    what: &str,
    status: u16,
    message: String,
) -> RuntimeError {
    match status {
        404 | 409 | 429 => RuntimeError::from_status(operation, what, status, message),
        _ if message.contains(NO_GPU_DRIVER) => RuntimeError::GpuUnavailable { message },
        // Two networks of one name exist for a moment while workers race
        // to create a project's network; the loser removes its copy at
        // once (see `networks.rs`), so this passes.
        400 if message.contains(AMBIGUOUS) => RuntimeError::Conflict { operation, message },
        _ => RuntimeError::from_status(operation, what, status, message),
    }
}

/// The network an engine answer says is missing: Docker 20.10 creates a
/// container for a network that is not there and refuses to start it
/// (404 "network X not found"); later engines refuse the create the same
/// way. `None` for any other error, including other 404s.
pub fn missing_network(error: &BollardError) -> Option<String> {
    let BollardError::DockerResponseServerError {
        status_code: 404,
        message,
    } = error
    else {
        return None;
    };
    message
        .strip_prefix("network ")
        .and_then(|rest| rest.strip_suffix(" not found"))
        .or_else(|| message.strip_prefix("No such network: "))
        .map(|name| name.trim().to_owned())
}

/// The status code of an engine answer, when the error is one.
pub fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the error means the engine could not be talked to at all, as
/// opposed to an answer from it.
pub fn is_transport(error: &BollardError) -> bool {
    matches!(
        error,
        BollardError::IOError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::SocketNotFoundError(_)
            | BollardError::RequestTimeoutError
    )
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn answer(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        }
    }

    fn io_error(kind: io::ErrorKind) -> BollardError {
        BollardError::IOError {
            err: io::Error::from(kind),
        }
    }

    #[test]
    fn transport_failures_are_retryable() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::NotFound,
        ] {
            let error = classify("start", "c", io_error(kind));
            assert!(
                matches!(error, RuntimeError::Unreachable { .. }),
                "{kind:?}: {error:?}"
            );
            assert!(error.is_retryable());
        }
        let error = classify("start", "c", BollardError::SocketNotFoundError("/x".into()));
        assert!(matches!(error, RuntimeError::Unreachable { .. }));
        let error = classify(
            "build",
            "c",
            BollardError::DockerStreamError {
                error: "cut".into(),
            },
        );
        assert!(matches!(error, RuntimeError::EngineFailure { .. }));
        assert!(error.is_retryable());
    }

    #[test]
    fn timeouts_are_retryable() {
        let error = classify("stop", "c", BollardError::RequestTimeoutError);
        assert!(matches!(error, RuntimeError::Timeout { operation: "stop" }));
        assert!(error.is_retryable());
    }

    #[test]
    fn engine_failures_and_throttling_are_retryable() {
        for status in [500, 502, 503, 504, 429] {
            let error = classify("create", "c", answer(status, "boom"));
            assert!(
                matches!(error, RuntimeError::EngineFailure { .. }),
                "{status}"
            );
            assert!(error.is_retryable(), "{status}");
        }
    }

    #[test]
    fn conflicts_such_as_a_removal_in_progress_are_retryable() {
        let error = classify(
            "remove",
            "c",
            answer(409, "removal of container c is already in progress"),
        );
        assert!(matches!(error, RuntimeError::Conflict { .. }));
        assert!(error.is_retryable());
    }

    #[test]
    fn a_network_name_two_racing_workers_created_is_retryable() {
        let message = "network t1-p-alpha-network is ambiguous (2 matches found on name)";
        let error = classify("start container", "c", answer(400, message));
        assert!(matches!(error, RuntimeError::Conflict { .. }), "{error:?}");
        assert!(error.is_retryable());
    }

    #[test]
    fn not_found_names_what_was_looked_for_and_is_permanent() {
        let error = classify(
            "inspect",
            "container web",
            answer(404, "No such container: web"),
        );
        assert_eq!(error.to_string(), "container web was not found");
        assert!(!error.is_retryable());
    }

    #[test]
    fn other_client_errors_are_permanent() {
        for status in [400, 401, 403, 406, 422] {
            let error = classify("start", "c", answer(status, "executable file not found"));
            assert!(matches!(error, RuntimeError::Rejected { .. }), "{status}");
            assert!(!error.is_retryable(), "{status}");
        }
    }

    #[test]
    fn a_missing_gpu_driver_is_permanent_despite_its_500() {
        let message = "could not select device driver \"nvidia\" with capabilities: [[gpu]]";
        let error = classify("start", "c", answer(500, message));
        assert!(matches!(error, RuntimeError::GpuUnavailable { .. }));
        assert!(!error.is_retryable());
    }

    #[test]
    fn undecodable_answers_are_permanent() {
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let error = classify("list", "c", BollardError::JsonSerdeError { err: json });
        assert!(matches!(error, RuntimeError::Protocol { .. }));
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_missing_network_is_told_apart_from_other_404s() {
        assert_eq!(
            missing_network(&answer(404, "network t1-p-alpha-network not found")).as_deref(),
            Some("t1-p-alpha-network")
        );
        assert_eq!(
            missing_network(&answer(404, "No such network: t1-p-alpha-network")).as_deref(),
            Some("t1-p-alpha-network")
        );
        assert_eq!(
            missing_network(&answer(404, "No such container: web")),
            None
        );
        assert_eq!(missing_network(&answer(404, "No such image: x:1")), None);
        assert_eq!(missing_network(&answer(500, "network x not found")), None);
    }

    #[test]
    fn helpers_tell_answers_from_transport_failures() {
        assert_eq!(status_of(&answer(409, "x")), Some(409));
        assert_eq!(status_of(&BollardError::RequestTimeoutError), None);
        assert!(is_transport(&io_error(io::ErrorKind::ConnectionRefused)));
        assert!(is_transport(&BollardError::RequestTimeoutError));
        assert!(!is_transport(&answer(500, "x")));
    }
}
