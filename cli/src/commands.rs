//! The commands behind the CLI. Each returns an exit code or an error; printing of errors
//! happens in `main` only.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strata_sdk::Address;
use tokio::sync::watch;

#[cfg(feature = "sandbox")]
use crate::args::SandboxCommand;
use crate::args::{
    ApplyArgs, Cli, Command, FlagsCommand, Format, GlobalArgs, LockArgs, LockCommand, MigrateArgs, OutputArgs,
    PlanArgs, StateCommand,
};
use strata_engine::apply::{ApplyObserver, ApplyOptions, ApplyReport, Outcome, apply};
use strata_engine::config::{Config, load};
use strata_engine::diag::{Diagnostics, did_you_mean};
use strata_engine::ops::saved_plan::SavedPlan;
use strata_engine::ops::transfer::{Direction, MigrateOptions, Migrated};
use strata_engine::ops::{self, Event, Events, LockGuard, LockOptions, OpsError};
use strata_engine::plan::{Action, Change, Plan, PlanOptions, plan};
use strata_engine::redact::Redactor;
use strata_engine::render::{self, Style};
use strata_engine::retry::RetryPolicy;
use strata_engine::spec::units::Duration as SpecDuration;
use strata_engine::state::{LocalBackend, State, StateBackend, StateError};

/// Exit codes, as CI expects from Terraform's `-detailed-exitcode`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

/// Everything that can stop a command. `main` renders these through miette: each has a code
/// and, where there is a fix, help (docs/diagnostics.md lists them).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The spec has problems (already collected, with spans).
    #[error("the spec has problems")]
    Spec(Diagnostics),
    #[error(transparent)]
    State(#[from] StateError),
    /// An operation of the engine (lock, saved plan, import, state edits and transfers).
    #[error(transparent)]
    Ops(#[from] OpsError),
    #[error(transparent)]
    Plan(#[from] strata_engine::plan::PlanError),
    #[error(transparent)]
    Apply(#[from] strata_engine::apply::ApplyError),
    /// A usage problem with a suggestion.
    #[error("{message}")]
    Usage { message: String, help: Option<String> },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// `--gate slo` refused the plan (the gate's answer was printed with it).
    #[error("the SLO gate refused the plan: {0}")]
    GateRefused(String),
    /// `--gate slo` could not ask Prometheus.
    #[error("{0}")]
    GateUnavailable(String),
    /// `strata sandbox` could not start, find or stop the local servers.
    #[error("{message}")]
    Sandbox { message: String, help: Option<String> },
}

impl miette::Diagnostic for CliError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        match self {
            CliError::Spec(_) => Some(Box::new("cli::invalid-spec")),
            CliError::State(e) => e.code(),
            CliError::Ops(e) => e.code(),
            CliError::Plan(e) => e.code(),
            CliError::Apply(e) => e.code(),
            CliError::Usage { .. } => Some(Box::new("cli::usage")),
            CliError::Io { .. } => Some(Box::new("cli::io")),
            CliError::GateRefused(_) => Some(Box::new("cli::gate-refused")),
            CliError::GateUnavailable(_) => Some(Box::new("cli::gate-unavailable")),
            CliError::Sandbox { .. } => Some(Box::new("cli::sandbox")),
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        match self {
            CliError::Spec(_) => Some(Box::new("`strata validate` lists them")),
            CliError::State(e) => e.help(),
            CliError::Ops(e) => e.help(),
            CliError::Plan(e) => e.help(),
            CliError::Apply(e) => e.help(),
            CliError::Usage { help, .. } => help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>),
            CliError::Io { .. } => Some(Box::new("check that the path exists and that strata may read and write it")),
            CliError::GateRefused(_) => Some(Box::new(
                "wait until the SLO recovers, or roll the split back (moving weight back is never gated)",
            )),
            CliError::GateUnavailable(_) => {
                Some(Box::new("check `observability.prometheus.url` and that Prometheus is reachable"))
            }
            CliError::Sandbox { help, .. } => help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>),
        }
    }
}

impl CliError {
    pub fn usage(message: impl Into<String>, help: Option<String>) -> Self {
        CliError::Usage { message: message.into(), help }
    }
}

pub type Result<T> = std::result::Result<T, CliError>;

/// What a run learns that `main` needs once it ends: the redactor of the spec it loaded, so an
/// error that surfaces after loading (a provider's message echoing a token) is printed without
/// the secret. Clones share it; it is empty until a spec loads.
#[derive(Debug, Clone, Default)]
pub struct Session {
    redactor: Arc<std::sync::Mutex<Redactor>>,
}

impl Session {
    pub fn redactor(&self) -> Redactor {
        self.redactor.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn loaded(&self, config: &Config) {
        self.redactor.lock().unwrap_or_else(|e| e.into_inner()).extend(config.redactor.secrets().iter().cloned());
    }
}

/// Output settings shared by commands.
#[derive(Clone, Copy)]
pub struct Ui {
    pub style: Style,
    pub tty: bool,
}

impl Ui {
    pub fn detect(global: &GlobalArgs) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = tty && !global.no_color && std::env::var_os("NO_COLOR").is_none();
        Ui { style: Style { color }, tty }
    }
}

