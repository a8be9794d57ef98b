//! Real S3 protocol servers on free loopback ports, each stopped when the process
//! that started it goes away: moto_server (the AWS model, see [`crate::moto`]),
//! Ceph's RADOS Gateway, s3s-fs and s3rver, for the store matrix.
//!
//! Where each binary is found (a test that needs one and does not find it fails,
//! saying how to install it; it never skips):
//!
//! | server | binary |
//! | --- | --- |
//! | moto | `$FITSBAK_MOTO_SERVER`, `.venv/bin/moto_server`, `moto_server` on the PATH |
//! | Ceph RGW | Debian's `radosgw` and `ceph-*`, started by `scripts/ceph-rgw.sh` |
//! | s3s-fs | `$FITSBAK_S3S_FS`, `.tools/bin/s3s-fs`, `s3s-fs` on the PATH |
//! | s3rver | `$FITSBAK_S3RVER`, `.tools/node_modules/.bin/s3rver`, `s3rver` on the PATH |
//!
//! `scripts/install-test-tools.sh` installs all four.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::Credentials;

use fitsbak_core::store::ObjectStore;
use fitsbak_s3::{S3Settings, S3Store};

/// The access key the tests use with moto (any is accepted unless told otherwise).
pub const ACCESS_KEY: &str = "AKIAFITSBAKTESTS0001";
/// The secret key the tests use with moto.
pub const SECRET_KEY: &str = "fitsbak-test-secret-key-not-a-real-one";

/// Which server it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// moto_server 5.2.5, the AWS model.
    Moto,
    /// Ceph's RADOS Gateway (Debian 12: 16.2).
    Ceph,
    /// s3s-fs 0.14, a file-system store built on the s3s crate.
    S3sFs,
    /// s3rver 3.7 (npm).
    S3rver,
}

impl Flavor {
    /// Its name in messages and bucket names.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Moto => "moto",
            Flavor::Ceph => "ceph",
            Flavor::S3sFs => "s3s-fs",
            Flavor::S3rver => "s3rver",
        }
    }
}

