//! `sync-server`: the Running Days sync service. Configuration comes from the environment
//! (see `docs/configuration.md`); with none it serves on 127.0.0.1:8080 from `./data`.

use std::process::ExitCode;

use api::{Application, Config};

/// glibc's malloc raises its mmap threshold to the size of the largest block freed (up to
/// 32 MiB), so after the first Argon2 hash (19 MiB) every later one is carved from a per-thread
/// arena and kept there when freed: measured, 64 registrations left the server at 613 MiB RSS
/// (docs/benchmarks.md). A fixed threshold keeps blocks of 256 KiB and more (password hashes,
/// large request bodies and batches) in their own mappings,
/// returned to the system on free (RSS back to 10 MiB), and two arenas bound what the blocking
/// threads keep. `MALLOC_MMAP_THRESHOLD_` / `MALLOC_ARENA_MAX` in the environment still win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    use std::os::raw::c_int;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    const M_MMAP_THRESHOLD: c_int = -3;
    const M_ARENA_MAX: c_int = -8;
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            mallopt(M_MMAP_THRESHOLD, 256 << 10);
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> ExitCode {
    api::logging::init();
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
