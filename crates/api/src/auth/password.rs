//! Argon2id password hashing at OWASP's minimum (19 MiB, t=2, p=1). One hash takes tens of
//! milliseconds of CPU, so each runs on the blocking pool, and only when a hashing slot is free.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{blocking, ApiError};

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Parallelism.
pub const PARALLELISM: u32 = 1;

/// Hashes in progress at once, at most one per CPU: each holds 19 MiB, and more at a time than
/// there are CPUs finishes none sooner. Without the bound, 16 concurrent registrations took the
/// server to 321 MiB (docs/benchmarks.md, item 1). The rest wait for a slot as async tasks,
/// before they take a blocking thread.
fn hash_slot_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn hash_slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(hash_slot_count())))
}

/// Runs Argon2 work on the blocking pool once a slot is free. The slot goes with the work, so
/// it stays taken until the hash is done even if the request is dropped meanwhile.
async fn in_a_hash_slot<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let slot = hash_slots()
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing slots: {e}")))?;
    blocking(move || {
        let _slot = slot;
        work()
    })
    .await
}

/// Hashes a password into a PHC string (algorithm, parameters and salt included).
pub async fn hash(password: String) -> Result<String, ApiError> {
    in_a_hash_slot(move || hash_now(&password).map_err(ApiError::Internal)).await
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub async fn verify(password: String, phc: String) -> Result<bool, ApiError> {
    in_a_hash_slot(move || Ok(verify_now(&password, &phc))).await
}

/// Verifies against a fixed hash so that a login for an unknown email costs the same time as
/// one with a wrong password (no account enumeration by timing).
pub async fn verify_dummy(password: String) -> Result<(), ApiError> {
    in_a_hash_slot(move || {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let phc = DUMMY.get_or_init(|| hash_now("dummy password for timing").unwrap_or_default());
        verify_now(&password, phc);
        Ok(())
    })
    .await
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_now(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[actix_web::test]
    async fn hashes_verify_and_carry_owasp_parameters() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), phc).await.unwrap());
        assert!(!verify("correct horse".into(), "not a hash".into())
            .await
            .unwrap());
        verify_dummy("anything".into()).await.unwrap();
    }

    #[actix_web::test]
    async fn no_hash_starts_while_every_slot_is_taken() {
        let all = u32::try_from(hash_slot_count()).unwrap();
        let taken = hash_slots().acquire_many(all).await.unwrap();
        let waiting = actix_web::rt::spawn(hash("patience".into()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "a hash ran without a slot");
        drop(taken);
        let phc = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the hash runs once a slot is free")
            .unwrap()
            .unwrap();
        assert!(phc.starts_with("$argon2id$"));
    }
}
