//! keystep-server: the `keystep` binary's library half — command line, configuration
//! loading, telemetry, and the wiring of the HTTP server. Tests start servers through
//! [`app::RunningServer`] exactly as `keystep serve` does, on port 0.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod telemetry;

use keystep_core::Services;

/// Chooses rustls's crypto provider for the whole process (aws-lc-rs, like the signing
/// keys). Several crates bring rustls with different default providers; without a choice,
/// the first TLS connection (SMTP, Redis over TLS, the demo's HTTP client) would fail.
pub fn install_crypto_provider() {
    // Already installed (tests start several servers in one process): nothing to do.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// `keystep serve`: binds `listen`, serves until SIGTERM or SIGINT, then drains.
pub fn serve(services: Services) -> Result<(), cli::CliError> {
    serve_with_demo(services, None)
}

/// `keystep demo`: like serve, with a demo person and client and the relying party at
/// `/demo`; the demo password is printed once.
pub fn demo(services: Services) -> Result<(), cli::CliError> {
    let setup = demo::prepare(&services)?;
    let relying_party = demo::Demo::new(&services, &setup).map_err(std::io::Error::other)?;
    let base = services.config.public_base();
    println!();
    println!("  keystep demo is starting.");
    println!("  Open {base}/demo and sign in as:");
    println!("    username: {}", demo::DEMO_USER);
    println!(
        "    password: {}   (shown once; a new one at every start)",
        setup.password
    );
    if services.config.mail.smtp.is_none() {
        println!(
            "  Mail (the confirmation code for binding an authenticator) is written to {}",
            services.config.data_dir.join("outbox").display()
        );
    }
    println!();
    serve_with_demo(services, Some(demo::data(relying_party)))
}

fn serve_with_demo(
    services: Services,
    demo: Option<actix_web::web::Data<demo::Demo>>,
) -> Result<(), cli::CliError> {
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
    let sweeper = services.clone();
    actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(sweep_periodically(sweeper));
        app::build_server(
            services,
            app::Serve {
                listener,
                workers: 0,
                demo,
            },
        )?
        .await
    })?;
    tracing::info!("keystep stopped");
    Ok(())
}

/// Every ten minutes, deletes expired sessions and refresh tokens (see
/// `sessions::sweep_expired`). Several nodes doing it at once is harmless.
async fn sweep_periodically(services: Services) {
    let mut interval = actix_web::rt::time::interval(std::time::Duration::from_secs(600));
    loop {
        interval.tick().await;
        let services = services.clone();
        let swept = actix_web::web::block(move || {
            let mut conn = services.db.conn()?;
            let lifetimes = services.config.session_lifetimes();
            keystep_core::sessions::sweep_expired(&mut conn, services.clock.as_ref(), &lifetimes)
        })
        .await;
        match swept {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((sessions, tokens))) => {
                tracing::info!(sessions, refresh_tokens = tokens, "swept expired state")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "sweeping expired state failed"),
            Err(_) => tracing::warn!("sweeping expired state was cancelled"),
        }
    }
}
