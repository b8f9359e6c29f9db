//! The hostile-server faults: a `200` list answer rewritten (a cursor that
//! repeats or runs back, pretty-printed pages, HTML, a BOM, a bare array,
//! trailing garbage, `data` that is not a list, `has_more` as a string,
//! the key echoed, a record dated 2099), an error body that carries the
//! key across the 300-byte mark, redirects off the origin, and a body
//! dripped one byte at a time.

use crate::faults::{BodyFault, Redirect};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};
use std::time::Duration;

/// 2099-06-01T00:00:00Z, the time `future-time` gives a record.
pub const FUTURE_UNIX: i64 = 4_083_955_200;

/// Rewrite a 200 JSON answer; anything else (errors, redirects, JSONL
/// downloads) passes untouched.
pub async fn rewrite(fault: &BodyFault, resp: Response, key: &str) -> Response {
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json");
    if resp.status() != StatusCode::OK || !json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    let new: Vec<u8> = match (fault, parsed) {
        (BodyFault::Html, _) => {
            let mut r = raw(
                b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><p>Your session has expired. Please sign in again.</p></body></html>\n".to_vec(),
                parts,
            );
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return r;
        }
        (BodyFault::Bom, _) => [&b"\xEF\xBB\xBF"[..], &bytes].concat(),
        (BodyFault::Garbage, _) => [&bytes[..], &b"\n<!-- cached by proxy -->"[..]].concat(),
        (BodyFault::EchoKey, _) => echo_body(key),
        (_, None) => bytes.to_vec(),
        (BodyFault::Array, Some(v)) => v["data"].to_string().into_bytes(),
        (BodyFault::Indent, Some(v)) => serde_json::to_vec_pretty(&v).unwrap(),
        (fault, Some(mut v)) => {
            edit(fault, &mut v);
            v.to_string().into_bytes()
        }
    };
    raw(new, parts)
}

fn edit(fault: &BodyFault, v: &mut Value) {
    match fault {
        BodyFault::DataObject => {
            let data = v["data"].take();
            v["data"] = json!({ "items": data });
        }
        BodyFault::HasMoreString => {
            let text = v["has_more"].to_string();
            v["has_more"] = Value::String(text);
        }
        BodyFault::Cursor(to) => {
            let field = if v.get("last_end_time").is_some() {
                "last_end_time"
            } else {
                "last_id"
            };
            if let Some(c) = to {
                v[field] = Value::String(c.clone());
            }
            v["has_more"] = Value::Bool(true);
        }
        BodyFault::FutureTime => {
            let Some(first) = v["data"].get_mut(0) else {
                return;
            };
            for (field, value) in [
                ("last_active_at", json!(FUTURE_UNIX as f64 + 0.5)),
                ("effective_at", json!(FUTURE_UNIX)),
                ("end_time", json!("2099-06-01T00:00:00Z")),
            ] {
                if first.get(field).is_some() {
                    first[field] = value;
                }
            }
        }
        _ => {}
    }
}

/// A 200 without `data` that echoes the key as given, in upper case, and
/// a 12-character piece of it.
fn echo_body(key: &str) -> Vec<u8> {
    let piece: String = key.chars().skip(2).take(12).collect();
    json!({
        "object": "list",
        "message": format!("no data for key {key} (normalised {}); key fragment …{piece}…", key.to_uppercase()),
        "max_event_time": format!("unknown for {key}"),
    })
    .to_string()
    .into_bytes()
}

/// A 500 whose body holds the key across byte 300, where error excerpts
/// are commonly cut.
pub fn echo_key_error(key: &str) -> Response {
    let head = "{\"error\":{\"message\":\"";
    let pad = 300usize.saturating_sub(head.len() + key.len() / 2);
    let body = format!(
        "{head}{}{key} is not allowed here\",\"type\":\"server_error\",\"param\":null,\"code\":null}}}}",
        "x".repeat(pad)
    );
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 301 to the same path and query on plain http, or on another origin
/// (`localhost` for `127.0.0.1`). Both land on this mock if followed.
pub fn redirect(kind: Redirect, base: &str, path: &str, query: &str) -> Response {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let target = match kind {
        Redirect::PlainHttp => format!("http://{rest}"),
        Redirect::OtherOrigin => format!("{scheme}://{}", rest.replace("127.0.0.1", "localhost")),
    };
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("{target}{path}{q}")).unwrap(),
    );
    r
}

/// The body one byte every `secs` seconds.
pub async fn drip(resp: Response, secs: u64) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let len = bytes.len();
    let stream = futures::stream::unfold(0usize, move |i| {
        let bytes = bytes.clone();
        async move {
            if i >= bytes.len() {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            Some((Ok::<Bytes, std::io::Error>(bytes.slice(i..i + 1)), i + 1))
        }
    });
    let mut r = Response::from_parts(parts, Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn raw(body: Vec<u8>, mut parts: axum::http::response::Parts) -> Response {
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Response::from_parts(parts, Body::from(body))
}
