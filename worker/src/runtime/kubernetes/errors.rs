//! kube errors classified into [`RuntimeError`] by cause, the same rules as
//! the Docker backend's: 404 not found, 409 conflict (retryable: another
//! writer is at the same object), 429 and 5xx engine failures (retryable),
//! other 4xx refused; transport failures unreachable (retryable); an answer
//! we cannot decode a protocol error.

use crate::runtime::error::RuntimeError;

/// Classifies `error`, met during `operation` on `what` (kind and name,
/// for the not-found message).
pub fn classify(operation: &'static str, what: &str, error: kube::Error) -> RuntimeError {
    match error {
        kube::Error::Api(status) => {
            RuntimeError::from_status(operation, what, status.code, status.message)
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            RuntimeError::Unreachable {
                operation,
                source: Box::new(error),
            }
        }
        kube::Error::InferConfig(_)
        | kube::Error::InferKubeconfig(_)
        | kube::Error::Auth(_)
        | kube::Error::RustlsTls(_)
        | kube::Error::TlsRequired => RuntimeError::BadSetting {
            setting: "KUBECONFIG",
            value: std::env::var("KUBECONFIG")
                .unwrap_or_else(|_| "(in-cluster or ~/.kube/config)".to_owned()),
            source: Box::new(error),
        },
        other => RuntimeError::Protocol {
            operation,
            source: Box::new(other),
        },
    }
}

/// Whether `error` is the API server's 404.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: format!("status {code}"),
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn api_statuses_are_classified_like_dockers() {
        let kind = |code| classify("op", "pod x", api(code)).kind();
        assert_eq!(kind(404), "not_found");
        assert_eq!(kind(409), "conflict");
        assert_eq!(kind(429), "engine_failure");
        assert_eq!(kind(500), "engine_failure");
        assert_eq!(kind(503), "engine_failure");
        assert_eq!(kind(400), "rejected");
        assert_eq!(kind(403), "rejected");
        assert_eq!(kind(422), "rejected");
        for (code, retryable) in [
            (404, false),
            (409, true),
            (429, true),
            (503, true),
            (403, false),
        ] {
            assert_eq!(
                classify("op", "x", api(code)).is_retryable(),
                retryable,
                "{code}"
            );
        }
        assert!(is_not_found(&api(404)));
        assert!(!is_not_found(&api(409)));
    }

    #[test]
    fn transport_failures_are_retryable_and_bad_answers_are_not() {
        let transport = kube::Error::Service("connection refused".into());
        let error = classify("op", "x", transport);
        assert_eq!(error.kind(), "unreachable");
        assert!(error.is_retryable());
        let decoding = serde_json::from_str::<u8>("x").unwrap_err();
        let error = classify("op", "x", kube::Error::SerdeError(decoding));
        assert_eq!(error.kind(), "protocol");
        assert!(!error.is_retryable());
    }
}
