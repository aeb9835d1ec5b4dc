//! The route handlers, the authentication extractor and the guard that
//! bounds every request in time and turns every error into JSON.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use rusqlite::{Connection, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{ClientCert, Principal};
use super::server::PeerAddr;
use super::{ApiError, ApiState, OPENAPI};
use crate::config::ApiRole;
use crate::incident::cli::{detail_json, parse_time};
use crate::incident::{wall_now, Action, Grade, Status};
use crate::queue::{self, audit, Cursor, Filter, PageQuery};
use crate::time::Timestamp;

/// Default page size of the list.
const DEFAULT_LIMIT: u64 = 100;
/// Largest page size of the list.
const MAX_LIMIT: u64 = 1000;
/// Longest note, reason or comment (characters).
const MAX_TEXT_CHARS: usize = 4096;
/// Longest assignee name (characters).
const MAX_ASSIGNEE_CHARS: usize = 128;
/// Longest request path written to the audit log (characters).
const MAX_AUDIT_PATH: usize = 200;
/// Longest error text of a framework rejection kept in a JSON error.
const MAX_REJECTION_BYTES: usize = 1024;

type St = State<Arc<ApiState>>;

fn short(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Writes one audit record in its own write transaction.
fn audit_write(
    conn: &mut Connection,
    actor: &str,
    action: &str,
    incident: Option<i64>,
    detail: &str,
) -> Result<(), ApiError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| ApiError::from(queue::StoreError::from(e)))?;
    audit::append(&tx, wall_now().0, actor, action, incident, detail)?;
    tx.commit()
        .map_err(|e| ApiError::from(queue::StoreError::from(e)))?;
    Ok(())
}

impl ApiState {
    /// Who is calling: a bearer token if an `Authorization` header is
    /// present, else a mapped client certificate.
    fn authenticate(&self, parts: &Parts) -> Result<Principal, &'static str> {
        if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
            let token = super::auth::bearer(h.as_bytes())
                .ok_or("malformed Authorization header (expected Bearer)")?;
            return self.auth.by_token(token).ok_or("unknown token");
        }
        if let Some(cert) = parts.extensions.get::<ClientCert>() {
            return self
                .auth
                .by_cert(cert)
                .ok_or("client certificate not mapped to a user");
        }
        Err("no bearer token or client certificate")
    }

    /// Records a failed authentication (within the configured rate).
    async fn audit_failed_auth(&self, parts: &Parts, reason: &'static str) {
        self.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
        let Some(suppressed) = self.limiter.admit() else {
            return;
        };
        let peer = parts
            .extensions
            .get::<PeerAddr>()
            .map_or_else(|| "-".to_string(), |p| p.0.to_string());
        let cert = parts
            .extensions
            .get::<ClientCert>()
            .map(|c| format!(" cert {:?}", short(&c.subject, MAX_AUDIT_PATH)))
            .unwrap_or_default();
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path(), |u| u.0.path());
        let mut detail = format!(
            "{} {} from {peer}: {reason}{cert}",
            parts.method,
            short(path, MAX_AUDIT_PATH)
        );
        if suppressed > 0 {
            detail.push_str(&format!(" (+{suppressed} earlier failures not recorded)"));
        }
        self.audit("anonymous", "api.auth_failed", None, detail)
            .await;
    }

    /// Writes an audit record; a failure is logged and counted, never
    /// turned into a 5xx for the caller.
    async fn audit(
        &self,
        actor: &str,
        action: &'static str,
        incident: Option<i64>,
        detail: String,
    ) {
        let actor = actor.to_string();
        let r = self
            .pool
            .run(move |c| audit_write(c, &actor, action, incident, &detail))
            .await;
        if let Err(e) = r {
            self.stats.audit_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("api: audit record {action} not written: {e}");
        }
    }

    async fn audit_read(
        &self,
        p: &Principal,
        action: &'static str,
        incident: Option<i64>,
        detail: String,
    ) {
        if self.cfg.audit_reads {
            self.audit(&p.name, action, incident, detail).await;
        }
    }
}

