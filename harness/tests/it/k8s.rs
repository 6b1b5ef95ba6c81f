//! The Kubernetes manifests in `ci/k8s/` agree with the real CLI: each pod's
//! command line parses with slogate's own clap definition, every `$(VAR)`
//! it uses is defined in the pod's environment, the agent count agrees with
//! the Indexed Job's size, and the Secret, ConfigMap and volume they name
//! exist and hold what the scenario needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Parser;
use slogate::cli::{Cli, Command};
use slogate::schedule::Share;
use yaml_rust2::{Yaml, YamlLoader};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/k8s")
}

/// The values a user fills in with envsubst when applying the Jobs.
fn fill(text: &str) -> String {
    let at = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(600));
    text.replace("${SLOGATE_IMAGE}", "registry.invalid/slogate:0.1.0")
        .replace("${BASE_URL}", "http://127.0.0.1:8080/api")
        .replace("${RUN_ID}", "capacity-1")
        .replace("${START_AT}", &at.to_string())
}

/// Every manifest by `kind/name`.
fn manifests() -> BTreeMap<String, Yaml> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let mut text = std::fs::read_to_string(&p).unwrap();
            // Only the Jobs go through envsubst; the scenario keeps its ${VAR}s.
            if p.to_string_lossy().ends_with("-job.yaml") {
                text = fill(&text);
            }
            for doc in YamlLoader::load_from_str(&text).unwrap() {
                let key = format!("{}/{}", s(&doc["kind"]), s(&doc["metadata"]["name"]));
                out.insert(key, doc);
            }
        }
    }
    out
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap()
        .iter()
        .map(|v| s(v).to_string())
        .collect()
}

/// `$(VAR)` references replaced from the container's env; a reference the
/// env does not define fails the test.
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = arg.to_string();
    while let Some(i) = out.find("$(") {
        let j = out[i..].find(')').unwrap() + i;
        let name = &out[i + 2..j];
        let v = env
            .get(name)
            .unwrap_or_else(|| panic!("$({name}) is not in the pod's env"));
        out.replace_range(i..=j, v);
    }
    out
}

struct Pod<'a> {
    spec: &'a Yaml,
    container: &'a Yaml,
}

fn pod(job: &Yaml) -> Pod<'_> {
    let spec = &job["spec"]["template"]["spec"];
    let cs = spec["containers"].as_vec().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(strings(&cs[0]["command"]), ["slogate"]);
    Pod {
        spec,
        container: &cs[0],
    }
}

impl Pod<'_> {
    /// The env as plain values; values from elsewhere stand in by their source.
    fn env(&self, index: u32) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for e in self.container["env"].as_vec().into_iter().flatten() {
            let v = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else if !e["valueFrom"]["fieldRef"].is_badvalue() {
                let path = s(&e["valueFrom"]["fieldRef"]["fieldPath"]);
                assert!(path.contains("job-completion-index"), "{path}");
                index.to_string()
            } else {
                format!("secret:{}", s(&e["valueFrom"]["secretKeyRef"]["name"]))
            };
            env.insert(s(&e["name"]).to_string(), v);
        }
        env
    }

    fn cli(&self, index: u32) -> Cli {
        let env = self.env(index);
        let mut argv = vec!["slogate".to_string()];
        argv.extend(
            strings(&self.container["args"])
                .iter()
                .map(|a| expand(a, &env)),
        );
        Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    /// Volume name -> (mount path, source kind, source name).
    fn mounts(&self) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        for m in self.container["volumeMounts"].as_vec().unwrap() {
            let name = s(&m["name"]);
            let v = self.spec["volumes"]
                .as_vec()
                .unwrap()
                .iter()
                .find(|v| s(&v["name"]) == name)
                .unwrap_or_else(|| panic!("volume {name} is mounted but not defined"));
            let src = if v["configMap"].is_badvalue() {
                format!("pvc:{}", s(&v["persistentVolumeClaim"]["claimName"]))
            } else {
                format!("configmap:{}", s(&v["configMap"]["name"]))
            };
            out.insert(s(&m["mountPath"]).to_string(), (name.to_string(), src));
        }
        out
    }
}

#[test]
fn agents_job_runs_every_share_of_the_scenario_from_the_configmap() {
    let m = manifests();
    let job = &m["Job/slogate-agents"];
    let spec = &job["spec"];
    assert_eq!(s(&spec["completionMode"]), "Indexed");
    let n = spec["completions"].as_i64().unwrap() as u32;
    assert_eq!(
        spec["parallelism"].as_i64(),
        Some(n.into()),
        "all agents run at once"
    );
    assert_eq!(s(&spec["template"]["spec"]["restartPolicy"]), "Never");
    let p = pod(job);
    let mounts = p.mounts();
    assert_eq!(mounts["/scenario"].1, "configmap:slogate-scenario");
    assert_eq!(mounts["/evidence"].1, "pvc:slogate-evidence");
    assert!(m.contains_key("ConfigMap/slogate-scenario"));
    assert!(m.contains_key("PersistentVolumeClaim/slogate-evidence"));
    let mut outs = Vec::new();
    for i in 0..n {
        let Command::Run(a) = p.cli(i).command else {
            panic!("the agents' command is not `run`")
        };
        assert_eq!(a.agent, Some(Share { index: i, count: n }));
        let at = a.start_at.expect("agents start at an agreed instant");
        slogate::agent::check_start_at(at, SystemTime::now()).unwrap();
        let key = a
            .scenario
            .strip_prefix("/scenario")
            .unwrap()
            .to_str()
            .unwrap();
        let text = m["ConfigMap/slogate-scenario"]["data"][key.trim_start_matches('/')]
            .as_str()
            .unwrap_or_else(|| panic!("the ConfigMap holds no {key}"));
        scenario_parses_with(text, &p.env(i));
        assert!(
            a.out.starts_with("/evidence"),
            "{:?} is not on the shared volume",
            a.out
        );
        outs.push(a.out);
    }
    outs.dedup();
    assert_eq!(outs, [PathBuf::from("/evidence/capacity-1")]);
}

/// The scenario's variables come from the pod's env; the token from the Secret.
fn scenario_parses_with(text: &str, env: &BTreeMap<String, String>) {
    assert_eq!(env["TOKEN"], "secret:slogate-token");
    let m = manifests();
    let secret = &m["Secret/slogate-token"];
    let token = s(&secret["stringData"]["token"]);
    assert!(
        token.starts_with("PLACEHOLDER"),
        "the committed Secret must hold a placeholder"
    );
    let mut vars = slogate::scenario::Vars::default();
    for (k, v) in env {
        let v = if k == "TOKEN" { token } else { v.as_str() };
        vars.cli.insert(k.clone(), v.to_string());
    }
    let sc = slogate::scenario::parse("capacity.toml", text, &vars, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.bearer.as_deref(), Some(token));
}

#[test]
fn merge_job_reads_where_the_agents_wrote() {
    let m = manifests();
    let p = pod(&m["Job/slogate-merge"]);
    assert_eq!(p.mounts()["/evidence"].1, "pvc:slogate-evidence");
    let Command::Merge(a) = p.cli(0).command else {
        panic!("the merge Job's command is not `merge`")
    };
    assert_eq!(a.dirs, [PathBuf::from("/evidence/capacity-1")]);
    assert!(a.out.starts_with("/evidence/capacity-1"), "{:?}", a.out);
    let agents = pod(&m["Job/slogate-agents"]);
    let Command::Run(r) = agents.cli(0).command else {
        panic!("the agents' command is not `run`")
    };
    assert_eq!(r.out, a.dirs[0]);
}
