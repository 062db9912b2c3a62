//! `cloudflare-test-server --addr 127.0.0.1:0`: serves until interrupted, after printing
//! `listening on http://ADDR` once the socket is bound. The API base URL is
//! `http://ADDR/client/v4` (plain `http://ADDR` works too).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use cloudflare_test_server::{FaultKind, FaultRule, Knobs, RateLimit, ServerConfig, Spec};

#[derive(Parser, Debug)]
#[command(version, about = "A local Cloudflare API v4 server, validated against the official OpenAPI document.")]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The OpenAPI document (default: $STRATA_API_SPECS/cloudflare/openapi.json).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// The API token clients must send as `Authorization: Bearer <token>`.
    #[arg(long, env = "CLOUDFLARE_TEST_SERVER_TOKEN", default_value = cloudflare_test_server::DEFAULT_TOKEN)]
    token: String,
    /// The account id.
    #[arg(long, default_value = cloudflare_test_server::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// A zone to serve (repeatable; default example.com).
    #[arg(long = "zone")]
    zones: Vec<String>,
    /// Delay added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Requests allowed per token per window (Cloudflare: 1200).
    #[arg(long, default_value_t = 1200)]
    rate_limit: u64,
    /// The rate limit's window in seconds (Cloudflare: 300).
    #[arg(long, default_value_t = 300.0)]
    rate_window_secs: f64,
    /// Inject a fault of this kind: 429, 500, 503 or drop.
    #[arg(long)]
    fail_kind: Option<FaultKind>,
    /// Fail only the next N matching requests.
    #[arg(long)]
    fail_next: Option<u64>,
    /// Fail matching requests with this probability (0.0-1.0).
    #[arg(long)]
    fail_probability: Option<f64>,
    /// Only fail requests whose path contains this string.
    #[arg(long)]
    fail_path: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let spec_path = cli.spec.clone().unwrap_or_else(cloudflare_test_server::default_spec_path);
    let spec = match Spec::load(&spec_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if !(cli.rate_window_secs > 0.0 && cli.rate_window_secs < 1e9) {
        eprintln!("error: --rate-window-secs must be a positive number of seconds");
        return std::process::ExitCode::from(2);
    }
    let knobs = Knobs::new();
    knobs.set_latency(Duration::from_millis(cli.latency_ms));
    knobs.set_rate_limit(RateLimit { limit: cli.rate_limit, window: Duration::from_secs_f64(cli.rate_window_secs) });
    if let Some(kind) = cli.fail_kind {
        knobs.add_fault(FaultRule {
            kind,
            count: cli.fail_next,
            probability: cli.fail_probability,
            method: None,
            path: cli.fail_path.clone(),
            retry_after_secs: None,
        });
    }
    let zones =
        if cli.zones.is_empty() { vec![cloudflare_test_server::DEFAULT_ZONE.to_string()] } else { cli.zones.clone() };
    let config = ServerConfig { token: cli.token.clone(), account_id: cli.account_id.clone(), zones, spec };
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
        cloudflare_test_server::serve_with_shutdown(listener, config, knobs, stop).await
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
