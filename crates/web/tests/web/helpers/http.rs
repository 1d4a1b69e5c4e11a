//! A browser's view over plain HTTP: a cookie jar, the forms' CSRF tokens read from the pages,
//! no redirects followed (so a test sees each 303).

use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use test_support::{TestApp, TestUser};

/// One browser's cookie jar against a [`TestApp`].
pub struct WebClient {
    pub client: reqwest::Client,
    pub base: String,
}

impl WebClient {
    pub fn new(app: &TestApp) -> WebClient {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("a client");
        WebClient {
            client,
            base: app.address.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET page")
    }

    /// The page's HTML, expecting `status`.
    pub async fn page(&self, path: &str, status: StatusCode) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), status, "GET {path}");
        response.text().await.expect("page body")
    }

    /// Posts `fields` as a form from this site (`Origin` set as a browser sets it).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .header("origin", &self.base)
            .form(fields)
            .send()
            .await
            .expect("POST form")
    }

    /// Signs in through the form; the jar then holds the session cookie.
    pub async fn sign_in(&self, user: &TestUser) {
        let page = self.page("/login", StatusCode::OK).await;
        let token = csrf_of(&page);
        let response = self
            .post(
                "/login",
                &[
                    ("csrf", &token),
                    ("email", &user.email),
                    ("password", &user.password),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign in");
        assert_eq!(location(&response), "/");
    }

    /// The CSRF token of a signed-in page's forms.
    pub async fn csrf(&self) -> String {
        csrf_of(&self.page("/settings", StatusCode::OK).await)
    }
}

/// The first form's CSRF token in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form with a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("the value ends") + start;
    html[start..end].to_owned()
}

/// A response's `Location`.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `value` of the `<data>` (or `<input>`) element with this id.
pub fn value_of(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no element #{id}"));
    let tag_start = html[..at].rfind('<').expect("a tag");
    let tag_end = html[at..].find('>').expect("the tag ends") + at;
    let tag = &html[tag_start..tag_end];
    let value = tag
        .find(r#"value=""#)
        .unwrap_or_else(|| panic!("#{id} has no value"))
        + 7;
    let end = tag[value..].find('"').expect("value ends") + value;
    tag[value..end].to_owned()
}
