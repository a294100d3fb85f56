//! Turns the run lines of `scripts/bench` into the markdown table of
//! bench/results.md and the data file of the chart.
//!
//! Input: one line per client run, `key=value` pairs, with at least
//! `figure=`, `server=` and `rep=` (added by the script) and the client's
//! figures (or `error=` when a run failed). Figures are named by kind:
//! `msgs-*` (msgs/s), `mib-*` (MiB/s), `latency` (p50 and p99 round trip),
//! `idle` (worker RSS per connection) and `idle-tls` (worker RSS per idle
//! TLS connection: the module's wss:// against nginx's own HTTPS keepalive),
//! `deflate-*` (msgs/s of JSON text messages with permessage-deflate, the
//! module with and without it and Python's websockets) and `idle-deflate`
//! (worker RSS per idle connection with permessage-deflate negotiated).
//! The baseline server's lines (`scripts/bench --baseline REV`) carry its
//! short sha as `rev=`; every figure then gets the ratio of the embedded
//! build to it, in results.md and as extra lines of results.txt.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The servers, in table order: key, name in the table, short name. A
/// server has rows only in the figures it ran (the baseline's name gets its
/// sha, see `server_name`).
pub const SERVERS: [(&str, &str, &str); 11] = [
    (
        "embedded",
        "this module, nginx 1.28.3 (embedded build)",
        "module, nginx 1.28.3",
    ),
    (
        "baseline",
        "this module at the baseline revision, nginx 1.28.3",
        "baseline",
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
    (
        "nginx-https",
        "nginx's own HTTPS keepalive connection, nginx 1.28.3 (same binary and config)",
        "nginx HTTPS keepalive",
    ),
    (
        "deflate",
        "this module, nginx 1.28.3, `websocket_deflate on` (defaults: no context takeover)",
        "module, deflate",
    ),
    (
        "deflate-plain",
        "this module, nginx 1.28.3, without deflate (the same JSON uncompressed)",
        "module, no deflate",
    ),
    (
        "websockets",
        "Python websockets echo (asyncio `serve`, its default compression), one process",
        "Python websockets",
    ),
    (
        "deflate-takeover",
        "this module, nginx 1.28.3, deflate with context takeover both ways (15-bit windows, memory level 8)",
        "module, deflate, context takeover",
    ),
    (
        "deflate-takeover-w9",
        "this module, nginx 1.28.3, deflate with context takeover, 9-bit windows, memory level 1",
        "module, deflate, context takeover, 9-bit windows",
    ),
];

/// The servers of the chart, in the column order of bench/chart.gp.
const CHART_SERVERS: [&str; 4] = ["embedded", "debian", "lua", "raw"];

const EMBEDDED: &str = "embedded";
const BASELINE: &str = "baseline";
const LUA: &str = "lua";
const RAW: &str = "raw";
const NGINX_HTTPS: &str = "nginx-https";
const MODULES: [&str; 2] = ["embedded", "debian"];
/// The figure of idle TLS connections.
const IDLE_TLS: &str = "idle-tls";
/// The figure of idle connections with permessage-deflate.
const IDLE_DEFLATE: &str = "idle-deflate";
/// The servers of the deflate-* figures: with deflate, without, websockets.
const DEFLATE: &str = "deflate";
const DEFLATE_PLAIN: &str = "deflate-plain";
const WEBSOCKETS: &str = "websockets";

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

    /// A parameter of `server`'s runs of `figure`.
    fn server_param(&self, figure: &str, server: &str, key: &str) -> Option<String> {
        self.runs(figure, server).find_map(|l| l.get(key).cloned())
    }

    /// Whether `server` has any line (figures or an error) in `figure`.
    fn ran(&self, figure: &str, server: &str) -> bool {
        self.runs(figure, server).next().is_some()
    }

    /// The baseline's short sha (`rev=` of its lines).
    fn baseline_rev(&self) -> Option<&str> {
        self.lines
            .iter()
            .filter(|l| l.get("server").map(String::as_str) == Some(BASELINE))
            .find_map(|l| l.get("rev").map(String::as_str))
    }

    fn has_baseline(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l.get("server").map(String::as_str) == Some(BASELINE))
    }

    /// `a − b` for `key`, paired by repetition (both ran alternately in the
    /// same repetition), over the repetitions where both have a value.
    fn paired_diff(&self, figure: &str, a: &str, b: &str, key: &str) -> Option<Stat> {
        let by_rep = |server| -> BTreeMap<String, f64> {
            self.runs(figure, server)
                .filter_map(|l| Some((l.get("rep")?.clone(), l.get(key)?.parse().ok()?)))
                .collect()
        };
        let (a, b) = (by_rep(a), by_rep(b));
        let diffs: Vec<f64> = a
            .iter()
            .filter_map(|(rep, va)| Some(va - b.get(rep)?))
            .collect();
        stat(&diffs)
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
        if f.starts_with("deflate-") {
            out.push(Metric {
                title: format!(
                    "msgs/s, {} JSON text messages, permessage-deflate (no context takeover), {shape}",
                    size_label(&p("size"))
                ),
                figure: f,
                key: "msgs_per_s",
                unit: "msgs/s",
            });
        } else if f == IDLE_DEFLATE {
            out.push(Metric {
                title: format!(
                    "worker RSS per idle connection with permessage-deflate, bytes, {} connections \
                     (each echoed one {} JSON message, compressed both ways)",
                    p("conns"),
                    size_label(&p("size"))
                ),
                figure: f,
                key: "rss_per_conn",
                unit: "B",
            });
        } else if f.starts_with("msgs") {
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
        } else if f == IDLE_TLS {
            out.push(Metric {
                title: format!(
                    "worker RSS per idle TLS connection, bytes, {} connections \
                     (module: wss:// after one 16 B echo; nginx: HTTPS keepalive after one GET)",
                    p("conns")
                ),
                figure: f,
                key: "rss_per_conn",
                unit: "B",
            });
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

/// The table name of a server (the baseline's with its sha).
fn server_name(d: &Data, key: &str, name: &str) -> String {
    if key == BASELINE {
        format!(
            "this module at {}, nginx 1.28.3",
            d.baseline_rev().unwrap_or("the baseline revision")
        )
    } else {
        name.to_owned()
    }
}

/// A byte difference with its sign.
fn fmt_diff(v: f64) -> String {
    let s = fmt_num(v);
    if v > 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

/// The module servers compared with nginx's HTTPS keepalive in idle-tls.
const TLS_MODULES: [&str; 2] = [EMBEDDED, BASELINE];

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
        let mut first = true;
        let mut title = || {
            if std::mem::take(&mut first) {
                format!("**{}**", m.title)
            } else {
                String::new()
            }
        };
        for (server, name, _) in SERVERS {
            if !d.ran(&m.figure, server) {
                continue;
            }
            let title = title();
            let mut name = server_name(&d, server, name);
            // A server measured at another connection count than the title's.
            let conns = d.server_param(&m.figure, server, "conns");
            if conns.is_some() && conns != d.param(&m.figure, "conns") {
                let _ = write!(name, " ({} connections)", conns.unwrap_or_default());
            }
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
                if server == LUA {
                    "1×".into()
                } else {
                    fmt_ratio(ratio(Some(s), lua))
                },
                if server == RAW {
                    "1×".into()
                } else {
                    fmt_ratio(ratio(Some(s), raw))
                },
                cpu("server_cpu"),
                cpu("client_cpu"),
            );
        }
        if m.figure == IDLE_TLS {
            // What a wss:// connection costs more than nginx's own idle
            // HTTPS connection, paired by repetition.
            for module in TLS_MODULES {
                let Some(diff) = d.paired_diff(&m.figure, module, NGINX_HTTPS, m.key) else {
                    continue;
                };
                let name = server_name(&d, module, SERVERS[0].1);
                let _ = writeln!(
                    md,
                    "| {} | difference: {name}, wss:// − nginx's HTTPS keepalive | {} B | {}–{} | | | | | |",
                    title(),
                    fmt_diff(diff.median),
                    fmt_diff(diff.min),
                    fmt_diff(diff.max),
                );
            }
        }
    }
    md.push('\n');
    let deflate = deflate_table(&d);
    if !deflate.is_empty() {
        md.push_str(&deflate);
        md.push('\n');
    }
    if d.has_baseline() {
        md.push_str(&baseline_table(&d));
        md.push('\n');
    }
    let targets = targets(&d);
    if !targets.is_empty() {
        md.push_str(&targets);
        md.push('\n');
    }
    md.push_str(machine.trim_end());
    md.push('\n');
    md
}

