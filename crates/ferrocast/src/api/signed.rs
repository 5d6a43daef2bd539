//! The signed-request extractor: every `/apps/{id}/…` call proves it knows the app's secret the
//! way Pusher defines it (auth_key, auth_timestamp within 600 s, auth_version 1.0, body_md5,
//! auth_signature over `METHOD\nPATH\nsorted query`), checked in constant time.

use axum::extract::{FromRequest, RawPathParams, Request};
use bytes::Bytes;
use ferrocast_protocol::signature;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use super::error::ApiError;
use crate::apps::{App, Apps};
use crate::state::Shared;

/// How far `auth_timestamp` may be from the server's clock.
pub const TIMESTAMP_WINDOW_SECS: u64 = 600;

/// A request whose signature checked out, with its app, query and body.
pub struct Signed {
    pub app: Arc<App>,
    pub params: Vec<(String, String)>,
    pub body: Bytes,
}

impl Signed {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::InvalidJson(e.to_string()))
    }
}

impl FromRequest<Shared> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, shared: &Shared) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let path_app_id = {
            use axum::extract::FromRequestParts;
            let params = RawPathParams::from_request_parts(&mut parts, shared)
                .await
                .ok();
            params.and_then(|p| {
                p.iter()
                    .find(|(k, _)| *k == "app_id")
                    .map(|(_, v)| v.to_owned())
            })
        };
        let limit = shared.config.max_request_kb * 1024;
        let body = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ApiError::RequestTooLarge(limit))?;
        let request = RequestToVerify {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            body: &body,
            path_app_id: path_app_id.as_deref(),
        };
        let (app, params) = request.verify(shared.apps.as_ref(), crate::clock::unix_now())?;
        Ok(Self { app, params, body })
    }
}

/// A verified request's app and its decoded query parameters.
pub type Verified = (Arc<App>, Vec<(String, String)>);

/// The parts of a request the signature covers.
pub struct RequestToVerify<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    pub path_app_id: Option<&'a str>,
}

impl RequestToVerify<'_> {
    /// Checks the request against the app its `auth_key` names, at unix time `now`.
    pub fn verify(&self, apps: &Apps, now: u64) -> Result<Verified, ApiError> {
        let params: Vec<(String, String)> = form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &'static str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or(ApiError::MissingParam(name))
        };
        let key = get("auth_key")?;
        let timestamp = get("auth_timestamp")?;
        let given_signature = get(signature::SIGNATURE_PARAM)?;
        if get("auth_version")? != "1.0" {
            return Err(ApiError::BadAuthVersion);
        }
        let ts: u64 = timestamp
            .parse()
            .map_err(|_| ApiError::ExpiredTimestamp(TIMESTAMP_WINDOW_SECS))?;
        if ts.abs_diff(now) > TIMESTAMP_WINDOW_SECS {
            return Err(ApiError::ExpiredTimestamp(TIMESTAMP_WINDOW_SECS));
        }
        match params.iter().find(|(k, _)| k == "body_md5") {
            Some((_, md5)) if *md5 != signature::body_md5(self.body) => {
                return Err(ApiError::BodyMd5Mismatch)
            }
            None if !self.body.is_empty() => return Err(ApiError::MissingParam("body_md5")),
            _ => {}
        }
        let app = apps.by_key(key).ok_or(ApiError::UnknownKey)?;
        let query =
            signature::canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let signed_path = |path: &str| {
            let to_sign = signature::api_string_to_sign(self.method, path, &query);
            app.config().any_secret(now, |secret| {
                signature::verify(secret, &to_sign, given_signature)
            })
        };
        // For SDKs that sign the unescaped path but send it escaped.
        let decoded = crate::url_parts::percent_decode(self.path);
        if !signed_path(self.path) && (decoded == self.path || !signed_path(&decoded)) {
            return Err(ApiError::InvalidSignature);
        }
        if let Some(id) = self.path_app_id {
            if id != app.id {
                return Err(ApiError::AppNotFound(id.to_owned()));
            }
        }
        if !app.config().enabled {
            return Err(ApiError::AppDisabled);
        }
        Ok((app, params))
    }
}

#[cfg(test)]
mod tests;
