//! Building the kube-rs client, with one extra middleware: kube-rs turns error responses into
//! `Error::Api(Status)` and drops the HTTP headers, so a `Retry-After` header would be lost.
//! [`RetryAfterLayer`] copies it into the Status body's `details.retryAfterSeconds` (and wraps
//! non-JSON error bodies into a Status) before kube-rs parses it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use kube::client::{Body, ClientBuilder, DynBody};
use serde_json::{Value, json};
use tower::{BoxError, Layer, Service};

use crate::error::Error;

/// Builds a client from a resolved config. Must run inside a Tokio runtime.
pub(crate) fn build(config: kube::Config) -> Result<kube::Client, Error> {
    let builder = ClientBuilder::try_from(config).map_err(Error::Client)?;
    Ok(builder.with_layer(&RetryAfterLayer).build())
}

/// Tower layer adding `Retry-After` to error Status bodies.
#[derive(Debug, Clone, Copy)]
pub struct RetryAfterLayer;

impl<S> Layer<S> for RetryAfterLayer {
    type Service = RetryAfterService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryAfterService { inner }
    }
}

/// See [`RetryAfterLayer`].
#[derive(Debug, Clone)]
pub struct RetryAfterService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for RetryAfterService<S>
where
    S: Service<Request<Body>, Response = Response<Box<DynBody>>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Box<DynBody>>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            let status = res.status();
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            let Some(secs) = retryable.then(|| retry_after_secs(res.headers())).flatten() else {
                return Ok(res);
            };
            let (parts, body) = res.into_parts();
            let bytes = body.collect().await?.to_bytes();
            let patched = with_retry_after(&bytes, status, secs);
            let body: Box<DynBody> = Box::new(
                Full::new(Bytes::from(patched))
                    .map_err(|never: std::convert::Infallible| -> BoxError { match never {} }),
            );
            Ok(Response::from_parts(parts, body))
        })
    }
}

/// `Retry-After` in whole seconds (the form the API server sends); HTTP dates are ignored.
fn retry_after_secs(headers: &http::HeaderMap) -> Option<u32> {
    headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u32>().ok().filter(|s| *s > 0)
}

/// Sets `details.retryAfterSeconds` in a Status body (unless the server set it), or wraps a
/// non-Status body into one.
pub(crate) fn with_retry_after(body: &[u8], status: StatusCode, secs: u32) -> Vec<u8> {
    let mut v = match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            let message =
                if text.is_empty() { status.canonical_reason().unwrap_or("error").to_ascii_lowercase() } else { text };
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": message,
                "code": status.as_u16(),
            })
        }
    };
    let obj = v.as_object_mut().expect("an object");
    if obj.get("code").and_then(Value::as_u64).unwrap_or(0) == 0 {
        obj.insert("code".into(), json!(status.as_u16()));
    }
    let details = obj.entry("details").or_insert_with(|| json!({}));
    if let Some(d) = details.as_object_mut()
        && d.get("retryAfterSeconds").and_then(Value::as_u64).unwrap_or(0) == 0
    {
        d.insert("retryAfterSeconds".into(), json!(secs));
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_retry_after_to_status_bodies() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"slow down","reason":"TooManyRequests","code":429}"#;
        let out: Value = serde_json::from_slice(&with_retry_after(body, StatusCode::TOO_MANY_REQUESTS, 3)).unwrap();
        assert_eq!(out["details"]["retryAfterSeconds"], 3);
        assert_eq!(out["message"], "slow down");
        // the server's own value wins
        let body = br#"{"kind":"Status","code":429,"details":{"retryAfterSeconds":9}}"#;
        let out: Value = serde_json::from_slice(&with_retry_after(body, StatusCode::TOO_MANY_REQUESTS, 3)).unwrap();
        assert_eq!(out["details"]["retryAfterSeconds"], 9);
    }

    #[test]
    fn wraps_plain_text_bodies() {
        let out: Value =
            serde_json::from_slice(&with_retry_after(b"upstream connect error", StatusCode::SERVICE_UNAVAILABLE, 5))
                .unwrap();
        assert_eq!(out["code"], 503);
        assert_eq!(out["message"], "upstream connect error");
        assert_eq!(out["details"]["retryAfterSeconds"], 5);
        let status: kube::core::Status = serde_json::from_value(out).unwrap();
        let e = crate::error::classify(&kube::Error::Api(status.boxed()));
        assert!(e.is_retryable());
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(5)));
    }

    #[test]
    fn reads_retry_after_headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after_secs(&h), None);
        h.insert(http::header::RETRY_AFTER, "4".parse().unwrap());
        assert_eq!(retry_after_secs(&h), Some(4));
        h.insert(http::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after_secs(&h), None);
    }
}
