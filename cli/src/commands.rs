//! The commands behind the CLI. Each returns an exit code or an error; printing of errors
//! happens in `main` only.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_sdk::Address;
use tokio::sync::watch;

use crate::apply::{ApplyObserver, ApplyOptions, ApplyReport, Outcome, apply, check_plan_is_current};
use crate::args::{
    ApplyArgs, Cli, Command, FlagsCommand, Format, GlobalArgs, LockArgs, LockCommand, OutputArgs, PlanArgs,
    StateCommand,
};
use crate::config::{Config, load};
use crate::diag::{Diagnostics, did_you_mean};
use crate::plan::{Action, Change, Plan, PlanOptions, plan};
use crate::providers::DefaultFactory;
use crate::redact::Redactor;
use crate::render::{self, Style};
use crate::retry::RetryPolicy;
use crate::spec::{StateConfig, units::Duration as SpecDuration};
use crate::state::{LocalBackend, LockInfo, State, StateBackend, StateError};

/// Exit codes, as CI expects from Terraform's `-detailed-exitcode`.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

/// Everything that can stop a command. `main` renders these.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The spec has problems (already collected, with spans).
    #[error("the spec has problems")]
    Spec(Diagnostics),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    /// A usage problem with a suggestion.
    #[error("{message}")]
    Usage { message: String, help: Option<String> },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl CliError {
    pub fn usage(message: impl Into<String>, help: Option<String>) -> Self {
        CliError::Usage { message: message.into(), help }
    }
    pub fn help(&self) -> Option<String> {
        match self {
            CliError::Usage { help, .. } => help.clone(),
            CliError::State(StateError::Locked { holder }) => Some(format!(
                "wait for it to finish, retry with `--lock-timeout 5m`, or if the holder is dead run `strata force-unlock {}`",
                holder.id
            )),
            CliError::State(StateError::Fenced { recovery_file: Some(f), .. }) => {
                Some(format!("the state this run wanted to write was saved to {f}"))
            }
            CliError::Plan(crate::plan::PlanError::UnknownTarget { suggestion, .. }) => suggestion.clone(),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, CliError>;

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
            println!("{}", serde_json::to_string_pretty(&crate::schema::generate()).expect("schema serializes"));
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
            plan_cmd(g, ui, &args, out.as_deref(), detailed_exitcode, &output).await
        }
        Command::Apply(args) => apply_cmd(g, ui, args, false, cancel).await,
        Command::Destroy { auto_approve, parallelism, targets, lock, output } => {
            let args = ApplyArgs {
                plan_file: None,
                plan: PlanArgs { refresh: true, targets, destroy: true, lock },
                auto_approve,
                parallelism,
                no_wait: false,
                output,
            };
            apply_cmd(g, ui, args, true, cancel).await
        }
        Command::Show { plan_file, output } => show(g, ui, plan_file.as_deref(), &output).await,
        Command::Drift { output } => drift_cmd(g, ui, &output).await,
        Command::State(sc) => state_cmd(g, sc).await,
        Command::Lock(LockCommand::Status { output }) => lock_status(g, &output).await,
        Command::ForceUnlock { id } => {
            let config = load_config(g)?;
            let backend = open_backend(&config, g).await?;
            backend.force_unlock(&id).await?;
            println!("Lock {id} removed from {}.", backend.describe());
            Ok(EXIT_OK)
        }
        Command::Import { address, lock } => import(g, &address, &lock).await,
        Command::Flags(FlagsCommand::Eval { flag, context, output }) => flags_eval(g, &flag, &context, &output),
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
    load(&name, &text, g.env.as_deref(), &DefaultFactory).map_err(CliError::Spec)
}

fn spec_dir(g: &GlobalArgs) -> PathBuf {
    g.file.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// The state backend the spec asks for.
pub async fn open_backend(config: &Config, g: &GlobalArgs) -> Result<Arc<dyn StateBackend>> {
    match &config.parsed.state {
        StateConfig::Local { path } => {
            let default = if config.parsed.env == crate::spec::DEFAULT_ENV {
                PathBuf::from(".strata/state.json")
            } else {
                PathBuf::from(format!(".strata/{}/state.json", config.parsed.env))
            };
            let p = path.as_ref().map(PathBuf::from).unwrap_or(default);
            let p = if p.is_absolute() { p } else { spec_dir(g).join(p) };
            Ok(Arc::new(LocalBackend::new(p)))
        }
        StateConfig::S3(_) => Err(CliError::usage("the s3 state backend is not available in this build", None)),
    }
}

/// Holds the state lock for the duration of a command, renewing its lease.
struct LockGuard {
    backend: Arc<dyn StateBackend>,
    id: String,
    renew: tokio::task::JoinHandle<()>,
}

impl LockGuard {
    async fn release(self) -> Result<()> {
        self.renew.abort();
        self.backend.unlock(&self.id).await?;
        Ok(())
    }
}

async fn acquire_lock(backend: &Arc<dyn StateBackend>, operation: &str, args: &LockArgs) -> Result<Option<LockGuard>> {
    if !args.lock {
        return Ok(None);
    }
    let timeout =
        SpecDuration::parse(&args.lock_timeout).map_err(|e| CliError::usage(format!("--lock-timeout: {e}"), None))?;
    let deadline = Instant::now() + Duration::from_millis(timeout.millis);
    let info = LockInfo::for_current_process(operation);
    let mut told = false;
    loop {
        match backend.lock(&info).await {
            Ok(()) => break,
            Err(StateError::Locked { holder }) if Instant::now() < deadline => {
                if !told {
                    eprintln!("Waiting up to {} for the state lock, {}.", timeout, holder.describe());
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (b, id) = (backend.clone(), info.id.clone());
    let renew = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let _ = b.renew(&id).await;
        }
    });
    Ok(Some(LockGuard { backend: backend.clone(), id: info.id, renew }))
}

async fn release(guard: Option<LockGuard>) -> Result<()> {
    match guard {
        Some(g) => g.release().await,
        None => Ok(()),
    }
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

fn print_plan(plan: &Plan, ui: Ui, format: Format) {
    match format {
        Format::Human => print!("{}", render::plan_human(plan, ui.style)),
        Format::Markdown => print!("{}", render::plan_markdown(plan)),
        Format::Json => println!("{}", serde_json::to_string_pretty(plan).expect("plan serializes")),
    }
}

/// A saved plan file: the plan plus what is needed to re-check it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedPlan {
    spec_file: String,
    env: Option<String>,
    plan: Plan,
}

async fn plan_cmd(
    g: &GlobalArgs,
    ui: Ui,
    args: &PlanArgs,
    out: Option<&Path>,
    detailed: bool,
    output: &OutputArgs,
) -> Result<u8> {
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    let guard = acquire_lock(&backend, "plan", &args.lock).await?;
    let result = async {
        let state = backend.read().await?.unwrap_or_default();
        let p = plan(&config, &state, &plan_options(args)?).await?;
        Ok::<_, CliError>(p)
    }
    .await;
    release(guard).await?;
    let p = result?;
    print_plan(&p, ui, output.format());
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

fn confirm(ui: Ui, auto_approve: bool, question: &str) -> Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    if !ui.tty || !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "refusing to apply without confirmation: this is not an interactive terminal",
            Some("review the plan, then pass `--auto-approve` (CI: apply a saved plan with `strata apply plan.json --auto-approve`)".into()),
        ));
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io { context: "reading confirmation".into(), source })?;
    Ok(answer.trim() == "yes")
}