/// Runs one command.
pub async fn run(cli: Cli, ui: Ui, cancel: watch::Receiver<u32>) -> Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Version => {
            println!("strata {}", env!("CARGO_PKG_VERSION"));
            Ok(EXIT_OK)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&strata_engine::schema::generate(&crate::registry::registry(false)))
                    .expect("schema serializes")
            );
            Ok(EXIT_OK)
        }
        Command::Init { example, server, dir, force } => init(&example, server.as_deref(), &dir, force),
        Command::Validate { output } => validate(g, &output),
        Command::Graph => {
            let config = load_config(g)?;
            print!("{}", config.to_dot());
            Ok(EXIT_OK)
        }
        Command::Plan { plan: args, out, detailed_exitcode, output } => {
            plan_cmd(g, ui, &args, out.as_deref(), detailed_exitcode, &output, &cancel).await
        }
        Command::Apply(args) => apply_cmd(g, ui, args, false, cancel).await,
        Command::Destroy { auto_approve, parallelism, targets, lock, output } => {
            let args = ApplyArgs {
                plan_file: None,
                plan: PlanArgs { refresh: true, targets, destroy: true, gates: Vec::new(), lock },
                auto_approve,
                parallelism,
                no_wait: false,
                output,
            };
            apply_cmd(g, ui, args, true, cancel).await
        }
        Command::Show { plan_file, output } => show(g, ui, plan_file.as_deref(), &output).await,
        Command::Drift { output, shard, notify } => drift_cmd(g, ui, &output, shard, &notify).await,
        Command::State(sc) => state_cmd(g, sc, &cancel).await,
        Command::Lock(LockCommand::Status { output }) => lock_status(g, &output).await,
        Command::ForceUnlock { id } => {
            let config = load_config(g)?;
            let backend = open_backend(&config, g).await?;
            backend.force_unlock(&id).await?;
            println!("Lock {id} removed from {}.", backend.describe());
            Ok(EXIT_OK)
        }
        Command::Import { address, lock } => import(g, &address, &lock, &cancel).await,
        Command::Flags(FlagsCommand::Eval { flag, context, output }) => flags_eval(g, &flag, &context, &output),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(sc) => match sc {
            SandboxCommand::Up { specs } => crate::sandbox::up(specs.as_deref()),
            SandboxCommand::Env => crate::sandbox::env(),
            SandboxCommand::Status => crate::sandbox::status(),
            SandboxCommand::Down => crate::sandbox::down(),
            SandboxCommand::Serve { specs } => crate::sandbox::serve(&specs).await,
        },
    }
}

fn read_spec(g: &GlobalArgs) -> Result<String> {
    std::fs::read_to_string(&g.file).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            CliError::usage(
                format!("no spec at {}", g.file.display()),
                Some("run `strata init` to write a starter strata.yaml, or pass `-f path/to/strata.yaml`".into()),
            )
        } else {
            CliError::Io { context: format!("reading {}", g.file.display()), source }
        }
    })
}

/// Loads and validates the spec with the built-in providers.
pub fn load_config(g: &GlobalArgs) -> Result<Config> {
    let text = read_spec(g)?;
    let name = g.file.display().to_string();
    let registry = crate::registry::registry(g.force_conflicts);
    let config = load(&name, text, g.env.as_deref(), &registry).map_err(CliError::Spec)?;
    g.session.loaded(&config);
    Ok(config)
}

fn spec_dir(g: &GlobalArgs) -> PathBuf {
    g.file.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// The state backend the spec asks for.
pub async fn open_backend(config: &Config, g: &GlobalArgs) -> Result<Arc<dyn StateBackend>> {
    Ok(traced(config.open_backend(&spec_dir(g))?, &config.redactor))
}

/// Wraps `backend` in the `STRATA_LOG=debug` tracer when asked for; its lines go through
/// `redactor`.
fn traced(backend: Arc<dyn StateBackend>, redactor: &Redactor) -> Arc<dyn StateBackend> {
    if strata_engine::state::trace::enabled() {
        Arc::new(strata_engine::state::trace::Traced::new(backend).with_redactor(redactor.clone()))
    } else {
        backend
    }
}

/// Prints what the backend says the user should know (S3 versioning off, an unencrypted
/// state while encryption is configured). Called once by each command that writes state,
/// after its first read.
async fn print_backend_warnings(backend: &dyn StateBackend) {
    for w in backend.warnings().await {
        eprintln!("Warning: {w}");
    }
}

/// Prints what the engine's operations report, on standard error: whom a lock wait is for,
/// lease trouble, backend warnings.
fn print_events() -> Events {
    Arc::new(|e: &Event<'_>| match e {
        Event::LockWaiting { holder, timeout } => eprintln!(
            "Waiting up to {} for the state lock, {}.",
            SpecDuration::from_millis(timeout.as_millis() as u64),
            holder.describe()
        ),
        Event::LockChangedHands { holder } => eprintln!("The state lock changed hands: now {}.", holder.describe()),
        Event::LockAcquired { waited } => {
            eprintln!("Acquired the state lock after waiting {}.", ops::human_duration(*waited))
        }
        Event::LeaseRenewalFailed { error } => eprintln!(
            "Warning: could not renew the state lock's lease ({error}); if it runs out someone else may take the lock, and this run's state writes will then be refused"
        ),
        Event::BackendWarning { message } => eprintln!("Warning: {message}"),
    })
}

