//! The CI examples in `ci/` parse as YAML, name the expected jobs, publish
//! junit.xml and the evidence folder, and every slogate command in them is
//! accepted by slogate's own argument parser (so a renamed flag breaks here).

use std::path::{Path, PathBuf};

use clap::Parser;
use yaml_rust2::{Yaml, YamlLoader};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn load(p: &str) -> Yaml {
    let text = std::fs::read_to_string(repo(p)).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(docs.len(), 1, "{p}: one document");
    docs.remove(0)
}

/// The slogate invocations in shell lines, cut at redirections and operators.
fn slogate_commands(lines: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in lines.iter().flat_map(|l| l.lines()) {
        let Some(words) = shlex::split(line) else {
            continue;
        };
        let Some(start) = words.iter().position(|w| w.ends_with("/slogate")) else {
            continue;
        };
        let cmd: Vec<String> = words[start..]
            .iter()
            .take_while(|w| !matches!(w.as_str(), ">" | "2>&1" | "&" | "&&" | "|" | ";"))
            .cloned()
            .collect();
        out.push(cmd);
    }
    out
}

/// Each command parses with slogate's CLI; scenario files exist; a run is there.
fn check_commands(file: &str, lines: &[String]) {
    let cmds = slogate_commands(lines);
    assert!(
        cmds.len() >= 2,
        "{file}: serve and run expected, got {cmds:?}"
    );
    for c in &cmds {
        if let Err(e) = slogate::cli::Cli::try_parse_from(c) {
            panic!(
                "{file}: `{}` is not a valid slogate command: {e}",
                c.join(" ")
            );
        }
    }
    let run = cmds.iter().find(|c| c[1] == "run").expect("a slogate run");
    assert_eq!(run[2], "scenarios/ci-gate.toml", "{file}");
    assert!(repo(&run[2]).is_file(), "{file}: {} exists", run[2]);
    assert!(
        run.windows(2).any(|w| w == ["--out", "reports"]),
        "{file}: evidence in reports/"
    );
    assert!(
        cmds.iter().any(|c| c[1] == "serve"),
        "{file}: starts a service"
    );
}

fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Array(a) => a.iter().flat_map(strings).collect(),
        Yaml::Hash(h) => h.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn github_workflow_gates_publishes_junit_and_uploads_evidence() {
    let y = load("ci/github-actions.yml");
    let job = &y["jobs"]["perf-gate"];
    assert_eq!(job["name"].as_str(), Some("slogate CI gate"));
    let steps = job["steps"].as_vec().expect("steps");
    let runs: Vec<String> = steps
        .iter()
        .filter_map(|s| s["run"].as_str().map(String::from))
        .collect();
    check_commands("github-actions.yml", &runs);
    let uses = |prefix: &str| {
        steps
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .unwrap_or_else(|| panic!("a step using {prefix}"))
    };
    let junit = uses("mikepenz/action-junit-report@");
    assert_eq!(
        junit["with"]["report_paths"].as_str(),
        Some("reports/*/junit.xml")
    );
    assert_eq!(
        junit["if"].as_str(),
        Some("always()"),
        "published on failure too"
    );
    let upload = uses("actions/upload-artifact@");
    assert_eq!(upload["with"]["path"].as_str(), Some("reports/"));
    assert_eq!(upload["if"].as_str(), Some("always()"));
}

#[test]
fn gitlab_job_gates_publishes_junit_and_keeps_evidence_a_year() {
    let y = load("ci/gitlab-ci.yml");
    let job = &y["slogate-gate"];
    assert_eq!(job["stage"].as_str(), Some("perf"));
    check_commands("gitlab-ci.yml", &strings(&job["script"]));
    let art = &job["artifacts"];
    assert_eq!(
        art["reports"]["junit"].as_str(),
        Some("reports/*/junit.xml")
    );
    assert_eq!(art["when"].as_str(), Some("always"));
    assert_eq!(art["expire_in"].as_str(), Some("1 year"));
    assert_eq!(strings(&art["paths"]), vec!["reports/".to_string()]);
}

#[test]
fn a_wrong_flag_is_caught() {
    let bad = vec!["./target/release/slogate run scenarios/ci-gate.toml --output reports".into()];
    let cmds = slogate_commands(&bad);
    assert!(slogate::cli::Cli::try_parse_from(&cmds[0]).is_err());
}
