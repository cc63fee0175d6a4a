//! Configuration: one typed struct per binary, read once in `main`.
//!
//! Every binary's configuration is a [`Config<B>`]: the [`CommonConfig`] all
//! three share plus the binary's own settings `B`. Values come from, in rising
//! priority:
//!
//! 1. the defaults, which point at loopback services so that a fresh machine
//!    runs with no configuration at all;
//! 2. an optional TOML file named by `CONTAXY_CONFIG_FILE` (flat keys, the
//!    field names below);
//! 3. environment variables `CONTAXY_<FIELD>` (`CONTAXY_DATABASE_URL`, …).
//!
//! A key in the file that this binary does not know is an error (a typo must
//! not be silently ignored). An environment variable this binary does not know
//! is skipped, since one environment is commonly shared by all three binaries.
//! A bad value fails at start with the variable's name and what was expected.

use std::collections::BTreeSet;
use std::path::PathBuf;

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Provider};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_aux::serde_introspection::serde_introspect;

use crate::store::quotas::Quotas;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "CONTAXY_";
/// The variable naming an optional TOML configuration file.
pub const CONFIG_FILE_VAR: &str = "CONTAXY_CONFIG_FILE";

/// A binary's whole configuration: the shared part and the binary's settings.
#[derive(Debug, Clone)]
pub struct Config<B> {
    /// Settings every binary has.
    pub common: CommonConfig,
    /// Settings of this binary only (`WorkerSettings`, …).
    pub settings: B,
}

