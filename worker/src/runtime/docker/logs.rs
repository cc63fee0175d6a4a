//! A deployment's output, from the container's log driver.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures::StreamExt;

use super::DockerRuntime;
use super::errors::classify;
use crate::runtime::logs::{LogChunk, LogOptions, LogSource};
use crate::runtime::spec::DeploymentRef;
use crate::runtime::{LogStream, RuntimeError};

impl DockerRuntime {
    /// Finds the container first, so a missing deployment is an error here
    /// rather than an empty stream.
    pub(super) async fn container_logs(
        &self,
        target: &DeploymentRef,
        options: LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let id = self.require(target).await?;
        let what = target.to_string();
        let stream = self
            .docker
            .logs(&id, Some(logs_options(options)))
            .filter_map(move |item| {
                let item = match item {
                    Ok(output) => chunk(output).map(Ok),
                    Err(error) => Some(Err(classify("read logs", &what, error))),
                };
                std::future::ready(item)
            });
        Ok(stream.boxed())
    }
}

/// The engine's log query for `options`.
pub fn logs_options(options: LogOptions) -> LogsOptions {
    LogsOptions {
        follow: options.follow,
        stdout: true,
        stderr: true,
        // Docker's `since` is in seconds; it includes the whole second.
        since: options.since.map_or(0, |since| {
            i32::try_from(since.timestamp()).unwrap_or(i32::MAX)
        }),
        until: 0,
        timestamps: options.timestamps,
        tail: options
            .lines
            .map_or_else(|| "all".to_owned(), |lines| lines.to_string()),
    }
}

/// Our chunk for an engine frame; stdin echoes are dropped. Containers run
/// without a TTY, so frames are always tagged stdout or stderr; a console
/// frame (TTY) counts as stdout.
fn chunk(output: LogOutput) -> Option<LogChunk> {
    let (source, bytes) = match output {
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogSource::Stdout, message)
        }
        LogOutput::StdErr { message } => (LogSource::Stderr, message),
        LogOutput::StdIn { .. } => return None,
    };
    Some(LogChunk {
        source,
        bytes: bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn by_default_all_lines_of_both_streams_without_following() {
        let options = logs_options(LogOptions::default());
        assert_eq!(options.tail, "all");
        assert_eq!((options.since, options.until), (0, 0));
        assert!(options.stdout && options.stderr);
        assert!(!options.follow && !options.timestamps);
    }

    #[test]
    fn lines_since_follow_and_timestamps_reach_the_query() {
        let since = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let options = logs_options(LogOptions {
            lines: Some(20),
            since: Some(since),
            follow: true,
            timestamps: true,
        });
        assert_eq!(options.tail, "20");
        assert_eq!(i64::from(options.since), since.timestamp());
        assert!(options.follow && options.timestamps);
    }

    #[test]
    fn frames_become_chunks_tagged_by_stream() {
        let out = chunk(LogOutput::StdOut {
            message: "hi\n".into(),
        })
        .unwrap();
        assert_eq!(
            (out.source, out.text().as_ref()),
            (LogSource::Stdout, "hi\n")
        );
        let err = chunk(LogOutput::StdErr {
            message: "oops".into(),
        })
        .unwrap();
        assert_eq!(err.source, LogSource::Stderr);
        let tty = chunk(LogOutput::Console {
            message: "t".into(),
        })
        .unwrap();
        assert_eq!(tty.source, LogSource::Stdout);
        assert!(
            chunk(LogOutput::StdIn {
                message: "x".into()
            })
            .is_none()
        );
    }
}
