//! Commands on evidence folders: `report` (render again from stored data),
//! `compare` (before/after), `verify` (hashes against the manifest), and
//! the evidence options of `run`: the baseline gate and the retention.
//! Each returns an exit code; only `main` exits.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::report::{self, baseline, compare, manifest, stored, Summary};

const EXIT_BAD_INPUT: i32 = 2;

#[derive(Args, Debug, Clone, Default)]
pub struct GateArgs {
    /// Gate on a stored run: its folder or its summary.json.
    #[arg(long, value_name = "DIR_OR_SUMMARY")]
    pub baseline: Option<PathBuf>,
    /// How much worse than the baseline a metric may get, e.g. 10%.
    #[arg(long, value_parser = parse_pct, default_value = "10%", requires = "baseline")]
    pub max_regression: f64,
    /// Keep the evidence at least this long (manifest retain_until_utc), e.g. 400d, 2y.
    #[arg(long, value_parser = parse_retain, value_name = "DURATION")]
    pub retain: Option<u64>,
}

fn parse_pct(s: &str) -> Result<f64, String> {
    crate::scenario::units::Percent::parse(s).map(|p| p.0)
}

/// A retention in days, at least a year.
fn parse_retain(s: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    let days = d.as_secs().div_ceil(24 * 3600);
    if days < report::MIN_RETAIN_DAYS {
        return Err(format!(
            "retention {s:?} is {days} days; evidence is kept at least {} days",
            report::MIN_RETAIN_DAYS
        ));
    }
    Ok(days)
}

/// A loaded baseline, read before any load is sent.
pub struct Gate {
    pub source: String,
    pub summary: Summary,
    pub bound: f64,
}

impl GateArgs {
    /// Reads the baseline; a bad one is bad input (exit 2, nothing sent).
    pub fn load(&self) -> Result<Option<Gate>, i32> {
        let Some(p) = &self.baseline else {
            return Ok(None);
        };
        match read_summary(p) {
            Ok(summary) => Ok(Some(Gate {
                source: p.display().to_string(),
                summary,
                bound: self.max_regression,
            })),
            Err(e) => {
                eprintln!("error: --baseline: {e:#}");
                Err(EXIT_BAD_INPUT)
            }
        }
    }
}

/// What a run does to its summary before the evidence is written.
pub fn finish_summary(s: &mut Summary, gate: Option<&Gate>, retain_days: Option<u64>) {
    s.retain_days = retain_days;
    if let Some(g) = gate {
        baseline::apply(s, &g.summary, &g.source, g.bound);
    }
}

fn read_summary(p: &Path) -> anyhow::Result<Summary> {
    if p.is_dir() {
        stored::read_summary(&p.join(report::SUMMARY))
    } else {
        stored::read_summary(p)
    }
}

/// A run folder with its interval log, or a bare summary.json (no noise figures).
fn read_run(p: &Path) -> anyhow::Result<stored::Stored> {
    if p.is_dir() {
        stored::read(p)
    } else {
        Ok(stored::Stored {
            summary: stored::read_summary(p)?,
            intervals: Vec::new(),
        })
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The evidence folder of a run.
    pub run_dir: PathBuf,
}

pub fn report_cmd(a: &ReportArgs) -> i32 {
    match report::rerender(&a.run_dir) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_BAD_INPUT
        }
    }
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The run before the change: its folder (or summary.json).
    pub before: PathBuf,
    /// The run after the change: its folder (or summary.json).
    pub after: PathBuf,
    /// Where compare.md and compare.json go (default: the AFTER folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit 1 when any metric regressed.
    #[arg(long)]
    pub fail_on_regression: bool,
}

pub fn compare_cmd(a: &CompareArgs) -> i32 {
    let runs = read_run(&a.before).and_then(|b| Ok((b, read_run(&a.after)?)));
    let (before, after) = match runs {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_BAD_INPUT;
        }
    };
    let c = compare::compare(
        (&a.before.display().to_string(), &before),
        (&a.after.display().to_string(), &after),
    );
    let out = a.out.clone().unwrap_or_else(|| default_out(&a.after));
    if let Err(e) = write_comparison(&out, &c, a.out.is_none()) {
        eprintln!("error: cannot write the comparison: {e:#}");
        return 3;
    }
    print!("{}", compare_terminal(&c));
    println!("comparison: {}", out.display());
    if a.fail_on_regression && c.regressed > 0 {
        1
    } else {
        0
    }
}

fn default_out(after: &Path) -> PathBuf {
    if after.is_dir() {
        after.to_path_buf()
    } else {
        after
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// Writes compare.md and compare.json; into the AFTER folder, they join its manifest.
fn write_comparison(out: &Path, c: &compare::Comparison, in_after: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("compare.md"), compare::markdown(c))?;
    std::fs::write(
        out.join("compare.json"),
        serde_json::to_string_pretty(c)? + "\n",
    )?;
    if in_after && out.join(manifest::NAME).is_file() {
        manifest::add_files(out, &["compare.md", "compare.json"])?;
    }
    Ok(())
}

fn compare_terminal(c: &compare::Comparison) -> String {
    use report::fmt::value;
    let mut o = String::new();
    for m in &c.metrics {
        o.push_str(&format!(
            "{:<10} {} {}: {} -> {} (noise ±{})\n",
            m.call.label(),
            m.scope,
            m.metric,
            value(m.before, &m.unit),
            value(m.after, &m.unit),
            m.noise.map_or("n/a".into(), |n| value(Some(n), &m.unit))
        ));
    }
    o.push_str(&format!("\n{}\n", c.conclusion()));
    o
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The evidence folder of a run.
    pub run_dir: PathBuf,
}

pub fn verify_cmd(a: &VerifyArgs) -> i32 {
    let m = match manifest::read(&a.run_dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_BAD_INPUT;
        }
    };
    match manifest::verify(&a.run_dir, &m) {
        Ok(problems) if problems.is_empty() => {
            println!(
                "ok: {} files match manifest.json (run {}, retain until {})",
                m.files.len(),
                m.run_id,
                m.retain_until_utc
            );
            0
        }
        Ok(problems) => {
            for p in &problems {
                println!("{p}");
            }
            println!(
                "FAILED: {} of the evidence does not match manifest.json",
                problems.len()
            );
            1
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_BAD_INPUT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_at_least_a_year() {
        assert_eq!(parse_retain("2y"), Ok(731));
        assert_eq!(parse_retain("400d"), Ok(400));
        assert!(parse_retain("30d")
            .unwrap_err()
            .contains("at least 365 days"));
        assert!(parse_retain("soon").is_err());
    }
}