/// Settings shared by `api`, `worker` and `scheduler`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    /// PostgreSQL connection URL (`CONTAXY_DATABASE_URL`). It may hold a
    /// password, so it is treated as a secret and never logged.
    pub database_url: SecretString,
    /// Most PostgreSQL connections this process keeps open
    /// (`CONTAXY_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    /// Longest a request waits for a PostgreSQL connection, in milliseconds
    /// (`CONTAXY_DATABASE_ACQUIRE_TIMEOUT_MS`); past it the database counts
    /// as unavailable (the API answers 503 rather than hold the request).
    pub database_acquire_timeout_ms: u64,
    /// RabbitMQ URL, AMQP 0-9-1 (`CONTAXY_AMQP_URL`). Secret, like the database
    /// URL.
    pub amqp_url: SecretString,
    /// Prefix put before every exchange and queue name
    /// (`CONTAXY_TOPOLOGY_PREFIX`), so several installations or test runs can
    /// share one broker without seeing each other's messages.
    pub topology_prefix: String,
    /// Most messages the dead-letter queue `{prefix}dead` holds
    /// (`CONTAXY_DEAD_QUEUE_MAX_LENGTH`, its `x-max-length`); past it the
    /// oldest is dropped (the action's row keeps its failure). 0: unbounded.
    /// Every process of an installation must use the same value.
    pub dead_queue_max_length: u32,
    /// Name of this installation (`CONTAXY_NAMESPACE`): the first part of
    /// every deployment id and the `ctxy.namespace` label on everything
    /// created in the runtime, so installations sharing a runtime never touch
    /// each other's containers. Lower-case letters and digits, 1–10.
    pub namespace: String,
    /// Log output format, `human` or `json` (`CONTAXY_LOG_FORMAT`). Filtering
    /// follows `RUST_LOG` (default `info`).
    pub log_format: LogFormat,
    /// How long one readiness probe may take before it counts as failed, in
    /// milliseconds (`CONTAXY_PROBE_TIMEOUT_MS`).
    pub probe_timeout_ms: u64,
    /// Endpoint of the S3-compatible object storage holding project files
    /// (`CONTAXY_S3_ENDPOINT`). Empty means AWS S3 itself for the region.
    pub s3_endpoint: String,
    /// Region the storage signs requests for (`CONTAXY_S3_REGION`).
    pub s3_region: String,
    /// Access key id for the storage (`CONTAXY_S3_ACCESS_KEY_ID`).
    pub s3_access_key_id: String,
    /// Secret access key for the storage (`CONTAXY_S3_SECRET_ACCESS_KEY`).
    pub s3_secret_access_key: SecretString,
    /// Put before a project's id to name its bucket (`CONTAXY_S3_BUCKET_PREFIX`),
    /// in the default layout of one versioned bucket per project. Lower-case
    /// letters, digits and `-`, at most 30 characters.
    pub s3_bucket_prefix: String,
    /// One bucket for every project, each under the key prefix
    /// `projects/<project id>/` (`CONTAXY_S3_SHARED_BUCKET`), for providers
    /// that limit how many buckets an account has. Empty: a bucket per project.
    pub s3_shared_bucket: String,
    /// Address buckets as a path (`http://host/bucket/key`) rather than as a
    /// host name (`CONTAXY_S3_FORCE_PATH_STYLE`); most self-hosted servers
    /// (MinIO, Ceph, moto) want this.
    pub s3_force_path_style: bool,
    /// Deployments one project may have, finished ones included until they
    /// are deleted or removed by their TTL
    /// (`CONTAXY_MAX_DEPLOYMENTS_PER_PROJECT`); `0`: no limit.
    pub max_deployments_per_project: u32,
    /// Deployments of one project that may be pending or running at once
    /// (`CONTAXY_MAX_RUNNING_PER_PROJECT`); `0`: no limit.
    pub max_running_per_project: u32,
    /// Projects one user may have created (`CONTAXY_MAX_PROJECTS_PER_USER`);
    /// `0`: no limit.
    pub max_projects_per_user: u32,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            database_url: SecretString::from("postgres://contaxy:contaxy@127.0.0.1:5432/contaxy"),
            database_max_connections: 10,
            database_acquire_timeout_ms: 2_000,
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            topology_prefix: String::new(),
            dead_queue_max_length: crate::topology::DEFAULT_DEAD_QUEUE_MAX_LENGTH,
            namespace: "ctxy".to_owned(),
            log_format: LogFormat::Human,
            probe_timeout_ms: 2_000,
            s3_endpoint: "http://127.0.0.1:9000".to_owned(),
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: "contaxy".to_owned(),
            s3_secret_access_key: SecretString::from("contaxy-secret"),
            s3_bucket_prefix: "contaxy-".to_owned(),
            s3_shared_bucket: String::new(),
            s3_force_path_style: true,
            max_deployments_per_project: Quotas::default().max_deployments_per_project,
            max_running_per_project: Quotas::default().max_running_per_project,
            max_projects_per_user: Quotas::default().max_projects_per_user,
        }
    }
}

impl CommonConfig {
    /// The broker topology these settings name (prefix, dead queue bound).
    pub fn topology(&self) -> crate::topology::Topology {
        crate::topology::Topology::new(&self.topology_prefix)
            .with_dead_max_length(self.dead_queue_max_length)
    }

    /// The per-tenant limits.
    pub fn quotas(&self) -> Quotas {
        Quotas {
            max_deployments_per_project: self.max_deployments_per_project,
            max_running_per_project: self.max_running_per_project,
            max_projects_per_user: self.max_projects_per_user,
        }
    }

    /// Checks what types alone cannot say.
    fn check(&self) -> Result<(), ConfigError> {
        let ns = &self.namespace;
        if ns.is_empty()
            || ns.len() > 10
            || !ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(ConfigError::one(format!(
                "  - {ENV_PREFIX}NAMESPACE: expected 1 to 10 lower-case letters or digits, found {ns:?}"
            )));
        }
        let prefix = &self.s3_bucket_prefix;
        if prefix.len() > 30
            || !prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError::one(format!(
                "  - {ENV_PREFIX}S3_BUCKET_PREFIX: expected at most 30 lower-case letters, digits or '-', found {prefix:?}"
            )));
        }
        Ok(())
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object a line, for log collectors.
    Json,
}

