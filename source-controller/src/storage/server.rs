//! The artifact HTTP server: a static file server over the store that answers
//! 404 for anything outside it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::io::ReaderStream;

use super::Storage;

/// Router serving `GET /<kind>/<namespace>/<name>/<file>` from the store.
pub fn router(storage: Arc<Storage>) -> Router {
    Router::new()
        .route("/{*path}", get(serve))
        .with_state(storage)
}

async fn serve(State(storage): State<Arc<Storage>>, Path(path): Path<String>) -> Response {
    let Some(file_path) = storage.resolve(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::File::open(&file_path).await {
        Ok(file) => {
            let length = file.metadata().await.map(|m| m.len()).ok();
            let mut response = Response::new(Body::from_stream(ReaderStream::new(file)));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            if let Some(length) = length {
                headers.insert(header::CONTENT_LENGTH, length.into());
            }
            response
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
