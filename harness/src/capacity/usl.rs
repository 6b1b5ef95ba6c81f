//! The Universal Scalability Law fitted to measured points:
//! X(N) = λN / (1 + σ(N−1) + κN(N−1)), with N the concurrency (Little's
//! law: N = X × mean time in the system) and X the throughput.
//!
//! Method: N/X is the mean time in the system, W(N) = (1 + σ(N−1) +
//! κN(N−1)) / λ, which is linear in a = 1/λ, b = σ/λ, c = κ/λ. Ordinary
//! least squares on W gives a first a, b, c (a 3×3 solve, done here); a
//! negative σ or κ has no physical meaning, so the best fit with it held at
//! zero is taken instead. That start is then refined by Levenberg-Marquardt
//! on the throughput itself, so the points near the ceiling, which decide
//! the forecast, weigh as much as the light-load ones (the linear form
//! favours whichever points have the longest times).

use serde::{Deserialize, Serialize};

/// One measured point: concurrency and throughput (per second).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub concurrency: f64,
    pub throughput_rps: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// Throughput of one unit of concurrency without contention (per second).
    pub lambda: f64,
    /// Contention: the share of work that serializes.
    pub sigma: f64,
    /// Coherency: the cost of keeping concurrent work consistent.
    pub kappa: f64,
    pub peak_throughput_rps: f64,
    /// `None` when κ is zero: throughput levels off at λ/σ and never turns down.
    pub peak_concurrency: Option<f64>,
    /// A measured step lies within a third of the peak's concurrency; when
    /// false the peak sits where no step measured and is less certain.
    pub peak_supported: bool,
    /// The highest throughput any step measured.
    pub measured_max_rps: f64,
    /// Coefficient of determination of the fitted throughput.
    pub r_squared: f64,
    pub points: usize,
}

impl UslFit {
    pub fn throughput(&self, n: f64) -> f64 {
        self.lambda * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }
}

/// Fits the USL; `None` with fewer than three usable points.
pub fn fit(points: &[Point]) -> Option<UslFit> {
    let pts: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.concurrency > 0.0 && p.throughput_rps > 0.0)
        .collect();
    if pts.len() < 3 {
        return None;
    }
    // Each subset of free terms: (b free, c free). a is always free.
    let mut best: Option<([f64; 3], f64)> = None;
    for (fb, fc) in [(true, true), (true, false), (false, true), (false, false)] {
        let Some(coef) = least_squares(&pts, fb, fc) else {
            continue;
        };
        if coef[0] <= 0.0 || coef[1] < 0.0 || coef[2] < 0.0 {
            continue;
        }
        let sse = residual(&pts, coef);
        if best.as_ref().is_none_or(|(_, s)| sse < *s) {
            best = Some((coef, sse));
        }
    }
    let ([a, b, c], _) = best?;
    let (lambda, sigma, kappa) = refine(&pts, [1.0 / a, b / a, c / a]);
    let mut f = UslFit {
        lambda,
        sigma,
        kappa,
        peak_throughput_rps: 0.0,
        peak_concurrency: None,
        peak_supported: false,
        measured_max_rps: pts.iter().map(|p| p.throughput_rps).fold(0.0, f64::max),
        r_squared: 0.0,
        points: pts.len(),
    };
    (f.peak_throughput_rps, f.peak_concurrency) = peak(&f);
    f.peak_supported = match f.peak_concurrency {
        Some(n) => pts
            .iter()
            .any(|p| p.concurrency >= n * 0.75 && p.concurrency <= n * 1.33),
        // A plateau: supported when the steps came close to it.
        None => f.measured_max_rps >= 0.9 * f.peak_throughput_rps,
    };
    f.r_squared = r_squared(&pts, &f);
    Some(f)
}

