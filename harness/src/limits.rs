//! The process's open-file limit: every stream and connection is a socket,
//! and the default soft limit (often 1024) is far below tens of thousands
//! of streams. Raised as far as the OS allows (the hard limit, or past it
//! with the privilege to); a warning names the limit when it stays too low.

use rlimit::Resource;

/// File descriptors kept aside for the runtime, logs and the evidence files.
const SPARE: u64 = 64;

/// What the embedded target asks for: it cannot know how many streams
/// will come.
pub const TARGET_WISH: u64 = 262_144;

/// Raises `RLIMIT_NOFILE` to hold `sockets` plus a spare and returns the
/// soft limit in force. Warns, naming the limit, when `warn` and it falls
/// short.
pub fn raise_nofile(sockets: u64, warn: bool) -> u64 {
    let needed = sockets + SPARE;
    let (soft, hard) = match Resource::NOFILE.get() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot read the open-file limit (RLIMIT_NOFILE): {e}");
            return 0;
        }
    };
    if soft >= needed {
        return soft;
    }
    // Past the hard limit only with privilege (CAP_SYS_RESOURCE); else up to it.
    let limit = if needed > hard && Resource::NOFILE.set(needed, needed).is_ok() {
        needed
    } else {
        rlimit::increase_nofile_limit(needed).unwrap_or(soft)
    };
    if warn && limit < needed {
        tracing::warn!(
            "the open-file limit (RLIMIT_NOFILE) is {limit} (hard {hard}), below the {needed} \
             this run needs ({sockets} sockets + {SPARE} spare); connections past it fail with \
             \"too many open files\": raise the hard limit (ulimit -Hn, or LimitNOFILE= in \
             systemd)"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_need_is_met_and_never_lowers_the_limit() {
        let (soft, _) = Resource::NOFILE.get().unwrap();
        assert!(raise_nofile(16, true) >= soft.max(16 + SPARE));
    }
}
