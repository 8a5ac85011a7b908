//! Shared helpers: a throw-away workspace with a small generated
//! consortium, and the `braid` binary run inside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The secret every test uses. Tests never use the demo key file.
pub const TEST_SECRET: &str = "integration-test secret, 32 bytes or more, not real";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Workspace {
    /// A workspace with the demo consortium of `people` people (seed fixed)
    /// and a configuration pointing at it.
    pub fn demo(people: usize) -> Workspace {
        let dir = tempfile::Builder::new().prefix("braid-it-").tempdir().expect("tempdir");
        let out = Command::new(env!("CARGO_BIN_EXE_braid"))
            .args(["demo", "--out", "var/demo", "--people", &people.to_string()])
            .current_dir(dir.path())
            .output()
            .expect("braid demo");
        assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
        let ws = Workspace { config: dir.path().join("consortium.toml"), dir };
        ws.write_config(&demo_config());
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).expect("write config");
    }

    /// Run `braid --config <ws>/consortium.toml ARGS` in the workspace.
    pub fn braid(&self, args: &[&str]) -> Output {
        self.braid_env(args, &[])
    }

    pub fn braid_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.braid_at(std::path::Path::new(env!("CARGO_BIN_EXE_braid")), args, env)
    }

    /// `bin --config <ws>/consortium.toml ARGS` in the workspace, with the
    /// test secret and `env`, and none of the caller's braid settings.
    fn command(&self, bin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.arg("--config").arg(&self.config).args(args).current_dir(self.path()).env("BRAID_SECRET", TEST_SECRET);
        cmd.env_remove("BRAID_SECRET_FILE").env_remove("BRAID_CONFIG").env_remove("BRAID_LOG");
        cmd.env_remove("BRAID_PREVIOUS_SECRET").env_remove("BRAID_PREVIOUS_SECRET_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run another build of braid (`bin`) in the workspace.
    pub fn braid_at(&self, bin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(bin, args, env).output().expect("run braid")
    }

    /// [`Workspace::braid_env`], killed and failed if it has not finished
    /// within `secs` seconds (a hang fails the test instead of stalling it).
    pub fn braid_within(&self, secs: u64, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(Path::new(env!("CARGO_BIN_EXE_braid")), args, env);
        // Into files, so that a full pipe never blocks the child.
        let (out_path, err_path) = (self.path().join("braid-within.stdout"), self.path().join("braid-within.stderr"));
        cmd.stdout(std::fs::File::create(&out_path).expect("stdout file"));
        cmd.stderr(std::fs::File::create(&err_path).expect("stderr file"));
        let mut child = cmd.spawn().expect("run braid");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for braid") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "braid {args:?} did not finish within {secs} s (killed)\nstdout:\n{}\nstderr:\n{}",
                    std::fs::read_to_string(&out_path).unwrap_or_default(),
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let output = Output { status, stdout: std::fs::read(&out_path).expect("stdout"), stderr: std::fs::read(&err_path).expect("stderr") };
        std::fs::remove_file(&out_path).ok();
        std::fs::remove_file(&err_path).ok();
        output
    }

    /// Run with a standard output whose reader is already gone (as in
    /// `braid ... | head -1` once head has exited).
    pub fn braid_closed_stdout(&self, args: &[&str]) -> Output {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = self.command(Path::new(env!("CARGO_BIN_EXE_braid")), args, &[]);
        cmd.stdout(writer).stderr(std::process::Stdio::piped());
        cmd.output().expect("run braid")
    }

    /// Run and insist on an exit code; returns stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.braid(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "braid {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8 stdout")
    }

    /// A query through `braid sql --format json`.
    pub fn sql(&self, query: &str) -> Vec<serde_json::Value> {
        let out = self.ok(&["sql", query, "--format", "json"], 0);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
        v.as_array().cloned().unwrap_or_default()
    }

    pub fn keys(&self) -> braid::secret::Keys {
        braid::secret::Keys::from_secret(TEST_SECRET.as_bytes(), braid::secret::SecretSource::Env).expect("keys")
    }
}

/// The shipped demo configuration, made to work inside a workspace: the
/// SQL comes from the repository.
pub fn demo_config() -> String {
    let text = std::fs::read_to_string(repo().join("config/demo.toml")).expect("demo config");
    let sql = repo().join("sql");
    text.replace(
        "[schedule]",
        &format!("[metrics]\nsql_dir = \"{}\"\n\n[schedule]", sql.display()),
    )
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// record_key -> entity from a truth file, hashed with the test key.
pub fn truth(ws: &Workspace, file: &Path) -> std::collections::HashMap<String, String> {
    let keys = ws.keys();
    let mut rdr = csv::Reader::from_path(file).expect("truth");
    let mut out = std::collections::HashMap::new();
    for r in rdr.records() {
        let r = r.expect("row");
        out.insert(braid::protect::record_key(&keys, &r[0], &r[1]), r[2].to_string());
    }
    out
}
