//! Percentiles, and CPU time read from /proc.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

/// Latencies of one kind, in microseconds.
#[derive(Default, Clone)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_micros() as u64);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn sorted(&self) -> Vec<u64> {
        let mut v = self.0.clone();
        v.sort_unstable();
        v
    }

    /// p-th percentile (nearest rank), in milliseconds.
    pub fn pct(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        v[rank.min(v.len()) - 1] as f64 / 1000.0
    }

    pub fn mean(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.iter().sum::<u64>() as f64 / self.0.len() as f64 / 1000.0
    }

    pub fn sum_ms(&self) -> f64 {
        self.0.iter().sum::<u64>() as f64 / 1000.0
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().max().unwrap_or(0) as f64 / 1000.0
    }
}

/// Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// utime + stime of a process or thread from its `stat` file, and its name.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let s = fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_owned();
    let fields: Vec<&str> = s[close + 2..].split_whitespace().collect();
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    Some((
        comm,
        fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
    ))
}

/// CPU seconds used so far by whom the report tells apart.
#[derive(Clone, Default)]
pub struct CpuSnapshot {
    /// certd's process (all its threads).
    pub certd: f64,
    /// Every process named `postgres` (the server and its backends).
    pub postgres: f64,
    /// The driver's own threads, by thread name.
    pub driver: BTreeMap<String, f64>,
    /// The machine: busy and total jiffies of /proc/stat's first line.
    pub busy: f64,
    pub total: f64,
    /// certd's PostgreSQL database (pg_stat_database): transactions (each
    /// statement outside one counts as one), rows returned, fetched, written.
    pub pg: [f64; 4],
}

impl CpuSnapshot {
    pub fn take(certd_pid: Option<u32>, pg_url: Option<&str>) -> CpuSnapshot {
        let mut snap = CpuSnapshot::default();
        if let Some(url) = pg_url {
            snap.pg = pg_counters(url).unwrap_or_default();
        }
        if let Some(pid) = certd_pid {
            snap.certd = stat_ticks(&format!("/proc/{pid}/stat"))
                .map(|(_, t)| t as f64 / TICKS)
                .unwrap_or(0.0);
        }
        if let Ok(dir) = fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                if let Some((comm, ticks)) = stat_ticks(&format!("/proc/{pid}/stat"))
                    && comm == "postgres"
                {
                    snap.postgres += ticks as f64 / TICKS;
                }
            }
        }
        if let Ok(dir) = fs::read_dir("/proc/self/task") {
            for entry in dir.flatten() {
                let path = entry.path().join("stat");
                if let Some((comm, ticks)) = stat_ticks(&path.to_string_lossy()) {
                    *snap.driver.entry(comm).or_default() += ticks as f64 / TICKS;
                }
            }
        }
        if let Ok(stat) = fs::read_to_string("/proc/stat")
            && let Some(line) = stat.lines().next()
        {
            let v: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            let total: f64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
            snap.total = total / TICKS;
            snap.busy = (total - idle) / TICKS;
        }
        snap
    }

    /// What was used between `self` and the later `after`.
    pub fn until(&self, after: &CpuSnapshot) -> CpuSnapshot {
        let mut driver = BTreeMap::new();
        for (name, t) in &after.driver {
            let d = t - self.driver.get(name).copied().unwrap_or(0.0);
            if d > 0.0 {
                driver.insert(name.clone(), d);
            }
        }
        CpuSnapshot {
            certd: after.certd - self.certd,
            postgres: after.postgres - self.postgres,
            driver,
            busy: after.busy - self.busy,
            total: after.total - self.total,
            pg: std::array::from_fn(|i| after.pg[i] - self.pg[i]),
        }
    }

    pub fn driver_total(&self) -> f64 {
        self.driver.values().sum()
    }
}

/// pg_stat_database's counters of the database `url` names, through psql.
fn pg_counters(url: &str) -> Option<[f64; 4]> {
    let out = std::process::Command::new("psql")
        .args(["-tAX", url, "-c"])
        .arg(
            "SELECT pg_stat_force_next_flush(); SELECT xact_commit + xact_rollback, tup_returned, tup_fetched, \
             tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()",
        )
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().rev().find(|l| l.contains('|'))?;
    let v: Vec<f64> = line
        .split('|')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
}
