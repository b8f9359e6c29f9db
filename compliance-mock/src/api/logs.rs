//! The Compliance Logs Platform: list files of an event type with the
//! `last_end_time` cursor, 307 to a short-lived download URL, the JSONL
//! download itself, and `max_event_time`. Validation errors are 422 with
//! FastAPI bodies, as the real service answers.

use super::route::Api;
use crate::app::{unix_now, App};
use crate::gen::iso;
use crate::http::{json_response, limit, missing, streamed_page, validation_error, Query};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// What the 307 of a log file hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Fresh,
    /// Already expired (`expired-download`).
    Expired,
    /// Plain http on a host that is not this machine (`download-http`).
    PlainHttpElsewhere,
}

/// `org`: the request came under `/compliance/organizations/{id}/`.
pub fn handle(app: &App, api: &Api, org: bool, q: &Query, link: Link) -> Response {
    let r = match api {
        Api::LogList => list(app, q, org),
        Api::LogFile(id) => redirect(app, id, link),
        Api::MaxEventTime => max_event_time(app, q, org),
        _ => unreachable!("not a Logs Platform endpoint"),
    };
    r.unwrap_or_else(|e| e)
}

/// Organisation-only types (COSTS) exist only under the organisation scope.
fn in_scope(ty: &str, org: bool) -> bool {
    org || !crate::gen::ORG_ONLY_TYPES.contains(&ty)
}

fn known_type(app: &App, raw: &str, org: bool) -> Result<(), Response> {
    let store = app.store.read().unwrap();
    if store.logs.contains_key(raw) && !in_scope(raw, org) {
        return Err(crate::http::bad_param(
            "event_type",
            &format!(
                "Event type {raw} is only available for organizations: use GET /v1/compliance/organizations/{{org_id}}/logs"
            ),
        ));
    }
    if store.logs.contains_key(raw) {
        return Ok(());
    }
    let allowed = store
        .logs
        .keys()
        .filter(|t| in_scope(t, org))
        .cloned()
        .collect::<Vec<_>>()
        .join("', '");
    Err(validation_error(
        "enum",
        "event_type",
        &format!("Input should be '{allowed}'"),
        Some(raw),
    ))
}

fn timestamp(q: &Query, param: &str) -> Result<Option<i64>, Response> {
    let Some(raw) = q.get(param) else {
        return Ok(None);
    };
    match chrono::DateTime::parse_from_rfc3339(raw.trim()) {
        Ok(t) => Ok(Some(t.timestamp_micros())),
        Err(_)
            if chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .is_ok() =>
        {
            Err(validation_error(
                "timezone_aware",
                param,
                "Input should have timezone info",
                Some(raw),
            ))
        }
        Err(_) => Err(validation_error(
            "datetime_from_date_parsing",
            param,
            "Input should be a valid datetime",
            Some(raw),
        )),
    }
}

fn list(app: &App, q: &Query, org: bool) -> Result<Response, Response> {
    let Some(event_type) = q.get("event_type") else {
        return Err(missing("event_type"));
    };
    known_type(app, event_type, org)?;
    let after = timestamp(q, "after")?.ok_or_else(|| missing("after"))?;
    let before = timestamp(q, "before")?;
    let limit = limit(q, 100, 100, true)?;
    let store = app.store.read().unwrap();
    let files = &store.logs[event_type].files;
    // `after` is inclusive, as upstream's is: the file that ends exactly
    // there comes again, and clients drop it by id.
    let mut start = files.partition_point(|f| f.end_micros < after);
    let retention = app.clock().log_retention_s;
    if retention > 0.0 {
        let oldest = ((app.now() - retention) * 1e6) as i64;
        start = start.max(files.partition_point(|f| f.end_micros < oldest));
    }
    let mut page = Vec::new();
    let mut has_more = false;
    for (i, f) in files.iter().enumerate().skip(start) {
        if before.is_some_and(|b| f.end_micros >= b) {
            break;
        }
        if page.len() == limit {
            has_more = true;
            break;
        }
        page.push((i, f));
    }
    let last_end = page
        .last()
        .map(|(_, f)| json!(f.end_time()))
        .unwrap_or(Value::Null);
    let records = page
        .iter()
        .map(|(_, f)| Bytes::from(f.listing(&f.sha256).to_string()))
        .collect();
    let tail = format!("],\"has_more\":{has_more},\"last_end_time\":{last_end}}}");
    Ok(streamed_page(
        "{\"object\":\"list\",\"data\":[".into(),
        records,
        tail,
    ))
}

