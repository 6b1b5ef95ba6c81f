//! The process's open-file limit: every stream and connection is a socket,
//! and the default soft limit (often 1024) is far below tens of thousands
//! of streams. Raised to the hard limit where the OS allows; a warning names
//! the limit when it stays too low.

/// File descriptors kept aside for the runtime, logs and the evidence files.
const SPARE: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` as far as the hard limit allows and
/// returns the limit in force. Warns when `sockets` plus a spare do not fit.
pub fn raise_nofile(sockets: u64) -> u64 {
    let needed = sockets + SPARE;
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot read or raise the open-file limit (RLIMIT_NOFILE): {e}");
            return 0;
        }
    };
    if limit < needed {
        tracing::warn!(
            "the open-file limit (RLIMIT_NOFILE) is {limit}, below the {needed} this run needs \
             ({sockets} sockets + {SPARE} spare); connections past it fail with \"too many open \
             files\": raise the hard limit (ulimit -Hn, or LimitNOFILE= in systemd)"
        );
    }
    limit
}

/// Sockets a scenario can hold at once: every stream plus every JSON
/// connection.
pub fn sockets_of(sc: &crate::scenario::Scenario) -> u64 {
    let streams: u64 = sc.streams.iter().map(|s| u64::from(s.connections)).sum();
    let probes: u64 = sc
        .probes
        .iter()
        .map(|p| u64::from(p.connections.max(p.max_in_flight)))
        .sum();
    streams + probes
}
