//! Turns the run lines of `scripts/bench` into the markdown table of
//! bench/results.md and the data file of the chart.
//!
//! Input: one line per client run, `key=value` pairs, with at least
//! `figure=`, `server=` and `rep=` (added by the script) and the client's
//! figures (or `error=` when a run failed). Figures are named by kind:
//! `msgs-*` (msgs/s), `mib-*` (MiB/s), `latency` (p50 and p99 round trip)
//! and `idle` (worker RSS per connection).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The servers, in table order: key, name in the table, name in the chart.
pub const SERVERS: [(&str, &str, &str); 4] = [
    (
        "embedded",
        "this module, nginx 1.28.3 (embedded build)",
        "module, nginx 1.28.3",
    ),
    (
        "debian",
        "this module, Debian nginx 1.22.1",
        "module, Debian nginx 1.22.1",
    ),
    (
        "lua",
        "lua-resty-websocket echo loop, Debian nginx 1.22.1",
        "lua-resty-websocket, Debian nginx 1.22.1",
    ),
    (
        "raw",
        "raw TCP echo after the handshake (loopback limit)",
        "raw TCP echo (loopback limit)",
    ),
];

const LUA: &str = "lua";
const RAW: &str = "raw";
const MODULES: [&str; 2] = ["embedded", "debian"];

type Line = BTreeMap<String, String>;

fn parse_line(line: &str) -> Option<Line> {
    let map: Line = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (map.contains_key("figure") && map.contains_key("server")).then_some(map)
}

/// Median, min and max of some repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn stat(values: &[f64]) -> Option<Stat> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

/// One row kind of the table: which figure, which value, and its unit.
struct Metric {
    figure: String,
    key: &'static str,
    title: String,
    unit: &'static str,
}

struct Data {
    lines: Vec<Line>,
}

impl Data {
    fn runs(&self, figure: &str, server: &str) -> impl Iterator<Item = &Line> {
        let (figure, server) = (figure.to_owned(), server.to_owned());
        self.lines
            .iter()
            .filter(move |l| l.get("figure") == Some(&figure) && l.get("server") == Some(&server))
    }

    fn values(&self, figure: &str, server: &str, key: &str) -> Vec<f64> {
        self.runs(figure, server)
            .filter_map(|l| l.get(key)?.parse().ok())
            .collect()
    }

    fn stat(&self, figure: &str, server: &str, key: &str) -> Option<Stat> {
        stat(&self.values(figure, server, key))
    }

    fn errors(&self, figure: &str, server: &str) -> Vec<String> {
        self.runs(figure, server)
            .filter_map(|l| l.get("error").cloned())
            .collect()
    }

    /// A parameter of the figure's runs (the same in every run).
    fn param(&self, figure: &str, key: &str) -> Option<String> {
        self.lines
            .iter()
            .filter(|l| l.get("figure").map(String::as_str) == Some(figure))
            .find_map(|l| l.get(key).cloned())
    }

    fn figures(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for l in &self.lines {
            if let Some(f) = l.get("figure") {
                if !seen.contains(f) {
                    seen.push(f.clone());
                }
            }
        }
        seen
    }
}

fn size_label(bytes: &str) -> String {
    match bytes.parse::<u64>() {
        Ok(b) if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        Ok(b) if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b >> 10),
        Ok(b) => format!("{b} B"),
        Err(_) => bytes.to_owned(),
    }
}

fn metrics(d: &Data) -> Vec<Metric> {
    let mut out = Vec::new();
    for f in d.figures() {
        let p = |k: &str| d.param(&f, k).unwrap_or_else(|| "?".into());
        let shape = format!("{} conn × {} in flight", p("conns"), p("inflight"));
        if f.starts_with("msgs") {
            out.push(Metric {
                title: format!("msgs/s, {} payload, {shape}", size_label(&p("size"))),
                figure: f,
                key: "msgs_per_s",
                unit: "msgs/s",
            });
        } else if f.starts_with("mib") {
            out.push(Metric {
                title: format!("MiB/s, {} frames, {shape}", size_label(&p("size"))),
                figure: f,
                key: "mib_per_s",
                unit: "MiB/s",
            });
        } else if f.starts_with("latency") {
            for (key, name) in [("p50_us", "p50"), ("p99_us", "p99")] {
                out.push(Metric {
                    title: format!(
                        "round trip {name}, µs, {} payload, {shape}",
                        size_label(&p("size"))
                    ),
                    figure: f.clone(),
                    key,
                    unit: "µs",
                });
            }
        } else if f.starts_with("idle") {
            out.push(Metric {
                title: format!(
                    "worker RSS per idle connection, bytes, {} connections",
                    p("conns")
                ),
                figure: f,
                key: "rss_per_conn",
                unit: "B",
            });
        }
    }
    out
}

/// A number for the table: thousands separators for big values, one
/// decimal for small ones.
pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn ratio(a: Option<Stat>, b: Option<Stat>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.median != 0.0 => Some(a.median / b.median),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}×"))
}

