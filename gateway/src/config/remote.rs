//! Split mode's settings: where the cloud is and the service token the gateway calls it with.

use std::collections::HashMap;
use std::time::Duration;

use super::{ConfigError, Secret};
use cowork_cloud::config::reader::{env_get, env_integer};
use cowork_cloud_client::http::{ClientError, CloudClient};

/// The cloud `open-cowork-gateway serve` talks to.
#[derive(Clone, Debug)]
pub struct RemoteCloud {
    /// `OPEN_COWORK_CLOUD_BASE_URL` (Open Cowork's name) or `OPEN_COWORK_GATEWAY_CLOUD_URL`.
    pub base_url: String,
    /// `OPEN_COWORK_GATEWAY_SERVICE_TOKEN`: a gateway-scoped API token.
    pub service_token: Secret,
    /// `OPEN_COWORK_GATEWAY_CLOUD_REQUEST_TIMEOUT_MS` (default 30 s, 100 ms – 120 s, 0 = none).
    pub request_timeout: Duration,
    /// `OPEN_COWORK_GATEWAY_ALLOW_INSECURE_HTTP`: plain http to a cloud that is not loopback.
    pub allow_insecure_http: bool,
    /// `OPEN_COWORK_GATEWAY_DELIVERY_CLAIM_TTL_MS`: how long a claim on one of the cloud's
    /// deliveries lasts between renewals (default 120 s, 1 s – 1 h).
    pub delivery_claim_ttl: Duration,
    /// `OPEN_COWORK_GATEWAY_MAX_DELIVERY_QUEUE_DEPTH`: the most cloud deliveries held claimed at
    /// once (default 512, 16 – 100,000); beyond it the gateway stops taking more.
    pub max_delivery_claims: usize,
}

impl RemoteCloud {
    /// Reads the settings; the URL and the token are required.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let base_url = env_get(env, "OPEN_COWORK_CLOUD_BASE_URL")
            .or_else(|| env_get(env, "OPEN_COWORK_GATEWAY_CLOUD_URL"))
            .ok_or_else(|| {
                ConfigError::invalid("OPEN_COWORK_CLOUD_BASE_URL", "is required by `serve` (the cloud's URL)")
            })?
            .to_owned();
        let service_token = env_get(env, "OPEN_COWORK_GATEWAY_SERVICE_TOKEN")
            .map(|token| Secret::new(token.to_owned()))
            .ok_or_else(|| {
                ConfigError::invalid("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", "is required by `serve` (a gateway token)")
            })?;
        let request_timeout = match env_integer(env, "OPEN_COWORK_GATEWAY_CLOUD_REQUEST_TIMEOUT_MS", 0..=120_000)? {
            Some(0) => Duration::ZERO,
            Some(ms) => Duration::from_millis(ms.max(100)),
            None => cowork_cloud_client::http::DEFAULT_REQUEST_TIMEOUT,
        };
        let allow_insecure_http = match env_get(env, "OPEN_COWORK_GATEWAY_ALLOW_INSECURE_HTTP") {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(_) => {
                return Err(ConfigError::invalid("OPEN_COWORK_GATEWAY_ALLOW_INSECURE_HTTP", "must be true or false"));
            }
        };
        let delivery_claim_ttl = Duration::from_millis(
            env_integer(env, "OPEN_COWORK_GATEWAY_DELIVERY_CLAIM_TTL_MS", 1_000..=3_600_000)?.unwrap_or(120_000),
        );
        let max_delivery_claims =
            env_integer(env, "OPEN_COWORK_GATEWAY_MAX_DELIVERY_QUEUE_DEPTH", 16..=100_000)?.unwrap_or(512);
        let remote = Self {
            base_url,
            service_token,
            request_timeout,
            allow_insecure_http,
            delivery_claim_ttl,
            max_delivery_claims: usize::try_from(max_delivery_claims).unwrap_or(usize::MAX),
        };
        remote.client().map_err(|error| ConfigError::invalid("OPEN_COWORK_CLOUD_BASE_URL", &error.to_string()))?;
        Ok(remote)
    }

    /// The HTTP client these settings describe.
    pub fn client(&self) -> Result<CloudClient, ClientError> {
        CloudClient::new(&self.base_url, self.service_token.expose(), self.request_timeout, self.allow_insecure_http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut all = HashMap::from([
            ("OPEN_COWORK_CLOUD_BASE_URL".to_owned(), "http://127.0.0.1:8787".to_owned()),
            ("OPEN_COWORK_GATEWAY_SERVICE_TOKEN".to_owned(), "occ_x_y".to_owned()),
        ]);
        all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        all
    }

    #[test]
    fn delivery_claims_default_to_two_minutes_and_512_at_once() {
        let remote = RemoteCloud::from_env(&env(&[])).expect("valid");
        assert_eq!((remote.delivery_claim_ttl, remote.max_delivery_claims), (Duration::from_secs(120), 512));
        let tuned = env(&[
            ("OPEN_COWORK_GATEWAY_DELIVERY_CLAIM_TTL_MS", "5000"),
            ("OPEN_COWORK_GATEWAY_MAX_DELIVERY_QUEUE_DEPTH", "16"),
        ]);
        let remote = RemoteCloud::from_env(&tuned).expect("valid");
        assert_eq!((remote.delivery_claim_ttl, remote.max_delivery_claims), (Duration::from_secs(5), 16));
        for (name, value) in [
            ("OPEN_COWORK_GATEWAY_DELIVERY_CLAIM_TTL_MS", "999"),
            ("OPEN_COWORK_GATEWAY_DELIVERY_CLAIM_TTL_MS", "soon"),
            ("OPEN_COWORK_GATEWAY_MAX_DELIVERY_QUEUE_DEPTH", "15"),
            ("OPEN_COWORK_GATEWAY_MAX_DELIVERY_QUEUE_DEPTH", "100001"),
        ] {
            let error = RemoteCloud::from_env(&env(&[(name, value)])).expect_err(value).to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