/// `--lock`, `--lock-timeout` as the engine's lock options; `None` with `--lock=false`.
fn lock_options(operation: &str, args: &LockArgs) -> Result<Option<LockOptions>> {
    if !args.lock {
        return Ok(None);
    }
    let timeout =
        SpecDuration::parse(&args.lock_timeout).map_err(|e| CliError::usage(format!("--lock-timeout: {e}"), None))?;
    Ok(Some(LockOptions::new(operation, Duration::from_millis(timeout.millis))))
}

/// Takes the state lock for `operation` ([`ops::acquire`]: waits up to `--lock-timeout`, a
/// first Ctrl-C stops waiting).
async fn acquire_lock(
    backend: &Arc<dyn StateBackend>,
    operation: &str,
    args: &LockArgs,
    cancel: &watch::Receiver<u32>,
) -> Result<Option<LockGuard>> {
    match lock_options(operation, args)? {
        None => Ok(None),
        Some(opts) => Ok(Some(ops::acquire(backend, &opts, cancel, &print_events()).await?)),
    }
}

async fn release(guard: Option<LockGuard>) -> Result<()> {
    Ok(ops::lock::release(guard).await?)
}

fn validate(g: &GlobalArgs, output: &OutputArgs) -> Result<u8> {
    match load_config(g) {
        Ok(config) => {
            if output.format() == Format::Json {
                println!(
                    "{}",
                    serde_json::json!({"valid": true, "resources": config.resources.len(), "diagnostics": []})
                );
            } else {
                println!(
                    "The spec is valid: {} resources for environment `{}`.",
                    config.resources.len(),
                    config.parsed.env
                );
            }
            Ok(EXIT_OK)
        }
        Err(CliError::Spec(d)) if output.format() == Format::Json => {
            let items: Vec<_> = d.items.iter().map(|x| x.to_json()).collect();
            println!("{}", serde_json::json!({"valid": false, "diagnostics": items}));
            Ok(EXIT_ERROR)
        }
        Err(e) => Err(e),
    }
}

fn parse_targets(targets: &[String]) -> Result<Vec<Address>> {
    targets.iter().map(|t| Address::parse(t).map_err(|e| CliError::usage(format!("--target {t}: {e}"), None))).collect()
}

fn plan_options(args: &PlanArgs) -> Result<PlanOptions> {
    Ok(PlanOptions {
        refresh: args.refresh,
        targets: parse_targets(&args.targets)?,
        destroy: args.destroy,
        retry: RetryPolicy::default(),
    })
}

/// Runs the gates `--gate` asks for on `plan`, prints their answer (human formats) and refuses
/// the plan when one fails.
async fn run_gates(config: &Config, plan: &Plan, gates: &[crate::args::Gate], format: Format) -> Result<()> {
    if !gates.contains(&crate::args::Gate::Slo) {
        return Ok(());
    }
    let report = crate::gate::check(config, plan).await?;
    if format != Format::Json {
        print!("{}", report.render());
    }
    if report.refused() {
        let burning: Vec<String> = report
            .answers
            .iter()
            .filter(|a| a.blocks())
            .map(|a| match a.burn_rate {
                Some(b) => format!("`{}` burns its error budget at {b:.2}x", a.slo),
                None => format!("`{}` has no data", a.slo),
            })
            .collect();
        return Err(CliError::GateRefused(burning.join(", ")));
    }
    Ok(())
}

fn print_plan(plan: &Plan, ui: Ui, format: Format) {
    match format {
        Format::Human => print!("{}", render::plan_human(plan, ui.style)),
        Format::Markdown => print!("{}", render::plan_markdown(plan)),
        Format::Json => println!("{}", serde_json::to_string_pretty(plan).expect("plan serializes")),
    }
}

