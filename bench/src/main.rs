//! `ngx-websocket-bench`: the pieces of `scripts/bench`.
//!
//! ```text
//! ngx-websocket-bench client --port P [--path /echo] [--mode throughput|latency|idle]
//!     [--conns C] [--inflight W] [--size S] [--warmup SECS] [--duration SECS]
//!     [--server-pid PID] [--raw] [--connect-batch N] [--settle SECS] [--warm-conns N]
//!     [--json] [--deflate OFFER [--window-bits B] [--expect-extensions ANSWER]]
//! ngx-websocket-bench raw-server --port P [--exit-after SECS]
//! ngx-websocket-bench report --input RUNS --results-md FILE --chart-data FILE [--machine FILE]
//!     [--results-txt FILE]
//! ngx-websocket-bench free-port
//! ```
//!
//! The client prints one line of `key=value` figures and exits 0, or prints
//! why it failed (a wrong echo, a closed connection) and exits 1. It only
//! connects to loopback addresses.
//!
//! `--json` sends JSON text messages (64 distinct documents of `--size`
//! bytes); `--deflate OFFER` offers permessage-deflate with OFFER as the
//! Sec-WebSocket-Extensions value (`;` separated, spaces optional, e.g.
//! `permessage-deflate;server_no_context_takeover;client_no_context_takeover`)
//! and sends them compressed with a window of `--window-bits` (default 15);
//! `--expect-extensions` requires that exact answer (spaces ignored).

mod client;
mod deflate;
mod raw;
mod report;
mod sys;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: ngx-websocket-bench client|raw-server|report|free-port [--option value]... (see bench/src/main.rs)";

struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse(args: &[String], flag_names: &[&str]) -> Result<Self, String> {
        let mut values = HashMap::new();
        let mut flags = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            if flag_names.contains(&name) {
                flags.push(name.to_owned());
            } else {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                values.insert(name.to_owned(), v.clone());
            }
        }
        Ok(Self { values, flags })
    }

    fn get<T: std::str::FromStr>(&mut self, name: &str, default: Option<T>) -> Result<T, String> {
        match self.values.remove(name) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: cannot parse {v:?}")),
            None => default.ok_or_else(|| format!("--{name} is required")),
        }
    }

    fn opt<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.values
            .remove(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("--{name}: cannot parse {v:?}"))
            })
            .transpose()
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn secs(&mut self, name: &str, default: f64) -> Result<Duration, String> {
        let s: f64 = self.get(name, Some(default))?;
        if !(0.0..=3600.0).contains(&s) {
            return Err(format!("--{name}: {s} is out of range"));
        }
        Ok(Duration::from_secs_f64(s))
    }

    fn done(self) -> Result<(), String> {
        match self.values.keys().next() {
            Some(k) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

fn loopback(a: &mut Args) -> Result<SocketAddrV4, String> {
    let host: Ipv4Addr = a.get("host", Some(Ipv4Addr::LOCALHOST))?;
    if !host.is_loopback() {
        return Err(format!("{host} is not a loopback address"));
    }
    Ok(SocketAddrV4::new(host, a.get("port", None)?))
}

fn client(args: &[String]) -> Result<(), String> {
    let mut a = Args::parse(args, &["raw", "json"])?;
    let mode: String = a.get("mode", Some("throughput".into()))?;
    let latency = mode == "latency";
    let idle = mode == "idle";
    if !latency && !idle && mode != "throughput" {
        return Err(format!("--mode: unknown mode {mode:?}"));
    }
    let cfg = client::Config {
        addr: loopback(&mut a)?,
        path: a.get("path", Some("/echo".into()))?,
        conns: a.get(
            "conns",
            Some(if latency {
                1
            } else if idle {
                10_000
            } else {
                64
            }),
        )?,
        inflight: a.get("inflight", Some(if latency || idle { 1 } else { 16 }))?,
        size: a.get("size", Some(16))?,
        warmup: a.secs("warmup", 1.0)?,
        duration: a.secs("duration", 5.0)?,
        server_pid: a.opt("server-pid")?,
        expect_masked: a.flag("raw"),
        connect_batch: a.get("connect-batch", Some(256))?,
        settle: a.secs("settle", 1.0)?,
        warm_conns: a.get("warm-conns", Some(100))?,
        json: a.flag("json"),
        deflate: None,
    };
    let mut cfg = cfg;
    let window_bits: u8 = a.get("window-bits", Some(15))?;
    let expect: Option<String> = a.opt("expect-extensions")?;
    if let Some(offer) = a.opt::<String>("deflate")? {
        if !(9..=15).contains(&window_bits) {
            return Err("--window-bits must be from 9 to 15".into());
        }
        // The offer as one header value: `;` separated, one space after each.
        let offer = offer
            .split(';')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("; ");
        if !offer.starts_with("permessage-deflate") {
            return Err(format!(
                "--deflate: {offer:?} is not a permessage-deflate offer"
            ));
        }
        cfg.deflate = Some(client::DeflateOffer {
            offer,
            window_bits,
            expect,
        });
    } else if expect.is_some() {
        return Err("--expect-extensions needs --deflate".into());
    }
    if idle && cfg.inflight != 1 {
        return Err("idle mode sends one message per connection".into());
    }
    if cfg.size > 64 << 20 || cfg.conns > 100_000 || cfg.inflight > 4096 {
        return Err("size, connections or messages in flight out of range".into());
    }
    a.done()?;
    let report = if idle {
        client::run_idle(cfg)?
    } else {
        client::run_echo(cfg)?
    };
    println!("mode={mode} {report}");
    Ok(())
}

fn raw_server(args: &[String]) -> Result<(), String> {
    let mut a = Args::parse(args, &[])?;
    let opts = raw::Options {
        addr: loopback(&mut a)?,
        exit_after: a.secs("exit-after", 3600.0)?,
        corrupt_at: a.opt("corrupt-at")?,
    };
    a.done()?;
    raw::run(opts).map_err(|e| format!("raw echo server on {}: {e}", opts.addr))
}

fn report_cmd(args: &[String]) -> Result<(), String> {
    let mut a = Args::parse(args, &[])?;
    let input: String = a.get("input", None)?;
    let md_path: String = a.get("results-md", None)?;
    let chart_path: String = a.get("chart-data", None)?;
    let machine: Option<String> = a.opt("machine")?;
    let txt_path: Option<String> = a.opt("results-txt")?;
    a.done()?;
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let runs = read(&input)?;
    let machine = machine.map(|m| read(&m)).transpose()?.unwrap_or_default();
    let existing = std::fs::read_to_string(&md_path).unwrap_or_default();
    let doc = report::splice(&existing, &report::markdown(&runs, &machine));
    std::fs::write(&md_path, doc).map_err(|e| format!("{md_path}: {e}"))?;
    std::fs::write(&chart_path, report::chart_data(&runs))
        .map_err(|e| format!("{chart_path}: {e}"))?;
    if let Some(p) = txt_path {
        std::fs::write(&p, report::results_txt(&runs)).map_err(|e| format!("{p}: {e}"))?;
    }
    Ok(())
}

/// Prints a TCP port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> Result<(), String> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "client" => client(rest),
        "raw-server" => raw_server(rest),
        "report" => report_cmd(rest),
        "free-port" => free_port(),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ngx-websocket-bench {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
