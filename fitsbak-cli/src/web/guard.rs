//! What every request passes before its handler: the token (when the server has
//! one), the cross-site check of state-changing requests, and the headers that
//! keep the page to itself.
//!
//! The cross-site check follows the browsers' own signals, as Go's
//! `http.CrossOriginProtection` does: `Sec-Fetch-Site` when the browser sends it,
//! else `Origin` against `Host`; a request with neither comes from no browser (curl,
//! a script) and cannot be forged by a page. A token sent in a header is proof
//! enough on its own: no other site can set that header.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, WebApp};

/// The cookie a browser keeps the token in after opening `/?token=...`.
const COOKIE: &str = "fitsbak_token";

/// The header a script sends the token in (`Authorization: Bearer` works too).
pub const TOKEN_HEADER: &str = "x-fitsbak-token";

pub async fn guard(State(app): State<Arc<WebApp>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let in_header = header_token(headers);
    let mut set_cookie = None;
    if let Some(token) = &app.token {
        let from_query = query_token(request.uri().query());
        let good = |t: Option<&str>| t.is_some_and(|t| same(t, token));
        if good(in_header.as_deref()) || good(cookie_token(headers).as_deref()) {
            // Carried as it should be.
        } else if good(from_query.as_deref()) {
            // The link printed at start: keep it in a cookie for the page's calls.
            set_cookie = Some(format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            ));
        } else {
            let words = match (
                in_header.is_some() || from_query.is_some(),
                cookie_token(headers),
            ) {
                (true, _) | (false, Some(_)) => "the token does not match",
                (false, None) => "this server needs its token",
            };
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "{words}: open the link `fitsbak serve` printed (/?token=...), or send \
                     `Authorization: Bearer TOKEN` or `X-Fitsbak-Token: TOKEN`"
                ),
            )
            .into_response();
        }
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let header_proof = app.token.is_some() && in_header.is_some();
    if !safe
        && !header_proof
        && let Err(why) = same_origin(headers)
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("cross-site request refused: {why}"),
        )
        .into_response();
    }
    // Every body is read before the handler runs, whether it wants one or not:
    // a connection whose request was not read to the end cannot be used again,
    // and the next request on it (a browser's, a script's) would meet a reset.
    let request = if safe {
        request
    } else {
        let (parts, body) = request.into_parts();
        let too_large = |size: String| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is {size}; the API takes at most {} KiB",
                    super::MAX_BODY_BYTES / 1024
                ),
            )
            .into_response()
        };
        match axum::body::to_bytes(body, super::READ_BODY_BYTES).await {
            Ok(bytes) if bytes.len() > super::MAX_BODY_BYTES => {
                return too_large(format!("{} bytes", bytes.len()));
            }
            Ok(bytes) => Request::from_parts(parts, axum::body::Body::from(bytes)),
            Err(_) => return too_large(format!("over {} KiB", super::READ_BODY_BYTES / 1024)),
        }
    };
    let mut response = next.run(request).await;
    let out = response.headers_mut();
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A token in the address never leaves in a Referer.
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'",
        ),
    );
    if !out.contains_key(header::CACHE_CONTROL) {
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        out.append(header::SET_COOKIE, cookie);
    }
    response
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn header_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| value.trim().to_owned())
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_owned())
        })
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "token").then(|| value.to_owned())
    })
}

/// Whether a state-changing request comes from this server's own page.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(format!(
                "the browser says it comes from another site (Sec-Fetch-Site: {other})"
            )),
        };
    }
    let Some(origin) = text("origin") else {
        return Ok(()); // no browser: nothing a page could forge
    };
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    let hosts = [text("x-forwarded-host"), text("host")];
    if hosts
        .iter()
        .flatten()
        .any(|h| h.eq_ignore_ascii_case(origin_host))
    {
        Ok(())
    } else {
        Err(format!("Origin {origin} is not this server"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_browser_signals_decide_and_scripts_pass() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(
            same_origin(&headers(&[
                ("origin", "http://127.0.0.1:8083"),
                ("host", "127.0.0.1:8083")
            ]))
            .is_ok()
        );
        assert!(
            same_origin(&headers(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8083")
            ]))
            .is_err()
        );
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8083")])).is_ok());
    }

    #[test]
    fn tokens_are_found_where_they_are_sent() {
        assert_eq!(
            header_token(&headers(&[("authorization", "Bearer abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            header_token(&headers(&[("x-fitsbak-token", "abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            cookie_token(&headers(&[("cookie", "a=b; fitsbak_token=xyz")])).as_deref(),
            Some("xyz")
        );
        assert_eq!(query_token(Some("x=1&token=t1")).as_deref(), Some("t1"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