async fn plan_cmd(
    g: &GlobalArgs,
    ui: Ui,
    args: &PlanArgs,
    out: Option<&Path>,
    detailed: bool,
    output: &OutputArgs,
    cancel: &watch::Receiver<u32>,
) -> Result<u8> {
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    let guard = acquire_lock(&backend, "plan", &args.lock, cancel).await?;
    let result = async {
        let state = backend.read().await?.unwrap_or_default();
        let p = plan(&config, &state, &plan_options(args)?).await?;
        Ok::<_, CliError>(p)
    }
    .await;
    release(guard).await?;
    let p = result?;
    print_plan(&p, ui, output.format());
    run_gates(&config, &p, &args.gates, output.format()).await?;
    if let Some(out) = out {
        let saved = SavedPlan { spec_file: g.file.display().to_string(), env: g.env.clone(), plan: p.clone() };
        let bytes = serde_json::to_vec_pretty(&saved).expect("plan serializes");
        std::fs::write(out, bytes)
            .map_err(|source| CliError::Io { context: format!("writing {}", out.display()), source })?;
        if output.format() == Format::Human {
            println!(
                "\nSaved the plan to {}. Apply exactly this plan with `strata apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if detailed && p.summary.has_changes() { EXIT_CHANGES } else { EXIT_OK })
}

/// Environment variable that, in a build with the `test-provider` feature, makes the
/// confirmation prompt read its answer from standard input even when it is not a terminal (the
/// CLI tests drive the prompt through a pipe).
#[cfg(feature = "test-provider")]
pub const TEST_PROMPT_STDIN_ENV: &str = "STRATA_TEST_PROMPT_STDIN";

/// Whether a confirmation can be asked for: standard input and output are a terminal.
fn interactive(ui: Ui) -> bool {
    #[cfg(feature = "test-provider")]
    if std::env::var(TEST_PROMPT_STDIN_ENV).as_deref() == Ok("1") {
        return true;
    }
    ui.tty && std::io::stdin().is_terminal()
}

/// The answer to a confirmation prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    /// Ctrl-C while asking (or before: during the refresh).
    Interrupted,
}

/// Asks `question` and waits for `yes`. Ctrl-C answers at once: the line is read on a thread of
/// its own, so the prompt never blocks the interrupt (the thread is left blocked on standard
/// input; the process exits soon after).
async fn confirm(ui: Ui, auto_approve: bool, question: &str, cancel: &watch::Receiver<u32>) -> Result<Answer> {
    if auto_approve {
        return Ok(Answer::Yes);
    }
    if !interactive(ui) {
        return Err(CliError::usage(
            "refusing to apply without confirmation: this is not an interactive terminal",
            Some("review the plan, then pass `--auto-approve` (CI: apply a saved plan with `strata apply plan.json --auto-approve`)".into()),
        ));
    }
    let mut cancel = cancel.clone();
    if *cancel.borrow_and_update() > 0 {
        return Ok(Answer::Interrupted);
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = std::io::stdout().flush();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = tx.send(std::io::stdin().read_line(&mut answer).map(|_| answer));
    });
    let interrupted = async {
        while cancel.changed().await.is_ok() {
            if *cancel.borrow() > 0 {
                return;
            }
        }
        // The sender is gone: no interrupt can come any more.
        std::future::pending::<()>().await
    };
    tokio::select! {
        answer = rx => {
            let answer = answer
                .unwrap_or_else(|_| Err(std::io::Error::other("the prompt's reader stopped")))
                .map_err(|source| CliError::Io { context: "reading confirmation".into(), source })?;
            Ok(if answer.trim() == "yes" { Answer::Yes } else { Answer::No })
        }
        () = interrupted => {
            println!();
            Ok(Answer::Interrupted)
        }
    }
}

async fn apply_cmd(g: &GlobalArgs, ui: Ui, args: ApplyArgs, destroy: bool, cancel: watch::Receiver<u32>) -> Result<u8> {
    let format = args.output.format();
    let (g, saved) = match &args.plan_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|source| CliError::Io { context: format!("reading {}", path.display()), source })?;
            let saved: SavedPlan = serde_json::from_slice(&bytes)
                .map_err(|e| CliError::usage(format!("{} is not a strata plan file: {e}", path.display()), None))?;
            let g2 = GlobalArgs {
                file: PathBuf::from(&saved.spec_file),
                env: saved.env.clone(),
                no_color: g.no_color,
                force_conflicts: g.force_conflicts,
                session: g.session.clone(),
            };
            (g2, Some(saved.plan))
        }
        None => (g.clone(), None),
    };
    let config = load_config(&g)?;
    let backend = open_backend(&config, &g).await?;
    let guard = acquire_lock(&backend, if destroy { "destroy" } else { "apply" }, &args.plan.lock, &cancel).await?;
    let result = apply_locked(&g, ui, &args, saved, &config, backend.clone(), format, cancel).await;
    let released = release(guard).await;
    let code = result?;
    released?;
    Ok(code)
}

#[allow(clippy::too_many_arguments)]
async fn apply_locked(
    g: &GlobalArgs,
    ui: Ui,
    args: &ApplyArgs,
    saved: Option<Plan>,
    config: &Config,
    backend: Arc<dyn StateBackend>,
    format: Format,
    cancel: watch::Receiver<u32>,
) -> Result<u8> {
    let _ = g;
    let state = backend.read().await?.unwrap_or_default();
    print_backend_warnings(backend.as_ref()).await;
    let p = match saved {
        Some(saved) => {
            ops::saved_plan::check(config, &state, &saved).await?;
            saved
        }
        None => {
            let p = plan(config, &state, &plan_options(&args.plan)?).await?;
            if format != Format::Json {
                print!("{}", render::plan_human(&p, ui.style));
            }
            run_gates(config, &p, &args.plan.gates, format).await?;
            if !p.summary.has_changes() {
                if format == Format::Json {
                    println!("{}", serde_json::json!({"plan": p, "apply": null}));
                }
                return Ok(EXIT_OK);
            }
            let q = if args.plan.destroy {
                "Do you really want to destroy all resources?"
            } else {
                "Do you want to perform these actions?"
            };
            match confirm(ui, args.auto_approve, q, &cancel).await? {
                Answer::Yes => {}
                // Ctrl-C at the prompt is a "no": exit 1, the lock released by the caller.
                Answer::No | Answer::Interrupted => {
                    println!("Apply cancelled.");
                    return Ok(EXIT_ERROR);
                }
            }
            p
        }
    };
    if !p.summary.has_changes() {
        match format {
            // The same shape as an apply that ran; `apply: null` is "nothing was applied".
            Format::Json => println!("{}", serde_json::json!({"plan": p, "apply": null})),
            _ => println!("No changes to apply."),
        }
        return Ok(EXIT_OK);
    }
    let opts = ApplyOptions { parallelism: args.parallelism.max(1), wait: !args.no_wait, ..ApplyOptions::default() };
    // Retry and failure lines may echo a secret the spec reads or one state holds from before
    // a rotation.
    let redactor = strata_engine::plan::with_state_secrets(&config.redactor, &state);
    let observer = Progress::new(ui, format, &p, redactor);
    let report = apply(config, &p, state, backend, &opts, &observer, cancel).await?;
    observer.finish();
    match format {
        Format::Json => println!("{}", serde_json::json!({"plan": p, "apply": report})),
        _ => print!("{}", render::apply_human(&report, p.destroy, ui.style)),
    }
    Ok(if report.failed() > 0 || report.interrupted { EXIT_ERROR } else { EXIT_OK })
}

