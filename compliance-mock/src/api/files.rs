//! Uploaded files: `GET /compliance/workspaces/{ws}/users/{user_id}/files/{file_id}`
//! answers 307 to a short-lived signed URL (like a log file), 404 for a
//! file this user never uploaded or that was removed, 410 once it is older
//! than the upload retention on the mock's clock.

use super::logs::{refuse_unsigned, s3_error, signature};
use crate::app::{unix_now, App};
use crate::http::{not_found, openai_error, Query};
use crate::userfiles::FileState;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

pub fn redirect(app: &App, user: &str, file_id: &str) -> Response {
    let store = app.store.read().unwrap();
    let clock = app.clock();
    let Some(f) = store.files.get(file_id).filter(|f| f.user_id == user) else {
        return not_found(&format!("File {file_id} was not found for user {user}."));
    };
    match f.state(app.now(), clock.upload_retention_s) {
        FileState::Deleted => {
            return not_found(&format!("File {file_id} was not found for user {user}."))
        }
        FileState::Expired => {
            return openai_error(
                StatusCode::GONE,
                &format!(
                    "File {file_id} has expired: uploaded files are kept for {} hours.",
                    clock.upload_retention_s / 3600.0
                ),
                "invalid_request_error",
                None,
                Some("file_expired"),
            )
        }
        FileState::Available => {}
    }
    let expires = unix_now() as u64 + app.opts.download_ttl;
    let base = app.base_url.get().cloned().unwrap_or_default();
    let location = format!(
        "{base}/download/files/{file_id}?expires={expires}&sig={}",
        signature(app, file_id, expires)
    );
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
    r
}

/// The signed URL: no bearer, 403 once expired or forged.
pub fn download(app: &App, file_id: &str, q: &Query) -> Response {
    if let Some(refused) = refuse_unsigned(app, file_id, q) {
        return refused;
    }
    let store = app.store.read().unwrap();
    let Some(f) = store.files.get(file_id) else {
        return s3_error("NoSuchKey", "The specified key does not exist.");
    };
    let mut r = Response::new(Body::from(f.content(app.opts.seed)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}