/// The deflate-* figures side by side: msgs/s and worker CPU per message
/// against the module without deflate, and the payload bytes on the wire.
fn deflate_table(d: &Data) -> String {
    let figures: Vec<String> = d
        .figures()
        .into_iter()
        .filter(|f| f.starts_with("deflate-"))
        .collect();
    if figures.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "**permessage-deflate.** JSON text messages (64 distinct documents rotated), sent \
         compressed by the client (compressed once, no client context takeover) to the servers \
         with deflate, which compress every reply; the same documents uncompressed to the module \
         without deflate. Ratios are to the module without deflate; payload is the mean bytes of \
         a message's frames on the wire, sent and echoed.\n\n\
         | figure | server | msgs/s | ÷ without deflate | server CPU per msg | ÷ without deflate | payload sent | payload echoed |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in figures {
        let size = size_label(&d.param(&f, "size").unwrap_or_default());
        let plain = d.stat(&f, DEFLATE_PLAIN, "msgs_per_s");
        let plain_cpu = d.stat(&f, DEFLATE_PLAIN, "server_us_per_msg");
        let mut first = true;
        for server in [DEFLATE, DEFLATE_PLAIN, WEBSOCKETS] {
            if !d.ran(&f, server) {
                continue;
            }
            let title = if std::mem::take(&mut first) {
                format!("**{size} JSON**")
            } else {
                String::new()
            };
            let name = SERVERS
                .iter()
                .find(|s| s.0 == server)
                .map_or(server, |s| s.2);
            let rate = d.stat(&f, server, "msgs_per_s");
            let cpu = d.stat(&f, server, "server_us_per_msg");
            let bytes = |k| {
                d.stat(&f, server, k)
                    .map_or_else(|| "–".into(), |s| format!("{} B", fmt_num(s.median)))
            };
            let echoed = if server == DEFLATE_PLAIN {
                bytes("sent_payload_mean")
            } else {
                bytes("reply_payload_mean")
            };
            let _ = writeln!(
                md,
                "| {title} | {name} | {} | {} | {} | {} | {} | {echoed} |",
                rate.map_or_else(|| "failed".into(), |s| fmt_num(s.median)),
                fmt_ratio(ratio(rate, plain)),
                cpu.map_or_else(|| "–".into(), |s| format!("{:.2} µs", s.median)),
                fmt_ratio(ratio(cpu, plain_cpu)),
                bytes("sent_payload_mean"),
            );
        }
    }
    md
}

