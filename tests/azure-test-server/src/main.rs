//! `azure-test-server --addr 127.0.0.1:0`: serves until interrupted, after printing
//! `listening on http://ADDR` once the socket is bound. ARM requests go to
//! `http://ADDR/subscriptions/...`, tokens to `http://ADDR/{tenant}/oauth2/v2.0/token`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use azure_test_server::{Bucket, FaultRule, Knobs, Spec};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A local Azure Resource Manager (Microsoft.Cdn, Front Door) server, validated against the official Swagger documents."
)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The folder holding afdx.json and cdn.json (default: under $STRATA_API_SPECS).
    #[arg(long)]
    spec_dir: Option<PathBuf>,
    /// The static bearer token accepted besides issued ones.
    #[arg(long, env = "AZURE_TEST_SERVER_TOKEN", default_value = azure_test_server::DEFAULT_TOKEN)]
    token: String,
    /// Delay added to every ARM request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How long long-running operations stay InProgress, in milliseconds.
    #[arg(long, default_value_t = 0)]
    operation_delay_ms: u64,
    /// The Retry-After (seconds) sent with long-running operations.
    #[arg(long, default_value_t = 1)]
    poll_retry_after: u64,
    /// Read bucket capacity and refill per second (ARM: 250, 25).
    #[arg(long, default_value_t = 250.0)]
    read_capacity: f64,
    #[arg(long, default_value_t = 25.0)]
    read_refill: f64,
    /// Write bucket capacity and refill per second (ARM: 200, 10).
    #[arg(long, default_value_t = 200.0)]
    write_capacity: f64,
    #[arg(long, default_value_t = 10.0)]
    write_refill: f64,
    /// Inject this HTTP status (429, 500, 503) on matching requests.
    #[arg(long)]
    fail_status: Option<u16>,
    /// Fail only the next N matching requests.
    #[arg(long)]
    fail_next: Option<u64>,
    /// Only fail requests whose path contains this text.
    #[arg(long)]
    fail_path: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let dir = cli.spec_dir.clone().unwrap_or_else(azure_test_server::default_spec_dir);
    let spec = match Spec::load(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let knobs = Knobs::new();
    knobs.set_static_token(cli.token.clone());
    knobs.set_latency(Duration::from_millis(cli.latency_ms));
    knobs.set_operation_delay(Duration::from_millis(cli.operation_delay_ms));
    knobs.set_poll_retry_after(cli.poll_retry_after);
    knobs.set_buckets(
        Bucket { capacity: cli.read_capacity, refill: cli.read_refill },
        Bucket { capacity: cli.write_capacity, refill: cli.write_refill },
    );
    if let Some(status) = cli.fail_status {
        knobs.add_fault(FaultRule {
            status,
            count: cli.fail_next,
            method: None,
            path: cli.fail_path.clone(),
            retry_after_secs: None,
        });
    }
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
        azure_test_server::serve_with_shutdown(listener, spec, knobs, stop).await
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
