//! The login the CLI keeps: `{"url", "token", "project"}` in
//! `<config dir>/contaxy/config.json` (`$XDG_CONFIG_HOME` or `~/.config` on
//! Linux), readable by its owner only (mode 600, its folder 700). `--config`
//! or `CONTAXY_CONFIG` name another file. `CONTAXY_URL`, `CONTAXY_TOKEN` and
//! `CONTAXY_PROJECT` (and the flags of the same names) take precedence over
//! the file, so scripts need no file at all.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// What `login` stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// The API's base URL (`http://127.0.0.1:8080`).
    pub url: Option<String>,
    /// The API token (`ctxy_…`).
    pub token: Option<String>,
    /// The project commands use when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// Where the config file is: `explicit` (the flag or `CONTAXY_CONFIG`),
/// else the user's config dir.
pub fn path(explicit: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    dirs::config_dir()
        .map(|dir| dir.join("contaxy").join("config.json"))
        .ok_or_else(|| {
            CliError::usage("no config directory is known here: pass --config or CONTAXY_CONFIG")
        })
}

/// Reads the file at `path`; an absent file is an empty config.
pub fn load(path: &Path) -> CliResult<Config> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            CliError::usage(format!(
                "{} is not a contaxy config: {error}",
                path.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(error) => Err(CliError::usage(format!(
            "cannot read {}: {error}",
            path.display()
        ))),
    }
}

/// Writes `config` to `path`, mode 600, replacing the file in one rename so
/// a reader never sees half of it and the token is never readable by others
/// for a moment.
pub fn save(path: &Path, config: &Config) -> CliResult<()> {
    let failed =
        |what: &str, error: std::io::Error| CliError::usage(format!("cannot {what}: {error}"));
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| failed(&format!("create {}", dir.display()), e))?;
    let json = serde_json::to_vec_pretty(config)
        .map_err(|error| CliError::usage(format!("cannot encode the config: {error}")))?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into()),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = private_file(&temporary)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    };
    write().map_err(|error| {
        let _ = fs::remove_file(&temporary);
        failed(&format!("write {}", path.display()), error)
    })
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_config_is_private_and_reads_back() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("nested").join("config.json");
        let config = Config {
            url: Some("http://127.0.0.1:1".into()),
            token: Some("ctxy_secret".into()),
            project: None,
        };
        save(&path, &config).expect("saved");
        save(&path, &config).expect("saved again over the first");
        let read = load(&path).expect("read");
        assert_eq!(read.token.as_deref(), Some("ctxy_secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_file_is_an_empty_config_and_a_bad_one_a_usage_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let missing = load(&dir.path().join("none.json")).expect("empty");
        assert!(missing.url.is_none());
        let bad = dir.path().join("bad.json");
        fs::write(&bad, "{").expect("written");
        assert_eq!(load(&bad).expect_err("refused").exit_code(), 1);
    }
}