async fn apply_cmd(g: &GlobalArgs, ui: Ui, args: ApplyArgs, destroy: bool, cancel: watch::Receiver<u32>) -> Result<u8> {
    let format = args.output.format();
    let (g, saved) = match &args.plan_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|source| CliError::Io { context: format!("reading {}", path.display()), source })?;
            let saved: SavedPlan = serde_json::from_slice(&bytes)
                .map_err(|e| CliError::usage(format!("{} is not a strata plan file: {e}", path.display()), None))?;
            let g2 = GlobalArgs { file: PathBuf::from(&saved.spec_file), env: saved.env.clone(), no_color: g.no_color };
            (g2, Some(saved.plan))
        }
        None => (g.clone(), None),
    };
    let config = load_config(&g)?;
    let backend = open_backend(&config, &g).await?;
    let guard = acquire_lock(&backend, if destroy { "destroy" } else { "apply" }, &args.plan.lock).await?;
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
    let p = match saved {
        Some(saved) => {
            check_plan_is_current(&saved, &state)?;
            // Re-plan the same way and require the same actions on the same documents.
            let opts = PlanOptions {
                refresh: saved.refreshed,
                targets: saved.targets.clone(),
                destroy: saved.destroy,
                retry: RetryPolicy::default(),
            };
            let fresh = plan_with_salt(config, &state, &opts, &saved.salt).await?;
            let differs = differences(&saved, &fresh);
            if !differs.is_empty() {
                return Err(CliError::Apply(crate::apply::ApplyError::StalePlan {
                    detail: format!(
                        "the spec or the remote objects changed since the plan was made ({}); run `strata plan` again",
                        differs.join(", ")
                    ),
                }));
            }
            saved
        }
        None => {
            let p = plan(config, &state, &plan_options(&args.plan)?).await?;
            if format != Format::Json {
                print!("{}", render::plan_human(&p, ui.style));
            }
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
            if !confirm(ui, args.auto_approve, q)? {
                println!("Apply cancelled.");
                return Ok(EXIT_ERROR);
            }
            p
        }
    };
    if !p.summary.has_changes() {
        if format != Format::Json {
            println!("No changes to apply.");
        }
        return Ok(EXIT_OK);
    }
    let opts = ApplyOptions { parallelism: args.parallelism.max(1), wait: !args.no_wait, ..ApplyOptions::default() };
    let redactor = Redactor::new(config.parsed.secrets.clone());
    let observer = Progress::new(ui, format, &p, redactor);
    let report = apply(config, &p, state, backend, &opts, &observer, cancel).await?;
    observer.finish();
    match format {
        Format::Json => println!("{}", serde_json::json!({"plan": p, "apply": report})),
        _ => print!("{}", render::apply_human(&report, ui.style)),
    }
    Ok(if report.failed() > 0 || report.interrupted { EXIT_ERROR } else { EXIT_OK })
}

