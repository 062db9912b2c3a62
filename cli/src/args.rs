//! Command-line arguments (clap). Kept apart from the commands so docs and tests can use them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Declarative platform infrastructure: mesh, observability, CDN, scaling and feature flags from one strata.yaml.", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// The spec file.
    #[arg(short = 'f', long = "file", global = true, env = "STRATA_FILE", default_value = "strata.yaml")]
    pub file: PathBuf,
    /// Environment overlay to apply (from `environments:`).
    #[arg(short = 'e', long = "env", global = true, env = "STRATA_ENV")]
    pub env: Option<String>,
    /// Never use colors (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Take Kubernetes fields that another server-side applier owns instead of stopping at the
    /// conflict (same as `providers.kubernetes.force_conflicts: true`, for this run only).
    #[arg(long, global = true)]
    pub force_conflicts: bool,
    /// Not an argument: what this run learns that `main` needs after it (the redactor of the
    /// spec it loaded, to print errors without secrets).
    #[arg(skip)]
    pub session: crate::commands::Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Shorthand for `--format json`.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Read remote objects before planning (`--refresh=false` trusts state).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
    /// Only plan this address (or address prefix) and what it depends on. Repeatable.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Plan destroying everything in state.
    #[arg(long)]
    pub destroy: bool,
    /// Gates the plan must pass: `slo` refuses a canary step (a mesh split moving weight to a
    /// later version) while an SLO of that service burns its error budget, asking the
    /// Prometheus at `observability.prometheus.url`.
    #[arg(long = "gate", value_enum, value_name = "GATE")]
    pub gates: Vec<Gate>,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// A check a plan must pass before it is shown as applicable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gate {
    /// The SLOs of the services a canary step moves are not burning.
    Slo,
}

#[derive(Debug, Args, Clone)]
pub struct LockArgs {
    /// How long to wait for the state lock held by someone else (`0s`: fail at once).
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub lock_timeout: String,
    /// Take the state lock (the default); `--lock=false` skips it, which is dangerous with shared state.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub lock: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ApplyArgs {
    /// A plan saved with `strata plan -o FILE`; applied only if the state has not changed.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Maximum provider calls in flight.
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    /// Do not wait for asynchronous resources (CloudFront deployments) to be ready.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter strata.yaml (from an embedded example).
    Init {
        /// Example to start from: `quickstart` (raw Kubernetes objects) or `platform` (services,
        /// mesh, scaling, flags, observability and CDN; try it with `strata sandbox up`).
        #[arg(long, default_value = "quickstart")]
        example: String,
        /// Kubernetes API server URL to put in the spec (e.g. a local kube-test-server).
        #[arg(long)]
        server: Option<String>,
        /// Directory to write into.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite an existing strata.yaml.
        #[arg(long)]
        force: bool,
    },
    /// Check the spec: syntax, keys, types, references, cycles. Touches nothing remote.
    Validate {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        /// Save the plan for `strata apply FILE`.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 2 when there are changes (0: none, 1: error).
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Apply the spec (or a saved plan).
    Apply(ApplyArgs),
    /// Delete everything strata manages for this spec and environment.
    Destroy {
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show the state, or a saved plan.
    Show {
        /// A saved plan file.
        plan_file: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print the resource graph in Graphviz DOT.
    Graph,
    /// Compare what exists with the last applied state (exit 2 on drift).
    Drift {
        #[command(flatten)]
        output: OutputArgs,
        /// Check only shard I of N (0 <= I < N): the resources whose address hashes to I. N
        /// jobs with I = 0..N-1 check every resource exactly once.
        #[arg(long, value_name = "I/N", value_parser = strata_engine::drift::Shard::parse)]
        shard: Option<strata_engine::drift::Shard>,
        /// On drift (exit 2), post a Slack-compatible message: `webhook=URL`.
        #[arg(long, value_name = "webhook=URL", value_parser = crate::notify::Notify::parse)]
        notify: Vec<crate::notify::Notify>,
    },
    /// Inspect and edit state.
    #[command(subcommand)]
    State(StateCommand),
    /// State lock information.
    #[command(subcommand)]
    Lock(LockCommand),
    /// Remove a stuck state lock, only if ID matches it.
    ForceUnlock { id: String },
    /// Adopt an existing remote object into state (adds strata's ownership marks).
    Import {
        /// Address of a resource in the spec.
        address: String,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Print the JSON Schema of strata.yaml.
    Schema,
    /// Feature flag tools.
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// Local API servers to try a whole platform spec on: `up`, `env`, `status`, `down`.
    #[cfg(feature = "sandbox")]
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List resource addresses in state.
    List,
    /// Show one resource (sensitive values masked).
    Show { address: String },
    /// Forget resources (the remote objects are left alone).
    Rm {
        #[arg(required = true)]
        addresses: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Rename a resource in state (after renaming it in the spec).
    Mv {
        source: String,
        destination: String,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Print the stored state document as JSON, decrypted and unmasked (for backups: it holds
    /// secrets in plain text).
    Pull {
        /// Write it to FILE (owner-only permissions) instead of standard output.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Replace the stored state with FILE (`-`: standard input): only a state of the same
    /// lineage with a higher serial, unless --force.
    Push {
        /// Named `state_file`: `file` is the global `--file` (the spec).
        #[arg(value_name = "FILE")]
        state_file: PathBuf,
        /// Replace it even from another lineage or an older serial (a forced push of an older
        /// serial is stored as the next serial, so plans saved against the replaced state fail).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Move the state between a local file and the backend this spec configures, keeping its
    /// lineage and serial.
    Migrate(MigrateArgs),
}

/// `strata state migrate`: exactly one direction.
#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("direction").required(true).args(["from_local", "to_local"])))]
pub struct MigrateArgs {
    /// Copy the local state file PATH into the configured backend (e.g. after switching the
    /// spec to `state: { backend: s3, ... }`).
    #[arg(long, value_name = "PATH")]
    pub from_local: Option<PathBuf>,
    /// Copy the configured backend's state into the local file PATH (e.g. before switching the
    /// spec back to `state: { backend: local, path: PATH }`).
    #[arg(long, value_name = "PATH")]
    pub to_local: Option<PathBuf>,
    /// Replace a different state already at the destination.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// `strata sandbox`: local API servers for a whole platform, with no cluster or account.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start the local API servers in the background (Kubernetes with the CRDs strata's sections
    /// use, Cloudflare, GCP, and AWS through moto when it is installed).
    Up {
        /// The API specs the servers validate against (default: the installed copy).
        #[arg(long, value_name = "DIR")]
        specs: Option<PathBuf>,
    },
    /// Print the sandbox's environment: `eval "$(strata sandbox env)"`.
    Env,
    /// Say whether a sandbox is running, and where.
    Status,
    /// Stop the sandbox; everything it held is gone.
    Down,
    /// Run the servers in the foreground (what `up` starts).
    #[command(hide = true)]
    Serve {
        #[arg(long, value_name = "DIR")]
        specs: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Show who holds the state lock.
    Status {
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// Evaluate a flag locally, exactly as flagd would.
    Eval {
        flag: String,
        /// Evaluation context, `key=value` (repeatable); `targetingKey=...` drives rollouts.
        #[arg(long = "context", short = 'c', value_name = "KEY=VALUE")]
        context: Vec<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}
