//! The HTTP front: every request passes fault injection, authentication,
//! the workspace check and the rate limiter, in that order, then reaches
//! one API's handler; every API request is written to the request log.

mod audit;
mod control;
mod files;
mod hostile;
mod legacy;
mod logs;
mod route;

use crate::faults::{Action, RequestKind, RetryAfter};
use crate::http::{openai_error, Query};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use logs::Link;
use route::{Api, Route};
use serde_json::json;
use std::sync::Arc;

use crate::app::{unix_now, App};
use std::time::{Duration, Instant, SystemTime};

pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let t = unix_now();
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            // The scheme name is case-insensitive (RFC 9110).
            let v = v.trim();
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    token.trim().to_string()
                }
                _ => v.to_string(),
            }
        });
    let referer = req.headers().contains_key(header::REFERER);
    let query = Query::parse(&raw_query);
    if let Some(rest) = path.strip_prefix("/_mock/") {
        return control::handle(&app, &method, rest, &query);
    }
    let route = route::classify(&path);
    let kind = RequestKind {
        path: &path,
        log_redirect: matches!(
            route,
            Route::Logs {
                api: Api::LogFile(_),
                ..
            }
        ),
        after: query.get("after"),
    };
    let fault = app.faults.decide(&kind);
    let echoed = bearer.clone().unwrap_or_else(|| app.opts.api_key.clone());
    let base = app.base_url.get().cloned().unwrap_or_default();
    let response = match &fault {
        Some((Action::Status { code, retry_after }, _)) => fault_status(*code, *retry_after),
        Some((Action::EchoKeyError, _)) => hostile::echo_key_error(&echoed),
        Some((Action::Redirect(r), _)) => hostile::redirect(*r, &base, &path, &raw_query),
        other => {
            let link = match other {
                Some((Action::Stall(secs), _)) => {
                    tokio::time::sleep(Duration::from_secs(*secs)).await;
                    Link::Fresh
                }
                Some((Action::ExpiredDownload, _)) => Link::Expired,
                Some((Action::DownloadHttp, _)) => Link::PlainHttpElsewhere,
                _ => Link::Fresh,
            };
            let r = serve(
                &app,
                &method,
                &route,
                &query,
                bearer.as_deref(),
                link,
                started,
            );
            match other {
                Some((Action::Body(b), _)) => hostile::rewrite(b, r, &echoed).await,
                _ => r,
            }
        }
    };
    let status = response.status().as_u16();
    let mut entry = json!({
        "t": t, "method": method.as_str(), "path": path, "query": raw_query,
        "status": status, "auth": bearer.is_some(), "referer": referer,
    });
    if let Some((_, rule)) = &fault {
        entry["fault"] = json!(rule);
    }
    app.log.record(&entry);
    match &fault {
        Some((Action::Drop, _)) => cut_mid_body(response).await,
        Some((Action::Drip(secs), _)) => hostile::drip(response, *secs).await,
        _ => response,
    }
}

fn serve(
    app: &App,
    method: &Method,
    route: &Route,
    q: &Query,
    bearer: Option<&str>,
    link: Link,
    now: Instant,
) -> Response {
    if matches!(route, Route::Unknown) {
        return crate::http::not_found("Invalid URL: no such endpoint on the mock Compliance API");
    }
    if method != Method::GET {
        return openai_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method {method} not allowed"),
            "invalid_request_error",
            None,
            Some("method_not_allowed"),
        );
    }
    if let Route::Download { file_id } | Route::FileDownload { file_id } = route {
        if bearer.is_some() {
            // As S3 answers a pre-signed URL sent with an Authorization header.
            return crate::http::bad_param(
                "Authorization",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
            );
        }
        return match route {
            Route::FileDownload { .. } => files::download(app, file_id, q),
            _ => logs::download(app, file_id, q),
        };
    }
    let admin = matches!(route, Route::AuditLogs);
    if let Some(denied) = authenticate(app, bearer, admin) {
        return denied;
    }
    if let Some(missing) = check_tenant(app, route) {
        return missing;
    }
    if let Err(wait) = app
        .limiter
        .admit(route.endpoint(), bearer.unwrap_or(""), now)
    {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        return with_retry_after(
            openai_error(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached for this endpoint. Please retry after the time given in Retry-After.", "rate_limit_exceeded", None, Some("rate_limit_exceeded")),
            RetryAfter::Seconds(secs),
        );
    }
    match route {
        Route::Legacy {
            api: Api::UserFile { user, file },
            ..
        } => files::redirect(app, user, file),
        Route::Legacy { api, .. } => legacy::handle(app, api, q),
        Route::Logs { api, org, .. } => logs::handle(app, api, *org, q, link),
        Route::AuditLogs => audit::handle(app, q),
        Route::Download { .. } | Route::FileDownload { .. } | Route::Unknown => {
            unreachable!("handled above")
        }
    }
}

