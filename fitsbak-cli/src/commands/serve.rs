//! `fitsbak serve`: the web page.

use crate::{GlobalArgs, Outcome};

/// Serve the web page and its JSON API.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address and port to listen on. Anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8083", value_name = "ADDR:PORT")]
    listen: std::net::SocketAddr,
    /// The token every request must carry (default: none on loopback, a new one
    /// printed at start otherwise).
    #[arg(long, env = crate::web::TOKEN_ENV, hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
}

pub async fn exec(global: &GlobalArgs, args: &Args) -> anyhow::Result<Outcome> {
    crate::web::serve(
        global.clone(),
        crate::web::ServeOptions {
            listen: args.listen,
            token: args.token.clone().filter(|t| !t.trim().is_empty()),
        },
    )
    .await?;
    Ok(Outcome::Success)
}
