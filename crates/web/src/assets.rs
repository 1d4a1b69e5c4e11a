//! The stylesheet and the icon, embedded in the binary and served with long-lived cache headers:
//! a page links them with a digest of their content in the query, so a new build's assets are
//! fetched at once and an old one's are never asked for again.

use std::sync::LazyLock;

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{get, HttpMessage, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("../assets/app.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// An embedded file and the digest that versions it.
struct Asset {
    body: &'static str,
    digest: String,
}

impl Asset {
    fn new(body: &'static str) -> Asset {
        let digest = hex::encode(&Sha256::digest(body.as_bytes())[..8]);
        Asset { body, digest }
    }
}

static STYLESHEET_ASSET: LazyLock<Asset> = LazyLock::new(|| Asset::new(STYLESHEET));
static ICON_ASSET: LazyLock<Asset> = LazyLock::new(|| Asset::new(ICON));

/// The stylesheet's versioned address, for the pages' `<link>`.
pub(crate) fn stylesheet_href() -> String {
    format!("/assets/app.css?v={}", STYLESHEET_ASSET.digest)
}

/// The icon's versioned address.
pub(crate) fn icon_href() -> String {
    format!("/assets/icon.svg?v={}", ICON_ASSET.digest)
}

fn serve(req: &HttpRequest, asset: &Asset, content_type: &'static str) -> HttpResponse {
    let etag = EntityTag::new_strong(asset.digest.clone());
    let cached = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        None => false,
    };
    let mut response = if cached {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(header::ETag(etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    if cached {
        response.finish()
    } else {
        response
            .insert_header((header::CONTENT_TYPE, content_type))
            .body(asset.body)
    }
}

/// `GET /assets/app.css`.
#[get("/assets/app.css")]
pub(crate) async fn stylesheet(req: HttpRequest) -> HttpResponse {
    serve(&req, &STYLESHEET_ASSET, "text/css; charset=utf-8")
}

/// `GET /assets/icon.svg`.
#[get("/assets/icon.svg")]
pub(crate) async fn icon(req: HttpRequest) -> HttpResponse {
    serve(&req, &ICON_ASSET, "image/svg+xml")
}