/// 401 for a missing or unknown key, 403 for a key that exists but lacks
/// the scope (the `wrong-scope` key, or the other API's key).
fn authenticate(app: &App, bearer: Option<&str>, admin: bool) -> Option<Response> {
    let (ok, other) = if admin {
        (&app.opts.admin_key, &app.opts.api_key)
    } else {
        (&app.opts.api_key, &app.opts.admin_key)
    };
    match bearer {
        Some(b) if b == ok => None,
        Some(b) if b == "wrong-scope" || b == other => Some(openai_error(
            StatusCode::FORBIDDEN,
            if admin {
                "You have insufficient permissions for this operation. Audit logs need an admin key (sk-admin-…)."
            } else {
                "The API key lacks the required scope for the Compliance API (api.compliance.read) or is not authorized for this workspace."
            },
            "invalid_request_error",
            None,
            Some("insufficient_permissions"),
        )),
        Some(_) => Some(openai_error(StatusCode::UNAUTHORIZED, "Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", None, Some("invalid_api_key"))),
        None => Some(openai_error(StatusCode::UNAUTHORIZED, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error", None, Some("missing_api_key"))),
    }
}

fn check_tenant(app: &App, route: &Route) -> Option<Response> {
    let ws = &app.store.read().unwrap().workspace_id.clone();
    let found = match route {
        Route::Legacy { workspace, .. } => workspace == ws && !ws.starts_with("org-"),
        Route::Logs { org: false, id, .. } => id == ws && !ws.starts_with("org-"),
        Route::Logs { org: true, id, .. } => {
            Some(id) == app.opts.org_id.as_ref() || (id == ws && ws.starts_with("org-"))
        }
        _ => true,
    };
    (!found).then(|| {
        crate::http::not_found(
            "The workspace was not found. An identifying parameter was not found (workspace_id).",
        )
    })
}

fn fault_status(code: u16, retry_after: RetryAfter) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (message, kind, ecode) = match code {
        429 => (
            "Rate limit reached for requests",
            "rate_limit_exceeded",
            "rate_limit_exceeded",
        ),
        401 => (
            "Incorrect API key provided.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        403 => (
            "You have insufficient permissions for this operation.",
            "invalid_request_error",
            "insufficient_permissions",
        ),
        404 => (
            "The workspace was not found.",
            "invalid_request_error",
            "not_found",
        ),
        500..=599 => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            "server_error",
        ),
        _ => (
            "The request was rejected by an injected fault.",
            "invalid_request_error",
            "injected",
        ),
    };
    with_retry_after(
        openai_error(status, message, kind, None, Some(ecode)),
        retry_after,
    )
}

fn with_retry_after(mut r: Response, ra: RetryAfter) -> Response {
    let value = match ra {
        RetryAfter::None => return r,
        RetryAfter::Seconds(s) => s.to_string(),
        RetryAfter::Date(s) => httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s)),
    };
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_str(&value).unwrap());
    r
}

/// Send the headers and the first half of the body, then fail the body so
/// the server closes the connection mid-transfer.
async fn cut_mid_body(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    // Let the headers and the first half reach the client before the cut:
    // an error before anything was written would look like a refused
    // connection instead.
    let stream = futures::stream::unfold(0u8, move |step| {
        let half = half.clone();
        async move {
            match step {
                0 => Some((Ok(half), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let cut = std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected fault: connection dropped mid-body",
                    );
                    Some((Err(cut), 2))
                }
                _ => None,
            }
        }
    });
    let mut r = Response::from_parts(parts, Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    r
}
