//! Admin authentication of the operator API, declared once as a route layer: the admin token as
//! `Authorization: Bearer <token>` or `x-open-cowork-gateway-admin-token: <token>`, compared in
//! constant time; or, with no token configured, the loopback operator bypass.
//!
//! The bypass applies only when all of these hold (Open Cowork's rules): it is enabled, the
//! gateway binds to loopback and has no public URL (checked at startup), the request carries no
//! `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host` or `X-Forwarded-Proto` header, its peer
//! address is loopback (an unknown peer fails closed), and its `Host` is a loopback name.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::OperatorError;
use crate::config::{GatewayConfig, Secret};

/// The header alternative to `Authorization: Bearer`.
pub const ADMIN_TOKEN_HEADER: &str = "x-open-cowork-gateway-admin-token";

/// Headers that mean a proxy stands between the client and us.
const FORWARDING_HEADERS: [&str; 4] = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];

/// Who may call the operator API.
#[derive(Clone, Debug, Default)]
pub struct AdminAuth {
    token: Option<Secret>,
    loopback_bypass: bool,
}

impl AdminAuth {
    /// From the configuration; the bypass needs a loopback bind and no public URL (startup
    /// validation refuses the setting otherwise; checked again here to fail closed).
    pub fn from_config(config: &GatewayConfig) -> Self {
        let operator = &config.operator;
        Self {
            token: operator.admin_token.clone(),
            loopback_bypass: operator.allow_loopback_bypass && !config.publicly_exposed(),
        }
    }

    /// Admits or refuses one request, given its headers and peer address.
    pub fn check(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Result<(), OperatorError> {
        if let Some(expected) = &self.token {
            let Some(presented) = presented_token(headers) else {
                return Err(OperatorError::Unauthorized(
                    "an admin token is required (Authorization: Bearer <token> or x-open-cowork-gateway-admin-token)",
                ));
            };
            // Constant time over the bytes; only the length can leak, and a token's length is no secret.
            return if bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())) {
                Ok(())
            } else {
                Err(OperatorError::Unauthorized("the admin token is not valid"))
            };
        }
        if !self.loopback_bypass {
            return Err(OperatorError::Unauthorized(
                "the admin token is not configured (set OPEN_COWORK_GATEWAY_ADMIN_TOKEN); operator routes are disabled",
            ));
        }
        if FORWARDING_HEADERS.iter().any(|name| headers.contains_key(*name)) {
            return Err(OperatorError::Unauthorized(
                "the loopback operator bypass does not apply to forwarded requests; use the admin token",
            ));
        }
        if !peer.is_some_and(|peer| peer.ip().is_loopback()) || !host_is_loopback(headers) {
            return Err(OperatorError::Unauthorized(
                "the loopback operator bypass only applies to requests from this machine; use the admin token",
            ));
        }
        Ok(())
    }
}

/// The route layer: runs [`AdminAuth::check`] before the handler.
pub(super) async fn require_admin(State(auth): State<Arc<AdminAuth>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    match auth.check(request.headers(), peer) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// The token from `x-open-cowork-gateway-admin-token`, else from `Authorization: Bearer`.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(ADMIN_TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(value.trim());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// True when `Host` names this machine: `localhost`, a loopback IP, with or without a port.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.chars().all(|c| c.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