/// Apply progress: a bar on a terminal, one line per event otherwise (CI logs).
struct Progress {
    ui: Ui,
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
    redactor: Redactor,
    /// Operations under way, by address: when each started and whether it is waiting for the
    /// remote side (an async operation) rather than sending. The bar's message lists them.
    in_flight: std::sync::Arc<std::sync::Mutex<Vec<InFlight>>>,
}

struct InFlight {
    address: String,
    verb: &'static str,
    since: std::time::Instant,
    waiting: bool,
}

/// "Creating cdn.web (3.1s), waiting for mesh.api (12.0s), +2 more".
fn in_flight_message(ops: &[InFlight], now: std::time::Instant) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = ops
        .iter()
        .take(SHOWN)
        .map(|o| {
            let secs = now.duration_since(o.since).as_secs_f64();
            if o.waiting {
                format!("waiting for {} ({secs:.1}s)", o.address)
            } else {
                format!("{} {} ({secs:.1}s)", o.verb, o.address)
            }
        })
        .collect();
    if ops.len() > SHOWN {
        parts.push(format!("+{} more", ops.len() - SHOWN));
    }
    parts.join(", ")
}

impl Progress {
    fn new(ui: Ui, format: Format, plan: &Plan, redactor: Redactor) -> Self {
        let quiet = format == Format::Json;
        let total = plan.changes.iter().filter(|c| c.action != Action::NoOp).count() as u64;
        let bar = (ui.tty && !quiet).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                )
                .expect("valid template"),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        let in_flight = std::sync::Arc::new(std::sync::Mutex::new(Vec::<InFlight>::new()));
        if let Some(b) = &bar {
            // Keeps the elapsed times in the message moving between events.
            let (b, ops) = (b.clone(), in_flight.clone());
            std::thread::spawn(move || {
                while !b.is_finished() {
                    std::thread::sleep(Duration::from_millis(500));
                    let ops = ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    b.set_message(in_flight_message(&ops, std::time::Instant::now()));
                }
            });
        }
        Progress { ui, quiet, bar, redactor, in_flight }
    }

    /// Updates the in-flight list and, on a terminal, the bar's message.
    fn track(&self, edit: impl FnOnce(&mut Vec<InFlight>)) {
        let mut ops = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        edit(&mut ops);
        if let Some(b) = &self.bar {
            b.set_message(in_flight_message(&ops, std::time::Instant::now()));
        }
    }

    fn line(&self, s: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => println!("{s}"),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// Also on an early return: stops the bar and the thread that refreshes it.
    fn drop(&mut self) {
        self.finish();
    }
}

fn verb_ing(a: Action) -> &'static str {
    match a {
        Action::Create => "Creating",
        Action::Update => "Updating",
        Action::Replace => "Replacing",
        Action::Delete => "Destroying",
        Action::NoOp => "Checking",
    }
}

/// "Creation complete after 1.2s", as Terraform says it.
fn verb_noun(a: Action) -> &'static str {
    match a {
        Action::Create => "Creation",
        Action::Update => "Modification",
        Action::Replace => "Replacement",
        Action::Delete => "Destruction",
        Action::NoOp => "Check",
    }
}

impl ApplyObserver for Progress {
    fn started(&self, c: &Change) {
        self.track(|ops| {
            ops.push(InFlight {
                address: c.address.to_string(),
                verb: verb_ing(c.action),
                since: std::time::Instant::now(),
                waiting: false,
            })
        });
        if self.bar.is_none() {
            self.line(format!("{}: {}...", c.address, verb_ing(c.action)));
        }
    }
    fn retrying(&self, c: &Change, attempt: u32, e: &strata_sdk::ProviderError, delay: Duration) {
        self.line(format!(
            "{}: attempt {attempt} failed ({}); retrying in {:.1}s",
            c.address,
            self.redactor.redact_str(&e.message),
            delay.as_secs_f64()
        ));
    }
    fn waiting(&self, c: &Change) {
        let address = c.address.to_string();
        self.track(|ops| ops.iter_mut().filter(|o| o.address == address).for_each(|o| o.waiting = true));
        self.line(format!("{}: waiting until it is ready...", c.address));
    }
    fn finished(&self, c: &Change, o: &Outcome) {
        let address = c.address.to_string();
        self.track(|ops| ops.retain(|o| o.address != address));
        if let Some(b) = &self.bar {
            b.inc(1);
        }
        let msg = match o {
            Outcome::Done { elapsed_ms, .. } => {
                format!("{}: {} complete after {:.1}s", c.address, verb_noun(c.action), *elapsed_ms as f64 / 1000.0)
            }
            Outcome::Failed { error, .. } => format!("{}: {} failed: {error}", c.address, verb_ing(c.action)),
            Outcome::Skipped { because } => format!("{}: skipped because {because} failed", c.address),
            Outcome::Interrupted => format!("{}: not started (interrupted)", c.address),
        };
        let _ = self.ui;
        self.line(msg);
    }
}

