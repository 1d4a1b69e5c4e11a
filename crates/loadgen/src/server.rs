//! What the load generator reads off the server: its memory (`/proc/<pid>/status`) and its own
//! request timings (`GET /metrics`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so the peak of a mix is not the
/// peak of whatever ran before it (registration hashes passwords with 19 MiB each). Needs the
/// right to write `/proc/<pid>/clear_refs` (same user or root).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// Samples a process's RSS every `every` until stopped; keeps the maximum.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some((rss, _)) = memory_kib(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(every);
            }
        });
        RssSampler {
            peak,
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling; the largest RSS seen, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// `(sum of seconds, count)` of `http_request_duration_seconds` per `(route, method)`.
pub type ServerTimes = HashMap<(String, String), (f64, u64)>;

/// Scrapes `GET /metrics` for the per-route latency sums and counts.
pub async fn server_times(client: &reqwest::Client, base_url: &str) -> Option<ServerTimes> {
    let text = client
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut out: ServerTimes = HashMap::new();
    for line in text.lines() {
        let (is_sum, rest) =
            if let Some(r) = line.strip_prefix("http_request_duration_seconds_sum{") {
                (true, r)
            } else if let Some(r) = line.strip_prefix("http_request_duration_seconds_count{") {
                (false, r)
            } else {
                continue;
            };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(name))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let (Some(route), Some(method)) = (label("route="), label("method=")) else {
            continue;
        };
        let entry = out.entry((route, method)).or_default();
        if is_sum {
            entry.0 = value.trim().parse().unwrap_or(0.0);
        } else {
            entry.1 = value.trim().parse().unwrap_or(0);
        }
    }
    Some(out)
}

/// Mean server time in ms of one route between two scrapes.
pub fn mean_ms(
    before: &ServerTimes,
    after: &ServerTimes,
    route: &str,
    method: &str,
) -> Option<f64> {
    let key = (route.to_owned(), method.to_owned());
    let (s1, c1) = after.get(&key).copied()?;
    let (s0, c0) = before.get(&key).copied().unwrap_or((0.0, 0));
    (c1 > c0).then(|| (s1 - s0) / (c1 - c0) as f64 * 1000.0)
}

/// CPU time (clock ticks) used so far: by the whole machine (busy, all CPUs), by the server
/// process, by this process, and by every process named `postgres`. Differences over a window
/// tell how much of the machine other work took while a mix ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    pub machine_busy: u64,
    pub server: u64,
    pub own: u64,
    pub postgres: u64,
}

fn process_ticks(stat: &str) -> Option<(String, u64)> {
    // pid (comm) state ... utime stime: comm may contain spaces, so split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

pub fn cpu_ticks(server_pid: Option<u32>) -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let machine_busy = cpu.iter().sum::<u64>() - cpu.get(3)? - cpu.get(4).copied().unwrap_or(0);
    let ticks_of = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| process_ticks(&s))
            .map_or(0, |(_, t)| t)
    };
    let mut postgres = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if let Some((comm, t)) = process_ticks(&s) {
                if comm == "postgres" {
                    postgres += t;
                }
            }
        }
    }
    Some(CpuTicks {
        machine_busy,
        server: server_pid.map_or(0, ticks_of),
        own: ticks_of(std::process::id()),
        postgres,
    })
}
