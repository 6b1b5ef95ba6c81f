//! `manifest.json`: what produced the evidence and a sha256 of every file,
//! so a reviewer can tell that nothing changed after the run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = "slogate.manifest/1";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema: String,
    pub tool: String,
    pub tool_version: String,
    pub run_id: String,
    pub scenario: String,
    pub scenario_sha256: String,
    pub started_utc: String,
    pub ended_utc: String,
    pub retain_until_utc: String,
    pub complete: bool,
    pub files: BTreeMap<String, String>,
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(hex::encode(Sha256::digest(std::fs::read(path)?)))
}