async fn show(g: &GlobalArgs, ui: Ui, plan_file: Option<&Path>, output: &OutputArgs) -> Result<u8> {
    if let Some(path) = plan_file {
        let bytes = std::fs::read(path)
            .map_err(|source| CliError::Io { context: format!("reading {}", path.display()), source })?;
        let saved: SavedPlan = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::usage(format!("{} is not a strata plan file: {e}", path.display()), None))?;
        print_plan(&saved.plan, ui, output.format());
        return Ok(EXIT_OK);
    }
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    let Some(state) = backend.read().await? else {
        match output.format() {
            // Machine readers get JSON whatever happens: `null` is "no state yet".
            Format::Json => println!("null"),
            _ => println!("No state yet at {}: nothing has been applied.", backend.describe()),
        }
        return Ok(EXIT_OK);
    };
    let masked = masked_state(&state, &config);
    match output.format() {
        Format::Json => println!("{}", serde_json::to_string_pretty(&masked).expect("serializes")),
        _ => {
            println!("# state {} (lineage {}, serial {})\n", backend.describe(), state.lineage, state.serial);
            for (addr, r) in &masked.resources {
                println!("{} ({} {}) id={}", addr, r.provider, r.kind, r.remote_id);
                let mut flat = Vec::new();
                render::flatten(&r.attrs, &mut Vec::new(), &mut flat);
                for (p, v) in flat {
                    println!("    {p} = {}", render::show_value(&v));
                }
            }
        }
    }
    Ok(EXIT_OK)
}

/// The state as `show` and `state show` print it: the paths state recorded as sensitive
/// masked, and every secret the spec reads or state holds at a sensitive path removed.
fn masked_state(state: &State, config: &Config) -> State {
    let redactor = strata_engine::plan::with_state_secrets(&config.redactor, state);
    let mut masked = state.clone();
    for r in masked.resources.values_mut() {
        strata_engine::redact::mask_patterns(&mut r.attrs, r.sensitive.iter().map(String::as_str));
        redactor.redact_value(&mut r.attrs);
        redactor.redact_value(&mut r.outputs);
    }
    masked
}

async fn drift_cmd(
    g: &GlobalArgs,
    ui: Ui,
    output: &OutputArgs,
    shard: Option<strata_engine::drift::Shard>,
    notify: &[crate::notify::Notify],
) -> Result<u8> {
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    let state = backend.read().await?.unwrap_or_default();
    let options = strata_engine::drift::DriftOptions { shard };
    let report = strata_engine::drift::detect_with(&config, &state, &RetryPolicy::default(), &options).await?;
    match output.format() {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).expect("serializes")),
        Format::Markdown => print!("{}", render::drift_markdown(&report)),
        Format::Human => print!("{}", render::drift_human(&report, ui.style)),
    }
    if report.drifted.is_empty() {
        return Ok(EXIT_OK);
    }
    let body = crate::notify::payload(&report, &config.redactor);
    for target in notify {
        // A failed notification is reported, and the exit code still says "drift" (2).
        if let Err(e) = crate::notify::send(target, &body).await {
            eprintln!("Warning: the drift notification was not delivered: {}", config.redactor.redact_str(&e));
        }
    }
    Ok(EXIT_CHANGES)
}

fn parse_address(s: &str) -> Result<Address> {
    Address::parse(s).map_err(|e| CliError::usage(format!("`{s}`: {e}"), None))
}

fn not_in_state(addr: &Address, state: &State) -> CliError {
    CliError::Ops(OpsError::NotInState {
        address: addr.clone(),
        suggestion: did_you_mean(addr.as_str(), state.resources.keys().map(Address::as_str)),
    })
}

async fn state_cmd(g: &GlobalArgs, sc: StateCommand, cancel: &watch::Receiver<u32>) -> Result<u8> {
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    match sc {
        StateCommand::List => {
            if let Some(state) = backend.read().await? {
                for a in state.resources.keys() {
                    println!("{a}");
                }
            }
            Ok(EXIT_OK)
        }
        StateCommand::Show { address } => {
            let addr = parse_address(&address)?;
            let state = backend.read().await?.unwrap_or_default();
            let masked = masked_state(&state, &config);
            let r = masked.resources.get(&addr).ok_or_else(|| not_in_state(&addr, &state))?;
            println!("{}", serde_json::to_string_pretty(r).expect("serializes"));
            Ok(EXIT_OK)
        }
        StateCommand::Rm { addresses, lock } => {
            let addresses = addresses.iter().map(|a| parse_address(a)).collect::<Result<Vec<_>>>()?;
            let guard = acquire_lock(&backend, "state rm", &lock, cancel).await?;
            let result = ops::edit::rm(backend.as_ref(), &addresses, &print_events()).await;
            release(guard).await?;
            let removed = result?;
            println!("Removed {} resource(s) from state; the remote objects were left alone.", removed.resources);
            Ok(EXIT_OK)
        }
        StateCommand::Mv { source, destination, lock } => {
            let (from, to) = (parse_address(&source)?, parse_address(&destination)?);
            let guard = acquire_lock(&backend, "state mv", &lock, cancel).await?;
            let result = ops::edit::mv(backend.as_ref(), &from, &to, &print_events()).await;
            release(guard).await?;
            result?;
            println!("Moved {from} to {to}.");
            Ok(EXIT_OK)
        }
        StateCommand::Pull { out } => state_pull(&backend, out.as_deref()).await,
        StateCommand::Push { state_file, force, lock } => state_push(&backend, &state_file, force, &lock, cancel).await,
        StateCommand::Migrate(args) => state_migrate(backend, &config.redactor, &args, cancel).await,
    }
}

