//! `sync-server`: the Running Days sync service. Configuration comes from the environment
//! (see `docs/configuration.md`); with none it serves on 127.0.0.1:8080 from `./data`.

use std::process::ExitCode;

use api::{Application, Config};

#[actix_web::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            log::error!("configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.jwt_secret_generated {
        log::warn!(
            "JWT_SECRET is not set: using the secret generated in {}; set JWT_SECRET in production",
            config.data_dir.join("jwt_secret").display()
        );
    }
    let bind_addr = config.bind_addr.clone();
    let backend = sync_store::BackendKind::of_url(&config.database_url)
        .0
        .name();
    let app = match Application::build(config) {
        Ok(app) => app,
        Err(e) => {
            log::error!("startup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "serving on {bind_addr} (port {}) with {backend}",
        app.port()
    );
    match app.run_until_stopped().await {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
