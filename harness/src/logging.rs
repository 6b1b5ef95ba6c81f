//! Logs go to stderr through a writer that masks every registered secret,
//! so that a value echoed back by a server (in a header, an error, a URL)
//! cannot reach a log line.

use std::io::{IsTerminal, Write};
use std::sync::RwLock;

use tracing_subscriber::EnvFilter;

use crate::scenario::Secrets;

static SECRETS: RwLock<Option<Secrets>> = RwLock::new(None);

/// Adds a scenario's secrets to the mask applied to every log line.
pub fn register(s: &Secrets) {
    if s.is_empty() {
        return;
    }
    let mut g = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    let all = g.get_or_insert_with(Secrets::default);
    all.merge(s);
}

pub fn mask(text: &str) -> String {
    match SECRETS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(s) => s.mask(text),
        None => text.to_string(),
    }
}

struct MaskedStderr;

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = mask(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `-v` info, `-vv` debug; `SLOGATE_LOG` takes a full filter.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("SLOGATE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| MaskedStderr)
        .init();
}
