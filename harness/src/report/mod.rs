//! The evidence folder: `summary.json` first, then every file rendered from
//! it (and from the interval log), then `manifest.json` with their hashes.
//! Every text passes through the secret mask before it touches the disk.

pub mod baseline;
pub mod charts;
pub mod compare;
pub mod csv;
pub mod fmt;
pub mod html;
pub mod junit;
pub mod manifest;
pub mod markdown;
pub mod stored;
pub mod summary;
pub mod svg;
pub mod windows;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::scenario::Secrets;
pub use summary::Summary;

/// How long evidence must be kept by default: one year and a day.
pub const RETAIN_DAYS: u64 = 366;
/// The shortest retention a run accepts: the runbook keeps evidence a year.
pub const MIN_RETAIN_DAYS: u64 = 365;

pub const SUMMARY: &str = "summary.json";
pub const HLOG: &str = "histograms.hlog";

/// Fails early when evidence could not be written under `out`.
pub fn check_writable(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the evidence folder {}", out.display()))?;
    let probe = out.join(format!(".slogate-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write evidence under {}", out.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// A fresh folder for one run: two runs in the same second get `-2`, `-3`...
pub fn new_run_dir(out: &Path, id: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    for n in 1..1000 {
        let name = if n == 1 {
            id.to_string()
        } else {
            format!("{id}-{n}")
        };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    anyhow::bail!("too many runs named {id} in {}", out.display())
}

/// Writes every report file into `dir` (created if needed).
pub fn write(
    dir: &Path,
    s: &Summary,
    hlog: &[u8],
    secrets: &Secrets,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    let mut put = |name: &str, text: String| -> anyhow::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, secrets.mask(&text))
            .with_context(|| format!("cannot write {}", p.display()))?;
        files.push(p);
        Ok(())
    };
    put(SUMMARY, serde_json::to_string_pretty(s)? + "\n")?;
    put(HLOG, String::from_utf8_lossy(hlog).into_owned())?;
    let st = stored::Stored {
        summary: s.clone(),
        intervals: stored::parse_hlog(hlog)?,
    };
    render_all(&st, &mut put)?;
    write_manifest(dir, s)?;
    files.push(dir.join(manifest::NAME));
    Ok(files)
}

/// The files rendered from the summary and the interval histograms.
pub fn render_all(
    st: &stored::Stored,
    put: &mut dyn FnMut(&str, String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let s = &st.summary;
    put("metrics.csv", csv::render(s)?)?;
    put("report.md", markdown::render(s))?;
    put("report.html", html::render(st))?;
    put("junit.xml", junit::render(s)?)?;
    Ok(())
}

/// Renders every report file of a stored run again from its summary and
/// interval log (no load sent), then writes a fresh manifest.
pub fn rerender(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let st = stored::read(dir)?;
    let mut files = Vec::new();
    let mut put = |name: &str, text: String| -> anyhow::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        files.push(p);
        Ok(())
    };
    render_all(&st, &mut put)?;
    write_manifest(dir, &st.summary)?;
    files.push(dir.join(manifest::NAME));
    Ok(files)
}

/// The interval-log tag of one probe's or stream's histogram.
pub fn tag(name: &str, metric: &str) -> String {
    crate::engine::tag_name(name, metric)
}

pub fn write_manifest(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    let mut files = std::collections::BTreeMap::new();
    for name in manifest::files_in(dir)? {
        let hash = manifest::sha256_file(&dir.join(&name))?;
        files.insert(name, hash);
    }
    let started =
        humantime::parse_rfc3339(&s.run.started_utc).unwrap_or_else(|_| SystemTime::now());
    let m = manifest::Manifest {
        schema: manifest::SCHEMA.into(),
        tool: s.tool.name.clone(),
        tool_version: s.tool.version.clone(),
        run_id: s.run.id.clone(),
        scenario: s.run.scenario.clone(),
        scenario_sha256: s.run.scenario_sha256.clone(),
        started_utc: s.run.started_utc.clone(),
        ended_utc: s.run.ended_utc.clone(),
        retain_until_utc: summary::utc(started + retention(s)),
        complete: s.run.complete,
        files,
    };
    std::fs::write(
        dir.join(manifest::NAME),
        serde_json::to_string_pretty(&m)? + "\n",
    )?;
    Ok(())
}

/// How long this run's evidence must be kept.
pub fn retention(s: &Summary) -> Duration {
    Duration::from_secs(s.retain_days.unwrap_or(RETAIN_DAYS) * 24 * 3600)
}

/// The verdict table for the terminal.
pub fn terminal(s: &Summary) -> String {
    use fmt::{bound, margin, value};
    let mut rows = vec![[
        "scope".to_string(),
        "SLO".into(),
        "measured".into(),
        "threshold".into(),
        "margin".into(),
        "verdict".into(),
    ]];
    for r in &s.slos {
        rows.push([
            r.scope.clone(),
            format!("{} {}", r.metric, bound(r.bound)),
            value(r.value, &r.unit),
            value(Some(r.threshold), &r.unit),
            margin(r.margin, &r.unit),
            r.verdict.label().into(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if (2..5).contains(&i) {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 10));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\nverdict: {} (exit {})  requests {}  5xx {}  availability {}\n",
        s.run.verdict.label(),
        s.run.exit_code,
        s.totals.requests,
        s.totals.status_5xx,
        value(s.totals.availability, "ratio")
    ));
    out.push_str(&windows::terminal(s));
    for why in &s.run.reasons {
        out.push_str(&format!("inconclusive: {why}\n"));
    }
    out.push_str(&baseline::terminal(s));
    if s.slos.is_empty() {
        out.push_str(
            "note: this scenario sets no SLO, so nothing was judged: the run passes by default\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_in_the_same_second_get_their_own_folders() {
        let out = tempfile::tempdir().unwrap();
        let a = super::new_run_dir(out.path(), "x-2026").unwrap();
        let b = super::new_run_dir(out.path(), "x-2026").unwrap();
        assert_ne!(a, b);
        assert!(b.ends_with("x-2026-2"));
    }
}
