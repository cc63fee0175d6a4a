//! Why a runtime operation failed, and whether trying again can help.
//!
//! [`RuntimeError`] is the same for every backend: it names causes, never a
//! client library's types. A backend keeps the underlying error as the
//! boxed [`RuntimeError::source`] where one exists.

/// The underlying error a backend met (a transport or decoding error of its
/// client library), kept as the cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failed runtime operation. Variants are named for the cause; the
/// decision to retry belongs to the caller and is made from
/// [`RuntimeError::is_retryable`].
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A setting of the runtime (its address, say) could not be used.
    #[error("{setting}={value} is not usable: {source}")]
    BadSetting {
        /// The setting, by its environment variable.
        setting: &'static str,
        /// The configured value.
        value: String,
        /// Why it cannot be used.
        #[source]
        source: BoxError,
    },
    /// The container engine speaks an API older than the oldest we support.
    #[error("the Docker Engine speaks API {found}; at least {required} is required")]
    UnsupportedEngine {
        /// The engine's API version.
        found: String,
        /// The oldest API version this backend is tested against.
        required: String,
    },
    /// The engine could not be reached (connection refused or reset, socket
    /// missing, stream cut).
    #[error("the container engine could not be reached during {operation}: {source}")]
    Unreachable {
        /// What we were doing.
        operation: &'static str,
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// The engine did not answer in time.
    #[error("the container engine did not answer in time during {operation}")]
    Timeout {
        /// What we were doing.
        operation: &'static str,
    },
    /// The engine failed on its side (5xx) or asked us to slow down (429).
    #[error("the container engine failed during {operation} ({status}): {message}")]
    EngineFailure {
        /// What we were doing.
        operation: &'static str,
        /// The HTTP status it answered.
        status: u16,
        /// Its message.
        message: String,
    },
    /// Something else is changing the same object right now (409), e.g. a
    /// removal already in progress.
    #[error("conflict during {operation}: {message}")]
    Conflict {
        /// What we were doing.
        operation: &'static str,
        /// The engine's message.
        message: String,
    },
    /// The engine refused the request as invalid or forbidden (4xx other than
    /// 404, 409 and 429): the same request will fail again.
    #[error("the container engine refused {operation} ({status}): {message}")]
    Rejected {
        /// What we were doing.
        operation: &'static str,
        /// The HTTP status it answered.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The deployment or object does not exist (or is not ours to see).
    #[error("{what} was not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The image is not in the local store and pulling it failed.
    #[error("image {image} is not available locally and could not be pulled: {reason}")]
    ImageUnavailable {
        /// The image reference.
        image: String,
        /// Why the pull failed.
        reason: String,
    },
    /// GPUs were requested but the host cannot provide them.
    #[error("GPUs were requested but the host cannot attach them: {message}")]
    GpuUnavailable {
        /// The engine's message.
        message: String,
    },
    /// The deployment spec is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidSpec {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The host can never satisfy what the spec asks for.
    #[error("insufficient capacity for {field}: requested {requested}, the host has {available}")]
    InsufficientCapacity {
        /// The field whose request cannot be met.
        field: &'static str,
        /// What was requested, with its unit.
        requested: String,
        /// What the host has, with its unit.
        available: String,
    },
    /// A name we would use is taken by an object we do not manage.
    #[error("{what} already exists and is not managed by this installation")]
    NotManaged {
        /// The object, by kind and name.
        what: String,
    },
    /// The project network exists with another subnet than the one asked for.
    #[error("network {network} exists with subnet {existing}, not the requested {requested}")]
    SubnetMismatch {
        /// The network name.
        network: String,
        /// Its current subnet(s).
        existing: String,
        /// The requested subnet.
        requested: String,
    },
    /// The engine refused an explicit subnet because it overlaps an address
    /// space it already uses (another network, perhaps not ours). The same
    /// subnet will be refused again; another one may not be.
    #[error("subnet {subnet} is not available on this host: {message}")]
    SubnetUnavailable {
        /// The refused subnet.
        subnet: String,
        /// The engine's message.
        message: String,
    },
    /// The project's network is not there (removed since it was ensured,
    /// perhaps outside contaxy): a deploy or an attach needs it. The same
    /// call fails again until the network is ensured; the caller does that
    /// (under its lock) and tries once more.
    #[error("network {network} does not exist")]
    NetworkMissing {
        /// The network name.
        network: String,
    },
    /// The network still has containers attached.
    #[error("network {network} still has containers attached")]
    NetworkInUse {
        /// The network name.
        network: String,
    },
    /// The engine answered something we could not understand.
    #[error("unexpected answer from the container engine during {operation}: {source}")]
    Protocol {
        /// What we were doing.
        operation: &'static str,
        /// The decoding or protocol error.
        #[source]
        source: BoxError,
    },
}

impl RuntimeError {
    /// Classifies a backend's answer by its HTTP status alone: 404 not
    /// found, 409 a conflict with work in progress, 429 and 5xx failures on
    /// the backend's side (retryable), any other status a refusal. Each
    /// backend looks for its own special answers first.
    pub fn from_status(operation: &'static str, what: &str, status: u16, message: String) -> Self {
        match status {
            404 => Self::NotFound {
                what: what.to_owned(),
            },
            409 => Self::Conflict { operation, message },
            429 | 500..=599 => Self::EngineFailure {
                operation,
                status,
                message,
            },
            _ => Self::Rejected {
                operation,
                status,
                message,
            },
        }
    }

    /// Whether the same operation may succeed later without any change to its
    /// input: transport failures, timeouts, engine-side failures and
    /// conflicts with work in progress. Everything else is permanent, so a
    /// bad spec or a missing image is never retried forever.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::EngineFailure { .. }
            | Self::Conflict { .. }
            | Self::NetworkInUse { .. } => true,
            Self::BadSetting { .. }
            | Self::UnsupportedEngine { .. }
            | Self::Rejected { .. }
            | Self::NotFound { .. }
            | Self::ImageUnavailable { .. }
            | Self::GpuUnavailable { .. }
            | Self::InvalidSpec { .. }
            | Self::InsufficientCapacity { .. }
            | Self::NotManaged { .. }
            | Self::SubnetMismatch { .. }
            | Self::SubnetUnavailable { .. }
            | Self::NetworkMissing { .. }
            | Self::Protocol { .. } => false,
        }
    }

    /// A short, stable name of the cause, for metric labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadSetting { .. } => "bad_setting",
            Self::UnsupportedEngine { .. } => "unsupported_engine",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::EngineFailure { .. } => "engine_failure",
            Self::Conflict { .. } => "conflict",
            Self::Rejected { .. } => "rejected",
            Self::NotFound { .. } => "not_found",
            Self::ImageUnavailable { .. } => "image_unavailable",
            Self::GpuUnavailable { .. } => "gpu_unavailable",
            Self::InvalidSpec { .. } => "invalid_spec",
            Self::InsufficientCapacity { .. } => "insufficient_capacity",
            Self::NotManaged { .. } => "not_managed",
            Self::SubnetMismatch { .. } => "subnet_mismatch",
            Self::SubnetUnavailable { .. } => "subnet_unavailable",
            Self::NetworkMissing { .. } => "network_missing",
            Self::NetworkInUse { .. } => "network_in_use",
            Self::Protocol { .. } => "protocol",
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidSpec {
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn cause() -> BoxError {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()
    }

    fn text() -> String {
        "x".to_owned()
    }

    /// One error of every variant with whether it must be retried.
    fn every_variant() -> Vec<(RuntimeError, bool)> {
        vec![
            (
                RuntimeError::BadSetting {
                    setting: "CONTAXY_X",
                    value: text(),
                    source: cause(),
                },
                false,
            ),
            (
                RuntimeError::UnsupportedEngine {
                    found: text(),
                    required: text(),
                },
                false,
            ),
            (
                RuntimeError::Unreachable {
                    operation: "op",
                    source: cause(),
                },
                true,
            ),
            (RuntimeError::Timeout { operation: "op" }, true),
            (
                RuntimeError::EngineFailure {
                    operation: "op",
                    status: 500,
                    message: text(),
                },
                true,
            ),
            (
                RuntimeError::Conflict {
                    operation: "op",
                    message: text(),
                },
                true,
            ),
            (
                RuntimeError::Rejected {
                    operation: "op",
                    status: 400,
                    message: text(),
                },
                false,
            ),
            (RuntimeError::NotFound { what: text() }, false),
            (
                RuntimeError::ImageUnavailable {
                    image: text(),
                    reason: text(),
                },
                false,
            ),
            (RuntimeError::GpuUnavailable { message: text() }, false),
            (RuntimeError::invalid("field", "bad"), false),
            (
                RuntimeError::InsufficientCapacity {
                    field: "f",
                    requested: text(),
                    available: text(),
                },
                false,
            ),
            (RuntimeError::NotManaged { what: text() }, false),
            (
                RuntimeError::SubnetMismatch {
                    network: text(),
                    existing: text(),
                    requested: text(),
                },
                false,
            ),
            (
                RuntimeError::SubnetUnavailable {
                    subnet: text(),
                    message: text(),
                },
                false,
            ),
            (RuntimeError::NetworkMissing { network: text() }, false),
            (RuntimeError::NetworkInUse { network: text() }, true),
            (
                RuntimeError::Protocol {
                    operation: "op",
                    source: cause(),
                },
                false,
            ),
        ]
    }

    #[test]
    fn only_transient_causes_are_retryable() {
        for (error, retryable) in every_variant() {
            assert_eq!(error.is_retryable(), retryable, "{error:?}");
        }
    }

    #[test]
    fn the_cause_is_kept_as_the_source() {
        use std::error::Error as _;
        let error = RuntimeError::Unreachable {
            operation: "ping",
            source: cause(),
        };
        let source = error.source().expect("a source");
        assert!(source.to_string().contains("refused"), "{source}");
    }

    #[test]
    fn every_cause_has_its_own_metric_name() {
        let variants = every_variant();
        let kinds: HashSet<_> = variants.iter().map(|(error, _)| error.kind()).collect();
        assert_eq!(kinds.len(), variants.len());
        assert!(
            kinds
                .iter()
                .all(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }
}
