//! The resolved plan that `slogate check` prints: what would be sent, how
//! hard and for how long, and which SLOs would judge it. Secrets masked.

use std::fmt::Write;

use crate::report::fmt::{bound, value};
use crate::report::summary::describe_load;
use crate::scenario::units::fmt_duration;
use crate::scenario::{Scenario, SloSpec};
use crate::slo::unit_name;

fn slo_list(slos: &[SloSpec]) -> String {
    if slos.is_empty() {
        return "none".into();
    }
    slos.iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s.metric.key(),
                bound(s.bound),
                value(Some(s.threshold), unit_name(s.metric.unit()))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render(sc: &Scenario) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "scenario {} ({}), sha256 {}",
        sc.name,
        sc.file.display(),
        sc.sha256
    );
    let _ = writeln!(o, "target   {}", sc.base_url);
    let _ = writeln!(
        o,
        "auth     {}",
        if sc.bearer.is_some() {
            "bearer token (set)"
        } else {
            "none"
        }
    );
    let st = &sc.settings;
    let _ = writeln!(
        o,
        "settings timeout {}, connect timeout {}, http {:?}, insecure {}, interval {}, late bound {:.2}%",
        fmt_duration(st.timeout),
        fmt_duration(st.connect_timeout),
        st.http,
        st.insecure,
        fmt_duration(st.interval),
        st.max_late_ratio * 100.0
    );
    let _ = writeln!(o, "duration {}", fmt_duration(sc.duration()));
    if let Some(st) = &sc.stability {
        let _ = writeln!(
            o,
            "windows  {} each; warm-up {}; the last {} must pass in every window; flaps max {}; \
             abort after {}",
            fmt_duration(st.window),
            if st.warmup_windows == 0 {
                "none".into()
            } else {
                fmt_duration(st.warmup())
            },
            fmt_duration(st.observe()),
            st.flaps_max.map_or("not judged".into(), |m| m.to_string()),
            st.abort_after
                .map_or("never".into(), |n| format!("{n} failed windows in a row"))
        );
        for n in &st.notes {
            let _ = writeln!(o, "  note     {n}");
        }
    }
    for p in &sc.probes {
        let _ = writeln!(
            o,
            "\nprobe {} ({:?}): {} {}",
            p.name, p.class, p.method, p.url
        );
        let _ = writeln!(o, "  load        {}", describe_load(&p.load));
        let _ = writeln!(
            o,
            "  connections {}, timeout {}",
            p.connections,
            fmt_duration(p.timeout)
        );
        for (k, v) in &p.headers {
            let _ = writeln!(o, "  header      {k}: {v}");
        }
        if !p.checks.is_empty() {
            let _ = writeln!(o, "  checks      {}", p.checks.len());
        }
        let _ = writeln!(o, "  SLOs        {}", slo_list(&p.slos));
    }
    for s in &sc.streams {
        let _ = writeln!(o, "\nstream {}: GET {}", s.name, s.url);
        let rate = s
            .connect_rate
            .map_or("all at once".into(), |r| format!("{r}/s"));
        let _ = writeln!(
            o,
            "  streams     {} opened {rate}, hold {}",
            s.connections,
            fmt_duration(s.hold)
        );
        let _ = writeln!(
            o,
            "  reconnect   {}, idle timeout {}",
            s.reconnect,
            fmt_duration(s.idle_timeout)
        );
        let _ = writeln!(o, "  SLOs        {}", slo_list(&s.slos));
    }
    let _ = writeln!(o, "\nrun SLOs {}", slo_list(&sc.run_slos));
    sc.secrets.mask(&o)
}