/// The signature of a download URL: a keyed hash, so a client cannot forge
/// a fresh URL from an expired one.
pub(super) fn signature(app: &App, file_id: &str, expires: u64) -> String {
    archive_core::hash::sha256_hex(format!("{}:{file_id}:{expires}", app.opts.seed).as_bytes())
        [..32]
        .to_string()
}

fn redirect(app: &App, file_id: &str, link: Link) -> Result<Response, Response> {
    let store = app.store.read().unwrap();
    if !store
        .logs
        .values()
        .any(|s| s.files.iter().any(|f| f.id == file_id))
    {
        return Err(crate::http::not_found(&format!(
            "Log file {file_id} was not found."
        )));
    }
    let now = unix_now() as u64;
    let expires = if link == Link::Expired {
        now.saturating_sub(1)
    } else {
        now + app.opts.download_ttl
    };
    let base = match link {
        Link::PlainHttpElsewhere => "http://downloads.example.invalid".to_string(),
        _ => app.base_url.get().cloned().unwrap_or_default(),
    };
    let location = format!(
        "{base}/download/logs/{file_id}?expires={expires}&sig={}",
        signature(app, file_id, expires)
    );
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
    Ok(r)
}

/// The S3-style refusal of a signed download URL that was forged or has
/// expired (what a real presigned URL answers), or None when it is good.
/// Log files and uploaded files are served through the same kind of URL.
pub(super) fn refuse_unsigned(app: &App, file_id: &str, q: &Query) -> Option<Response> {
    let expires: u64 = q.get("expires").and_then(|e| e.parse().ok()).unwrap_or(0);
    if q.get("sig") != Some(signature(app, file_id, expires).as_str()) {
        return Some(s3_error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    if (unix_now() as u64) > expires {
        return Some(s3_error("AccessDenied", "Request has expired"));
    }
    None
}

pub(super) fn s3_error(code: &str, message: &str) -> Response {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>");
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// The signed download URL: no bearer needed, 403 once expired.
pub fn download(app: &App, file_id: &str, q: &Query) -> Response {
    if let Some(refused) = refuse_unsigned(app, file_id, q) {
        return refused;
    }
    let store = app.store.read().unwrap();
    let found = store.logs.iter().find_map(|(ty, s)| {
        s.files
            .iter()
            .position(|f| f.id == file_id)
            .map(|i| (ty.clone(), i, &s.files[i]))
    });
    let Some((ty, index, file)) = found else {
        return s3_error("NoSuchKey", "The specified key does not exist.");
    };
    let served = {
        let mut d = app.downloads.lock().unwrap();
        let n = d.entry(file_id.to_string()).or_default();
        *n += 1;
        *n
    };
    let body = match app.faults.bad_sha(&ty, index + 1) {
        Some(once) if !once || served == 1 => corrupt(&file.body),
        _ => file.body.clone(),
    };
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl"),
    );
    r
}

/// Same length, different bytes: one ASCII letter past the middle changed.
fn corrupt(body: &Bytes) -> Bytes {
    let mut v = body.to_vec();
    if let Some(i) = (v.len() / 2..v.len()).find(|&i| v[i].is_ascii_lowercase()) {
        v[i] = if v[i] == b'z' { b'a' } else { v[i] + 1 };
    } else if let Some(last) = v.last_mut() {
        *last ^= 1;
    }
    Bytes::from(v)
}

fn max_event_time(app: &App, q: &Query, org: bool) -> Result<Response, Response> {
    let asked = q.all("event_type");
    for t in &asked {
        known_type(app, t, org)?;
    }
    let store = app.store.read().unwrap();
    let mut out = Map::new();
    for (ty, stream) in &store.logs {
        if in_scope(ty, org) && (asked.is_empty() || asked.contains(ty)) {
            let t = stream
                .max_event_micros()
                .map(|m| json!(iso(m as f64 / 1e6)));
            out.insert(ty.clone(), t.unwrap_or(Value::Null));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"max_event_time": out}),
    ))
}
