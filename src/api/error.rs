//! The API's one error type, its HTTP status and its JSON body
//! `{"error": {"code", "message", "message_zh"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::queue::StoreError;

/// Everything that can go wrong answering a request, or setting the API up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No credentials, or credentials nobody is configured with (401).
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// The user's role does not allow this (403).
    #[error("role {role} may not {action}")]
    Forbidden {
        /// The user's role.
        role: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// No such incident, or one outside the user's units (404).
    #[error("incident {0} not found")]
    NotFound(i64),
    /// No such route (404).
    #[error("no route {0}")]
    NoRoute(String),
    /// The method is not allowed on this route (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A query parameter or path segment is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// The body is not JSON (400).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// The body is JSON of the wrong shape: unknown field, wrong type,
    /// missing or invalid value (422).
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// The body is larger than the limit (413).
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not `application/json` (415).
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// The lifecycle does not allow this action now (409).
    #[error("{0}")]
    Conflict(String),
    /// The request took longer than the limit (503).
    #[error("request timed out")]
    Timeout,
    /// The store is busy or unavailable (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// No reload hook was given to the API, or the daemon did not answer (503).
    #[error("reload unavailable: {0}")]
    ReloadUnavailable(&'static str),
    /// The daemon refused the reload, e.g. the new config is invalid (422).
    #[error("reload failed: {0}")]
    ReloadFailed(String),
    /// The store failed (500).
    #[error(transparent)]
    Store(StoreError),
    /// An internal failure, not caused by the request (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// Setting the API up: a certificate or key could not be used.
    #[error("{path}: {reason}")]
    Tls {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Setting the API up: the store could not be opened.
    #[error("incident store: {0}")]
    Open(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ApiError::NotFound(id),
            StoreError::Transition(t) => ApiError::Conflict(t.to_string()),
            StoreError::BadArgument(m) => ApiError::InvalidBody(m),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                ApiError::Unavailable("the store is busy".into())
            }
            other => ApiError::Store(other),
        }
    }
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) | ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody(_) | ApiError::ReloadFailed(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Timeout | ApiError::Unavailable(_) | ApiError::ReloadUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_)
            | ApiError::Internal(_)
            | ApiError::Tls { .. }
            | ApiError::Open(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute(_) => "no_route",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::TooLarge(_) => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Conflict(_) => "invalid_transition",
            ApiError::Timeout => "timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::ReloadUnavailable(_) => "reload_unavailable",
            ApiError::ReloadFailed(_) => "reload_failed",
            ApiError::Store(_) | ApiError::Open(_) => "store_error",
            ApiError::Internal(_) | ApiError::Tls { .. } => "internal",
        }
    }

    /// The Chinese message for staff.
    pub fn message_zh(&self) -> String {
        match self {
            ApiError::Unauthenticated(_) => "需要身份认证（Bearer 令牌或客户端证书）".into(),
            ApiError::Forbidden { .. } => "当前角色无权执行此操作".into(),
            ApiError::NotFound(id) => format!("未找到事件 {id}"),
            ApiError::NoRoute(_) => "接口不存在".into(),
            ApiError::MethodNotAllowed => "该接口不支持此请求方法".into(),
            ApiError::BadRequest(m) => format!("请求参数错误：{m}"),
            ApiError::MalformedJson(_) => "请求体不是合法的 JSON".into(),
            ApiError::InvalidBody(m) => format!("请求内容无效：{m}"),
            ApiError::TooLarge(n) => format!("请求体超过 {n} 字节上限"),
            ApiError::UnsupportedMediaType => "请求体类型必须为 application/json".into(),
            ApiError::Conflict(m) => m.clone(),
            ApiError::Timeout => "请求超时".into(),
            ApiError::Unavailable(_) => "事件库暂时不可用，请稍后重试".into(),
            ApiError::ReloadUnavailable(_) => "无法重新加载配置（守护进程未响应）".into(),
            ApiError::ReloadFailed(m) => format!("重新加载配置失败：{m}"),
            ApiError::Store(_) | ApiError::Open(_) => "事件库错误".into(),
            ApiError::Internal(_) | ApiError::Tls { .. } => "内部错误".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "code": self.code(),
            "message": self.to_string(),
            "message_zh": self.message_zh(),
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), "api: {self}");
        }
        let mut resp = (status, axum::Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"zoneguard\""),
            );
        }
        resp
    }
}
