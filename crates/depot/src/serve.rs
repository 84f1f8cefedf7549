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
    let listener = with_nodelay(listener);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// The listener with `TCP_NODELAY` set on every accepted connection.
///
/// Without it a response written in two pieces (headers, then a streamed
/// body) stalls: Nagle's algorithm holds the second segment until the
/// first is acknowledged, and the client delays that ACK by up to 40 ms.
/// Every request on a kept-alive connection (apt, dnf and pacman reuse
/// theirs) then costs ~40 ms: 28 req/s for InRelease over one connection
/// before this (issue 11).
fn with_nodelay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    /// The option itself, on a socket the serving listener accepted: the
    /// kernel default is off, so this fails without [`with_nodelay`].
    #[tokio::test]
    async fn accepted_connections_have_tcp_nodelay_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = with_nodelay(listener);
        let client = tokio::net::TcpStream::connect(address);
        let ((accepted, _), client) = tokio::join!(listener.accept(), client);
        let client = client.unwrap();
        assert!(!client.nodelay().unwrap(), "the kernel default is off");
        assert!(accepted.nodelay().unwrap());
    }
}
