//! `junit.xml`: one test case per SLO, one per probe's body-check contract,
//! one per baseline-gated metric and one for the run being conclusive, so a
//! CI test view lists what held and what broke, with measured vs threshold.

use quick_xml::events::BytesText;
use quick_xml::Writer;

use super::fmt::{bound, margin, value};
use super::summary::{ProbeSummary, Summary};
use crate::slo::{SloResult, Verdict};

/// One test case; `failure` is (type, message).
#[derive(Debug, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub failure: Option<(String, String)>,
}

pub fn cases(s: &Summary) -> Vec<Case> {
    let base = format!("slogate.{}", s.run.scenario);
    let mut out: Vec<Case> = s.slos.iter().map(|r| slo_case(&base, r)).collect();
    out.extend(
        s.probes
            .iter()
            .filter(|p| !p.checks.is_empty())
            .map(|p| contract_case(&base, p)),
    );
    if let Some(b) = &s.baseline {
        out.extend(super::baseline::junit_cases(&base, b));
    }
    out.push(Case {
        classname: format!("{base}.run"),
        name: "run conclusive".into(),
        failure: (!s.run.complete).then(|| ("inconclusive".into(), s.run.reasons.join("; "))),
    });
    out
}

fn slo_case(base: &str, r: &SloResult) -> Case {
    let failure = match r.verdict {
        Verdict::Pass => None,
        Verdict::NoData => Some(("no_data".into(), format!("no data for {}", r.metric))),
        _ => Some((
            "slo_breached".into(),
            format!(
                "measured {} vs threshold {} {} (margin {})",
                value(r.value, &r.unit),
                bound(r.bound),
                value(Some(r.threshold), &r.unit),
                margin(r.margin, &r.unit)
            ),
        )),
    };
    Case {
        classname: format!("{base}.slo"),
        name: format!("{} {}", r.scope, r.metric),
        failure,
    }
}

fn contract_case(base: &str, p: &ProbeSummary) -> Case {
    let failed = p.errors.get("check_failed").copied().unwrap_or(0);
    let failure = (failed > 0).then(|| {
        (
            "contract_failed".into(),
            format!(
                "{failed} of {} responses failed the body checks ({})",
                p.requests,
                p.checks.join(", ")
            ),
        )
    });
    Case {
        classname: format!("{base}.contract"),
        name: format!("{} body checks: {}", p.name, p.checks.join(", ")),
        failure,
    }
}

pub fn render(s: &Summary) -> anyhow::Result<String> {
    let cases = cases(s);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(quick_xml::events::Event::Decl(
        quick_xml::events::BytesDecl::new("1.0", Some("UTF-8"), None),
    ))?;
    let (tests, fails) = (cases.len().to_string(), failures.to_string());
    let time = format!("{:.3}", s.run.duration_s);
    w.create_element("testsuites")
        .with_attributes([
            ("name", "slogate"),
            ("tests", tests.as_str()),
            ("failures", fails.as_str()),
        ])
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attributes([
                    ("name", s.run.scenario.as_str()),
                    ("tests", tests.as_str()),
                    ("failures", fails.as_str()),
                    ("errors", "0"),
                    ("skipped", "0"),
                    ("time", time.as_str()),
                    ("timestamp", s.run.started_utc.trim_end_matches('Z')),
                ])
                .write_inner_content(|w| suite_body(w, s, &cases))?;
            Ok(())
        })?;
    Ok(String::from_utf8(w.into_inner())? + "\n")
}

fn suite_body(w: &mut Writer<Vec<u8>>, s: &Summary, cases: &[Case]) -> std::io::Result<()> {
    let exit = s.run.exit_code.to_string();
    w.create_element("properties").write_inner_content(|w| {
        for (k, v) in [
            ("run_id", s.run.id.as_str()),
            ("verdict", s.run.verdict.label()),
            ("exit_code", exit.as_str()),
            ("target", s.run.base_url.as_str()),
        ] {
            w.create_element("property")
                .with_attributes([("name", k), ("value", v)])
                .write_empty()?;
        }
        Ok(())
    })?;
    for c in cases {
        let el = w.create_element("testcase").with_attributes([
            ("classname", c.classname.as_str()),
            ("name", c.name.as_str()),
        ]);
        match &c.failure {
            None => {
                el.write_empty()?;
            }
            Some((kind, msg)) => {
                el.write_inner_content(|w| {
                    w.create_element("failure")
                        .with_attributes([("type", kind.as_str()), ("message", msg.as_str())])
                        .write_text_content(BytesText::new(msg))?;
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}