async fn plan_with_salt(config: &Config, state: &State, opts: &PlanOptions, salt: &str) -> Result<Plan> {
    Ok(crate::plan::plan_salted(config, state, opts, salt).await?)
}

fn differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for c in &saved.changes {
        match fresh.change(&c.address) {
            None => out.push(format!("`{}` is no longer planned", c.address)),
            Some(f) if f.action != c.action => {
                out.push(format!("`{}` would now be {:?}, not {:?}", c.address, f.action, c.action))
            }
            Some(f) if f.digest != c.digest => out.push(format!("`{}` changed", c.address)),
            _ => {}
        }
    }
    for c in &fresh.changes {
        if saved.change(&c.address).is_none() && c.action != Action::NoOp {
            out.push(format!("`{}` is newly planned", c.address));
        }
    }
    out
}

/// Apply progress: a bar on a terminal, one line per event otherwise (CI logs).
struct Progress {
    ui: Ui,
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
    redactor: Redactor,
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
        Progress { ui, quiet, bar, redactor }
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

fn verb_ing(a: Action) -> &'static str {
    match a {
        Action::Create => "Creating",
        Action::Update => "Updating",
        Action::Replace => "Replacing",
        Action::Delete => "Destroying",
        Action::NoOp => "Checking",
    }
}

impl ApplyObserver for Progress {
    fn started(&self, c: &Change) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{} {}", verb_ing(c.action), c.address));
        } else {
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
        self.line(format!("{}: waiting until it is ready...", c.address));
    }
    fn finished(&self, c: &Change, o: &Outcome) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
        let msg = match o {
            Outcome::Done { elapsed_ms, .. } => {
                format!(
                    "{}: {} complete after {:.1}s",
                    c.address,
                    verb_ing(c.action).trim_end_matches("ing").to_string() + "ion",
                    *elapsed_ms as f64 / 1000.0
                )
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
        println!("No state yet at {}: nothing has been applied.", backend.describe());
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

fn masked_state(state: &State, config: &Config) -> State {
    let redactor = Redactor::new(config.parsed.secrets.clone());
    let mut masked = state.clone();
    for r in masked.resources.values_mut() {
        for p in &r.sensitive {
            strata_sdk::value::mask_at(&mut r.attrs, &strata_sdk::value::pointer_segments(p));
        }
        redactor.redact_value(&mut r.attrs);
        redactor.redact_value(&mut r.outputs);
    }
    masked
}

async fn drift_cmd(g: &GlobalArgs, ui: Ui, output: &OutputArgs) -> Result<u8> {
    let config = load_config(g)?;
    let backend = open_backend(&config, g).await?;
    let state = backend.read().await?.unwrap_or_default();
    let report = crate::drift::detect(&config, &state, &RetryPolicy::default()).await?;
    match output.format() {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).expect("serializes")),
        Format::Markdown => print!("{}", render::drift_markdown(&report)),
        Format::Human => print!("{}", render::drift_human(&report, ui.style)),
    }
    Ok(if report.drifted.is_empty() { EXIT_OK } else { EXIT_CHANGES })
}