/// The generated part of results.md.
pub fn markdown(input: &str, machine: &str) -> String {
    let d = Data {
        lines: input.lines().filter_map(parse_line).collect(),
    };
    let mut md = String::new();
    let reps = d
        .lines
        .iter()
        .filter_map(|l| l.get("rep")?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        md,
        "Each figure is the median of {reps} repetitions (servers alternated A B C D, A B C D, …), \
         with the min–max of the repetitions. Ratios are medians divided by the medians of \
         lua-resty-websocket and of the raw TCP echo. CPU is the share of one core used by the \
         server's worker and by the load client during the measured window (100% = a saturated core); \
         CPU per message is the worker's CPU time divided by the messages echoed, which another \
         process on the machine disturbs less than the rates.\n"
    );
    let _ = writeln!(
        md,
        "| figure | server | median | min–max | ÷ lua-resty-websocket | ÷ raw echo | server CPU | client CPU | server CPU per msg |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in metrics(&d) {
        let lua = d.stat(&m.figure, LUA, m.key);
        let raw = d.stat(&m.figure, RAW, m.key);
        for (i, (server, name, _)) in SERVERS.iter().enumerate() {
            let title = if i == 0 {
                format!("**{}**", m.title)
            } else {
                String::new()
            };
            let s = d.stat(&m.figure, server, m.key);
            let Some(s) = s else {
                let errors = d.errors(&m.figure, server);
                let why = errors.first().map_or("no data", String::as_str);
                let _ = writeln!(md, "| {title} | {name} | failed: {why} | | | | | | |");
                continue;
            };
            let cpu = |k| {
                d.stat(&m.figure, server, k)
                    .map_or_else(|| "–".into(), |c| format!("{:.0}%", c.median))
            };
            let per_msg = d
                .stat(&m.figure, server, "server_us_per_msg")
                .map_or_else(|| "–".into(), |c| format!("{:.2} µs", c.median));
            let _ = writeln!(
                md,
                "| {title} | {name} | {} {} | {}–{} | {} | {} | {} | {} | {per_msg} |",
                fmt_num(s.median),
                m.unit,
                fmt_num(s.min),
                fmt_num(s.max),
                if *server == LUA {
                    "1×".into()
                } else {
                    fmt_ratio(ratio(Some(s), lua))
                },
                if *server == RAW {
                    "1×".into()
                } else {
                    fmt_ratio(ratio(Some(s), raw))
                },
                cpu("server_cpu"),
                cpu("client_cpu"),
            );
        }
    }
    md.push('\n');
    md.push_str(&targets(&d));
    md.push('\n');
    md.push_str(machine.trim_end());
    md.push('\n');
    md
}

fn figure_with(d: &Data, prefix: &str, size: Option<&str>) -> Option<String> {
    d.figures().into_iter().find(|f| {
        f.starts_with(prefix)
            && match size {
                Some(s) => d.param(f, "size").as_deref() == Some(s),
                None => true,
            }
    })
}

/// The targets, each with the measured value for both module builds.
fn targets(d: &Data) -> String {
    let mut md = String::from(
        "| target | module, nginx 1.28.3 | module, Debian nginx 1.22.1 | met |\n|---|---:|---:|:---:|\n",
    );
    /// A bound on a median (or on its ratio to a reference server's median).
    struct Target {
        label: String,
        figure: Option<String>,
        key: &'static str,
        reference: Option<&'static str>,
        check: fn(f64) -> bool,
        show: fn(f64) -> String,
    }
    let times = |r: f64| format!("{r:.2}×");
    let mut list = Vec::new();
    for (size, bound) in [("16", 5.0), ("512", 5.0), ("16384", 8.0)] {
        let figure = figure_with(d, "msgs", Some(size));
        let label = format!(
            "msgs/s at {} ≥ {bound}× lua-resty-websocket",
            size_label(size)
        );
        list.push(Target {
            label,
            figure,
            key: "msgs_per_s",
            reference: Some(LUA),
            check: if bound == 5.0 {
                |r| r >= 5.0
            } else {
                |r| r >= 8.0
            },
            show: times,
        });
    }
    list.push(Target {
        label: "msgs/s at 16 KiB ≥ 60% of the raw echo".into(),
        figure: figure_with(d, "msgs", Some("16384")),
        key: "msgs_per_s",
        reference: Some(RAW),
        check: |r| r >= 0.6,
        show: |r| format!("{:.0}%", r * 100.0),
    });
    list.push(Target {
        label: "round trip p99 at 1 connection ≤ 1.2× the raw echo".into(),
        figure: figure_with(d, "latency", None),
        key: "p99_us",
        reference: Some(RAW),
        check: |r| r <= 1.2,
        show: times,
    });
    list.push(Target {
        label: "worker RSS per idle connection ≤ 4 KiB".into(),
        figure: figure_with(d, "idle", None),
        key: "rss_per_conn",
        reference: None,
        check: |v| v <= 4096.0,
        show: |v| format!("{v:.0} B"),
    });
    for t in list {
        let mut cells = Vec::new();
        let mut met = true;
        for server in MODULES {
            let value = t.figure.as_deref().and_then(|f| {
                let s = d.stat(f, server, t.key);
                match t.reference {
                    Some(r) => ratio(s, d.stat(f, r, t.key)),
                    None => s.map(|s| s.median),
                }
            });
            match value {
                Some(v) => {
                    met &= (t.check)(v);
                    cells.push((t.show)(v));
                }
                None => {
                    met = false;
                    cells.push("–".into());
                }
            }
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            t.label,
            cells[0],
            cells[1],
            if met { "yes" } else { "**no**" }
        );
    }
    md
}

