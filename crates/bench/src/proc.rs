//! A process's memory and CPU time from `/proc`, the only place Linux keeps
//! them for a process we did not start ourselves.

use std::sync::OnceLock;

use anyhow::Context as _;

/// Resident memory of a process, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `VmHWM`: the most it was ever resident.
    pub hwm_kb: u64,
}

/// Reads `/proc/<pid>/status`.
///
/// # Errors
/// The process is gone or the file is unreadable.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let mut m = Memory::default();
    for line in status.lines() {
        let field = |l: &str| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if line.starts_with("VmRSS:") {
            m.rss_kb = field(line);
        } else if line.starts_with("VmHWM:") {
            m.hwm_kb = field(line);
        }
    }
    Ok(m)
}

/// User plus system CPU seconds a process (all its threads) has used.
///
/// # Errors
/// The process is gone or the file is malformed.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    cpu_from_stat(&stat)
}

/// CPU seconds of this process.
///
/// # Errors
/// As [`cpu_seconds`].
pub fn own_cpu_seconds() -> anyhow::Result<f64> {
    cpu_seconds(std::process::id())
}

fn cpu_from_stat(stat: &str) -> anyhow::Result<f64> {
    // The command name (field 2) may contain spaces; count from its ')'.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("malformed stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11, 12.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .context("short stat")?
            .parse::<u64>()
            .context("bad stat field")
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks() as f64)
}

/// `sysconf(_SC_CLK_TCK)` as `getconf` reports it (100 on every mainstream
/// Linux architecture), asked once.
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_the_name_parses() {
        let stat =
            "4242 (my server (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 1 1";
        let s = cpu_from_stat(stat).unwrap();
        assert!((s - 300.0 / clock_ticks() as f64).abs() < 1e-9);
    }

    #[test]
    fn this_process_has_memory_and_cpu() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb);
        assert!(own_cpu_seconds().unwrap() >= 0.0);
    }
}
