//! Mounting fitsbak's web page in a program of your own: the page and its API
//! under `/s3-backup/` of an axum app, the way the cataloger's web app proxies the
//! Python service there.
//!
//!   cargo run -p fitsbak-cli --example web -- demo/s3_config.json 127.0.0.1:8000
//!
//! then open http://127.0.0.1:8000/s3-backup/

use axum::Router;
use axum::response::Html;
use axum::routing::get;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let config = args.next().unwrap_or_else(|| "s3_config.json".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8000".into());

    // The same options a `fitsbak` command line would give, with this config.
    let global = fitsbak_cli::GlobalArgs::with_config(config);
    // Loopback only, so no token; pass Some(token) to require one.
    let backups = fitsbak_cli::web::WebApp::new(global, None);

    let app = Router::new()
        .route(
            "/",
            get(|| async { Html(r#"<p>My observatory. <a href="s3-backup/">Backups</a></p>"#) }),
        )
        // `nest_service` hands the router `/` for both `/s3-backup` and
        // `/s3-backup/`; the page redirects the first to the second.
        .nest_service("/s3-backup", fitsbak_cli::web::router(backups.clone()));

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("http://{}/s3-backup/", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Running uploads stop between parts, resumable, as Ctrl-C stops the CLI.
            backups.stop_tasks().await;
        })
        .await?;
    Ok(())
}
