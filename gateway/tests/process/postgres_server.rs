//! A Postgres server of a test's own (a fresh cluster in a temporary directory, on a free
//! loopback port), so a test can stop and restart the database under running replicas without
//! disturbing the shared test server. Uses the binaries of the installed Postgres
//! (`OPEN_COWORK_TEST_POSTGRES_BIN`, else the newest `/usr/lib/postgresql/*/bin`); as root, the
//! server runs as the `postgres` user, which Postgres insists on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private Postgres cluster, stopped at once when dropped.
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The user the server runs as when the test runs as root.
    run_as: Option<String>,
}

impl PostgresServer {
    /// Creates and starts a cluster, or `None` (with a loud message) when no Postgres binaries
    /// are installed and `CI` is not `true`.
    pub fn start() -> Option<Self> {
        Self::create(false)
    }

    /// [`Self::start`] with TLS on (a certificate for `localhost` and `127.0.0.1` from a CA of
    /// the test's own, see [`Self::ca_file`]).
    pub fn start_with_tls() -> Option<Self> {
        Self::create(true)
    }

    /// The CA certificate (PEM file) a TLS server's certificate is signed by.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn create(tls: bool) -> Option<Self> {
        let Some(bin) = binaries() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the Postgres server binaries (initdb, pg_ctl) are required in CI"
            );
            eprintln!("SKIPPED: private Postgres test (no initdb found; set OPEN_COWORK_TEST_POSTGRES_BIN)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let status = Command::new("chown").args(["-R", user]).arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown the cluster directory to {user}");
        }
        let port = free_port();
        let server = Self { bin, dir, port, run_as };
        let data = server.data_dir();
        server.run(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
        );
        // The test is about the gateway's behaviour across a restart, not the disk: no fsync.
        let conf = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 200\n",
            port,
            server.dir.path().display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path).expect("read postgresql.conf");
        existing.push_str(&conf);
        if tls {
            server.write_certificates(&data);
            existing.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        std::fs::write(&conf_path, existing).expect("write postgresql.conf");
        server.start_again();
        Some(server)
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let log = self.dir.path().join("server.log");
        self.run("pg_ctl", &["-D", path(&self.data_dir()), "-l", path(&log), "-w", "-t", "60", "start"]);
    }

    /// Stops the server (fast: sessions are cut, as in a failover or a restart).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", path(&self.data_dir()), "-m", "fast", "-w", "-t", "60", "stop"]);
    }

    /// Restarts the server.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// A CA (to `ca.pem`) and a server certificate and key signed by it (into the data dir,
    /// owned by the server's user, the key readable by it alone, as Postgres insists).
    fn write_certificates(&self, data: &Path) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.distinguished_name.push(DnType::CommonName, "Open Cowork test Postgres CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        std::fs::write(self.ca_file(), ca_cert.pem()).expect("write ca.pem");
        std::fs::write(data.join("server.crt"), cert.pem()).expect("write server.crt");
        let key_path = data.join("server.key");
        std::fs::write(&key_path, key.serialize_pem()).expect("write server.key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod server.key");
        if let Some(user) = &self.run_as {
            for file in [data.join("server.crt"), key_path] {
                let status = Command::new("chown").arg(user).arg(&file).status().expect("chown");
                assert!(status.success(), "chown {}", file.display());
            }
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        // The server must not inherit the test's pipes, or a reader would wait for it to exit.
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let args = ["-D", path(&data), "-m", "immediate", "-w", "stop"];
        let _ = match &self.run_as {
            Some(user) => Command::new("runuser").args(["-u", user, "--"]).arg(&program).args(args).output(),
            None => Command::new(&program).args(args).output(),
        };
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// The directory holding `initdb` and `pg_ctl`.
fn binaries() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("OPEN_COWORK_TEST_POSTGRES_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
