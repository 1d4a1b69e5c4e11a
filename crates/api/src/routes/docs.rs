//! `GET /api/v1/openapi.json` (the document) and `GET /api/v1/docs` (a page that renders it).

use actix_web::{get, web, HttpResponse};

use crate::openapi::ApiDocument;

/// `GET /api/v1/openapi.json`.
#[utoipa::path(operation_id = "get_openapi_document", tag = "operations",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn document(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.json.clone())
}

/// `GET /api/v1/docs`: a page listing every operation of the document, rendered once at
/// start-up from the document itself, with no script and nothing loaded from another host (a
/// self-hosted server may have no internet). The machine-readable document is linked.
#[utoipa::path(operation_id = "get_docs_page", tag = "operations",
    responses((status = 200, description = "A browsable page of this document", content_type = "text/html")))]
#[get("/docs")]
pub async fn viewer(doc: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(doc.page.clone())
}

/// The page of [`viewer`] for a document.
pub fn render_page(doc: &utoipa::openapi::OpenApi) -> String {
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let text = operation
                .summary
                .as_deref()
                .or(operation.description.as_deref())
                .unwrap_or("");
            rows.push_str(&format!(
                "<tr><td><code>{method}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                escape(path),
                escape(text)
            ));
        }
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 60rem; padding: 0 1rem; }}
    table {{ border-collapse: collapse; width: 100%; }}
    td {{ border-top: 1px solid #ccc; padding: .4rem; vertical-align: top; }}
    @media (prefers-color-scheme: dark) {{ body {{ background: #111; color: #eee; }} a {{ color: #9cf; }} }}
  </style>
</head>
<body>
  <h1>{title}</h1>
  <p>The whole document, with every schema, is at
    <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
  <table>
{rows}  </table>
</body>
</html>
"#,
        title = escape(&doc.info.title),
    )
}

/// Text for HTML: the five characters that could open markup or end an attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_the_document_is_shown_as_text() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