impl FromRequestParts<Arc<ApiState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &Arc<ApiState>) -> Result<Self, ApiError> {
        match st.authenticate(parts) {
            Ok(p) => Ok(p),
            Err(reason) => {
                st.audit_failed_auth(parts, reason).await;
                Err(ApiError::Unauthenticated(reason))
            }
        }
    }
}

impl ApiState {
    /// Refuses (403) a caller whose role is below `role`; the refusal is
    /// audited (within the same rate as failed authentications).
    async fn require(
        &self,
        p: &Principal,
        role: ApiRole,
        action: &'static str,
    ) -> Result<(), ApiError> {
        if p.role >= role {
            return Ok(());
        }
        let e = ApiError::Forbidden {
            role: p.role.as_str(),
            action,
        };
        if let Some(suppressed) = self.limiter.admit() {
            let mut detail = e.to_string();
            if suppressed > 0 {
                detail.push_str(&format!(" (+{suppressed} earlier refusals not recorded)"));
            }
            self.audit(&p.name, "api.forbidden", None, detail).await;
        }
        Err(e)
    }
}

fn parse_id(s: &str) -> Result<i64, ApiError> {
    match s.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::BadRequest(format!(
            "incident id must be a positive integer, got {:?}",
            short(s, 40)
        ))),
    }
}

/// Bounds every request in time, counts it, and makes every error JSON
/// (the framework's own rejections, 404 and 405 included).
pub(super) async fn guard(State(st): St, req: Request, next: Next) -> Response {
    st.stats.requests.fetch_add(1, Ordering::Relaxed);
    let limit = Duration::from_secs(st.cfg.limits.request_timeout_secs);
    let resp = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => return ApiError::Timeout.into_response(),
    };
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), MAX_REJECTION_BYTES).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let e = match status {
        StatusCode::NOT_FOUND => ApiError::NoRoute(text),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(st.cfg.limits.max_body_bytes),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::InvalidBody(text),
        s if s.is_client_error() => {
            ApiError::BadRequest(if text.is_empty() { s.to_string() } else { text })
        }
        _ => ApiError::Internal(text),
    };
    let mut out = e.into_response();
    *out.status_mut() = status;
    out
}

/// Reads a JSON body of at most the configured size; an empty body reads
/// as `{}` when `empty_ok`.
async fn read_json<T: DeserializeOwned>(
    st: &ApiState,
    headers: &HeaderMap,
    body: Body,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let limit = st.cfg.limits.max_body_bytes;
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        let n = std::str::from_utf8(len.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if n.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::TooLarge(limit));
        }
    }
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::TooLarge(limit))
        }
        Err(e) => {
            return Err(ApiError::BadRequest(format!(
                "cannot read the request body: {e}"
            )))
        }
    };
    let blank = bytes.iter().all(u8::is_ascii_whitespace);
    if blank {
        if empty_ok {
            return serde_json::from_slice(b"{}").map_err(|e| ApiError::InvalidBody(e.to_string()));
        }
        return Err(ApiError::InvalidBody("a JSON body is required".into()));
    }
    let json_type = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        let essence = v.split(|b| *b == b';').next().unwrap_or(v);
        essence
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/json")
    });
    if !json_type {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::InvalidBody(e.to_string()),
        _ => ApiError::MalformedJson(e.to_string()),
    })
}

fn text_field(
    s: Option<String>,
    field: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match s {
        None if required => Err(ApiError::InvalidBody(format!("missing field `{field}`"))),
        None => Ok(None),
        Some(t) => {
            if t.chars().count() > max {
                return Err(ApiError::InvalidBody(format!(
                    "`{field}` is longer than {max} characters"
                )));
            }
            if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(ApiError::InvalidBody(format!(
                    "`{field}` contains control characters"
                )));
            }
            if required && t.trim().is_empty() {
                return Err(ApiError::InvalidBody(format!(
                    "`{field}` must not be empty"
                )));
            }
            Ok(Some(t))
        }
    }
}

