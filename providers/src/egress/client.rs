//! The pinned HTTP POST: connects only to the addresses the policy validated (no second DNS
//! lookup, no proxy), keeps the host name for TLS SNI and certificate checks, never follows a
//! redirect and reads at most a capped number of body bytes.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::redirect::Policy;

use super::{CheckedUrl, EgressError, EgressRequest, EgressResponse};

/// The resolver behind the pinned addresses: any lookup reaching it is refused, so a request
/// can never connect anywhere the policy did not validate.
struct NoLookup;

impl Resolve for NoLookup {
    fn resolve(&self, name: Name) -> Resolving {
        let message = format!("unpinned DNS lookup of {} refused", name.as_str());
        Box::pin(std::future::ready(Err(message.into())))
    }
}

/// POSTs `request` to the checked URL. One small client per call: no pooled connection can
/// outlive the addresses it was validated for. The connector tries the validated addresses in
/// order, each with its share of `timeout`; the caller bounds the whole call.
pub(crate) async fn post(
    checked: &CheckedUrl,
    request: EgressRequest,
    max_response_bytes: usize,
    timeout: Duration,
) -> Result<EgressResponse, EgressError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(NoLookup))
        .connect_timeout(timeout)
        .pool_max_idle_per_host(0);
    if let Some(name) = checked.pinned_name() {
        builder = builder.resolve_to_addrs(name, checked.addresses());
    }
    let client = builder.build().map_err(|error| EgressError::Http(describe(error)))?;

    let mut headers = request.headers;
    for name in [HOST, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION] {
        headers.remove(name);
    }
    let mut response =
        client.post(checked.url().clone()).headers(headers).body(request.body).send().await.map_err(transport)?;

    let status = response.status();
    if status.is_redirection() {
        return Err(EgressError::Redirect(status.as_u16()));
    }
    if response.content_length().is_some_and(|length| length > max_response_bytes as u64) {
        return Err(EgressError::ResponseTooLarge(max_response_bytes));
    }
    let headers = response.headers().clone();
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > max_response_bytes {
            return Err(EgressError::ResponseTooLarge(max_response_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(EgressResponse { status: status.as_u16(), headers, body: body.freeze() })
}

/// Connection, timeout, send and body-read failures may pass; a request that cannot even be
/// built cannot.
fn transport(error: reqwest::Error) -> EgressError {
    let retryable = error.is_timeout() || error.is_connect() || error.is_request() || error.is_body();
    let message = describe(error);
    if retryable { EgressError::Temporary(message) } else { EgressError::Http(message) }
}

/// The error and its causes, without the URL (which may carry a secret path or query).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