/// Where X(N) tops out: at N* = sqrt((1−σ)/κ), or λ/σ as N grows when κ = 0.
fn peak(f: &UslFit) -> (f64, Option<f64>) {
    if f.kappa > 0.0 {
        let n = ((1.0 - f.sigma).max(0.0) / f.kappa).sqrt().max(1.0);
        (f.throughput(n), Some(n))
    } else if f.sigma > 0.0 {
        (f.lambda / f.sigma, None)
    } else {
        (f64::INFINITY, None)
    }
}

fn sse_x(pts: &[Point], p: [f64; 3]) -> f64 {
    pts.iter()
        .map(|q| {
            let n = q.concurrency;
            let x = p[0] * n / (1.0 + p[1] * (n - 1.0) + p[2] * n * (n - 1.0));
            (q.throughput_rps - x).powi(2)
        })
        .sum()
}

/// Levenberg-Marquardt on the squared throughput error, σ and κ kept >= 0.
fn refine(pts: &[Point], start: [f64; 3]) -> (f64, f64, f64) {
    let mut p = start;
    let mut cost = sse_x(pts, p);
    let mut mu = 1e-3;
    for _ in 0..200 {
        // Normal equations J^T J and J^T r, from the analytic derivatives.
        let mut jtj = [[0.0; 3]; 3];
        let mut jtr = [0.0; 3];
        for q in pts {
            let n = q.concurrency;
            let d = 1.0 + p[1] * (n - 1.0) + p[2] * n * (n - 1.0);
            let x = p[0] * n / d;
            let g = [n / d, -x * (n - 1.0) / d, -x * n * (n - 1.0) / d];
            let r = q.throughput_rps - x;
            for i in 0..3 {
                jtr[i] += g[i] * r;
                for j in 0..3 {
                    jtj[i][j] += g[i] * g[j];
                }
            }
        }
        let m: Vec<Vec<f64>> = (0..3)
            .map(|i| {
                let mut row: Vec<f64> = (0..3)
                    .map(|j| jtj[i][j] * if i == j { 1.0 + mu } else { 1.0 })
                    .collect();
                row.push(jtr[i]);
                row
            })
            .collect();
        let Some(step) = solve(m) else { break };
        let next = [
            (p[0] + step[0]).max(1e-12),
            (p[1] + step[1]).max(0.0),
            (p[2] + step[2]).max(0.0),
        ];
        let c = sse_x(pts, next);
        if c < cost {
            let done = (cost - c) <= 1e-12 * cost.max(1e-300);
            (p, cost, mu) = (next, c, (mu / 3.0).max(1e-12));
            if done {
                break;
            }
        } else {
            mu *= 4.0;
            if mu > 1e12 {
                break;
            }
        }
    }
    (p[0], p[1], p[2])
}

fn terms(p: &Point) -> [f64; 3] {
    let n = p.concurrency;
    [1.0, n - 1.0, n * (n - 1.0)]
}

fn residual(pts: &[Point], c: [f64; 3]) -> f64 {
    pts.iter()
        .map(|p| {
            let t = terms(p);
            let w = p.concurrency / p.throughput_rps;
            (w - (c[0] * t[0] + c[1] * t[1] + c[2] * t[2])).powi(2)
        })
        .sum()
}

fn r_squared(pts: &[Point], f: &UslFit) -> f64 {
    let mean = pts.iter().map(|p| p.throughput_rps).sum::<f64>() / pts.len() as f64;
    let tot: f64 = pts.iter().map(|p| (p.throughput_rps - mean).powi(2)).sum();
    let res: f64 = pts
        .iter()
        .map(|p| (p.throughput_rps - f.throughput(p.concurrency)).powi(2))
        .sum();
    if tot > 0.0 {
        1.0 - res / tot
    } else {
        1.0
    }
}