/// `GET /api/v1/health`: no authentication; 200 when the store answers.
pub(super) async fn health(State(st): St) -> Result<Json<Value>, ApiError> {
    st.pool
        .run(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(|e| ApiError::Unavailable(e.to_string()))
        })
        .await?;
    Ok(Json(
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}

/// `GET /api/v1/openapi.json`: no authentication.
pub(super) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

/// `GET /api/v1/whoami`.
pub(super) async fn whoami(p: Principal) -> Json<Value> {
    Json(json!({"name": p.name, "role": p.role.as_str(), "units": p.units}))
}

/// Query of the list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    grade: Option<String>,
    unit: Option<String>,
    zone: Option<String>,
    category: Option<String>,
    since: Option<String>,
    until: Option<String>,
    open: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    cursor: Option<String>,
}

fn parse_cursor(s: &str) -> Option<Cursor> {
    let (ts, id) = s.split_once('_')?;
    Some(Cursor {
        last_seen: Timestamp(ts.parse().ok()?),
        id: id.parse().ok()?,
    })
}

fn cursor_string(c: &Cursor) -> String {
    format!("{}_{}", c.last_seen.0, c.id)
}

fn list_params(q: Option<String>, p: &Principal) -> Result<(Filter, PageQuery), ApiError> {
    let raw = q.unwrap_or_default();
    let lq: ListQuery = serde_urlencoded::from_str(&raw)
        .map_err(|e| ApiError::BadRequest(format!("query: {e}")))?;
    let bad = |k: &str, v: &str, want: &str| {
        ApiError::BadRequest(format!("{k}: {:?} is not {want}", short(v, 60)))
    };
    let mut f = Filter::default();
    if let Some(s) = &lq.status {
        f.status = Some(Status::parse(s).ok_or_else(|| {
            bad(
                "status",
                s,
                "new, acknowledged, in_progress, resolved or false_positive",
            )
        })?);
    }
    if let Some(g) = &lq.grade {
        f.min_grade = Some(Grade::parse(g).ok_or_else(|| bad("grade", g, "I, II, III or IV"))?);
    }
    f.unit = lq.unit.clone();
    f.zone = lq.zone.clone();
    for (k, v, slot) in [
        ("since", &lq.since, &mut f.since),
        ("until", &lq.until, &mut f.until),
    ] {
        if let Some(v) = v {
            *slot = Some(parse_time(v).map_err(|e| ApiError::BadRequest(format!("{k}: {e}")))?);
        }
    }
    if let Some(o) = &lq.open {
        f.open_only = match o.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad("open", o, "true or false")),
        };
    }
    let limit = match &lq.limit {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(bad("limit", l, "a number from 1 to 1000")),
        },
    };
    let offset = match &lq.offset {
        None => 0,
        Some(o) => o
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| bad("offset", o, "a non-negative number"))?,
    };
    let after = match &lq.cursor {
        None => None,
        Some(c) => {
            Some(parse_cursor(c).ok_or_else(|| bad("cursor", c, "a cursor from next_cursor"))?)
        }
    };
    if after.is_some() && offset > 0 {
        return Err(ApiError::BadRequest(
            "give either cursor or offset, not both".into(),
        ));
    }
    Ok((
        f,
        PageQuery {
            category: lq.category,
            scope: p.units.clone(),
            after,
            offset,
            limit,
        },
    ))
}

/// `GET /api/v1/incidents`: filters, pagination and the total.
pub(super) async fn list(
    State(st): St,
    p: Principal,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (f, pq) = list_params(q, &p)?;
    let now = wall_now();
    let (limit, offset) = (pq.limit, pq.offset);
    let (incs, total) = st.pool.run(move |c| Ok(queue::page(c, &f, &pq)?)).await?;
    let next = if incs.len() as u64 == limit {
        incs.last().map(|i| {
            cursor_string(&Cursor {
                last_seen: i.last_seen,
                id: i.id,
            })
        })
    } else {
        None
    };
    st.audit_read(&p, "api.list", None, format!("{} of {total}", incs.len()))
        .await;
    let arr: Vec<Value> = incs.iter().map(|i| i.to_json(now)).collect();
    Ok(Json(json!({
        "incidents": arr,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_cursor": next,
    })))
}

/// Loads an incident the caller may see (404 otherwise).
fn visible(c: &Connection, p: &Principal, id: i64) -> Result<crate::incident::Incident, ApiError> {
    let inc = queue::load(c, id)?;
    if p.sees(&inc) {
        Ok(inc)
    } else {
        Err(ApiError::NotFound(id))
    }
}

