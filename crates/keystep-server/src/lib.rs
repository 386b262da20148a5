//! keystep-server: the `keystep` binary's library half — command line, configuration
//! loading, telemetry, and the wiring of the HTTP server. Tests start servers through
//! [`app::RunningServer`] exactly as `keystep serve` does, on port 0.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod telemetry;

use keystep_core::Services;

/// `keystep serve`: binds `listen`, serves until SIGTERM or SIGINT, then drains.
pub fn serve(services: Services) -> Result<(), cli::CliError> {
    let config = services.config.clone();
    let listener = std::net::TcpListener::bind(config.listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {} (listen): {e}", config.listen),
        )
    })?;
    tracing::info!(
        listen = %config.listen,
        public_url = %config.public_url,
        database = %services.db.target(),
        ephemeral_store = if config.redis_url.is_some() { "redis" } else { "memory" },
        "keystep is listening"
    );
    actix_web::rt::System::new()
        .block_on(async move { app::build_server(services, listener, 0)?.await })?;
    tracing::info!("keystep stopped");
    Ok(())
}
