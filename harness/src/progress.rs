//! Progress while a run goes: an indicatif bar on a terminal, plain lines
//! every few seconds otherwise (stdout piped, or `CI=true`), nothing when quiet.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::scenario::Scenario;

/// Figures the collector publishes each interval.
#[derive(Default)]
pub struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
    p95_us: AtomicU64,
    open: AtomicI64,
}

impl Live {
    pub fn update(&self, requests: u64, errors: u64, p95_us: u64, open: i64) {
        self.requests.fetch_add(requests, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
        self.p95_us.store(p95_us, Ordering::Relaxed);
        self.open.store(open, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        format!(
            "requests {}  errors {}  p95 {:.1} ms  open streams {}",
            self.requests.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.p95_us.load(Ordering::Relaxed) as f64 / 1000.0,
            self.open.load(Ordering::Relaxed)
        )
    }
}

pub struct Progress {
    bar: Option<ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

impl Progress {
    pub fn start(sc: &Scenario, live: Arc<Live>, quiet: bool) -> Progress {
        if quiet {
            return Progress {
                bar: None,
                task: None,
            };
        }
        let total = sc.duration();
        if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && !is_ci() {
            let bar = ProgressBar::new(total.as_secs().max(1));
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}s  {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            let b = bar.clone();
            let task = tokio::spawn(async move {
                let mut t = tokio::time::interval(Duration::from_millis(250));
                loop {
                    t.tick().await;
                    b.set_position(b.elapsed().as_secs());
                    b.set_message(live.line());
                }
            });
            return Progress {
                bar: Some(bar),
                task: Some(task),
            };
        }
        let name = sc.name.clone();
        let task = tokio::spawn(async move {
            let every = Duration::from_secs(10);
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            let mut elapsed = Duration::ZERO;
            loop {
                t.tick().await;
                elapsed += every;
                eprintln!(
                    "[{name}] {}s/{}s  {}",
                    elapsed.as_secs(),
                    total.as_secs(),
                    live.line()
                );
            }
        });
        Progress {
            bar: None,
            task: Some(task),
        }
    }

    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