/// One figure compared with the baseline: the medians of the embedded
/// build and of the baseline for `key`, and for the server CPU per message.
struct Comparison {
    metric: Metric,
    embedded: Option<Stat>,
    baseline: Option<Stat>,
    cpu_embedded: Option<Stat>,
    cpu_baseline: Option<Stat>,
}

fn comparisons(d: &Data) -> Vec<Comparison> {
    metrics(d)
        .into_iter()
        .filter(|m| d.ran(&m.figure, EMBEDDED) || d.ran(&m.figure, BASELINE))
        .map(|m| Comparison {
            embedded: d.stat(&m.figure, EMBEDDED, m.key),
            baseline: d.stat(&m.figure, BASELINE, m.key),
            cpu_embedded: d.stat(&m.figure, EMBEDDED, "server_us_per_msg"),
            cpu_baseline: d.stat(&m.figure, BASELINE, "server_us_per_msg"),
            metric: m,
        })
        .collect()
}

/// The embedded build divided by the baseline, figure by figure.
fn baseline_table(d: &Data) -> String {
    let rev = d.baseline_rev().unwrap_or("the baseline");
    let mut md = format!(
        "**This build ÷ the baseline ({rev}).** The same nginx 1.28.3 binary and config, \
         alternated with it in the same run, so drift between runs cancels out: medians of \
         this build divided by the baseline's. Above 1× is more (faster for msgs/s and MiB/s; \
         slower or bigger for µs, CPU per message and bytes).\n\n\
         | figure | this module, nginx 1.28.3 | at {rev} | ÷ baseline | server CPU per msg | at {rev} | ÷ baseline |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    );
    let value = |s: Option<Stat>, unit: &str| {
        s.map_or_else(|| "–".into(), |s| format!("{} {unit}", fmt_num(s.median)))
    };
    let cpu = |s: Option<Stat>| s.map_or_else(|| "–".into(), |s| format!("{:.2} µs", s.median));
    for c in comparisons(d) {
        let m = &c.metric;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            m.title,
            value(c.embedded, m.unit),
            value(c.baseline, m.unit),
            fmt_ratio(ratio(c.embedded, c.baseline)),
            cpu(c.cpu_embedded),
            cpu(c.cpu_baseline),
            if c.cpu_embedded.is_some() || c.cpu_baseline.is_some() {
                fmt_ratio(ratio(c.cpu_embedded, c.cpu_baseline))
            } else {
                "–".into()
            },
        );
    }
    md
}

