//! moto_server (moto 5.2.5), the AWS model, on a free loopback port, stopped when
//! the process that started it goes away.
//!
//! The binary is `$FITSBAK_MOTO_SERVER`, else `.venv/bin/moto_server` at the
//! workspace root (`scripts/install-test-tools.sh` makes it), else `moto_server` on
//! the `PATH`. A test that needs it and does not find it fails, saying how to
//! install it; it never skips.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;

pub use crate::server::{ACCESS_KEY, SECRET_KEY, StoreServer as MotoServer, free_port};
use crate::server::{Flavor, StoreServer};

/// Where the moto_server binary is.
pub fn moto_binary() -> PathBuf {
    crate::server::find_binary(
        "FITSBAK_MOTO_SERVER",
        ".venv/bin/moto_server",
        "moto_server",
        "moto_server (moto[server]==5.2.5)",
    )
}

impl StoreServer {
    /// Starts a moto_server with moto's defaults except a 1 MiB minimum part size
    /// (so that multipart tests can use small parts), and `env` (for example
    /// `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        Self::start_moto(env)
    }

    /// One moto_server shared by the tests of this process; each test uses its
    /// own bucket.
    pub fn shared() -> &'static StoreServer {
        static SERVER: OnceLock<StoreServer> = OnceLock::new();
        SERVER.get_or_init(|| StoreServer::start_moto(&[]))
    }

    /// Posts to moto's own API (`/moto-api/...`), for state the S3 API cannot set.
    pub fn moto_api(&self, path: &str, body: &str) -> String {
        assert_eq!(self.flavor, Flavor::Moto, "moto's own API is moto's");
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("moto listens");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("the request is sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("moto answers");
        response
    }
}