/// Writes `bytes` to `path` readable by its owner only (it holds secrets in plain text).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| CliError::Io { context: format!("writing {}", path.display()), source };
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let mut f = open.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

async fn state_pull(backend: &Arc<dyn StateBackend>, out: Option<&Path>) -> Result<u8> {
    let state = ops::transfer::pull(backend.as_ref()).await?;
    let mut json = serde_json::to_vec_pretty(&state).expect("state serializes");
    json.push(b'\n');
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&json)
                .and_then(|_| stdout.flush())
                .map_err(|source| CliError::Io { context: "writing the state to standard output".into(), source })?;
        }
        Some(path) => {
            write_private(path, &json)?;
            println!(
                "Wrote the state from {} (lineage {}, serial {}, {} resources) to {}.",
                backend.describe(),
                state.lineage,
                state.serial,
                state.resources.len(),
                path.display()
            );
        }
    }
    Ok(EXIT_OK)
}

fn read_state_file(file: &Path, backend: &dyn StateBackend) -> Result<State> {
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|source| CliError::Io { context: "reading the state from standard input".into(), source })?;
        buf
    } else {
        std::fs::read(file).map_err(|source| CliError::Io { context: format!("reading {}", file.display()), source })?
    };
    // Through the backend: an S3 recovery file is encrypted when state encryption is on.
    backend.decode_file(&bytes).map_err(|e| {
        CliError::usage(
            format!(
                "{} is not a strata state: {e}",
                if file.as_os_str() == "-" { "standard input".into() } else { file.display().to_string() }
            ),
            Some("`strata state pull` writes one; recovery files under .strata/recovery are states too".into()),
        )
    })
}

async fn state_push(
    backend: &Arc<dyn StateBackend>,
    file: &Path,
    force: bool,
    lock: &LockArgs,
    cancel: &watch::Receiver<u32>,
) -> Result<u8> {
    let state = read_state_file(file, backend.as_ref())?;
    let guard = acquire_lock(backend, "state push", lock, cancel).await?;
    let result = ops::transfer::push(backend.as_ref(), state, force, &print_events()).await;
    release(guard).await?;
    let pushed = result?;
    // Going back to an older state is a new version of this lineage: a plan saved against the
    // replaced state must not match it.
    let note = pushed.replaced_serial.map_or(String::new(), |replaced| {
        format!(" (stored as serial {}, after the replaced serial {replaced})", pushed.state.serial)
    });
    let state = &pushed.state;
    println!(
        "Pushed the state (lineage {}, serial {}, {} resources) to {}{note}.",
        state.lineage,
        state.serial,
        state.resources.len(),
        backend.describe()
    );
    Ok(EXIT_OK)
}

/// `strata state migrate`: copies the state document between a local file and the configured
/// backend ([`ops::transfer::migrate`]), then says what to do next.
async fn state_migrate(
    configured: Arc<dyn StateBackend>,
    redactor: &Redactor,
    args: &MigrateArgs,
    cancel: &watch::Receiver<u32>,
) -> Result<u8> {
    let (direction, local) = match (&args.from_local, &args.to_local) {
        (Some(p), None) => (Direction::FromLocal, p.clone()),
        (None, Some(p)) => (Direction::ToLocal, p.clone()),
        _ => return Err(CliError::usage("pass exactly one of --from-local PATH and --to-local PATH", None)),
    };
    let local_backend: Arc<dyn StateBackend> = traced(Arc::new(LocalBackend::new(local.clone())), redactor);
    let (from, to) = match direction {
        Direction::FromLocal => (local_backend.describe(), configured.describe()),
        Direction::ToLocal => (configured.describe(), local_backend.describe()),
    };
    let opts = MigrateOptions { direction, force: args.force, lock: lock_options("state migrate", &args.lock)? };
    match ops::transfer::migrate(configured, local_backend, &opts, cancel, &print_events()).await? {
        Migrated::AlreadyThere { lineage, serial } => {
            println!("{to} already holds this state (lineage {lineage}, serial {serial}): nothing to do.");
        }
        Migrated::Copied { lineage, serial, resources } => {
            println!(
                "Migrated the state (lineage {lineage}, serial {serial}, {resources} resources) from {from} to {to}."
            );
            match direction {
                Direction::FromLocal => println!(
                    "{} is no longer used by this spec: keep it as a backup or delete it (it holds secrets in plain text).",
                    local.display()
                ),
                Direction::ToLocal => println!(
                    "To use it, set `state: {{ backend: local, path: {} }}` in the spec; the state at {from} is left in place until you delete it.",
                    local.display()
                ),
            }
        }
    }
    Ok(EXIT_OK)
}