/// `GET /api/v1/incidents/{id}`: with evidence and timeline.
pub(super) async fn show(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let now = wall_now();
    let p2 = p.clone();
    let v = st
        .pool
        .run(move |c| {
            let inc = visible(c, &p2, id)?;
            Ok(detail_json(c, &inc, now)?)
        })
        .await?;
    st.audit_read(&p, "api.show", Some(id), String::new()).await;
    Ok(Json(v))
}

/// Performs `action` as the caller (whose role the handler has checked);
/// returns the incident with its timeline. `then_comment` is added as a comment in the same call
/// (`reopen` to new with a reason).
async fn act(
    st: &ApiState,
    p: &Principal,
    id: &str,
    action: Action,
    arg: Option<String>,
    then_comment: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id)?;
    let p2 = p.clone();
    let v = st
        .pool
        .run(move |c| {
            visible(c, &p2, id)?;
            let now = wall_now();
            queue::apply_action(c, id, action, &p2.name, arg.as_deref(), now)?;
            if let Some(text) = then_comment {
                queue::apply_action(c, id, Action::Comment, &p2.name, Some(&text), now)?;
            }
            let inc = queue::load(c, id)?;
            Ok(detail_json(c, &inc, now)?)
        })
        .await?;
    Ok(Json(v))
}

/// Body of ack, start, resolve and false-positive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    note: Option<String>,
}

async fn note_action(
    st: Arc<ApiState>,
    p: Principal,
    id: String,
    headers: HeaderMap,
    body: Body,
    action: Action,
) -> Result<Json<Value>, ApiError> {
    st.require(&p, ApiRole::Responder, action.as_str()).await?;
    let b: NoteBody = read_json(&st, &headers, body, true).await?;
    let note = text_field(b.note, "note", MAX_TEXT_CHARS, false)?;
    act(&st, &p, &id, action, note, None).await
}

