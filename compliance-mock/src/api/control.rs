//! Control endpoints for tests and the demo (no auth, never logged):
//! `GET|DELETE /_mock/requests`, `POST /_mock/advance`,
//! `GET /_mock/truth/<stream>`, `GET|PUT|DELETE /_mock/faults`,
//! `GET|POST /_mock/clock`.

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
        ("GET", "clock") => clock(app),
        ("POST", "clock") => set_clock(app, q),
        ("GET", "truth/files") => files_truth(app),
        ("PUT", "faults") => match app.faults.replace(q.get("spec").unwrap_or("")) {
            Ok(()) => faults(app),
            Err(e) => bad_param("spec", &format!("{e:#}")),
        },
        ("DELETE", "faults") => {
            app.faults.replace("").expect("no faults parse");
            faults(app)
        }
        ("GET", stream) if stream.starts_with("truth/") => truth(app, &stream["truth/".len()..]),
        _ => not_found("Unknown control endpoint: GET|DELETE /_mock/requests, POST /_mock/advance, GET /_mock/truth/<stream>, GET|PUT|DELETE /_mock/faults[?spec=SPEC], GET|POST /_mock/clock[?now=TIME&upload_retention_hours=H&log_retention_days=D]"),
    }
}

fn faults(app: &App) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "faults": app.faults.list() }),
    )
}

fn clock(app: &App) -> Response {
    let c = app.clock();
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "now": crate::gen::iso(app.now()),
            "offset_s": c.offset_s,
            "upload_retention_s": c.upload_retention_s,
            "log_retention_s": c.log_retention_s,
        }),
    )
}

/// `now=` (RFC 3339, a date or Unix seconds) sets the mock's clock;
/// `upload_retention_hours=` and `log_retention_days=` (0: forever) the
/// retentions measured against it.
fn set_clock(app: &App, q: &Query) -> Response {
    let float = |key: &str| -> Result<Option<f64>, Response> {
        q.get(key)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        bad_param(key, &format!("{key}={v:?} is not a non-negative number"))
                    })
            })
            .transpose()
    };
    let parsed = (|| {
        let now = q
            .get("now")
            .map(|v| crate::app::parse_instant(v).map_err(|e| bad_param("now", &e)))
            .transpose()?;
        Ok::<_, Response>((
            now,
            float("upload_retention_hours")?,
            float("log_retention_days")?,
        ))
    })();
    let (now, upload_h, log_d) = match parsed {
        Ok(v) => v,
        Err(r) => return r,
    };
    {
        let mut c = app.clock.lock().unwrap();
        if let Some(t) = now {
            c.offset_s = t - unix_now();
        }
        if let Some(h) = upload_h {
            c.upload_retention_s = h * 3600.0;
        }
        if let Some(d) = log_d {
            c.log_retention_s = d * 86_400.0;
        }
    }
    clock(app)
}

/// Every uploaded file with its state on the mock's clock and the
/// SHA-256 of its content.
fn files_truth(app: &App) -> Response {
    let store = app.store.read().unwrap();
    let (now, retention) = (app.now(), app.clock().upload_retention_s);
    let values: Vec<Value> = store
        .files
        .values()
        .map(|f| f.truth(app.opts.seed, now, retention))
        .collect();
    ndjson(lines(values.iter()))
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
