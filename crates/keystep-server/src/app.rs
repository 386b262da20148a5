//! Wiring the HTTP server: state, middleware (request spans, security headers), routes, and
//! the start and stop of the server itself.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpResponse, HttpServer};
use keystep_core::Services;
use keystep_web::{security_headers, AppState};
use serde_json::json;
use tracing_actix_web::TracingLogger;

/// The request span: method, path (never the query string, which carries codes, hints and
/// interaction ids), the matched route and the status.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        span.record("status", status);
    }
}

/// Opens the services for a server or an operator command, writing mails with the same
/// templates (and `web_dir` overrides) as the pages, so a mail from the CLI reads like one
/// from a page.
pub fn open_services(
    config: keystep_core::config::Config,
    clock: std::sync::Arc<dyn keystep_core::clock::Clock>,
) -> keystep_core::Result<Services> {
    let templates = keystep_web::templates::Templates::load(config.web_dir.as_deref())
        .map_err(|e| keystep_core::Error::invalid("web_dir", e))?;
    let services = Services::open(config, clock)?.with_composer(std::sync::Arc::new(templates));
    let resealed = keystep_mfa::totp::reseal_for_owners(&services)?;
    if resealed > 0 {
        tracing::info!(resealed, "sealed stored TOTP secrets for their owners");
    }
    Ok(services)
}

/// The services of an operator command (`keystep user …`, `mfa …`, `client …`), and the
/// writes it owes a running server that keeps its ephemeral store in memory.
#[derive(Debug)]
pub struct Operator {
    /// What the command runs on.
    pub services: Services,
    relay: Option<std::sync::Arc<keystep_core::ephemeral::RelayedStore>>,
}

impl Operator {
    /// Opens the services as [`open_services`] does, with a relayed store in place of a
    /// process-local one.
    pub fn open(
        config: keystep_core::config::Config,
        clock: std::sync::Arc<dyn keystep_core::clock::Clock>,
    ) -> keystep_core::Result<Self> {
        let (services, relay) = open_services(config, clock)?.for_operator();
        Ok(Self { services, relay })
    }

    /// Hands over what the command's write transactions did not (see
    /// `keystep_core::ephemeral::relay`); returns how many writes the command handed over in
    /// all. With Redis there is nothing to hand over: the command wrote the shared store
    /// itself.
    pub fn finish(&self) -> keystep_core::Result<usize> {
        match &self.relay {
            Some(relay) => {
                relay.flush(&self.services.db)?;
                Ok(relay.handed_over())
            }
            None => Ok(0),
        }
    }
}

/// With the ephemeral store in this process's memory, applies what operator commands relay
/// through the database: the rows already there before serving, then new ones every second.
fn follow_operator_writes(
    services: &Services,
    metrics: web::Data<crate::metrics::Metrics>,
) -> keystep_core::Result<()> {
    if !services.ephemeral.is_process_local() {
        return Ok(());
    }
    let mut follower = keystep_core::ephemeral::Follower::default();
    let applied = follower.apply_new(
        &services.db,
        services.ephemeral.as_ref(),
        services.clock.as_ref(),
    )?;
    metrics.operator_writes_applied(applied);
    let services = services.clone();
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(std::time::Duration::from_secs(1));
        let mut failing = false;
        loop {
            interval.tick().await;
            let services = services.clone();
            let polled = web::block(move || {
                let applied = follower.apply_new(
                    &services.db,
                    services.ephemeral.as_ref(),
                    services.clock.as_ref(),
                );
                (follower, applied)
            })
            .await;
            let Ok((kept, applied)) = polled else {
                // The blocking pool is gone: the server is stopping.
                return;
            };
            follower = kept;
            match applied {
                Ok(applied) => {
                    metrics.operator_writes_applied(applied);
                    failing = false;
                }
                // Once per outage, not every second.
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "could not read what operator commands relayed; retrying every second");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    });
    Ok(())
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(get_healthz))
        .route("/metrics", web::get().to(get_metrics))
        .route("/static/{file}", web::get().to(keystep_web::get_static))
        .configure(keystep_oidc::routes)
        .configure(keystep_usercenter::routes);
}

/// `GET /metrics`: Prometheus text exposition.
async fn get_metrics(metrics: web::Data<crate::metrics::Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(metrics.render())
}