/// Ordinary least squares of W = N/X on the chosen terms; the terms left
/// out are zero. Solved from the normal equations by Gaussian elimination.
fn least_squares(pts: &[Point], free_b: bool, free_c: bool) -> Option<[f64; 3]> {
    let cols: Vec<usize> = [Some(0), free_b.then_some(1), free_c.then_some(2)]
        .into_iter()
        .flatten()
        .collect();
    let k = cols.len();
    let mut m = vec![vec![0.0; k + 1]; k];
    for p in pts {
        let t = terms(p);
        let w = p.concurrency / p.throughput_rps;
        for (i, ci) in cols.iter().enumerate() {
            for (j, cj) in cols.iter().enumerate() {
                m[i][j] += t[*ci] * t[*cj];
            }
            m[i][k] += t[*ci] * w;
        }
    }
    let x = solve(m)?;
    let mut out = [0.0; 3];
    for (i, c) in cols.iter().enumerate() {
        out[*c] = x[i];
    }
    Some(out)
}

/// Gaussian elimination with partial pivoting on an augmented matrix.
fn solve(mut m: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let k = m.len();
    for col in 0..k {
        let piv = (col..k).max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))?;
        if m[piv][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, piv);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| m[i][k] / m[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usl(l: f64, s: f64, k: f64, n: f64) -> f64 {
        l * n / (1.0 + s * (n - 1.0) + k * n * (n - 1.0))
    }

    #[test]
    fn recovers_known_parameters_from_exact_points() {
        let pts: Vec<Point> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
            .iter()
            .map(|n| Point {
                concurrency: *n,
                throughput_rps: usl(100.0, 0.05, 0.001, *n),
            })
            .collect();
        let f = fit(&pts).unwrap();
        assert!((f.lambda - 100.0).abs() < 1e-6, "{f:?}");
        assert!((f.sigma - 0.05).abs() < 1e-9 && (f.kappa - 0.001).abs() < 1e-9);
        // N* = sqrt(0.95 / 0.001) = 30.8; X(N*) = 100 N* / (1 + 0.05 (N*-1) + 0.001 N* (N*-1)).
        let n = f.peak_concurrency.unwrap();
        assert!((n - 30.82).abs() < 0.01, "{n}");
        assert!((f.peak_throughput_rps - usl(100.0, 0.05, 0.001, n)).abs() < 1e-6);
        assert!(f.r_squared > 0.999_999);
    }

    #[test]
    fn a_fixed_capacity_levels_off_at_its_capacity() {
        // 4 workers of 10 ms: X = min(100 N, 400); the fit's ceiling is near 400.
        let pts: Vec<Point> = [1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0]
            .iter()
            .map(|n: &f64| Point {
                concurrency: *n,
                throughput_rps: (100.0 * n).min(400.0),
            })
            .collect();
        let f = fit(&pts).unwrap();
        assert!((360.0..=440.0).contains(&f.peak_throughput_rps), "{f:?}");
    }

    #[test]
    fn measured_steps_of_a_400_per_second_target_put_the_ceiling_near_400() {
        // Steps measured against 4 workers x 10 ms (debug build, loaded machine).
        let pts: Vec<Point> = [
            (0.67, 50.0),
            (1.24, 99.8),
            (2.56, 198.7),
            (9.06, 395.8),
            (61.8, 397.1),
            (59.4, 398.6),
            (55.4, 397.3),
            (46.4, 398.3),
        ]
        .iter()
        .map(|(n, x)| Point {
            concurrency: *n,
            throughput_rps: *x,
        })
        .collect();
        let f = fit(&pts).unwrap();
        // A hard ceiling is not the USL's shape: the fitted peak lands in the
        // gap between N = 9 and N = 46, above what was measured, and says so.
        assert!((400.0..=480.0).contains(&f.peak_throughput_rps), "{f:?}");
        assert!(!f.peak_supported && f.r_squared > 0.98, "{f:?}");
        assert!((f.measured_max_rps - 398.6).abs() < 1e-9);
    }

    #[test]
    fn too_few_points_give_no_fit() {
        let p = Point {
            concurrency: 1.0,
            throughput_rps: 10.0,
        };
        assert!(fit(&[p, p]).is_none());
    }
}
