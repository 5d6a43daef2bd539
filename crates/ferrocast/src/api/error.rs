//! Every way an API request can fail, each with a fixed HTTP status and a stable code, answered
//! as `{"error": message, "code": code}`. The list is mirrored in docs/errors.md.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_protocol::api::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Missing query parameter {0}")]
    MissingParam(&'static str),
    #[error("Unknown auth_key")]
    UnknownKey,
    #[error("auth_version must be 1.0")]
    BadAuthVersion,
    #[error("auth_timestamp must be within {0} seconds of the server's clock")]
    ExpiredTimestamp(u64),
    #[error("body_md5 does not match the request body")]
    BodyMd5Mismatch,
    #[error(
        "Invalid signature: expected HMAC-SHA256 hex digest of the request as Pusher signs it"
    )]
    InvalidSignature,
    #[error("No app with id {0:?} for this auth_key")]
    AppNotFound(String),
    #[error("App is disabled")]
    AppDisabled,
    #[error("Invalid JSON body: {0}")]
    InvalidJson(String),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("Request body is larger than {0} bytes")]
    RequestTooLarge(usize),
    #[error("Not found")]
    NotFound,
    #[error("Method not allowed on this path")]
    MethodNotAllowed,
    #[error("Rate limit exceeded: at most {0} per second")]
    RateLimited(u32),
    #[error("Too many connections are being set up; retry shortly")]
    Busy,
    #[error("This path takes WebSocket connections only")]
    UpgradeRequired,
    #[error("Missing or wrong admin token")]
    AdminUnauthorized,
    #[error("Invalid {field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("An app with this {field} already exists")]
    Conflict { field: &'static str },
    #[error("The app store is read-only (apps come from the configuration file)")]
    ReadOnlyStore,
    #[error("The app store is unavailable; retry later")]
    StoreUnavailable,
    #[error("Dashboard requests that change something must come from the dashboard's own origin")]
    CrossOrigin,
    #[error("Channel history is unavailable; retry later ({0})")]
    HistoryUnavailable(String),
    #[error("The webhook queue is unavailable; retry later")]
    QueueUnavailable,
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingParam(_)
            | Self::UnknownKey
            | Self::BadAuthVersion
            | Self::ExpiredTimestamp(_)
            | Self::BodyMd5Mismatch
            | Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::AppDisabled | Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::AppNotFound(_) | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy
            | Self::StoreUnavailable
            | Self::HistoryUnavailable(_)
            | Self::QueueUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::AdminUnauthorized => StatusCode::UNAUTHORIZED,
            Self::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Self::InvalidField { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } | Self::ReadOnlyStore => StatusCode::CONFLICT,
            Self::InvalidJson(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) | Self::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingParam(_) => "missing_auth_parameter",
            Self::UnknownKey => "invalid_auth_key",
            Self::BadAuthVersion => "invalid_auth_version",
            Self::ExpiredTimestamp(_) => "expired_timestamp",
            Self::BodyMd5Mismatch => "body_md5_mismatch",
            Self::InvalidSignature => "invalid_signature",
            Self::AppNotFound(_) => "app_not_found",
            Self::AppDisabled => "app_disabled",
            Self::InvalidJson(_) => "invalid_json",
            Self::BadRequest { code, .. } => code,
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::RequestTooLarge(_) => "request_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited(_) => "rate_limited",
            Self::Busy => "busy",
            Self::UpgradeRequired => "upgrade_required",
            Self::AdminUnauthorized => "invalid_admin_token",
            Self::InvalidField { .. } => "invalid_field",
            Self::Conflict { .. } => "conflict",
            Self::ReadOnlyStore => "read_only_store",
            Self::StoreUnavailable => "store_unavailable",
            Self::CrossOrigin => "cross_origin",
            Self::HistoryUnavailable(_) => "history_unavailable",
            Self::QueueUnavailable => "webhook_queue_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let field = match &self {
            Self::InvalidField { field, .. } => Some(field.clone()),
            Self::Conflict { field } => Some((*field).to_owned()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.to_string(),
            code: self.code().to_owned(),
            field,
        };
        let mut resp = (self.status(), Json(body)).into_response();
        if matches!(
            self,
            Self::RateLimited(_) | Self::Busy | Self::HistoryUnavailable(_)
        ) {
            let retry = axum::http::HeaderValue::from_static("1");
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the API can answer with, including those built with `ApiError::bad`, is
    /// listed in docs/errors.md with its status.
    #[test]
    fn every_code_is_documented_with_its_status() {
        let doc = include_str!("../../../../docs/errors.md");
        let fixed = [
            ApiError::MissingParam("auth_key"),
            ApiError::UnknownKey,
            ApiError::BadAuthVersion,
            ApiError::ExpiredTimestamp(600),
            ApiError::BodyMd5Mismatch,
            ApiError::InvalidSignature,
            ApiError::AppNotFound("x".into()),
            ApiError::AppDisabled,
            ApiError::InvalidJson("x".into()),
            ApiError::PayloadTooLarge("x".into()),
            ApiError::RequestTooLarge(1),
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::RateLimited(1),
            ApiError::Busy,
            ApiError::AdminUnauthorized,
            ApiError::InvalidField {
                field: "x".into(),
                reason: "y".into(),
            },
            ApiError::Conflict { field: "key" },
            ApiError::ReadOnlyStore,
            ApiError::StoreUnavailable,
            ApiError::CrossOrigin,
            ApiError::HistoryUnavailable("x".into()),
            ApiError::QueueUnavailable,
        ];
        for e in fixed {
            let row = format!("| {} | `{}` |", e.status().as_u16(), e.code());
            assert!(doc.contains(&row), "docs/errors.md lacks {row}");
        }
        let sources = [
            include_str!("events.rs"),
            include_str!("channels.rs"),
            include_str!("history.rs"),
        ];
        for src in sources {
            for part in src.split("ApiError::bad(\"").skip(1) {
                let code = part.split('"').next().unwrap_or_default();
                let row = format!("| 400 | `{code}` |");
                assert!(doc.contains(&row), "docs/errors.md lacks {row}");
            }
        }
    }
}
