//! All integration tests in one binary: each module covers one capability,
//! against servers started in-process on loopback port 0.

mod agents;
mod capacity;
mod cases;
mod cases_json;
mod ci_files;
mod common;
mod dead_streams;
mod evidence;
mod http;
mod k8s;
mod nchan_ids;
mod rawserver;
mod sse_reconnect;
mod stability;
mod timing;
mod validation;
