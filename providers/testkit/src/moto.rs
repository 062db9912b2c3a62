//! The one moto launcher of the workspace (feature `moto`): a `moto_server` (a local
//! implementation of S3, DynamoDB, CloudFront and Route 53) on a free loopback port.
//!
//! The binary is taken from `STRATA_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`,
//! else `moto_server` on `PATH`. A missing moto fails the test with the setup command: tests
//! that need moto never pass silently without it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What to run when moto is missing.
pub const INSTALL: &str = "moto is needed for these tests: run \
    `python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt` in the workspace root \
    (scripts/test.sh does it), or point STRATA_MOTO_SERVER at a moto_server binary";

/// A running moto_server. Dropping it stops the server; a server in a `static` (which is never
/// dropped) stops when the test process exits, because its supervising shell sees its stdin
/// close.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub port: u16,
    /// moto's request log.
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The workspace root: the nearest directory above this crate holding a `Cargo.toml` with
/// `[workspace]`.
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|s| s.contains("[workspace]")) {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        }
    }
}

/// Where moto_server is, or why it is not (with the setup command).
pub fn moto_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STRATA_MOTO_SERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("STRATA_MOTO_SERVER={} does not exist; {INSTALL}", p.display()))
        };
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return Ok(venv);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!("moto_server not found (looked at $STRATA_MOTO_SERVER, {}, PATH); {INSTALL}", venv.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind an ephemeral port")
}

/// A plain HTTP GET answered with any status: the server is up.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut first = String::new();
    BufReader::new(&mut s).read_line(&mut first).is_ok() && first.starts_with("HTTP/1.")
}

impl Moto {
    /// Starts moto_server on a free loopback port and waits until it answers.
    pub fn start() -> Result<Moto, String> {
        let bin = moto_binary()?;
        Self::start_with(&bin)
    }

    /// Like [`Moto::start`]; a missing or broken moto fails the test (panics) with the setup
    /// command.
    #[track_caller]
    pub fn require() -> Moto {
        Moto::start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the given moto_server binary (three tries on fresh ports).
    pub fn start_with(bin: &Path) -> Result<Moto, String> {
        if !bin.is_file() {
            return Err(format!("{} does not exist; {INSTALL}", bin.display()));
        }
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            // moto logs every request: to a file, since an unread pipe would fill and stall it.
            let log_path = std::env::temp_dir().join(format!("strata-moto-{port}.log"));
            let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
            // The shell runs moto and kills it when its stdin reaches end of file: when this
            // process closes the pipe (drop) or exits (even by a panic or a signal).
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(r#""$0" "$@" & pid=$!; trap 'kill $pid 2>/dev/null' EXIT; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
                .arg(bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("starting {}: {e}; {INSTALL}", bin.display()))?;
            let stdin = child.stdin.take();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if answers(port) {
                    return Ok(Moto {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        port,
                        log: log_path,
                        child,
                        stdin,
                    });
                }
                if let Ok(Some(status)) = child.try_wait() {
                    // Lost the port race, or moto is broken: try another port.
                    let err = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last = format!("{} exited ({status}): {err}", bin.display());
                    break;
                }
                if Instant::now() > deadline {
                    drop(stdin);
                    let _ = child.wait();
                    return Err(format!("{} did not answer on port {port} within 30s", bin.display()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(format!("moto_server would not start: {last}; {INSTALL}"))
    }

    /// One server for the whole test binary. Panics (fails the test) if moto is missing.
    #[track_caller]
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
        match MOTO.get_or_init(Moto::start) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the supervising shell kill moto and exit.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_the_setup_command() {
        let e = Moto::start_with(Path::new("/nonexistent/moto_server")).err().expect("cannot start");
        assert!(e.contains("pip install -r tests/requirements.txt"), "{e}");
    }
}
