//! Argon2id password hashing at OWASP's minimum (19 MiB, t=2, p=1). Callers run these on a
//! blocking thread: one hash takes tens of milliseconds of CPU.

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Parallelism.
pub const PARALLELISM: u32 = 1;

/// Hashes in progress at once, at most one per CPU: each holds 19 MiB, and more at a time than
/// there are CPUs finishes none sooner. Without the bound, 16 concurrent registrations took the
/// server to 321 MiB (docs/benchmarks.md); the rest wait here, on their blocking thread.
struct HashSlots {
    busy: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

struct HashSlot(&'static HashSlots);

impl Drop for HashSlot {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(PoisonError::into_inner);
        *busy -= 1;
        self.0.freed.notify_one();
    }
}

fn hash_slot() -> HashSlot {
    static SLOTS: OnceLock<HashSlots> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| HashSlots {
        busy: Mutex::new(0),
        freed: Condvar::new(),
        max: std::thread::available_parallelism().map_or(2, |n| n.get()),
    });
    let mut busy = slots.busy.lock().unwrap_or_else(PoisonError::into_inner);
    while *busy >= slots.max {
        busy = slots
            .freed
            .wait(busy)
            .unwrap_or_else(PoisonError::into_inner);
    }
    *busy += 1;
    HashSlot(slots)
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (algorithm, parameters and salt included).
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    let _slot = hash_slot();
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => {
            let _slot = hash_slot();
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }
        Err(_) => false,
    }
}

/// Verifies against a fixed hash so that a login for an unknown email costs the same time as
/// one with a wrong password (no account enumeration by timing).
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("dummy password for timing").unwrap_or_default());
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_owasp_parameters() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("wrong horse", &phc));
        assert!(!verify("correct horse", "not a hash"));
    }
}
