//! Value types a scenario is written in: durations (`250ms`), arrival rates
//! (`50/s`) and percentages (`0.5%`). Each parses from the string a user
//! writes and fails with a message that says what was expected.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Longer than any sensible run; also keeps every later sum far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Above any rate one process can send; keeps timetable arithmetic exact.
pub const MAX_RATE: f64 = 10_000_000.0;

/// A duration written with a unit, such as `250ms`, `10s`, `5m` or `1h 30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() || t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "invalid duration {s:?}: expected a number with a unit, like \"250ms\", \"10s\" or \"5m\""
            ));
        }
        let d = humantime::parse_duration(t).map_err(|e| {
            format!(
                "invalid duration {s:?} ({e}): expected a value like \"250ms\", \"10s\" or \"5m\""
            )
        })?;
        if d.is_zero() {
            return Err(format!(
                "invalid duration {s:?}: must be greater than zero (leave the setting out for none)"
            ));
        }
        if d > MAX_DURATION {
            return Err(format!("invalid duration {s:?}: at most 30 days"));
        }
        Ok(Dur(d))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_duration(self.0))
    }
}

/// Shortest readable form: `250ms`, `10s`, `1m30s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return format!("{}us", d.as_micros());
    }
    if ms % 1000 != 0 || ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(de::Error::custom)
    }
}

/// An arrival rate in requests per second, written `50/s`, `3000/m` or `2/h`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rate(pub f64);

impl Rate {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid rate {s:?}: expected a count per unit of time, like \"50/s\" or \"3000/m\"")
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "1s" => 1.0,
            "m" | "1m" => 60.0,
            "h" | "1h" => 3600.0,
            _ => return Err(bad()),
        };
        if !n.is_finite() || n < 0.0 {
            return Err(bad());
        }
        if n / per > MAX_RATE {
            return Err(format!("invalid rate {s:?}: at most {MAX_RATE}/s"));
        }
        Ok(Rate(n / per))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.fract() == 0.0 {
            write!(f, "{}/s", self.0 as u64)
        } else {
            write!(f, "{:.3}/s", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rate::parse(&s).map_err(de::Error::custom)
    }
}

/// A percentage written `0.5%`; held as a fraction (0.005).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid percentage {s:?}: expected a value like \"0.5%\" or \"99.9%\"");
        let n = s.trim().strip_suffix('%').ok_or_else(bad)?;
        let v: f64 = n.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&v) {
            return Err(bad());
        }
        Ok(Percent(v / 100.0))
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Percent::parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(Dur::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(Dur::parse("1m 30s").unwrap().0, Duration::from_secs(90));
        assert!(Dur::parse("250").is_err());
        assert!(Dur::parse("3x").is_err());
        assert!(Dur::parse("0s").is_err());
        assert!(Dur::parse("500000000years").is_err());
        assert_eq!(fmt_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn rates_convert_to_per_second() {
        assert_eq!(Rate::parse("50/s").unwrap().0, 50.0);
        assert_eq!(Rate::parse("120/m").unwrap().0, 2.0);
        assert!(Rate::parse("50").is_err());
        assert!(Rate::parse("50/x").is_err());
        assert!(Rate::parse("-1/s").is_err());
        assert!(Rate::parse("1e308/s").is_err());
    }

    #[test]
    fn percentages_are_fractions() {
        assert!((Percent::parse("0.5%").unwrap().0 - 0.005).abs() < 1e-12);
        assert!(Percent::parse("0.5").is_err());
        assert!(Percent::parse("101%").is_err());
    }
}
