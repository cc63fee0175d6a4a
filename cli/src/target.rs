//! Naming a service or job on the command line: `service/ID`, `job/ID`, or
//! the bare id the API made. The API's ids say both kind and project
//! (`{namespace}-p-{project}--s-{slug}`, `…--j-{slug}-{suffix}`;
//! docs/api.md), so a bare id needs neither flag; `--project` wins when
//! given.

use crate::error::{CliError, CliResult};

/// Services or jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Service,
    Job,
}

impl Kind {
    /// The collection in the API's paths.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Service => "services",
            Self::Job => "jobs",
        }
    }

    /// The word shown to people.
    pub fn singular(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Job => "job",
        }
    }
}

/// One service or job of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub project: String,
    pub id: String,
}

impl Target {
    /// Its path in the API (`/projects/p/jobs/id`).
    pub fn path(&self) -> String {
        format!(
            "/projects/{}/{}/{}",
            crate::client::segment(&self.project),
            self.kind.plural(),
            crate::client::segment(&self.id)
        )
    }
}

/// Reads `text`; `project` is the one given by flag, environment or config.
pub fn parse(text: &str, project: Option<&str>) -> CliResult<Target> {
    let (kind, id) = match text.split_once('/') {
        Some(("service" | "services" | "svc", id)) => (Some(Kind::Service), id),
        Some(("job" | "jobs", id)) => (Some(Kind::Job), id),
        Some((other, _)) => {
            return Err(CliError::usage(format!(
                "{other:?} is not a kind: say service/ID or job/ID"
            )));
        }
        None => (None, text),
    };
    if id.is_empty() {
        return Err(CliError::usage(format!("{text:?} names no id")));
    }
    let made = from_id(id);
    let kind = kind.or(made.map(|(kind, _)| kind)).ok_or_else(|| {
        CliError::usage(format!(
            "is {id:?} a service or a job? say service/{id} or job/{id}"
        ))
    })?;
    let project = project
        .map(str::to_owned)
        .or(made.map(|(_, project)| project.to_owned()))
        .ok_or_else(|| {
            CliError::usage(format!(
                "which project is {id:?} in? pass --project or set CONTAXY_PROJECT"
            ))
        })?;
    Ok(Target {
        kind,
        project,
        id: id.to_owned(),
    })
}

/// Kind and project of an id the API made, if `id` is one. The project
/// ends at the first `--` (project ids never hold one) and starts after the
/// first `-p-` before it.
fn from_id(id: &str) -> Option<(Kind, &str)> {
    let end = id.find("--")?;
    let kind = match id.get(end + 2..end + 4)? {
        "s-" => Kind::Service,
        "j-" => Kind::Job,
        _ => return None,
    };
    let head = &id[..end];
    let start = head.find("-p-")? + 3;
    let project = &head[start..];
    (!project.is_empty()).then_some((kind, project))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_the_api_made_names_its_kind_and_project() {
        let job = parse("ctxy-p-demo-x--j-hello-abc123", None).expect("parsed");
        assert_eq!(job.kind, Kind::Job);
        assert_eq!(job.project, "demo-x");
        assert_eq!(
            job.path(),
            "/projects/demo-x/jobs/ctxy-p-demo-x--j-hello-abc123"
        );
        let service = parse("t1-p-alpha--s-web", None).expect("parsed");
        assert_eq!(
            (service.kind, service.project.as_str()),
            (Kind::Service, "alpha")
        );
    }

    #[test]
    fn a_kind_prefix_and_a_project_flag_win() {
        let target = parse("service/web", Some("demo")).expect("parsed");
        assert_eq!(target.kind, Kind::Service);
        assert_eq!(target.project, "demo");
        let target = parse("job/t1-p-alpha--s-x", Some("beta")).expect("parsed");
        assert_eq!((target.kind, target.project.as_str()), (Kind::Job, "beta"));
    }

    #[test]
    fn what_cannot_be_read_is_a_usage_error() {
        for (text, project) in [
            ("web", Some("demo")),
            ("service/web", None),
            ("pod/web", Some("demo")),
            ("job/", Some("demo")),
        ] {
            let error = parse(text, project).expect_err(text);
            assert_eq!(error.exit_code(), 1, "{text}: {error}");
        }
    }
}
