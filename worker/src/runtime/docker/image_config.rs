//! An image's own configuration (what `…/services:suggest-config` suggests
//! from): the image is pulled if it is not in the local store, as a deploy
//! would, then inspected.

use contaxy_common::domain::ImageRef;
use contaxy_common::image_config::ImageConfig;

use super::DockerRuntime;
use super::errors::classify;
use crate::runtime::RuntimeError;

impl DockerRuntime {
    /// The configuration `image` carries.
    pub(super) async fn inspect_image_config(
        &self,
        image: &str,
    ) -> Result<ImageConfig, RuntimeError> {
        // The API validated it; the local-registry rule holds here too.
        ImageRef::parse(image)
            .map_err(|e| RuntimeError::invalid("container_image", e.to_string()))?;
        self.ensure_image(image).await?;
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| classify("inspect image", image, e))?;
        let config = inspected.config.unwrap_or_default();
        let env = config
            .env
            .unwrap_or_default()
            .into_iter()
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect();
        Ok(ImageConfig {
            exposed_ports: config.exposed_ports.unwrap_or_default(),
            volumes: config.volumes.unwrap_or_default(),
            env,
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            entrypoint: config.entrypoint.unwrap_or_default(),
            cmd: config.cmd.unwrap_or_default(),
        })
    }
}
