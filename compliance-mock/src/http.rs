//! Response helpers: OpenAI-style and FastAPI-style error bodies, JSON
//! bodies, list pages streamed from pre-serialised records, and the raw
//! query parameters (repeated and bracketed keys kept as sent).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

/// Query parameters in order, percent-decoded, repeated keys kept.
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

pub fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `{"error": {"message", "type", "param", "code"}}`, as the OpenAI API sends.
pub fn openai_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    json_response(
        status,
        &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

/// 400 for a parameter the API understands but refuses.
pub fn bad_param(param: &str, message: &str) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        Some(param),
        Some("invalid_parameter"),
    )
}

/// 422 with a FastAPI validation body: `{"detail": [{type, loc, msg, input}]}`.
pub fn validation_error(kind: &str, param: &str, msg: &str, input: Option<&str>) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"detail": [{"type": kind, "loc": ["query", param], "msg": msg, "input": input}]}),
    )
}

pub fn missing(param: &str) -> Response {
    validation_error("missing", param, "Field required", None)
}

pub fn not_found(message: &str) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        message,
        "invalid_request_error",
        None,
        Some("not_found"),
    )
}

/// A `limit` parameter: absent gives `default`; not an integer or below 1
/// is a 422; above `max` is `over_max` (400 on the legacy and audit APIs,
/// 422 on the Logs Platform, as FastAPI's `le=` would say).
pub fn limit(
    q: &Query,
    default: usize,
    max: usize,
    over_max_is_422: bool,
) -> Result<usize, Response> {
    let Some(raw) = q.get("limit") else {
        return Ok(default);
    };
    let n: i64 = raw.trim().parse().map_err(|_| {
        validation_error(
            "int_parsing",
            "limit",
            "Input should be a valid integer, unable to parse string as an integer",
            Some(raw),
        )
    })?;
    if n < 1 {
        return Err(validation_error(
            "greater_than_equal",
            "limit",
            "Input should be greater than or equal to 1",
            Some(raw),
        ));
    }
    if n as usize > max {
        return Err(if over_max_is_422 {
            validation_error(
                "less_than_equal",
                "limit",
                &format!("Input should be less than or equal to {max}"),
                Some(raw),
            )
        } else {
            bad_param("limit", &format!("limit must be at most {max}, got {n}"))
        });
    }
    Ok(n as usize)
}

/// A list page built from pre-serialised records without copying them:
/// `head` + records joined by commas + `tail`, sent as a stream of chunks.
pub fn streamed_page(head: String, records: Vec<Bytes>, tail: String) -> Response {
    let mut chunks: Vec<Bytes> = Vec::with_capacity(records.len() * 2 + 2);
    chunks.push(Bytes::from(head));
    for (i, r) in records.into_iter().enumerate() {
        if i > 0 {
            chunks.push(Bytes::from_static(b","));
        }
        chunks.push(r);
    }
    chunks.push(Bytes::from(tail));
    let len: usize = chunks.iter().map(|c| c.len()).sum();
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<Bytes, std::io::Error>));
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// A JSON string literal.
pub fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}