/// results.txt: every run line as given, then one line per figure with the
/// ratios of the embedded build to the baseline (when it ran) and, for
/// idle-tls, the paired differences to nginx's HTTPS keepalive. The extra
/// lines have no `server=`, so `report` ignores them when reading the file
/// back.
pub fn results_txt(input: &str) -> String {
    let d = Data {
        lines: input.lines().filter_map(parse_line).collect(),
    };
    let mut out = input.trim_end().to_owned();
    out.push('\n');
    let mut extra = String::new();
    if d.has_baseline() {
        let rev = d.baseline_rev().unwrap_or("?");
        let three = |r: Option<f64>| r.map_or_else(|| "-".into(), |r| format!("{r:.3}"));
        // Per figure: its values' ratios, then the CPU per message's.
        let mut by_figure: Vec<(String, Vec<String>, Option<String>)> = Vec::new();
        for c in comparisons(&d) {
            let f = &c.metric.figure;
            let idx = match by_figure.iter().position(|(g, _, _)| g == f) {
                Some(i) => i,
                None => {
                    by_figure.push((f.clone(), Vec::new(), None));
                    by_figure.len() - 1
                }
            };
            let entry = &mut by_figure[idx];
            let r = three(ratio(c.embedded, c.baseline));
            entry.1.push(format!("{}={r}", c.metric.key));
            if c.cpu_embedded.is_some() || c.cpu_baseline.is_some() {
                let cpu = three(ratio(c.cpu_embedded, c.cpu_baseline));
                entry.2 = Some(format!("server_us_per_msg={cpu}"));
            }
        }
        let _ = writeln!(
            extra,
            "# medians of embedded ÷ medians of baseline ({rev}), per figure"
        );
        for (f, mut fields, cpu) in by_figure {
            fields.extend(cpu);
            let _ = writeln!(
                extra,
                "figure={f} compare=embedded/baseline baseline={rev} {}",
                fields.join(" ")
            );
        }
    }
    let diffs: Vec<_> = TLS_MODULES
        .iter()
        .filter_map(|m| Some((m, d.paired_diff(IDLE_TLS, m, NGINX_HTTPS, "rss_per_conn")?)))
        .collect();
    if !diffs.is_empty() {
        let _ = writeln!(
            extra,
            "# idle-tls: worker RSS per connection, module wss:// − nginx HTTPS keepalive, bytes (median, min, max of the repetitions)"
        );
        for (m, s) in diffs {
            let _ = writeln!(
                extra,
                "figure={IDLE_TLS} compare={m}-nginx-https rss_per_conn_diff={:.0} min={:.0} max={:.0}",
                s.median, s.min, s.max
            );
        }
    }
    let deflate: Vec<String> = d
        .figures()
        .into_iter()
        .filter(|f| f.starts_with("deflate-"))
        .collect();
    if !deflate.is_empty() {
        let _ = writeln!(
            extra,
            "# deflate-*: medians of the module with deflate ÷ medians of the module without it, and of websockets"
        );
        let three = |r: Option<f64>| r.map_or_else(|| "-".into(), |r| format!("{r:.3}"));
        for f in deflate {
            for other in [DEFLATE_PLAIN, WEBSOCKETS] {
                if !d.ran(&f, other) || !d.ran(&f, DEFLATE) {
                    continue;
                }
                let r = |k| three(ratio(d.stat(&f, DEFLATE, k), d.stat(&f, other, k)));
                let _ = writeln!(
                    extra,
                    "figure={f} compare={DEFLATE}/{other} msgs_per_s={} server_us_per_msg={}",
                    r("msgs_per_s"),
                    r("server_us_per_msg")
                );
            }
        }
    }
    if !extra.is_empty() {
        out.push_str(&extra);
    }
    out
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

/// How a target's value is made from the medians.
#[derive(Clone, Copy)]
enum Reference {
    /// The median itself.
    None,
    /// The median divided by that server's median.
    Ratio(&'static str),
    /// The module's value less that server's, paired by repetition.
    Minus(&'static str),
}

/// The targets, each with the measured value for both module builds
/// (or only the embedded one, where Debian's nginx is not measured).
fn targets(d: &Data) -> String {
    let mut md = String::from(
        "| target | module, nginx 1.28.3 | module, Debian nginx 1.22.1 | met |\n|---|---:|---:|:---:|\n",
    );
    /// A bound on a median (or on its ratio to, or difference from, a
    /// reference server's).
    struct Target {
        label: String,
        figure: Option<String>,
        key: &'static str,
        reference: Reference,
        check: fn(f64) -> bool,
        show: fn(f64) -> String,
        /// The module builds it applies to.
        servers: &'static [&'static str],
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
            reference: Reference::Ratio(LUA),
            check: if bound == 5.0 {
                |r| r >= 5.0
            } else {
                |r| r >= 8.0
            },
            show: times,
            servers: &MODULES,
        });
    }
    list.push(Target {
        label: "msgs/s at 16 KiB ≥ 60% of the raw echo".into(),
        figure: figure_with(d, "msgs", Some("16384")),
        key: "msgs_per_s",
        reference: Reference::Ratio(RAW),
        check: |r| r >= 0.6,
        show: |r| format!("{:.0}%", r * 100.0),
        servers: &MODULES,
    });
    list.push(Target {
        label: "round trip p99 at 1 connection ≤ 1.2× the raw echo".into(),
        figure: figure_with(d, "latency", None),
        key: "p99_us",
        reference: Reference::Ratio(RAW),
        check: |r| r <= 1.2,
        show: times,
        servers: &MODULES,
    });
    list.push(Target {
        label: "worker RSS per idle connection ≤ 4 KiB".into(),
        figure: d.figures().into_iter().find(|f| f == "idle"),
        key: "rss_per_conn",
        reference: Reference::None,
        check: |v| v <= 4096.0,
        show: |v| format!("{v:.0} B"),
        servers: &MODULES,
    });
    list.push(Target {
        label: "idle wss:// connection ≤ 1.5 KiB more worker RSS than nginx's idle HTTPS keepalive connection"
            .into(),
        figure: d.figures().into_iter().find(|f| f == IDLE_TLS),
        key: "rss_per_conn",
        reference: Reference::Minus(NGINX_HTTPS),
        check: |v| v <= 1536.0,
        show: |v| format!("{} B", fmt_diff(v)),
        servers: &[EMBEDDED],
    });
    // Only the targets whose figure ran (a run of some figures only, with
    // --only, has no verdict on the others).
    list.retain(|t| t.figure.is_some());
    if list.is_empty() {
        return String::new();
    }
    for t in list {
        let mut cells = Vec::new();
        let mut met = true;
        for server in MODULES {
            if !t.servers.contains(&server) {
                cells.push("not measured".to_owned());
                continue;
            }
            let value = t.figure.as_deref().and_then(|f| {
                let s = d.stat(f, server, t.key);
                match t.reference {
                    Reference::Ratio(r) => ratio(s, d.stat(f, r, t.key)),
                    Reference::Minus(r) => d.paired_diff(f, server, r, t.key).map(|s| s.median),
                    Reference::None => s.map(|s| s.median),
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
    for key in CHART_SERVERS {
        let _ = write!(out, " {key}_median {key}_min {key}_max");
    }
    out.push('\n');
    for f in d.figures().into_iter().filter(|f| f.starts_with("msgs")) {
        let size = size_label(&d.param(&f, "size").unwrap_or_default());
        let _ = write!(out, "\"{size}\"");
        for key in CHART_SERVERS {
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

    const WITH_BASELINE: &str = "\
figure=msgs-16 server=embedded rep=1 conns=64 inflight=16 size=16 msgs_per_s=500000 server_us_per_msg=0.300
figure=msgs-16 server=baseline rev=abc1234 rep=1 conns=64 inflight=16 size=16 msgs_per_s=400000 server_us_per_msg=0.400
figure=idle server=embedded rep=1 conns=10000 rss_per_conn=1000
figure=idle server=baseline rev=abc1234 rep=1 conns=10000 rss_per_conn=2000
figure=idle-tls server=nginx-https rep=1 conns=3000 rss_per_conn=15000 verified=3100
figure=idle-tls server=embedded rep=1 conns=3000 rss_per_conn=16000 verified=3100
figure=idle-tls server=baseline rev=abc1234 rep=1 conns=3000 rss_per_conn=30000 verified=3100
figure=idle-tls server=nginx-https rep=2 conns=3000 rss_per_conn=15200 verified=3100
figure=idle-tls server=embedded rep=2 conns=3000 rss_per_conn=16400 verified=3100
";

    #[test]
    fn baseline_and_idle_tls() {
        let md = markdown(WITH_BASELINE, "");
        // Only servers that ran get rows; the baseline is named by its sha.
        assert!(!md.contains("Debian nginx 1.22.1 | failed"), "{md}");
        assert!(
            md.contains("| this module at abc1234, nginx 1.28.3 | 400,000 msgs/s |"),
            "{md}"
        );
        assert!(
            md.contains("**This build ÷ the baseline (abc1234).**"),
            "{md}"
        );
        assert!(
            md.contains("| 500,000 msgs/s | 400,000 msgs/s | 1.25× | 0.30 µs | 0.40 µs | 0.75× |"),
            "{md}"
        );
        assert!(
            md.contains("| 1,000 B | 2,000 B | 0.50× | – | – | – |"),
            "{md}"
        );
        // idle-tls: nginx's keepalive, both modules, the paired differences.
        assert!(
            md.contains("| nginx's own HTTPS keepalive connection, nginx 1.28.3 (same binary and config) | 15,100 B |"),
            "{md}"
        );
        assert!(
            md.contains("| difference: this module, nginx 1.28.3 (embedded build), wss:// − nginx's HTTPS keepalive | +1,100 B | +1,000–+1,200 |"),
            "{md}"
        );
        assert!(
            md.contains("wss:// − nginx's HTTPS keepalive | +15,000 B |"),
            "{md}"
        );
        assert!(
            md.contains(
                "nginx's idle HTTPS keepalive connection | +1,100 B | not measured | yes |"
            ),
            "{md}"
        );
        // The idle target reads the idle figure, not idle-tls.
        assert!(
            md.contains("per idle connection ≤ 4 KiB | 1000 B | – | **no** |"),
            "{md}"
        );

        let txt = results_txt(WITH_BASELINE);
        assert!(txt.starts_with(WITH_BASELINE), "{txt}");
        assert!(
            txt.contains("figure=msgs-16 compare=embedded/baseline baseline=abc1234 msgs_per_s=1.250 server_us_per_msg=0.750\n"),
            "{txt}"
        );
        assert!(
            txt.contains(
                "figure=idle compare=embedded/baseline baseline=abc1234 rss_per_conn=0.500\n"
            ),
            "{txt}"
        );
        assert!(
            txt.contains(
                "figure=idle-tls compare=embedded/baseline baseline=abc1234 rss_per_conn=0.540\n"
            ),
            "{txt}"
        );
        assert!(
            txt.contains("figure=idle-tls compare=embedded-nginx-https rss_per_conn_diff=1100 min=1000 max=1200\n"),
            "{txt}"
        );
        assert!(
            txt.contains("compare=baseline-nginx-https rss_per_conn_diff=15000"),
            "{txt}"
        );
        // Read back, the extra lines change nothing.
        assert_eq!(markdown(&txt, ""), md);
        assert_eq!(
            results_txt(WITH_BASELINE),
            results_txt(&txt[..WITH_BASELINE.len()])
        );
    }

    const WITH_DEFLATE: &str = "\
figure=deflate-512 server=deflate rep=1 conns=64 inflight=16 size=512 msgs_per_s=100000 server_us_per_msg=8.000 server_cpu=80 client_cpu=50 sent_payload_mean=296 reply_payload_mean=330 verified=9
figure=deflate-512 server=deflate-plain rep=1 conns=64 inflight=16 size=512 msgs_per_s=400000 server_us_per_msg=2.000 sent_payload_mean=512 verified=9
figure=deflate-512 server=websockets rep=1 conns=64 inflight=16 size=512 msgs_per_s=25000 server_us_per_msg=40.000 sent_payload_mean=296 reply_payload_mean=296 verified=9
figure=idle-deflate server=deflate rep=1 conns=10000 size=512 rss_per_conn=1200 verified=9
figure=idle-deflate server=deflate-takeover rep=1 conns=2000 size=512 rss_per_conn=100000 verified=9
";

    #[test]
    fn deflate_figures() {
        let md = markdown(WITH_DEFLATE, "");
        assert!(
            md.contains("| **msgs/s, 512 B JSON text messages, permessage-deflate (no context takeover), 64 conn × 16 in flight** | this module, nginx 1.28.3, `websocket_deflate on` (defaults: no context takeover) | 100,000 msgs/s |"),
            "{md}"
        );
        assert!(
            md.contains("| **512 B JSON** | module, deflate | 100,000 | 0.25× | 8.00 µs | 4.00× | 296 B | 330 B |"),
            "{md}"
        );
        assert!(
            md.contains(
                "|  | module, no deflate | 400,000 | 1.00× | 2.00 µs | 1.00× | 512 B | 512 B |"
            ),
            "{md}"
        );
        assert!(
            md.contains("**worker RSS per idle connection with permessage-deflate, bytes, 10000 connections (each echoed one 512 B JSON message, compressed both ways)**"),
            "{md}"
        );
        assert!(
            md.contains("(15-bit windows, memory level 8) (2000 connections) | 100,000 B |"),
            "{md}"
        );
        // No target's figure ran: no targets table.
        assert!(!md.contains("| target |"), "{md}");
        let txt = results_txt(WITH_DEFLATE);
        assert!(
            txt.contains("figure=deflate-512 compare=deflate/deflate-plain msgs_per_s=0.250 server_us_per_msg=4.000\n"),
            "{txt}"
        );
        assert!(
            txt.contains("compare=deflate/websockets msgs_per_s=4.000 server_us_per_msg=0.200\n"),
            "{txt}"
        );
        assert_eq!(markdown(&txt, ""), md);
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
