//! The demo calls the service over HTTP, exactly as its callers do.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: String) -> ApiClient {
        ApiClient { base, http: reqwest::Client::new() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A JSON call; the answer's status and JSON body (null when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("calling {path}"))?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A call that must answer `expected`; its JSON body.
    pub async fn expect(
        &self,
        expected: StatusCode,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method.clone(), path, token, body).await?;
        anyhow::ensure!(status == expected, "{method} {path} answered {status}: {answer}");
        Ok(answer)
    }

    /// Uploads a file's bytes; the status, the answer's headers and its body.
    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("uploading to {path}"))?;
        let (status, headers) = (response.status(), response.headers().clone());
        Ok((status, headers, response.bytes().await?.to_vec()))
    }

    /// `/metrics` as text.
    pub async fn metrics(&self, admin: &str) -> anyhow::Result<String> {
        let response = self.http.get(format!("{}/metrics", self.base)).bearer_auth(admin).send().await?;
        Ok(response.text().await?)
    }
}
