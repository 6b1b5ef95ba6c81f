//! Probes: one JSON request (`json`) or one SSE stream (`sse`), each
//! measured from the outside, turning what happened into metric samples.

pub mod json;
pub mod sse;
