//! `depot serve`: the HTTP server on the data directory.

use crate::commands::write_secret_file;
use crate::config::Config;
use crate::target::open_local;
use anyhow::{Context, Result};
use depot_http::HttpOptions;

/// File in the data directory that receives the first admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

pub async fn run(config: &Config) -> Result<()> {
    let depot = open_local(config).await?;
    let redacted = |url: &Option<String>| url.as_deref().map(depot_service::redact_url);
    tracing::info!(
        data_dir = %config.data_dir.display(),
        meta = redacted(&config.stores.meta).as_deref().unwrap_or("data directory"),
        blobs = redacted(&config.stores.blobs).as_deref().unwrap_or("data directory"),
        key = %depot.key_fingerprint(),
        "opened the stores"
    );

    // A process killed between recording a change and publishing it left
    // its repo behind; catch up before serving.
    match depot.publish_pending().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            repos = n,
            "published changes left pending by an earlier process"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "publishing pending changes failed; they publish with the next write")
        }
    }

    if let Some(secret) = depot
        .ensure_admin_token()
        .await
        .context("creating the first admin token")?
    {
        let path = config.data_dir.join(ADMIN_TOKEN_FILE);
        write_secret_file(&path, &secret)
            .with_context(|| format!("writing the admin token to {}", path.display()))?;
        tracing::warn!(
            path = %path.display(),
            "no API token existed: created an admin token and wrote its secret to this file (mode 0600); \
             use it as `Authorization: Bearer <token>` or `depot --token`"
        );
    }

    let app = depot_http::router(depot, HttpOptions::new(config.max_upload_bytes));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c: in-flight requests finish, new
/// connections are refused.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
