//! The image allow-list (contaxy's `/system/allowed-images`): which images
//! deployments may run. An empty list allows every image (contaxy's rule,
//! and what a fresh installation needs); once it has an entry, a deploy's
//! image must match one.
//!
//! An entry names an image without its tag ([`AllowedImage::parse`]) and
//! the tags it allows (`*` for any). Names are compared normalized, as the
//! Engine reads them (`busybox`, `library/busybox` and
//! `docker.io/library/busybox` are one image), so an entry cannot be
//! dodged by spelling the image another way. A reference pinned by digest
//! only (`name@sha256:…`) matches an entry whose tags hold `*` or that
//! digest.

use super::image::{ImageRef, ImageRefError};
use super::validation::FieldErrors;

/// The tag that allows every tag.
pub const ANY_TAG: &str = "*";

/// Most tags one entry may list.
pub const MAX_TAGS: usize = 100;

/// A valid allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedImage {
    /// The name as given, lowercased (what `DELETE` names).
    pub image_name: String,
    /// `registry/repository`: what images are matched on.
    pub normalized: String,
    /// The tags it allows.
    pub image_tags: Vec<String>,
}

impl AllowedImage {
    /// Checks an entry: a name the OCI grammar reads without a tag or
    /// digest, and 1 to [`MAX_TAGS`] tags, each `*`, a tag or a digest.
    pub fn parse(image_name: &str, image_tags: &[String]) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let image_name = image_name.trim().to_ascii_lowercase();
        let normalized = match ImageRef::parse(&image_name) {
            Ok(image) if image.digest().is_some() || !has_port_only(&image_name) => {
                errors.push(
                    "image_name",
                    "must name the image without a tag or digest; list tags in image_tags",
                );
                None
            }
            Ok(image) => Some(normalized(&image)),
            Err(error) => {
                errors.push("image_name", &error.to_string());
                None
            }
        };
        if image_tags.is_empty() || image_tags.len() > MAX_TAGS {
            errors.push(
                "image_tags",
                &format!("must list 1 to {MAX_TAGS} tags (`*` allows every tag)"),
            );
        }
        for tag in image_tags {
            if !is_tag(tag) {
                errors.push(
                    "image_tags",
                    &format!("`{tag}` is neither `*`, a tag nor a digest (sha256:…)"),
                );
            }
        }
        match normalized {
            Some(normalized) if errors.0.is_empty() => Ok(Self {
                image_name,
                normalized,
                image_tags: image_tags.to_vec(),
            }),
            _ => Err(errors),
        }
    }
}

/// Whether `name` has no tag: no colon, or only a registry's port
/// (`host:5000/app`).
fn has_port_only(name: &str) -> bool {
    match name.rsplit_once(':') {
        Some((_, after)) => after.contains('/'),
        None => true,
    }
}

/// `registry/repository` of an image, what entries are matched on.
pub fn normalized(image: &ImageRef) -> String {
    format!("{}/{}", image.registry(), image.repository())
}

/// Whether `tags` (the union of the entries for an image's name) allow
/// `image`.
pub fn tags_allow(tags: &[String], image: &ImageRef) -> bool {
    tags.iter().any(|tag| {
        tag == ANY_TAG || image.tag() == Some(tag.as_str()) || image.digest() == Some(tag.as_str())
    })
}

/// Why a deploy's image is refused by the allow-list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageNotAllowed {
    /// Not a reference at all (validation refuses it first).
    #[error("{0}")]
    Invalid(#[from] ImageRefError),
    /// No entry names the image.
    #[error(
        "the image {normalized} is not on the list of allowed images (GET /system/allowed-images)"
    )]
    NotListed {
        /// The image's normalized name.
        normalized: String,
    },
    /// An entry names the image, not its tag.
    #[error(
        "the image {normalized} is on the list of allowed images, but not its tag {tag} (allowed: {allowed})"
    )]
    TagNotListed {
        /// The image's normalized name.
        normalized: String,
        /// Its tag or digest.
        tag: String,
        /// The tags the list allows, comma-separated.
        allowed: String,
    },
}

fn is_tag(tag: &str) -> bool {
    if tag == ANY_TAG {
        return true;
    }
    if let Some(hex) = tag.strip_prefix("sha256:") {
        return hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn an_entry_names_an_image_without_its_tag_and_lists_tags() {
        let entry = AllowedImage::parse("Contaxy/Busybox", &tags(&["*"])).expect("valid");
        assert_eq!(entry.image_name, "contaxy/busybox");
        assert_eq!(entry.normalized, "docker.io/contaxy/busybox");
        let entry =
            AllowedImage::parse("registry.example:5000/app", &tags(&["1.0"])).expect("valid");
        assert_eq!(entry.normalized, "registry.example:5000/app");
        for (name, list) in [
            ("busybox:1.36", vec!["*"]),
            (
                "busybox@sha256:0123456789012345678901234567890123456789012345678901234567890123",
                vec!["*"],
            ),
            ("busybox", vec![]),
            ("busybox", vec!["no spaces"]),
            ("", vec!["*"]),
        ] {
            assert!(
                AllowedImage::parse(name, &tags(&list)).is_err(),
                "{name} {list:?}"
            );
        }
    }

    #[test]
    fn an_image_matches_by_normalized_name_and_tag() {
        let image = ImageRef::parse("busybox:1.36").expect("valid");
        assert_eq!(normalized(&image), "docker.io/library/busybox");
        assert!(tags_allow(&tags(&["*"]), &image));
        assert!(tags_allow(&tags(&["1.35", "1.36"]), &image));
        assert!(!tags_allow(&tags(&["1.35"]), &image));
        let digest = "sha256:0123456789012345678901234567890123456789012345678901234567890123";
        let pinned = ImageRef::parse(&format!("busybox@{digest}")).expect("valid");
        assert!(tags_allow(&tags(&[digest]), &pinned));
        assert!(!tags_allow(&tags(&["1.36"]), &pinned));
    }
}
