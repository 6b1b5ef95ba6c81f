//! How numbers read in human reports: one place, so the Markdown page, the
//! terminal table and the HTML page agree with each other.

/// A value in the SLO's unit, for people: `123.4 ms`, `0.50 %`, `3`.
pub fn value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".into(),
        Some(v) => match unit {
            "ms" => ms(v),
            "ratio" => format!("{:.3} %", v * 100.0),
            _ => format!("{}", v.round() as i64),
        },
    }
}

pub fn ms(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

/// A short axis label: `0.5 ms`, `20 ms`, `1.5 s`.
pub fn tick_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", trim(v / 1000.0))
    } else {
        format!("{} ms", trim(v))
    }
}

/// Up to three decimals, without trailing zeros.
pub fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn opt_ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), ms)
}

/// A margin with its sign, so that room left reads `+` and a breach `-`.
pub fn margin(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".into(),
        Some(m) => {
            let sign = if m >= 0.0 { "+" } else { "-" };
            format!("{sign}{}", value(Some(m.abs()), unit))
        }
    }
}

pub fn bound(b: crate::scenario::Bound) -> &'static str {
    match b {
        crate::scenario::Bound::Max => "<=",
        crate::scenario::Bound::Min => ">=",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(value(Some(123.44), "ms"), "123.4 ms");
        assert_eq!(value(Some(20_000.0), "ms"), "20.00 s");
        assert_eq!(value(Some(0.005), "ratio"), "0.500 %");
        assert_eq!(value(None, "ms"), "n/a");
        assert_eq!(margin(Some(-2.0), "ms"), "-2.0 ms");
        assert_eq!(margin(Some(0.001), "ratio"), "+0.100 %");
        assert_eq!(tick_ms(0.5), "0.5 ms");
        assert_eq!(tick_ms(200.0), "200 ms");
        assert_eq!(tick_ms(1500.0), "1.5 s");
    }
}
