//! The `strata` binary: parse arguments, run the command, print errors. This is the only place
//! that prints an error or chooses the process exit code.

use std::process::ExitCode;

use clap::Parser;
use strata::args::Cli;
use strata::commands::{self, CliError, EXIT_ERROR, Ui};
use strata_engine::redact::Redactor;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` succeed; a usage mistake is an error (exit 1), never clap's
        // default 2, which means "changes present" to CI.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { 0 });
        }
    };
    // Every TLS client strata builds (kube, the AWS SDK) uses rustls on ring; installing it as
    // the process default makes that explicit for any client that asks rustls for the default.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ui = Ui::detect(&cli.global);
    let session = cli.global.session.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(0u32);
        // First Ctrl-C: finish in-flight calls, save state, release the lock. Second: abort.
        tokio::spawn(async move {
            let mut presses = 0;
            while tokio::signal::ctrl_c().await.is_ok() {
                presses += 1;
                if presses == 1 {
                    eprintln!("\nInterrupt received: finishing in-flight operations, then saving state. Press Ctrl-C again to abort.");
                    let _ = tx.send(1);
                } else {
                    eprintln!("\nAborting: state holds what completed before the last checkpoint; the lock may need `strata force-unlock`.");
                    std::process::exit(130);
                }
            }
        });
        commands::run(cli, ui, rx).await
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            print_error(&e, ui, &session.redactor());
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Prints an error with every secret the run loaded masked (`redactor`, from the spec the
/// command loaded; empty when it failed before loading one): a provider's message may echo a
/// token it was given. Spec diagnostics are redacted by the loader already.
fn print_error(e: &CliError, ui: Ui, redactor: &Redactor) {
    match e {
        CliError::Spec(diags) => eprint!("{}", redactor.redact_str(&diags.render(ui.style.color))),
        other => eprint!("{}", redactor.redact_str(&strata_engine::diag::render_error(other, ui.style.color))),
    }
}
