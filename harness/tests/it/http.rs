//! HTTP options against servers started here on loopback: h2c by prior
//! knowledge, h2 over TLS with a given CA bundle, `insecure` for a
//! self-signed server, request timeouts as their own error class, and
//! redirects followed only when asked.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use slogate::target::{self, Running, TargetConfig};

use crate::common;

fn scenario(defaults: &str, path: &str) -> String {
    format!(
        r#"
name = "http"
base_url = "${{BASE_URL}}"
[defaults]
duration = "1s"
connections = 2
timeout = "2s"
{defaults}
[[probe]]
name = "p"
path = "{path}"
rate = "20/s"
"#
    )
}

/// A self-signed certificate for 127.0.0.1: the server's config and the PEM
/// a client needs to trust it.
fn self_signed() -> (Arc<rustls::ServerConfig>, String) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![c.cert.der().clone()], key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (Arc::new(cfg), c.cert.pem())
}

async fn tls_target() -> (Running, String) {
    let (cfg, pem) = self_signed();
    let addr = "127.0.0.1:0".parse().unwrap();
    let t = target::start_tls(common::quiet_target(), addr, cfg)
        .await
        .unwrap();
    (t, pem)
}

fn served(t: &Running) -> (u64, u64) {
    (
        t.served.http1.load(Ordering::Relaxed),
        t.served.http2.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_speaks_http2_with_prior_knowledge() {
    let t = common::target(common::quiet_target()).await;
    let sc = common::scenario(&scenario(r#"http = "h2c""#, "/healthz"), &t.base_url());
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!((p.requests, p.ok), (20, 20));
    assert_eq!(served(&t), (0, 20));
    t.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_trusts_a_given_ca_bundle() {
    let (t, pem) = tls_target().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let defaults = format!("http = \"2\"\nca_file = \"{}\"", ca.display());
    let sc = common::scenario(&scenario(&defaults, "/healthz"), &t.base_url());
    assert!(t.base_url().starts_with("https://"));
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!((p.requests, p.ok), (20, 20), "{:?}", p.errors);
    assert_eq!(served(&t), (0, 20));
    t.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_self_signed_server_needs_the_insecure_switch() {
    let (t, _) = tls_target().await;
    // The system's roots do not know the certificate: every request is a TLS error.
    let sc = common::scenario(&scenario(r#"http = "1.1""#, "/healthz"), &t.base_url());
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!(p.ok, 0);
    assert_eq!(p.errors.get("tls"), Some(&p.requests), "{:?}", p.errors);
    assert_eq!(served(&t), (0, 0));

    let sc = common::scenario(&scenario("insecure = true", "/healthz"), &t.base_url());
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!((p.requests, p.ok), (20, 20), "{:?}", p.errors);
    // Default `auto`: ALPN offers h2 first, and the server takes it.
    assert_eq!(served(&t), (0, 20));
    t.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_timeout_is_a_timeout_error() {
    let t = common::target(TargetConfig {
        latency: Duration::from_millis(400),
        ..common::quiet_target()
    })
    .await;
    let toml = scenario("", "/healthz").replace("timeout = \"2s\"", "timeout = \"100ms\"");
    let toml = toml.replace("connections = 2", "connections = 8");
    let o = common::run(&common::scenario(&toml, &t.base_url())).await;
    let p = &o.summary.probes[0];
    assert_eq!(p.requests, 20);
    assert_eq!(p.errors.get("timeout"), Some(&20), "{:?}", p.errors);
    t.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_only_when_asked() {
    let t = common::target(common::quiet_target()).await;
    let sc = common::scenario(&scenario("", "/moved"), &t.base_url());
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!(p.ok, 0);
    assert_eq!(p.status.get("3xx"), Some(&20), "{:?}", p.status);
    assert_eq!(
        p.errors.get("status_unexpected"),
        Some(&20),
        "{:?}",
        p.errors
    );

    let sc = common::scenario(
        &scenario("follow_redirects = true", "/moved"),
        &t.base_url(),
    );
    let o = common::run(&sc).await;
    let p = &o.summary.probes[0];
    assert_eq!((p.requests, p.ok), (20, 20), "{:?}", p.errors);
    assert_eq!(p.status.get("2xx"), Some(&20), "{:?}", p.status);
    t.stop();
}