fn parse_address(s: &str) -> Result<Address> {
    Address::parse(s).map_err(|e| CliError::usage(format!("`{s}`: {e}"), None))
}

fn not_in_state(addr: &Address, state: &State) -> CliError {
    CliError::usage(
        format!("`{addr}` is not in the state"),
        did_you_mean(addr.as_str(), state.resources.keys().map(Address::as_str)),
    )
}

async fn state_cmd(g: &GlobalArgs, sc: StateCommand) -> Result<u8> {
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
            let guard = acquire_lock(&backend, "state rm", &lock).await?;
            let result = async {
                let mut state = backend.read().await?.unwrap_or_default();
                for a in &addresses {
                    let addr = parse_address(a)?;
                    if state.resources.remove(&addr).is_none() {
                        return Err(not_in_state(&addr, &state));
                    }
                }
                state.serial += 1;
                backend.write(&state).await?;
                println!("Removed {} resource(s) from state; the remote objects were left alone.", addresses.len());
                Ok(EXIT_OK)
            }
            .await;
            release(guard).await?;
            result
        }
        StateCommand::Mv { source, destination, lock } => {
            let guard = acquire_lock(&backend, "state mv", &lock).await?;
            let result = async {
                let (from, to) = (parse_address(&source)?, parse_address(&destination)?);
                let mut state = backend.read().await?.unwrap_or_default();
                if state.resources.contains_key(&to) {
                    return Err(CliError::usage(format!("`{to}` already exists in the state"), None));
                }
                let r = state.resources.remove(&from).ok_or_else(|| not_in_state(&from, &state))?;
                state.resources.insert(to.clone(), r);
                for r in state.resources.values_mut() {
                    for d in r.depends_on.iter_mut().filter(|d| **d == from) {
                        *d = to.clone();
                    }
                }
                state.serial += 1;
                backend.write(&state).await?;
                println!("Moved {from} to {to}.");
                Ok(EXIT_OK)
            }
            .await;
            release(guard).await?;
            result
        }
    }
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

async fn import(g: &GlobalArgs, address: &str, lock: &LockArgs) -> Result<u8> {
    let config = load_config(g)?;
    let addr = parse_address(address)?;
    let Some(&i) = config.index.get(&addr) else {
        return Err(CliError::usage(
            format!("`{addr}` is not a resource in the spec"),
            did_you_mean(addr.as_str(), config.resources.iter().map(|r| r.address.as_str())),
        ));
    };
    let r = &config.resources[i];
    let backend = open_backend(&config, g).await?;
    let guard = acquire_lock(&backend, "import", lock).await?;
    let result = async {
        let mut state = backend.read().await?.unwrap_or_default();
        if state.resources.contains_key(&addr) {
            return Err(CliError::usage(format!("`{addr}` is already managed (it is in the state)"), None));
        }
        let provider = config.providers.get(&r.provider).expect("configured");
        let applied = provider.adopt(r).await.map_err(|e| CliError::usage(format!("importing `{addr}` failed: {}", e.message), None))?;
        let schema = provider.schema(&r.kind);
        state.resources.insert(
            addr.clone(),
            crate::state::ResourceState {
                provider: r.provider.clone(),
                kind: r.kind.clone(),
                remote_id: applied.remote_id,
                attrs: applied.attrs,
                outputs: applied.outputs,
                depends_on: config.deps[i].iter().map(|&d| config.resources[d].address.clone()).collect(),
                sensitive: schema.sensitive.iter().map(|p| p.0.clone()).collect(),
            },
        );
        state.serial += 1;
        backend.write(&state).await?;
        println!("Imported {addr}: it now carries strata's ownership marks and is in the state. Run `strata plan` to see what differs from the spec.");
        Ok(EXIT_OK)
    }
    .await;
    release(guard).await?;
    result
}

fn flags_eval(g: &GlobalArgs, flag: &str, context: &[String], output: &OutputArgs) -> Result<u8> {
    let _ = (g, flag, context, output);
    Err(CliError::usage("`strata flags eval` needs the flags section, which this build does not have yet", None))
}

const QUICKSTART: &str = include_str!("../../examples/quickstart/strata.yaml");

fn init(example: &str, server: Option<&str>, dir: &Path, force: bool) -> Result<u8> {
    let text = match example {
        "quickstart" => QUICKSTART.to_string(),
        other => {
            return Err(CliError::usage(
                format!("there is no embedded example `{other}`"),
                did_you_mean(other, ["quickstart"]).or(Some("available: quickstart".into())),
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
