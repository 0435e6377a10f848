//! The one emulator harness: moto's server, started once per test run on a free
//! loopback port, reset before each test that takes it.
//!
//! The Python environment comes from `scripts/test` (it creates `.venv` with the pinned
//! moto when missing). A test that needs the emulator and cannot find it fails with a
//! message saying how to get it; it never passes silently.

use crate::root;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The emulator acts in this account for unsigned-role credentials; topologies used in
/// tests give their ambient account this id.
pub const AMBIENT: &str = "123456789012";

pub struct Emulator {
    pub endpoint: String,
    _child: Child,
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TETHER_PYTHON") {
        return PathBuf::from(p);
    }
    let p = root().join(".venv/bin/python");
    if !p.exists() {
        panic!(
            "the emulator's Python environment is missing ({}).\n\
             Run `scripts/test`, which creates it, or create it by hand:\n  \
             python3 -m venv .venv && .venv/bin/pip install -r tests/emulator/requirements.txt",
            p.display()
        );
    }
    p
}

fn start() -> Emulator {
    let mut child = Command::new(python())
        .arg(root().join("tests/emulator/server.py"))
        // AWS-managed policies exist only when loaded; execution roles attach them.
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::piped())
        // The server logs every request; keep them out of the test output.
        .stderr(
            std::fs::File::create(std::env::temp_dir().join("tether-emulator.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("starting tests/emulator/server.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("reading the emulator's port");
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .unwrap_or_else(|| panic!("the emulator did not start: {line:?}"));
    Emulator {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: child,
    }
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();
static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// The emulator, reset, held exclusively by the caller until the guard drops (tests in
/// this binary run in parallel; the emulator's state is shared).
pub fn take() -> (MutexGuard<'static, ()>, &'static Emulator) {
    let guard = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let emu = EMULATOR.get_or_init(start);
    emu.reset();
    (guard, emu)
}

impl Emulator {
    pub fn reset(&self) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).expect("connecting to the emulator");
        write!(
            s,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "reset failed: {response}"
        );
    }

    /// The tether binary, pointed at `endpoint` with credentials the emulator accepts and
    /// nothing from the developer's own AWS setup.
    fn command(endpoint: &str, args: &[&str]) -> Command {
        let mut c = isolated(env!("CARGO_BIN_EXE_tether"), std::env::vars(), endpoint);
        c.args(args);
        c
    }

    /// Runs the tether binary against the emulator.
    pub fn tether(&self, args: &[&str]) -> Output {
        Self::command(&self.endpoint, args)
            .output()
            .expect("running tether")
    }

    /// Starts the tether binary against the emulator, stderr piped (to interrupt it).
    pub fn tether_child(&self, args: &[&str]) -> std::process::Child {
        Self::command(&self.endpoint, args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running tether")
    }

    /// Runs a boto3 snippet (see `tests/emulator/oob.py`), as another tool would.
    pub fn oob(&self, code: &str) -> String {
        let out = python_command("oob.py", &self.endpoint)
            .arg(&self.endpoint)
            .arg(code)
            .output()
            .expect("running oob.py");
        assert!(
            out.status.success(),
            "out-of-band change failed:\n{code}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// `tether expand --format json` of `topology`.
    fn expansion_json(&self, topology: &Path) -> Output {
        let expansion = self.tether(&[
            "expand",
            "--format",
            "json",
            "-f",
            topology.to_str().unwrap(),
        ]);
        assert!(
            expansion.status.success(),
            "{}",
            String::from_utf8_lossy(&expansion.stderr)
        );
        expansion
    }

    /// Creates everything `topology` expands to, with another tool.
    pub fn create_out_of_band(&self, topology: &Path, only: &[&str]) {
        let expansion = self.expansion_json(topology);
        let mut child = python_command("oob_apply.py", &self.endpoint)
            .arg(&self.endpoint)
            .args(only)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&expansion.stdout)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "oob_apply failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The only variables a child of the tests keeps from the test process: none of them is
/// read by the AWS SDKs (aws-sdk-rust, boto3).
const KEPT: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "LLVM_PROFILE_FILE",
];

/// A command that reaches AWS only at `endpoint`: it starts from an empty environment
/// (so no `AWS_*` setting of the developer's or CI's reaches it — `AWS_ENDPOINT_URL_S3`
/// and the other per-service endpoints would win over `AWS_ENDPOINT_URL`, `AWS_PROFILE`
/// would pick other credentials), keeps only [`KEPT`] of `parent`, and points the shared
/// config and credentials files, which can also name endpoints, at nothing.
pub fn isolated(
    program: impl AsRef<std::ffi::OsStr>,
    parent: impl IntoIterator<Item = (String, String)>,
    endpoint: &str,
) -> Command {
    let mut c = Command::new(program);
    c.env_clear();
    for (k, v) in parent {
        if KEPT.contains(&k.as_str()) {
            c.env(k, v);
        }
    }
    // Empty files: a missing one makes the SDK warn on every run.
    let nowhere = std::env::temp_dir().join("tether-tests-empty-aws-config");
    if !nowhere.exists() {
        std::fs::write(&nowhere, "").expect("writing an empty AWS config file");
    }
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("NO_COLOR", "1");
    c
}

/// A Python helper of the harness, isolated like tether itself.
fn python_command(script: &str, endpoint: &str) -> Command {
    let mut c = isolated(python(), std::env::vars(), endpoint);
    c.arg(root().join("tests/emulator").join(script));
    c
}

/// A copy of an example topology whose ambient account is the emulator's.
pub struct Topology {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Topology {
    pub fn example(relative: &str) -> Topology {
        let text = std::fs::read_to_string(root().join(relative)).unwrap();
        Topology::from_text(&text.replace("111111111111", AMBIENT))
    }

    pub fn from_text(text: &str) -> Topology {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topology.yaml");
        std::fs::write(&path, text).unwrap();
        Topology { _dir: dir, path }
    }

    pub fn rewrite(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.path).unwrap();
        std::fs::write(&self.path, f(text)).unwrap();
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// A fault-injecting proxy in front of the emulator (see `tests/emulator/faults.py`).
pub struct Faults {
    pub endpoint: String,
    _child: Child,
}

impl Emulator {
    /// Starts a proxy that answers the first matching requests with errors.
    pub fn with_faults(&self, rules: &[&str]) -> Faults {
        let mut child = python_command("faults.py", &self.endpoint)
            .arg(&self.endpoint)
            .args(rules)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting tests/emulator/faults.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reading the proxy's port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .expect("the proxy did not start")
            .to_string();
        Faults {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }

    /// Runs tether with `endpoint` instead of the emulator's.
    pub fn tether_via(&self, endpoint: &str, args: &[&str]) -> Output {
        self.tether_via_env(endpoint, args, &[])
    }

    /// Runs tether with `endpoint` instead of the emulator's, and extra variables.
    pub fn tether_via_env(&self, endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Self::command(endpoint, args)
            .envs(env.iter().copied())
            .output()
            .expect("running tether")
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        let _ = self._child.kill();
        let _ = self._child.wait();
    }
}

/// Other tools' worlds, written by scripts of `tests/emulator/`.
impl Emulator {
    /// Runs `tests/emulator/<script>` with the emulator's endpoint, then `args`, and
    /// `input` on its stdin, as another tool would; panics unless it succeeds. Returns
    /// what it printed on stderr.
    pub fn run_script(&self, script: &str, args: &[&str], input: &[u8]) -> String {
        let mut child = python_command(script, &self.endpoint)
            .arg(&self.endpoint)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {script}: {e}"));
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "{script} {args:?} failed:\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Creates everything `topology` expands to with `oob_apply.py`, every policy document
    /// and event pattern reshaped; returns the shapes it used and the shapes it knows.
    pub fn create_reshaped(
        &self,
        topology: &Path,
    ) -> (
        std::collections::BTreeSet<String>,
        std::collections::BTreeSet<String>,
    ) {
        let expansion = self.expansion_json(topology);
        let report = self.run_script("oob_apply.py", &[], &expansion.stdout);
        let shapes = |label: &str| {
            report
                .lines()
                .find_map(|l| l.strip_prefix(label))
                .unwrap_or_else(|| panic!("no `{label}` line from oob_apply.py:\n{report}"))
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        (shapes("shapes used:"), shapes("shapes known:"))
    }

    /// Builds flow 1 by hand (`handwritten_flow1.py`), with one meaningful `change` (a
    /// negative control) or none.
    pub fn create_flow1_by_hand(&self, change: Option<&str>) {
        let args: Vec<&str> = change.into_iter().collect();
        self.run_script("handwritten_flow1.py", &args, b"");
    }
}