/// Anything else: a page saying so.
async fn not_found(page: keystep_web::page::Page) -> HttpResponse {
    let error = keystep_web::page::PageError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "error.not_found",
    );
    keystep_web::page::error_page(&page, &error)
}

/// How a server serves: on an already bound listener (port 0 in tests), with `workers` (0 means
/// one per core), and with the demo relying party at `/demo` when given.
pub struct Serve {
    /// The bound listener.
    pub listener: TcpListener,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// The demo relying party, for `keystep demo`.
    pub demo: Option<web::Data<crate::demo::Demo>>,
}

/// Builds the server. It stops gracefully on SIGTERM and SIGINT, finishing open requests for
/// up to 10 seconds.
pub fn build_server(services: Services, serve: Serve) -> std::io::Result<Server> {
    let Serve {
        listener,
        workers,
        demo,
    } = serve;
    let state = AppState::new(services).map_err(std::io::Error::other)?;
    let https = state.https;
    // Sorted by tag, so discovery does not change between starts.
    let languages: Vec<String> = state
        .templates
        .messages()
        .languages()
        .map(str::to_owned)
        .collect();
    let oidc =
        keystep_oidc::Oidc::start(&state.services, &languages).map_err(std::io::Error::other)?;
    let state = web::Data::new(state);
    let oidc = web::Data::new(oidc);
    let metrics = web::Data::new(crate::metrics::Metrics::default());
    follow_operator_writes(&state.services, metrics.clone()).map_err(std::io::Error::other)?;
    let mut server = HttpServer::new(move || {
        let demo = demo.clone();
        let observed = metrics.clone();
        App::new()
            .app_data(state.clone())
            .app_data(oidc.clone())
            .app_data(metrics.clone())
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .wrap(actix_web::middleware::from_fn(
                keystep_web::page::render_errors,
            ))
            .wrap(security_headers(https))
            .wrap_fn(move |req, srv| {
                let metrics = observed.clone();
                let started = std::time::Instant::now();
                // A standard method clones without allocating.
                let method = req.method().clone();
                let response = actix_web::dev::Service::call(srv, req);
                async move {
                    let response = response.await?;
                    // The matched pattern, known once routing is done; never the raw path.
                    let route = response
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    metrics.observe(
                        method.as_str(),
                        &route,
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    Ok(response)
                }
            })
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(routes)
            .configure(move |cfg| {
                if let Some(demo) = demo {
                    cfg.app_data(demo);
                    crate::demo::routes(cfg);
                }
            })
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(10);
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}

/// `/healthz`: 200 when the database and the ephemeral store both answer, else 503. The body
/// says which check failed; the error itself goes only to the log.
async fn get_healthz(state: web::Data<AppState>) -> HttpResponse {
    let services = state.services.clone();
    let checks = web::block(move || (services.db.ping(), services.ephemeral.ping())).await;
    let (database, ephemeral) = match checks {
        Ok(results) => results,
        Err(_) => {
            return HttpResponse::ServiceUnavailable()
                .insert_header(("Cache-Control", "no-store"))
                .json(json!({"status": "unavailable"}))
        }
    };
    let status = |name: &str, result: &keystep_core::Result<()>| match result {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(check = name, error = %e, "health check failed");
            "unavailable"
        }
    };
    let body = json!({
        "status": if database.is_ok() && ephemeral.is_ok() { "ok" } else { "unavailable" },
        "checks": {
            "database": status("database", &database),
            "ephemeral_store": status("ephemeral_store", &ephemeral),
        }
    });
    let mut response = if database.is_ok() && ephemeral.is_ok() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// A server running on its own thread and actix system, as the tests use it.
pub struct RunningServer {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Serves `services` as `serve` says, on a background thread.
    pub fn start(services: Services, serve: Serve) -> std::io::Result<Self> {
        let addr = serve.listener.local_addr()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("keystep-{}", addr.port()))
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    match build_server(services, serve) {
                        Ok(server) => {
                            let _ = tx.send(Ok(server.handle()));
                            server.await
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            Ok(())
                        }
                    }
                })
            })?;
        let handle = rx
            .recv()
            .map_err(|_| std::io::Error::other("server thread ended before it started"))??;
        Ok(Self {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server gracefully and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            // The handle's future must be driven; a tiny runtime of its own does it.
            let _ = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(handle.stop(true));
            })
            .join();
            let _ = thread.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
