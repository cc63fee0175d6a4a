//! [`ImageRef`]: a container image reference, parsed once by the OCI
//! distribution grammar (`oci-spec`'s `distribution::Reference`, the Rust
//! port of Docker's own `reference` package), with contaxy's rules on top.
//!
//! It is the one check of an image: the API's and broker producers' input
//! validation ([`super::deployment::DeploymentInput::validate`]), the
//! worker's spec validation and its pull all go through [`ImageRef::parse`],
//! so a reference the Engine would refuse is a 400 at the edge, not a
//! failed action later.
//!
//! An image on a loopback, link-local or unspecified registry address is
//! refused: the Engine pulls from the host's own network namespace, so such
//! a reference would make it call the host's own ports (or the cloud
//! metadata service at 169.254.169.254). Names are checked as written; a
//! public name whose DNS answer is a loopback address is not caught here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use oci_spec::distribution::Reference;

/// The longest reference accepted, well beyond any real one.
pub const MAX_IMAGE_LEN: usize = 2000;

/// A valid image reference, kept as written (what the Engine is given) with
/// its parts as the grammar reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    written: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not an image contaxy runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// Empty, or longer than [`MAX_IMAGE_LEN`].
    #[error("must be 1 to {MAX_IMAGE_LEN} characters")]
    Length,
    /// Not a reference by the OCI distribution grammar.
    #[error(
        "is not an image reference ([registry/]repository[:tag][@digest], lowercase repository): {0}"
    )]
    Grammar(String),
    /// Its registry is a loopback, link-local or unspecified address.
    #[error(
        "names the registry {registry:?}: images from loopback, link-local or unspecified addresses are refused"
    )]
    LocalRegistry {
        /// The registry as written.
        registry: String,
    },
}

impl ImageRef {
    /// Parses `value`: the OCI grammar, a lowercase repository, and a
    /// registry that is not the host itself.
    pub fn parse(value: &str) -> Result<Self, ImageRefError> {
        if value.is_empty() || value.len() > MAX_IMAGE_LEN {
            return Err(ImageRefError::Length);
        }
        let reference =
            Reference::from_str(value).map_err(|e| ImageRefError::Grammar(e.to_string()))?;
        // The grammar takes `Foo/bar` as registry `Foo`, which the name
        // split then reads as a Docker Hub path `Foo/bar`: paths are
        // lowercase, so Docker would refuse it at the pull.
        if reference
            .repository()
            .chars()
            .any(|c| c.is_ascii_uppercase())
        {
            return Err(ImageRefError::Grammar(
                "the repository must be lowercase".to_owned(),
            ));
        }
        if is_local_registry(reference.registry()) {
            return Err(ImageRefError::LocalRegistry {
                registry: reference.registry().to_owned(),
            });
        }
        Ok(Self {
            written: value.to_owned(),
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
            tag: reference.tag().map(str::to_owned),
            digest: reference.digest().map(str::to_owned),
        })
    }

    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The registry (`docker.io` when none is written).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository within the registry (`library/busybox` for `busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when neither a tag nor a digest is written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What the Engine's pull is given: the name, and the tag unless a
    /// digest pins the image (then the whole reference). Without a tag the
    /// Engine would pull every tag, so `latest` is explicit.
    pub fn pull_parts(&self) -> (String, Option<String>) {
        if self.digest.is_some() {
            return (self.written.clone(), None);
        }
        let name = match self.tag.as_deref() {
            Some(tag) => self
                .written
                .strip_suffix(tag)
                .and_then(|rest| rest.strip_suffix(':'))
                .unwrap_or(&self.written),
            None => &self.written,
        };
        (name.to_owned(), self.tag.clone())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// Whether `registry` (host, maybe `:port`) is the host itself: `localhost`
/// and names under `.localhost` (RFC 6761), and loopback, link-local and
/// unspecified addresses. A host whose last label is a number but which is
/// not a plain dotted quad (`127.1`, `2130706433`, `0x7f.1`) is refused
/// too: resolvers read such hosts as addresses, and no public name ends in
/// a number.
fn is_local_registry(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .map_or(registry, |(host, _port)| host)
        .to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return is_local_ip(ip);
    }
    host.rsplit('.').next().is_some_and(|last| {
        last.starts_with("0x") || (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
    })
}

fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_local_v4(v4),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(is_local_v4)
        }
    }
}

fn is_local_v4(v4: Ipv4Addr) -> bool {
    v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
