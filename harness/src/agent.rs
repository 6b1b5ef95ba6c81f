//! Running as one of several agents: the `--agent I/N` and `--start-at`
//! flags, waiting for the agreed start, and labelling an agent's evidence
//! so that `slogate merge` can tell the agents apart and line them up.
//!
//! The split itself is [`Share`]: every timetable slot, stream and
//! closed-model worker goes to the agent whose index equals its number
//! modulo the agent count. That keeps counts exact (the shares add up to
//! the whole, lower indices take a remainder's extra item) and the agents'
//! starts together are exactly the single run's timetable; scaling each
//! rate by 1/N instead would round every agent's count on its own.

use std::time::{Duration, SystemTime};

use crate::report::summary::{utc, Summary};
use crate::scenario::Scenario;
use crate::schedule::Share;

/// The furthest ahead an agreed start may lie: beyond it a typo is likelier
/// than a plan, and a pod would sit idle holding its node.
pub const MAX_AHEAD: Duration = Duration::from_secs(3600);
/// The furthest behind: an agent starting this late no longer lines up with
/// the others (a retried pod, a slow image pull), so it refuses to run.
pub const MAX_BEHIND: Duration = Duration::from_secs(60);

/// Parses `I/N` (0-based I, as Kubernetes' JOB_COMPLETION_INDEX).
pub fn parse_share(s: &str) -> Result<Share, String> {
    let bad =
        || format!("expected I/N with 0 <= I < N, I 0-based as JOB_COMPLETION_INDEX, got {s:?}");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let index: u32 = i.trim().parse().map_err(|_| bad())?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Share { index, count })
}

/// Parses an RFC 3339 UTC instant such as `2026-12-04T17:00:00Z`.
pub fn parse_start_at(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(s.trim()).map_err(|e| {
        format!("expected an RFC 3339 UTC time such as 2026-12-04T17:00:00Z, got {s:?}: {e}")
    })
}

/// Refuses an agreed start too far from `now` either way.
pub fn check_start_at(at: SystemTime, now: SystemTime) -> Result<(), String> {
    match at.duration_since(now) {
        Ok(ahead) if ahead > MAX_AHEAD => Err(format!(
            "--start-at {} is {} s ahead; at most {} s is accepted",
            utc(at),
            ahead.as_secs(),
            MAX_AHEAD.as_secs()
        )),
        Ok(_) => Ok(()),
        Err(e) if e.duration() > MAX_BEHIND => Err(format!(
            "--start-at {} passed {} s ago; an agent more than {} s late would not line up \
             with the others",
            utc(at),
            e.duration().as_secs(),
            MAX_BEHIND.as_secs()
        )),
        Err(_) => Ok(()),
    }
}

/// Sleeps until the wall clock reads `at` (at once if it already has).
/// The sleep runs on the monotonic clock, so it is re-checked against the
/// wall clock once near the end.
pub async fn wait_until(at: SystemTime) {
    for _ in 0..2 {
        match at.duration_since(SystemTime::now()) {
            Ok(left) if !left.is_zero() => tokio::time::sleep(left).await,
            _ => return,
        }
    }
}

/// Signed milliseconds from `at` to `t` (positive when `t` is later).
pub fn offset_ms(at: SystemTime, t: SystemTime) -> f64 {
    match t.duration_since(at) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// Records the agreed start and how far the real start was from it.
pub fn record_start(s: &mut Summary, at: SystemTime, started: SystemTime) {
    s.run.start_at_utc = Some(utc(at));
    s.run.start_offset_ms = Some(offset_ms(at, started));
}

/// Marks an agent's evidence: its index in the folder name (agents that
/// share a start second would otherwise write into one folder) and its own
/// stream populations in place of the whole scenario's.
pub fn label(s: &mut Summary, share: Share, sc: &Scenario) {
    s.run.id = format!("{}-agent{}of{}", s.run.id, share.index, share.count);
    s.run.agent = Some(format!("{}/{}", share.index, share.count));
    for (st, spec) in s.streams.iter_mut().zip(&sc.streams) {
        st.streams = share.of(spec.connections.into()) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flag_parses_and_names_its_mistakes() {
        assert_eq!(parse_share("2/3"), Ok(Share { index: 2, count: 3 }));
        assert_eq!(parse_share("0/1"), Ok(Share::WHOLE));
        for bad in ["3/3", "1/0", "1", "-1/3", "a/3", "1/3/4", ""] {
            let e = parse_share(bad).unwrap_err();
            assert!(e.contains("0 <= I < N"), "{bad}: {e}");
        }
    }

    #[test]
    fn start_at_bounds() {
        let now = humantime::parse_rfc3339("2026-12-04T16:00:00Z").unwrap();
        let at = |s: &str| parse_start_at(s).unwrap();
        assert!(check_start_at(at("2026-12-04T16:59:00Z"), now).is_ok());
        assert!(check_start_at(at("2026-12-04T15:59:30Z"), now).is_ok());
        let e = check_start_at(at("2026-12-04T17:00:01Z"), now).unwrap_err();
        assert!(e.contains("3601 s ahead"), "{e}");
        let e = check_start_at(at("2026-12-04T15:58:00Z"), now).unwrap_err();
        assert!(e.contains("passed 120 s ago"), "{e}");
        assert!(parse_start_at("2026-12-04 16:00").is_err());
        assert!(parse_start_at("2026-12-04T16:00:00+02:00").is_err());
        let t = at("2026-12-04T16:00:00.250Z");
        assert_eq!(offset_ms(now, t), 250.0);
        assert_eq!(offset_ms(t, now), -250.0);
    }
}