async fn lock_status(g: &GlobalArgs, output: &OutputArgs) -> Result<u8> {
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    let status = backend.lock_status().await?;
    match (output.format(), status) {
        (Format::Json, s) => println!("{}", serde_json::json!({"state": backend.describe(), "lock": s})),
        (_, None) => println!("The state at {} is not locked.", backend.describe()),
        (_, Some(l)) => {
            println!("The state at {} is locked.", backend.describe());
            println!(
                "  id:        {}\n  who:       {}\n  host:      {}\n  pid:       {}\n  operation: {}\n  since:     {}",
                l.id, l.who, l.host, l.pid, l.operation, l.started
            );
            if let Some(e) = &l.expires {
                println!("  expires:   {e}");
            }
        }
    }
    Ok(EXIT_OK)
}

async fn import(g: &GlobalArgs, address: &str, lock: &LockArgs, cancel: &watch::Receiver<u32>) -> Result<u8> {
    let config = load_config(g)?;
    let address = parse_address(address)?;
    ops::import::resource_index(&config, &address)?;
    let backend = open_backend(&config, g).await?;
    let guard = acquire_lock(&backend, "import", lock, cancel).await?;
    let opts = ops::import::ImportOptions { address };
    let result = ops::import::import(&config, backend.as_ref(), &opts, &print_events()).await;
    release(guard).await?;
    let imported = result?;
    println!(
        "Imported {}: it now carries strata's ownership marks and is in the state. Run `strata plan` to see what differs from the spec.",
        imported.address
    );
    Ok(EXIT_OK)
}

/// Evaluates a flag from the documents the spec generates for the selected environment, as
/// flagd would serve it; no remote calls.
fn flags_eval(g: &GlobalArgs, flag: &str, context: &[String], output: &OutputArgs) -> Result<u8> {
    use strata_engine::lower::flags::{context_from_pairs, evaluate, flags_from_resources};
    let ctx = context_from_pairs(context)
        .map_err(|m| CliError::usage(m, Some("pass the context as `-c key=value`, repeatable".into())))?;
    let config = load_config(g)?;
    let flags = flags_from_resources(&config.resources);
    let evaluation = evaluate(&flags, flag, &ctx).map_err(|e| {
        let known: Vec<&str> = flags.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        let help = match &e {
            strata_engine::lower::flags::EvalError::FlagNotFound(_) => strata_engine::diag::did_you_mean(flag, known)
                .or_else(|| Some("flags are declared under `flags:` in the spec".into())),
            _ => None,
        };
        CliError::usage(format!("{} ({})", e, e.code()), help)
    })?;
    let redactor = &config.redactor;
    let text = match output.format() {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "flag": flag,
            "env": config.parsed.env,
            "variant": evaluation.variant,
            "value": evaluation.value,
            "reason": evaluation.reason,
        }))
        .expect("evaluation serializes"),
        Format::Human | Format::Markdown => format!(
            "{flag} = {} (variant `{}`, reason {})",
            evaluation.value,
            evaluation.variant,
            evaluation.reason.as_str()
        ),
    };
    println!("{}", redactor.redact_str(&text));
    Ok(EXIT_OK)
}

const QUICKSTART: &str = include_str!("../../examples/quickstart/strata.yaml");
const PLATFORM: &str = include_str!("../../examples/platform/strata.yaml");
/// The examples `strata init --example` writes.
const EXAMPLES: [&str; 2] = ["quickstart", "platform"];

fn init(example: &str, server: Option<&str>, dir: &Path, force: bool) -> Result<u8> {
    let text = match example {
        "quickstart" => QUICKSTART.to_string(),
        "platform" => PLATFORM.to_string(),
        other => {
            return Err(CliError::usage(
                format!("there is no embedded example `{other}`"),
                did_you_mean(other, EXAMPLES).or(Some(format!("available: {}", EXAMPLES.join(", ")))),
            ));
        }
    };
    let text = match server {
        Some(url) => text.replace("http://127.0.0.1:8765", url),
        None => text,
    };
    std::fs::create_dir_all(dir)
        .map_err(|source| CliError::Io { context: format!("creating {}", dir.display()), source })?;
    let path = dir.join("strata.yaml");
    if path.exists() && !force {
        return Err(CliError::usage(
            format!("{} already exists", path.display()),
            Some("pass `--force` to overwrite it".into()),
        ));
    }
    std::fs::write(&path, text)
        .map_err(|source| CliError::Io { context: format!("writing {}", path.display()), source })?;
    println!("Wrote {}. Next: `strata validate`, then `strata plan`.", path.display());
    Ok(EXIT_OK)
}

/// Helper for `main`: a report for the apply summary in JSON mode.
pub fn report_json(report: &ApplyReport) -> String {
    serde_json::to_string_pretty(report).expect("serializes")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{InFlight, in_flight_message};

    #[test]
    fn in_flight_message_names_the_operations_and_their_time() {
        let now = Instant::now();
        let op = |address: &str, secs: u64, waiting: bool| InFlight {
            address: address.into(),
            verb: "Creating",
            since: now - Duration::from_secs(secs),
            waiting,
        };
        assert_eq!(in_flight_message(&[], now), "");
        let ops = [op("cdn.web", 3, false), op("cdn.web.ip", 12, true), op("a", 1, false), op("b", 1, false)];
        assert_eq!(
            in_flight_message(&ops, now),
            "Creating cdn.web (3.0s), waiting for cdn.web.ip (12.0s), Creating a (1.0s), +1 more"
        );
    }
}
