//! Authentication: passwords, tokens, and the extractor for the authenticated caller.

pub mod extractor;
pub mod ingest;
pub mod lockout;
pub mod password;
pub mod tokens;

pub use extractor::{AuthUser, Caller, Claim};
pub use ingest::IngestUser;

use actix_web::dev::ServiceRequest;

/// Query parameters whose values never reach the access log, should a client put a secret in
/// a URL (the server accepts tokens only in the `Authorization` header and passwords only in
/// bodies, but a misbehaving client may still try).
const SECRET_PARAM_HINTS: [&str; 6] = ["token", "password", "secret", "auth", "jwt", "key"];

/// The request line for the access log (`METHOD /path?query HTTP/1.1`), with the value of any
/// query parameter whose name suggests a secret replaced by `[redacted]`.
pub fn loggable_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let target = if query.is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{}", req.path(), redact_query(query))
    };
    format!("{} {} {:?}", req.method(), target, req.version())
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let lowered = name.to_ascii_lowercase();
            if SECRET_PARAM_HINTS.iter().any(|hint| lowered.contains(hint)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn secrets_in_query_strings_are_redacted_from_the_request_line() {
        let req = TestRequest::get()
            .uri("/api/v1/workouts?limit=5&access_token=eyJ.abc.def&Password=hunter2&cursor=xyz")
            .to_srv_request();
        assert_eq!(
            loggable_request_line(&req),
            "GET /api/v1/workouts?limit=5&access_token=[redacted]&Password=[redacted]&cursor=xyz \
             HTTP/1.1"
        );
        let plain = TestRequest::post()
            .uri("/api/v1/auth/login")
            .to_srv_request();
        assert_eq!(
            loggable_request_line(&plain),
            "POST /api/v1/auth/login HTTP/1.1"
        );
    }
}
