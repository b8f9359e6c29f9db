//! Control endpoints for tests and the demo (no auth, never logged):
//! `GET|DELETE /_mock/requests`, `POST /_mock/advance`,
//! `GET /_mock/truth/<stream>`, `GET|PUT|DELETE /_mock/faults`.

use crate::app::{unix_now, App};
use crate::http::{bad_param, json_response, not_found, Query};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

pub fn handle(app: &App, method: &Method, rest: &str, q: &Query) -> Response {
    match (method.as_str(), rest) {
        ("GET", "requests") => ndjson(vec![Bytes::from(app.log.ndjson())]),
        ("DELETE", "requests") => {
            app.log.clear();
            json_response(StatusCode::OK, &serde_json::json!({"cleared": true}))
        }
        ("POST", "advance") => advance(app, q),
        ("GET", "faults") => faults(app),
        ("PUT", "faults") => match app.faults.replace(q.get("spec").unwrap_or("")) {
            Ok(()) => faults(app),
            Err(e) => bad_param("spec", &format!("{e:#}")),
        },
        ("DELETE", "faults") => {
            app.faults.replace("").expect("no faults parse");
            faults(app)
        }
        ("GET", stream) if stream.starts_with("truth/") => truth(app, &stream["truth/".len()..]),
        _ => not_found("Unknown control endpoint: GET|DELETE /_mock/requests, POST /_mock/advance, GET /_mock/truth/<stream>, GET|PUT|DELETE /_mock/faults[?spec=SPEC]"),
    }
}

fn faults(app: &App) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "faults": app.faults.list() }),
    )
}

fn number(q: &Query, key: &str) -> Result<u64, Response> {
    match q.get(key) {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| bad_param(key, &format!("{key}={v:?} is not a non-negative integer"))),
    }
}

fn advance(app: &App, q: &Query) -> Response {
    let parsed =
        (|| Ok::<_, Response>((number(q, "new")?, number(q, "updated")?, number(q, "seed")?)))();
    let (new, updated, seed) = match parsed {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result =
        app.store
            .write()
            .unwrap()
            .advance(new as usize, updated as usize, seed, unix_now());
    match result {
        Ok(summary) => json_response(StatusCode::OK, &summary),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": format!("{e:#}")}),
        ),
    }
}

fn lines<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<Bytes> {
    items.map(|v| Bytes::from(format!("{v}\n"))).collect()
}

/// Current ground truth, newest version of each record.
fn truth(app: &App, stream: &str) -> Response {
    let store = app.store.read().unwrap();
    let chunks = match stream {
        "conversations" => store
            .order
            .values()
            .flat_map(|id| {
                [
                    store.conversations[id].full.clone(),
                    Bytes::from_static(b"\n"),
                ]
            })
            .collect(),
        "users" => lines(store.users.values()),
        "gpts" => lines(store.gpts.values()),
        "projects" => lines(store.projects.values()),
        "memories" => lines(store.memories.values()),
        "audit_logs" => lines(store.audit.values().rev()),
        other => match other.strip_prefix("logs/").and_then(|t| store.logs.get(t)) {
            Some(s) => s.truth.clone(),
            None => {
                let types: Vec<&String> = store.logs.keys().collect();
                return not_found(&format!(
                    "Unknown stream {other:?}: conversations, users, gpts, projects, memories, audit_logs or logs/<EVENT_TYPE> ({types:?})"
                ));
            }
        },
    };
    ndjson(chunks)
}

fn ndjson(chunks: Vec<Bytes>) -> Response {
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<Bytes, std::io::Error>));
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}
