//! The benches' client of the API: JSON in and out, as the bootstrap
//! admin. Shared by the benches that drive the API (included with
//! `#[path]`: the bench crate has no library).

use anyhow::bail;
use serde_json::Value;

/// Where the API listens and the token it is called with.
pub struct ApiClient {
    /// The HTTP client (its connection pool is shared by every call).
    pub http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    /// The bootstrap admin token.
    pub admin: String,
}

impl ApiClient {
    /// The URL of `path` on the API.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body`; the answer's JSON, or an error naming a non-2xx
    /// status and its problem body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// GETs `path`; the answer's JSON, whatever its status.
    #[allow(dead_code)]
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(self.url(path))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .json()
            .await?)
    }
}
