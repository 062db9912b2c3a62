//! `kube-test-server --addr 127.0.0.1:0`: serves until interrupted, after
//! printing `listening on http://ADDR` once the socket is bound.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use kube_test_server::{FaultKind, FaultRule, Knobs, Verb};

#[derive(Parser, Debug)]
#[command(version, about = "A local Kubernetes API server for tests (plain HTTP, no auth).")]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Delay added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Inject a fault of this kind: 429, 500 or drop.
    #[arg(long, value_parser = parse_fault_kind)]
    fail_kind: Option<FaultKind>,
    /// Fail only the next N matching requests (default: all of them).
    #[arg(long)]
    fail_next: Option<u64>,
    /// Fail matching requests with this probability (0.0–1.0).
    #[arg(long)]
    fail_probability: Option<f64>,
    /// Only fail requests of this verb (get, list, create, update, patch,
    /// apply, delete, discovery, watch, other).
    #[arg(long, value_parser = parse_verb)]
    fail_verb: Option<Verb>,
    /// Only fail requests whose path contains this string.
    #[arg(long)]
    fail_path: Option<String>,
}

fn parse_fault_kind(s: &str) -> Result<FaultKind, String> {
    s.parse()
}

fn parse_verb(s: &str) -> Result<Verb, String> {
    s.parse()
}

impl Cli {
    fn knobs(&self) -> Result<Knobs, String> {
        let knobs = Knobs::new();
        knobs.set_latency(Duration::from_millis(self.latency_ms));
        let narrowing = self.fail_next.is_some()
            || self.fail_probability.is_some()
            || self.fail_verb.is_some()
            || self.fail_path.is_some();
        match self.fail_kind {
            Some(kind) => knobs.add_fault(FaultRule {
                kind,
                count: self.fail_next,
                probability: self.fail_probability,
                verb: self.fail_verb,
                path: self.fail_path.clone(),
            }),
            None if narrowing => return Err("--fail-* options need --fail-kind".into()),
            None => {}
        }
        Ok(knobs)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let knobs = match cli.knobs() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = async move {
        let listener = tokio::net::TcpListener::bind(cli.addr).await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        kube_test_server::serve_with_shutdown(listener, knobs, stop).await
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