/// Chart data: one row per `msgs-*` figure (payload size), then median,
/// min and max of each server in `SERVERS` order.
pub fn chart_data(input: &str) -> String {
    let d = Data {
        lines: input.lines().filter_map(parse_line).collect(),
    };
    let mut out = String::from("# size");
    for (key, _, _) in SERVERS {
        let _ = write!(out, " {key}_median {key}_min {key}_max");
    }
    out.push('\n');
    for f in d.figures().into_iter().filter(|f| f.starts_with("msgs")) {
        let size = size_label(&d.param(&f, "size").unwrap_or_default());
        let _ = write!(out, "\"{size}\"");
        for (key, _, _) in SERVERS {
            match d.stat(&f, key, "msgs_per_s") {
                Some(s) => {
                    let _ = write!(out, " {} {} {}", s.median, s.min, s.max);
                }
                None => out.push_str(" 0 0 0"),
            }
        }
        out.push('\n');
    }
    out
}

/// Replace the text between the markers in `doc` (or append the block).
pub fn splice(doc: &str, generated: &str) -> String {
    const BEGIN: &str = "<!-- BEGIN GENERATED by scripts/bench -->";
    const END: &str = "<!-- END GENERATED -->";
    let block = format!("{BEGIN}\n{}\n{END}", generated.trim_end());
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &doc[..b], &doc[e + END.len()..])
        }
        _ if doc.trim().is_empty() => format!("# Benchmark results\n\n{block}\n"),
        _ => format!("{}\n\n{block}\n", doc.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
figure=msgs-16 server=embedded rep=1 conns=64 inflight=16 size=16 msgs_per_s=500000 client_cpu=90 server_cpu=80
figure=msgs-16 server=embedded rep=2 conns=64 inflight=16 size=16 msgs_per_s=520000 client_cpu=91 server_cpu=81
figure=msgs-16 server=embedded rep=3 conns=64 inflight=16 size=16 msgs_per_s=480000 client_cpu=92 server_cpu=82
figure=msgs-16 server=lua rep=1 conns=64 inflight=16 size=16 msgs_per_s=100000
figure=msgs-16 server=raw rep=1 conns=64 inflight=16 size=16 msgs_per_s=1000000
figure=msgs-16 server=debian rep=1 error=connect_refused
figure=idle server=embedded rep=1 conns=10000 rss_per_conn=3000
figure=idle server=debian rep=1 conns=10000 rss_per_conn=5000
";

    #[test]
    fn stats() {
        let s = stat(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(stat(&[1.0, 4.0]).unwrap().median, 2.5);
        assert!(stat(&[]).is_none());
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(1234567.0), "1,234,567");
        assert_eq!(fmt_num(999.0), "999");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(-4096.0), "-4,096");
    }

    #[test]
    fn table_and_targets() {
        let md = markdown(SAMPLE, "machine: test");
        assert!(
            md.contains("| 500,000 msgs/s | 480,000–520,000 | 5.00× | 0.50× | 81% | 91% | – |"),
            "{md}"
        );
        assert!(md.contains("failed: connect_refused"), "{md}");
        assert!(
            md.contains("| worker RSS per idle connection ≤ 4 KiB | 3000 B | 5000 B | **no** |"),
            "{md}"
        );
        assert!(
            md.contains("≥ 5× lua-resty-websocket | 5.00× | – | **no** |"),
            "{md}"
        );
        assert!(md.ends_with("machine: test\n"));
    }

    #[test]
    fn chart() {
        let c = chart_data(SAMPLE);
        assert!(c.contains("\"16 B\" 500000 480000 520000 0 0 0 100000 100000 100000 1000000"));
    }

    #[test]
    fn splicing() {
        let doc = "# R\n\nintro\n<!-- BEGIN GENERATED by scripts/bench -->\nold\n<!-- END GENERATED -->\n\nnotes\n";
        let out = splice(doc, "new\n");
        assert_eq!(out, "# R\n\nintro\n<!-- BEGIN GENERATED by scripts/bench -->\nnew\n<!-- END GENERATED -->\n\nnotes\n");
        assert!(splice("", "x").contains("# Benchmark results"));
    }
}
