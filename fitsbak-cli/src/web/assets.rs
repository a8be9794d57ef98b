//! The page, compiled into the binary: served from memory, no CDN, no files.

use axum::extract::OriginalUri;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// The page. Mounted under a prefix without its trailing slash (`/s3-backup`),
/// the relative links would miss it: the browser is sent to the slash first.
pub async fn index(OriginalUri(uri): OriginalUri) -> Response {
    if !uri.path().ends_with('/') {
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        return Redirect::permanent(&format!("{}/{query}", uri.path())).into_response();
    }
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

pub async fn script(headers: HeaderMap) -> Response {
    asset(&headers, "text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style(headers: HeaderMap) -> Response {
    asset(&headers, "text/css; charset=utf-8", STYLE)
}

/// An asset with an ETag of its bytes: a browser asks again each time (a new
/// binary may bring new bytes) and gets 304 when it has them.
fn asset(headers: &HeaderMap, kind: &'static str, body: &'static str) -> Response {
    let etag = format!(
        "\"{:08x}\"",
        fitsbak_core::checksum::crc32c(body.as_bytes())
    );
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let head = [
        (header::CONTENT_TYPE, kind.to_owned()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (header::ETAG, etag),
    ];
    if cached {
        (StatusCode::NOT_MODIFIED, head).into_response()
    } else {
        (head, body).into_response()
    }
}