/// A running S3 server.
pub struct StoreServer {
    /// Which one.
    pub flavor: Flavor,
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
    /// The access key it knows.
    pub access_key: String,
    /// Its secret.
    pub secret_key: String,
    /// The wrapper shell: it stops the server when our end of its stdin closes,
    /// which happens however this process ends.
    child: Child,
    /// Scratch space the server keeps its data in.
    _data: Option<tempfile::TempDir>,
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The binary `env` names, else `relative` below the workspace root, else `name`
/// on the PATH; a panic saying how to install it otherwise.
pub(crate) fn find_binary(env: &str, relative: &str, name: &str, what: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let local = crate::workspace_root().join(relative);
    if local.is_file() {
        return local;
    }
    crate::on_path(name).unwrap_or_else(|| {
        panic!(
            "{what} is needed by this test and was not found at {} nor on the PATH: run \
             scripts/install-test-tools.sh, or set {env}",
            local.display()
        )
    })
}

/// Starts `script` under `sh -c` with `args`; the script prints lines, then waits
/// for its stdin to close and stops what it started. Returns the wrapper and the
/// first `lines` lines it printed.
fn wrapped(
    script: &str,
    args: &[&std::ffi::OsStr],
    env: &[(&str, String)],
    lines: usize,
) -> (Child, Vec<String>) {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{script}`: {e}"));
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).expect("the wrapper prints");
        got.push(line.trim_end().to_owned());
    }
    (child, got)
}

fn wait_for_port(port: u16, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within {} s",
            within.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shell line that runs `"$0" args...` in the background, says it started,
/// and stops it when stdin closes.
fn background(args: &str) -> String {
    format!(
        "\"$0\" {args} >/dev/null 2>&1 & child=$!; \
         echo started; cat >/dev/null; kill $child 2>/dev/null; wait $child 2>/dev/null"
    )
}

impl StoreServer {
    /// A server whose wrapper is `child`.
    fn new(
        flavor: Flavor,
        port: u16,
        (access_key, secret_key): (&str, &str),
        child: Child,
        data: Option<tempfile::TempDir>,
    ) -> Self {
        Self {
            flavor,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            child,
            _data: data,
        }
    }

    /// moto_server with `env` (see [`crate::moto`]).
    pub(crate) fn start_moto(env: &[(&str, &str)]) -> Self {
        let binary = crate::moto::moto_binary();
        let port = free_port();
        let mut vars = vec![
            ("S3_UPLOAD_PART_MIN_SIZE", (1 << 20).to_string()),
            ("MOTO_ALLOW_NONEXISTENT_REGION", "true".to_owned()),
        ];
        vars.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let script = background(&format!("-H 127.0.0.1 -p {port}"));
        let (child, _) = wrapped(&script, &[binary.as_os_str()], &vars, 1);
        wait_for_port(port, "moto_server", Duration::from_secs(60));
        Self::new(Flavor::Moto, port, (ACCESS_KEY, SECRET_KEY), child, None)
    }

    /// s3s-fs serving a fresh directory.
    pub fn start_s3s_fs() -> Self {
        let binary = find_binary(
            "FITSBAK_S3S_FS",
            ".tools/bin/s3s-fs",
            "s3s-fs",
            "s3s-fs 0.14",
        );
        let data = tempfile::tempdir().expect("a data directory");
        let port = free_port();
        let (access, secret) = ("FITSBAKS3SFSKEY", "fitsbak-s3s-fs-test-secret");
        let script = background(&format!(
            "--host 127.0.0.1 --port {port} --access-key {access} --secret-key {secret} \"$1\""
        ));
        let (child, _) = wrapped(
            &script,
            &[binary.as_os_str(), data.path().as_os_str()],
            &[],
            1,
        );
        wait_for_port(port, "s3s-fs", Duration::from_secs(30));
        Self::new(Flavor::S3sFs, port, (access, secret), child, Some(data))
    }

    /// s3rver serving a fresh directory (its fixed credentials: S3RVER/S3RVER).
    pub fn start_s3rver() -> Self {
        let binary = find_binary(
            "FITSBAK_S3RVER",
            ".tools/node_modules/.bin/s3rver",
            "s3rver",
            "s3rver 3.7 (npm)",
        );
        let data = tempfile::tempdir().expect("a data directory");
        let port = free_port();
        let script = background(&format!(
            "-d \"$1\" -a 127.0.0.1 -p {port} --silent --no-vhost-buckets"
        ));
        let (child, _) = wrapped(
            &script,
            &[binary.as_os_str(), data.path().as_os_str()],
            &[],
            1,
        );
        wait_for_port(port, "s3rver", Duration::from_secs(30));
        Self::new(
            Flavor::S3rver,
            port,
            ("S3RVER", "S3RVER"),
            child,
            Some(data),
        )
    }

    /// A single-node Ceph cluster with one RADOS Gateway (`scripts/ceph-rgw.sh`).
    pub fn start_ceph() -> Self {
        for tool in [
            "radosgw",
            "ceph-mon",
            "ceph-osd",
            "ceph-mgr",
            "radosgw-admin",
        ] {
            assert!(
                crate::on_path(tool).is_some(),
                "Ceph's {tool} is needed by this test and is not installed: run \
                 scripts/install-test-tools.sh (Debian's radosgw, ceph-mon, ceph-osd, \
                 ceph-mgr, ceph-common)"
            );
        }
        let script = crate::workspace_root().join("scripts/ceph-rgw.sh");
        let data = tempfile::tempdir().expect("a data directory");
        // The script's stderr goes to a file so that a failed start can say why
        // in the test's own message (libtest does not capture a child's stderr).
        let (child, lines) = wrapped(
            "\"$0\" start \"$1/ceph\" 2>\"$1/start.err\" || exit 1; \
             cat >/dev/null; \"$0\" stop \"$1/ceph\"",
            &[script.as_os_str(), data.path().as_os_str()],
            &[],
            3,
        );
        let value = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| {
                    let why =
                        std::fs::read_to_string(data.path().join("start.err")).unwrap_or_default();
                    panic!("scripts/ceph-rgw.sh printed no {name}: {lines:?}\n{why}")
                })
                .to_owned()
        };
        let endpoint = value("FITSBAK_CEPH_ENDPOINT");
        let port: u16 = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the endpoint");
        let (access, secret) = (
            value("FITSBAK_CEPH_ACCESS_KEY"),
            value("FITSBAK_CEPH_SECRET_KEY"),
        );
        Self::new(Flavor::Ceph, port, (&access, &secret), child, Some(data))
    }

    /// Starts a server of `flavor`.
    pub fn start(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Moto => Self::start_moto(&[]),
            Flavor::Ceph => Self::start_ceph(),
            Flavor::S3sFs => Self::start_s3s_fs(),
            Flavor::S3rver => Self::start_s3rver(),
        }
    }

    /// Settings for `bucket` on this server.
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            bucket: bucket.to_owned(),
            region: "us-east-1".into(),
            endpoint_url: Some(self.endpoint.clone()),
            force_path_style: true,
            request_timeout: Duration::from_secs(60),
            region_from_environment: false,
        }
    }

    /// A store for `bucket`, with this server's credentials.
    pub fn store(&self, bucket: &str) -> S3Store {
        S3Store::with_credentials(
            &self.settings(bucket),
            Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "fitsbak-tests",
            ),
        )
    }

    /// Creates `bucket` and returns a store for it.
    pub async fn bucket(&self, bucket: &str) -> S3Store {
        let store = self.store(bucket);
        store
            .client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("creating bucket {bucket} on {}: {e:?}", self.flavor.name())
            });
        store
    }

    /// Turns versioning on for `store`'s bucket.
    pub async fn enable_versioning(&self, store: &S3Store) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        let bucket = store.location().bucket.clone();
        store
            .client()
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("turning versioning on for {bucket}: {e:?}"));
    }

    /// The environment a child process needs to reach this server as the tests'
    /// user.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            (
                "AWS_CONFIG_FILE",
                "/nonexistent/fitsbak-test-aws-config".to_owned(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/fitsbak-test-aws-credentials".to_owned(),
            ),
        ]
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the wrapper stops the server
        let _ = self.child.wait();
    }
}