/// Why the configuration could not be loaded. Its message names every bad
/// variable or key and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.join("\n"))]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    fn one(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    /// Each problem found, one sentence each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Loads the configuration of a binary whose own settings are `B`, from the
/// process environment (and the file it names).
pub fn load<B>() -> Result<Config<B>, ConfigError>
where
    B: DeserializeOwned + 'static,
{
    let known = known_keys::<B>();
    let mut figment = Figment::new();
    let file = std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from);
    if let Some(path) = &file {
        if !path.is_file() {
            return Err(ConfigError::one(format!(
                "  - {CONFIG_FILE_VAR}: no file at {}",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
        check_file_keys(&figment, &known, path)?;
    }
    let env_known = known.clone();
    let env = Env::prefixed(ENV_PREFIX)
        .filter(move |key| env_known.contains(key.as_str().to_lowercase().as_str()));
    figment = figment.merge(env);

    // Extract both parts before failing, so every bad value is reported.
    match (figment.extract::<CommonConfig>(), figment.extract::<B>()) {
        (Ok(common), Ok(settings)) => {
            common.check()?;
            Ok(Config { common, settings })
        }
        (common, settings) => {
            let problems = [common.err(), settings.err()]
                .into_iter()
                .flatten()
                .flat_map(|e| describe(e).problems)
                .collect();
            Err(ConfigError { problems })
        }
    }
}

/// For `main`: loads the configuration, or prints why it cannot and exits
/// with status 2 (a usage error, not a crash: no backtrace).
pub fn load_or_exit<B>() -> Config<B>
where
    B: DeserializeOwned + 'static,
{
    load().unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(2)
    })
}

fn known_keys<B: DeserializeOwned + 'static>() -> BTreeSet<&'static str> {
    serde_introspect::<CommonConfig>()
        .iter()
        .chain(serde_introspect::<B>())
        .copied()
        .collect()
}

fn check_file_keys(
    figment: &Figment,
    known: &BTreeSet<&'static str>,
    path: &std::path::Path,
) -> Result<(), ConfigError> {
    let data = figment.data().map_err(describe)?;
    let problems: Vec<String> = data
        .values()
        .flat_map(|dict| dict.keys())
        .filter(|key| !known.contains(key.as_str()))
        .map(|key| {
            format!(
                "  - `{key}` in {}: unknown setting (known: {})",
                path.display(),
                known.iter().copied().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { problems })
    }
}

/// Turns figment's errors into sentences that name the variable (or the file
/// and key) a value came from.
fn describe(error: figment::Error) -> ConfigError {
    let problems = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_file = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .and_then(|s| s.file_path())
                .map(|p| p.display().to_string());
            let place = match from_file {
                Some(file) => format!("`{key}` in {file}"),
                None if key.is_empty() => "configuration".to_owned(),
                None => format!("{ENV_PREFIX}{}", key.to_uppercase()),
            };
            format!("  - {place}: {}", e.kind)
        })
        .collect();
    ConfigError { problems }
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use secrecy::ExposeSecret;
    use std::net::SocketAddr;

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Own {
        listen_addr: SocketAddr,
        concurrency: u16,
    }

    impl Default for Own {
        fn default() -> Self {
            Self {
                listen_addr: "127.0.0.1:1".parse().expect("valid"),
                concurrency: 4,
            }
        }
    }

    fn ok(result: Result<Config<Own>, ConfigError>) -> Config<Own> {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    fn load_err(jail: &mut Jail) -> Vec<String> {
        let _ = jail;
        load::<Own>().expect_err("must fail").problems().to_vec()
    }

    #[test]
    fn defaults_point_at_loopback_services() {
        Jail::expect_with(|_jail| {
            let config = ok(load::<Own>());
            assert!(
                config
                    .common
                    .database_url
                    .expose_secret()
                    .contains("127.0.0.1:5432")
            );
            assert!(
                config
                    .common
                    .amqp_url
                    .expose_secret()
                    .contains("127.0.0.1:5672")
            );
            assert_eq!(config.common.log_format, LogFormat::Human);
            assert_eq!(config.settings.concurrency, 4);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.set_env("CONTAXY_LOG_FORMAT", "json");
            jail.set_env("CONTAXY_CONCURRENCY", "16");
            jail.set_env("CONTAXY_LISTEN_ADDR", "0.0.0.0:9999");
            jail.set_env("CONTAXY_TOPOLOGY_PREFIX", "t1.");
            let config = ok(load::<Own>());
            assert_eq!(config.common.log_format, LogFormat::Json);
            assert_eq!(config.common.topology_prefix, "t1.");
            assert_eq!(config.settings.concurrency, 16);
            assert_eq!(config.settings.listen_addr.port(), 9999);
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_variable_and_the_expectation() {
        Jail::expect_with(|jail| {
            jail.set_env("CONTAXY_CONCURRENCY", "many");
            let problems = load_err(jail);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains("CONTAXY_CONCURRENCY"), "{problems:?}");
            assert!(problems[0].contains("u16"), "{problems:?}");

            // Every bad value is reported at once, not one per restart.
            jail.set_env("CONTAXY_LOG_FORMAT", "xml");
            let problems = load_err(jail);
            assert_eq!(problems.len(), 2, "{problems:?}");
            assert!(problems[0].contains("CONTAXY_LOG_FORMAT"), "{problems:?}");
            assert!(problems[0].contains("`human` or `json`"), "{problems:?}");
            assert!(problems[1].contains("CONTAXY_CONCURRENCY"), "{problems:?}");

            jail.set_env("CONTAXY_CONCURRENCY", "2");
            jail.set_env("CONTAXY_LOG_FORMAT", "json");
            jail.set_env("CONTAXY_LISTEN_ADDR", "not-an-address");
            let problems = load_err(jail);
            assert!(problems[0].contains("CONTAXY_LISTEN_ADDR"), "{problems:?}");

            jail.set_env("CONTAXY_LISTEN_ADDR", "127.0.0.1:1");
            jail.set_env("CONTAXY_NAMESPACE", "Bad-NS");
            let problems = load_err(jail);
            assert!(problems[0].contains("CONTAXY_NAMESPACE"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn variables_of_other_binaries_are_ignored() {
        Jail::expect_with(|jail| {
            jail.set_env("CONTAXY_SOME_OTHER_BINARY_SETTING", "x");
            ok(load::<Own>());
            Ok(())
        });
    }

    #[test]
    fn config_file_is_read_and_env_wins_over_it() {
        Jail::expect_with(|jail| {
            jail.create_file("contaxy.toml", "concurrency = 7\nlog_format = \"json\"\n")?;
            jail.set_env(CONFIG_FILE_VAR, "contaxy.toml");
            let config = ok(load::<Own>());
            assert_eq!(config.settings.concurrency, 7);
            assert_eq!(config.common.log_format, LogFormat::Json);
            jail.set_env("CONTAXY_CONCURRENCY", "9");
            assert_eq!(ok(load::<Own>()).settings.concurrency, 9);
            Ok(())
        });
    }

    #[test]
    fn unknown_or_bad_keys_in_the_file_are_errors() {
        Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "concurency = 7\n")?;
            jail.set_env(CONFIG_FILE_VAR, "typo.toml");
            let problems = load_err(jail);
            assert!(problems[0].contains("`concurency`"), "{problems:?}");
            assert!(problems[0].contains("typo.toml"), "{problems:?}");

            jail.create_file("bad.toml", "concurrency = \"lots\"\n")?;
            jail.set_env(CONFIG_FILE_VAR, "bad.toml");
            let problems = load_err(jail);
            assert!(problems[0].contains("`concurrency` in"), "{problems:?}");
            assert!(problems[0].contains("bad.toml"), "{problems:?}");

            jail.set_env(CONFIG_FILE_VAR, "missing.toml");
            let problems = load_err(jail);
            assert!(problems[0].contains("CONTAXY_CONFIG_FILE"), "{problems:?}");
            Ok(())
        });
    }
}
