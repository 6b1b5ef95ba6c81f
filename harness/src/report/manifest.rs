//! `manifest.json`: what produced the evidence and a sha256 of every file,
//! so a reviewer can tell that nothing changed after the run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = "slogate.manifest/1";
pub const NAME: &str = "manifest.json";

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

/// What `verify` found wrong with one file of an evidence folder.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file's hash differs from the manifest's.
    Changed(String),
    /// Listed in the manifest, not on disk.
    Missing(String),
    /// On disk, not in the manifest.
    Extra(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed(n) => write!(f, "changed: {n} (sha256 differs from manifest.json)"),
            Problem::Missing(n) => write!(f, "missing: {n} (listed in manifest.json)"),
            Problem::Extra(n) => write!(f, "extra: {n} (not listed in manifest.json)"),
        }
    }
}

pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
    use anyhow::Context;
    let p = dir.join(NAME);
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let m: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a slogate manifest", p.display()))?;
    anyhow::ensure!(
        m.schema == SCHEMA,
        "{}: unknown schema {:?}",
        p.display(),
        m.schema
    );
    Ok(m)
}

/// Every file of the folder against the manifest's hashes.
pub fn verify(dir: &Path, m: &Manifest) -> anyhow::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (name, want) in &m.files {
        let p = dir.join(name);
        if !p.is_file() {
            problems.push(Problem::Missing(name.clone()));
        } else if sha256_file(&p)? != *want {
            problems.push(Problem::Changed(name.clone()));
        }
    }
    for name in files_in(dir)? {
        if !m.files.contains_key(&name) {
            problems.push(Problem::Extra(name));
        }
    }
    Ok(problems)
}

/// The regular files of the folder, except the manifest itself.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name != NAME && e.file_type()?.is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Adds files written later (e.g. a comparison) without re-hashing the
/// others, so a file changed since the run still shows up in `verify`.
pub fn add_files(dir: &Path, names: &[&str]) -> anyhow::Result<()> {
    let mut m = read(dir)?;
    for n in names {
        m.files.insert(n.to_string(), sha256_file(&dir.join(n))?);
    }
    std::fs::write(dir.join(NAME), serde_json::to_string_pretty(&m)? + "\n")?;
    Ok(())
}