/// `POST /api/v1/incidents/{id}/ack`.
pub(super) async fn ack(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Json<Value>, ApiError> {
    note_action(st, p, id, h, b, Action::Ack).await
}

/// `POST /api/v1/incidents/{id}/start`.
pub(super) async fn start(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Json<Value>, ApiError> {
    note_action(st, p, id, h, b, Action::Start).await
}

/// `POST /api/v1/incidents/{id}/resolve`.
pub(super) async fn resolve(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Json<Value>, ApiError> {
    note_action(st, p, id, h, b, Action::Resolve).await
}

/// `POST /api/v1/incidents/{id}/false-positive`.
pub(super) async fn false_positive(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Json<Value>, ApiError> {
    note_action(st, p, id, h, b, Action::FalsePositive).await
}

/// Body of assign.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    assignee: Option<String>,
}

/// `POST /api/v1/incidents/{id}/assign`.
pub(super) async fn assign(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Json<Value>, ApiError> {
    st.require(&p, ApiRole::Responder, "assign").await?;
    let body: AssignBody = read_json(&st, &h, b, false).await?;
    let who = text_field(body.assignee, "assignee", MAX_ASSIGNEE_CHARS, true)?;
    if who.as_deref().is_some_and(|w| w.contains(['\n', '\t'])) {
        return Err(ApiError::InvalidBody("`assignee` must be one line".into()));
    }
    act(&st, &p, &id, Action::Assign, who, None).await
}

/// Body of reopen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReopenBody {
    reason: Option<String>,
    to: Option<String>,
}

/// `POST /api/v1/incidents/{id}/reopen`: `reason` required; `to` is
/// `acknowledged` (default) or `new`.
pub(super) async fn reopen(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Json<Value>, ApiError> {
    st.require(&p, ApiRole::Responder, "reopen").await?;
    let body: ReopenBody = read_json(&st, &h, b, false).await?;
    let reason = text_field(body.reason, "reason", MAX_TEXT_CHARS, true)?;
    match body.to.as_deref() {
        None | Some("acknowledged") => {
            // `new` as the argument would mean "reopen to new".
            let reason = reason.map(|r| {
                if r == "new" {
                    format!("reason: {r}")
                } else {
                    r
                }
            });
            act(&st, &p, &id, Action::Reopen, reason, None).await
        }
        Some("new") => {
            let comment = reason.map(|r| format!("reopened: {r}"));
            act(&st, &p, &id, Action::Reopen, Some("new".into()), comment).await
        }
        Some(other) => Err(ApiError::InvalidBody(format!(
            "`to` must be acknowledged or new, got {:?}",
            short(other, 40)
        ))),
    }
}

/// Body of a comment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: Option<String>,
}

/// `POST /api/v1/incidents/{id}/comments`.
pub(super) async fn add_comment(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Response, ApiError> {
    st.require(&p, ApiRole::Responder, "comment").await?;
    let body: CommentBody = read_json(&st, &h, b, false).await?;
    let text = text_field(body.text, "text", MAX_TEXT_CHARS, true)?;
    let v = act(&st, &p, &id, Action::Comment, text, None).await?;
    Ok((StatusCode::CREATED, v).into_response())
}

/// `GET /api/v1/incidents/{id}/comments`.
pub(super) async fn comments(
    State(st): St,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let p2 = p.clone();
    let v = st
        .pool
        .run(move |c| {
            visible(c, &p2, id)?;
            Ok(queue::timeline(c, id)?
                .iter()
                .filter(|t| t.action == Action::Comment.as_str())
                .map(|t| t.to_json())
                .collect::<Vec<_>>())
        })
        .await?;
    st.audit_read(&p, "api.comments", Some(id), String::new())
        .await;
    Ok(Json(json!({"comments": v})))
}

/// `GET /api/v1/summary`: per unit, only the caller's units when scoped.
pub(super) async fn summary(State(st): St, p: Principal) -> Result<Json<Value>, ApiError> {
    let now = wall_now();
    let rows = st
        .pool
        .run(move |c| Ok(queue::unit_summary(c, now)?))
        .await?;
    let arr: Vec<Value> = rows
        .iter()
        .filter(|u| p.sees_unit(&u.unit))
        .map(|u| {
            json!({"unit": u.unit, "open": u.open, "overdue": u.overdue,
                   "mean_ack_secs": u.mean_ack_secs, "mean_resolve_secs": u.mean_resolve_secs})
        })
        .collect();
    st.audit_read(&p, "api.summary", None, String::new()).await;
    Ok(Json(json!({"units": arr})))
}

/// `POST /api/v1/reload`: admin only; asks the daemon and waits for its
/// answer.
pub(super) async fn reload(State(st): St, p: Principal) -> Result<Json<Value>, ApiError> {
    st.require(&p, ApiRole::Admin, "reload").await?;
    let Some(hook) = st.reload.clone() else {
        st.audit(
            &p.name,
            "api.reload",
            None,
            "refused: no reload hook".into(),
        )
        .await;
        return Err(ApiError::ReloadUnavailable(
            "this process has no reload hook",
        ));
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let wait = Duration::from_secs(st.cfg.limits.request_timeout_secs);
    let outcome = match tokio::time::timeout(wait, hook.send(tx)).await {
        Ok(Ok(())) => match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(ApiError::ReloadUnavailable(
                "the daemon dropped the request",
            )),
            Err(_) => Err(ApiError::ReloadUnavailable(
                "the daemon did not answer in time",
            )),
        },
        Ok(Err(_)) => Err(ApiError::ReloadUnavailable("the daemon is not listening")),
        Err(_) => Err(ApiError::ReloadUnavailable(
            "the daemon's reload queue is full",
        )),
    };
    let detail = match &outcome {
        Ok(Ok(m)) => format!("success: {}", short(m, 500)),
        Ok(Err(m)) => format!("failure: {}", short(m, 500)),
        Err(e) => format!("unavailable: {e}"),
    };
    st.audit(&p.name, "api.reload", None, detail).await;
    match outcome? {
        Ok(m) => Ok(Json(json!({"ok": true, "message": m}))),
        Err(m) => Err(ApiError::ReloadFailed(m)),
    }
}

/// Any other path under `/api/v1`.
pub(super) async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", short(uri.path(), MAX_AUDIT_PATH)))
}
