//! What `/proc` says of another process: its CPU time and resident set
//! size, and a sampler that keeps the peak RSS while something runs.
//! Shared by the benchmarks that start a contaxy binary as a process
//! (included with `#[path]`: the bench crate has no library).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

/// User + system CPU time of `pid`, in seconds (`/proc/<pid>/stat`).
#[allow(dead_code)]
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("a stat line")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after `)`.
    let ticks: f64 = fields.get(11).context("utime")?.parse::<f64>()?
        + fields.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Resident set size of `pid`, in KiB (`/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("a number")?
        .parse()?)
}

/// The resident set of `pid` split as `/proc/<pid>/status` does, in KiB:
/// anonymous memory (the heap, stacks) and file-backed pages (mostly the
/// executable's own code and data as it is paged in).
#[allow(dead_code)]
pub fn rss_split_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| name.to_owned())?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("a number")?
            .parse()?)
    };
    Ok((field("RssAnon:")?, field("RssFile:")?))
}

/// Samples the RSS of a process on a thread of its own until
/// [`RssSampler::stop`], keeping the peak.
#[allow(dead_code)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

#[allow(dead_code)]
impl RssSampler {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                if let Ok(rss) = rss_kib(pid) {
                    peak = peak.max(rss);
                }
                if stopping.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(every);
            }
        });
        Self { stop, thread }
    }

    /// Stops sampling (after one last sample) and answers the peak, in KiB.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}
