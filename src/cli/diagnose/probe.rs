//! `diagnose --probe`: the runbook's `curl -I` of an HTTP backend. Without the flag diagnose
//! never sends a request to a backend, since that is traffic the backend's owners did not ask for.

use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::core::model::error_chain;

/// What one HEAD request to a backend got.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub url: String,
    /// The HTTP status, when the backend answered.
    pub status: Option<u16>,
    pub elapsed_ms: u64,
    /// How long API Gateway waits for this backend (the integration timeout); the probe waits
    /// as long.
    pub timeout_ms: u64,
    /// Why no status came back: a timeout, a refused connection, a TLS or DNS failure.
    pub error: Option<String>,
}

impl Probe {
    /// No answer within the integration timeout: what API Gateway turns into a 504.
    pub fn timed_out(&self) -> bool {
        self.status.is_none() && self.elapsed_ms >= self.timeout_ms
    }
}

/// The URL to probe for an HTTP integration URI, or `None` when its host is only known at
/// request time (a stage variable). A templated path (`/{proxy+}`) is cut at its first
/// parameter, since the probe has no value for it.
pub fn url_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    if rest[..host_end].contains(['{', '$']) || host_end == 0 {
        return None;
    }
    let url = match rest.find(['{', '$']) {
        Some(at) => &rest[..=rest[..at].rfind('/')?],
        None => rest,
    };
    let slash = if url.len() == host_end { "/" } else { "" };
    Some(format!("{scheme}://{url}{slash}"))
}

/// Sends HEAD to each `(url, timeout)`, one after another, and reports what came back.
pub async fn probe_all(targets: &[(String, Duration)]) -> Vec<Probe> {
    if targets.is_empty() {
        return Vec::new();
    }
    let connector = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder.https_or_http().enable_http1().build(),
        Err(err) => {
            let error = format!("no CA certificates to verify backends with: {err}");
            return targets
                .iter()
                .map(|(url, timeout)| Probe {
                    url: url.clone(),
                    status: None,
                    elapsed_ms: 0,
                    timeout_ms: millis(*timeout),
                    error: Some(error.clone()),
                })
                .collect();
        }
    };
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
    let mut probes = Vec::with_capacity(targets.len());
    for (url, timeout) in targets {
        let started = Instant::now();
        let request = hyper::Request::head(url.as_str())
            .header(hyper::header::USER_AGENT, "apigw-guard-diagnose")
            .body(String::new());
        let outcome = match request {
            Err(err) => Err(format!("not a valid URL: {err}")),
            Ok(request) => match tokio::time::timeout(*timeout, client.request(request)).await {
                Ok(Ok(response)) => Ok(response.status().as_u16()),
                Ok(Err(err)) => Err(error_chain(&err)),
                Err(_) => Err(format!("no answer within {} ms", millis(*timeout))),
            },
        };
        let (status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        probes.push(Probe {
            url: url.clone(),
            status,
            elapsed_ms: millis(started.elapsed()),
            timeout_ms: millis(*timeout),
            error,
        });
    }
    probes
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_uri_is_probed_as_is() {
        assert_eq!(
            url_of("https://backend.example.com/health").as_deref(),
            Some("https://backend.example.com/health")
        );
        assert_eq!(
            url_of("http://10.0.0.5:8080").as_deref(),
            Some("http://10.0.0.5:8080/")
        );
    }

    #[test]
    fn a_templated_path_is_cut_at_its_first_parameter() {
        assert_eq!(
            url_of("https://backend.example.com/orders/{id}/items").as_deref(),
            Some("https://backend.example.com/orders/")
        );
        assert_eq!(
            url_of("https://backend.example.com/{proxy}").as_deref(),
            Some("https://backend.example.com/")
        );
        assert_eq!(
            url_of("https://backend.example.com/${stageVariables.path}").as_deref(),
            Some("https://backend.example.com/")
        );
    }

    #[test]
    fn a_host_from_a_stage_variable_or_no_url_is_not_probed() {
        assert_eq!(url_of("https://${stageVariables.host}/health"), None);
        assert_eq!(
            url_of("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/x/invocations"),
            None
        );
        assert_eq!(url_of("https:///health"), None);
    }
}
