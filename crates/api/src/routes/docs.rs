//! `GET /api/v1/openapi.json` (the document) and `GET /api/v1/docs` (a page that renders it).

use actix_web::{get, web, HttpResponse};

use crate::openapi::ApiDocument;

/// `GET /api/v1/openapi.json`.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn document(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.json.clone())
}

/// `GET /api/v1/docs`: a page that renders the document. Its viewer script is loaded by the
/// reader's browser; nothing is downloaded at build time.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "A browsable page of this document", content_type = "text/html")))]
#[get("/docs")]
pub async fn viewer() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(VIEWER_PAGE)
}

const VIEWER_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Running Days sync API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <noscript>The interactive page needs JavaScript; the document itself is at
    <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
  <script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#docs" });
  </script>
</body>
</html>
"##;
