//! `gcp-test-server --addr 127.0.0.1:0`: serves until interrupted, after
//! printing `listening on http://ADDR` once the socket is bound.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gcp_test_server::{Discovery, Knobs};

#[derive(Parser, Debug)]
#[command(version, about = "A local Compute Engine v1 API server for tests (plain HTTP, bearer token).")]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The discovery document (default: $STRATA_API_SPECS/gcp/compute.v1.json).
    #[arg(long)]
    discovery: Option<PathBuf>,
    /// The bearer token to accept.
    #[arg(long, default_value = gcp_test_server::DEFAULT_TOKEN)]
    token: String,
    /// How long a mutation's Operation stays RUNNING, in milliseconds.
    #[arg(long, default_value_t = 0)]
    operation_delay_ms: u64,
    /// Answer the next N requests with 429 rateLimitExceeded.
    #[arg(long, default_value_t = 0)]
    rate_limit_next: u64,
    /// Milliseconds added before every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Some(path) = cli.discovery.clone().or_else(Discovery::default_path) else {
        eprintln!("error: pass --discovery or set STRATA_API_SPECS");
        return std::process::ExitCode::from(2);
    };
    let discovery = match Discovery::load(&path) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let knobs = Knobs::new();
    knobs.set_token(cli.token.clone());
    knobs.set_operation_delay(Duration::from_millis(cli.operation_delay_ms));
    knobs.rate_limit_next(cli.rate_limit_next);
    knobs.set_latency(Duration::from_millis(cli.latency_ms));
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
        gcp_test_server::serve_with_shutdown(listener, discovery, knobs, stop).await
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
