//! One JSON request on an open connection: send, read the whole body (the
//! latency ends at the last body byte, case B10), check status and body.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, LOCATION};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use tokio::time::Sleep;

use crate::metrics::ErrorClass;
use crate::net::{classify_hyper, Sender};
use crate::scenario::{Check, ProbeSpec};

const MAX_REDIRECTS: usize = 5;

/// The largest body a JSON check will read; a longer one is a protocol error.
pub const MAX_CHECKED_BODY: usize = 16 * 1024 * 1024;

/// A prepared request, built once per probe.
#[derive(Clone)]
pub struct JsonProbe {
    method: Method,
    uri: Uri,
    /// The same URI in origin form (path and query), as HTTP/1.1 sends it.
    origin: Uri,
    headers: HeaderMap,
    body: Bytes,
    expect: Vec<u16>,
    checks: Vec<Check>,
    pub timeout: Duration,
    follow_redirects: bool,
}

/// How one exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub status: Option<u16>,
    pub result: Result<(), ErrorClass>,
    /// The connection cannot carry another request.
    pub broken: bool,
}

impl JsonProbe {
    pub fn new(spec: &ProbeSpec, follow_redirects: bool) -> anyhow::Result<JsonProbe> {
        let mut headers = HeaderMap::new();
        for (k, v) in &spec.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| anyhow::anyhow!("probe {:?}: invalid header name {k:?}", spec.name))?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                anyhow::anyhow!("probe {:?}: invalid value for header {k:?}", spec.name)
            })?;
            headers.append(name, value);
        }
        if let Some(a) = spec.url.authority() {
            headers.insert(http::header::HOST, HeaderValue::from_str(a.as_str())?);
        }
        let origin = spec
            .url
            .path_and_query()
            .map_or(Ok(Uri::from_static("/")), |p| p.as_str().parse())?;
        Ok(JsonProbe {
            method: spec.method.clone(),
            uri: spec.url.clone(),
            origin,
            headers,
            body: spec.body.clone().unwrap_or_default(),
            expect: spec.expect_status.clone(),
            checks: spec.checks.clone(),
            timeout: spec.timeout,
            follow_redirects,
        })
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    fn request(&self, uri: &Uri, h2: bool) -> Request<Full<Bytes>> {
        // HTTP/1.1 sends origin-form; HTTP/2 needs the full URI for :authority.
        let target = if h2 {
            uri.clone()
        } else if uri == &self.uri {
            self.origin.clone()
        } else {
            uri.path_and_query()
                .and_then(|p| p.as_str().parse().ok())
                .unwrap_or_else(|| Uri::from_static("/"))
        };
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = target;
        *req.headers_mut() = self.headers.clone();
        if h2 {
            req.headers_mut().remove(http::header::HOST);
        }
        req
    }

    /// Sends the request and reads the answer, until `deadline` fires (the
    /// probe's timeout, armed by the caller).
    pub async fn exchange(&self, conn: &mut Sender, deadline: Pin<&mut Sleep>) -> Exchange {
        tokio::select! {
            biased;
            x = self.exchange_inner(conn) => x,
            // A timed-out HTTP/1.1 connection still has the old answer coming.
            _ = deadline => Exchange {
                status: None,
                result: Err(ErrorClass::Timeout),
                broken: true,
            },
        }
    }

    async fn exchange_inner(&self, conn: &mut Sender) -> Exchange {
        let mut uri = self.uri.clone();
        for _ in 0..=MAX_REDIRECTS {
            let resp = match conn.send(self.request(&uri, conn.is_h2())).await {
                Ok(r) => r,
                Err(e) => {
                    return Exchange {
                        status: None,
                        result: Err(classify_hyper(&e)),
                        broken: true,
                    }
                }
            };
            let status = resp.status().as_u16();
            let location = resp.headers().get(LOCATION).cloned();
            let body = match self.read_body(resp.into_body()).await {
                Ok(b) => b,
                Err(class) => {
                    return Exchange {
                        status: Some(status),
                        result: Err(class),
                        broken: true,
                    }
                }
            };
            if self.follow_redirects && is_redirect(status) {
                if let Some(next) = location.and_then(|l| same_origin(&self.uri, &l)) {
                    uri = next;
                    continue;
                }
            }
            let result = self.judge(status, body.as_ref());
            return Exchange {
                status: Some(status),
                result,
                broken: false,
            };
        }
        Exchange {
            status: None,
            result: Err(ErrorClass::Protocol),
            broken: false,
        }
    }

    /// Drains the body; keeps it only when a check needs to read it.
    async fn read_body(
        &self,
        mut body: hyper::body::Incoming,
    ) -> Result<Option<Bytes>, ErrorClass> {
        if !self.checks.is_empty() {
            // A body read for checks is held in memory: an endless one must not be.
            return match http_body_util::Limited::new(body, MAX_CHECKED_BODY)
                .collect()
                .await
            {
                Ok(c) => Ok(Some(c.to_bytes())),
                Err(e) => Err(match e.downcast_ref::<hyper::Error>() {
                    Some(h) => classify_hyper(h),
                    None => ErrorClass::Protocol,
                }),
            };
        }
        while let Some(f) = body.frame().await {
            f.map_err(|e| classify_hyper(&e))?;
        }
        Ok(None)
    }

    fn judge(&self, status: u16, body: Option<&Bytes>) -> Result<(), ErrorClass> {
        let expected = if self.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect.contains(&status)
        };
        if !expected {
            return Err(match status {
                500..=599 => ErrorClass::Status5xx,
                400..=499 => ErrorClass::Status4xx,
                _ => ErrorClass::StatusUnexpected,
            });
        }
        match body {
            Some(b) if !run_checks(&self.checks, b) => Err(ErrorClass::CheckFailed),
            _ => Ok(()),
        }
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Only same-origin redirects are followed: the connection is reused.
fn same_origin(base: &Uri, location: &HeaderValue) -> Option<Uri> {
    let loc: Uri = location.to_str().ok()?.parse().ok()?;
    if loc.authority().is_none() {
        let mut parts = base.clone().into_parts();
        parts.path_and_query = loc.path_and_query().cloned();
        return Uri::from_parts(parts).ok();
    }
    (loc.authority() == base.authority() && loc.scheme() == base.scheme()).then_some(loc)
}

/// True when every check holds on the JSON body.
pub fn run_checks(checks: &[Check], body: &[u8]) -> bool {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    checks.iter().all(|c| match c {
        Check::Exists { pointer, .. } => doc.pointer(pointer).is_some(),
        Check::Equals { pointer, value, .. } => doc.pointer(pointer) == Some(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_read_nested_fields() {
        let body = br#"{"status":"ok","db":{"up":true},"n":3}"#;
        let c = |p: &str, v| Check::Equals {
            pointer: p.into(),
            field: p.into(),
            value: v,
        };
        assert!(run_checks(
            &[c("/status", json!("ok")), c("/db/up", json!(true))],
            body
        ));
        assert!(!run_checks(&[c("/status", json!("down"))], body));
        assert!(run_checks(
            &[Check::Exists {
                pointer: "/n".into(),
                field: "n".into()
            }],
            body
        ));
        assert!(!run_checks(
            &[Check::Exists {
                pointer: "/m".into(),
                field: "m".into()
            }],
            body
        ));
        assert!(!run_checks(
            &[Check::Exists {
                pointer: "/n".into(),
                field: "n".into()
            }],
            b"<html>"
        ));
    }
}
