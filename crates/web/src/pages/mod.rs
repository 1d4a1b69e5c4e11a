//! The pages: each module renders one part of the dashboard from `sync-store` reads and
//! `sync-core` numbers. What they share: the page chrome, rendering, form and query reading.

pub(crate) mod auth;
pub(crate) mod dashboard;
pub(crate) mod data;
pub(crate) mod fields;
pub(crate) mod insights;
pub(crate) mod settings;
pub(crate) mod syncs;
pub(crate) mod workouts;

use actix_web::http::header;
use actix_web::{web, HttpRequest};

use crate::assets;
use crate::context::WebContext;
use crate::csrf;
use crate::error::PageError;
use crate::session::Viewer;

pub(crate) use crate::respond::{ok, render, see_other};

/// Largest form body read (the forms are a few fields each).
const FORM_LIMIT: usize = 16 * 1024;

/// The parts of the dashboard, in the navigation's order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Dashboard,
    Insights,
    Workouts,
    Syncs,
    Settings,
    SignIn,
}

impl Section {
    const NAV: [Section; 5] = [
        Section::Dashboard,
        Section::Insights,
        Section::Workouts,
        Section::Syncs,
        Section::Settings,
    ];

    fn href(self) -> &'static str {
        match self {
            Section::Dashboard => "/",
            Section::Insights => "/insights",
            Section::Workouts => "/workouts",
            Section::Syncs => "/syncs",
            Section::Settings => "/settings",
            Section::SignIn => auth::SIGN_IN_PATH,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Dashboard => "Dashboard",
            Section::Insights => "Insights",
            Section::Workouts => "Workouts",
            Section::Syncs => "Syncs",
            Section::Settings => "Settings",
            Section::SignIn => "Sign in",
        }
    }
}

/// One link of the navigation.
pub(crate) struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What `base.html` needs of every page.
pub(crate) struct Chrome {
    pub title: String,
    pub section: Section,
    pub signed_in: bool,
    /// The signed-in runner's CSRF token (empty before sign-in), for the sign-out form and
    /// every form of the page.
    pub csrf: String,
    pub stylesheet: String,
    pub icon: String,
}

impl Chrome {
    /// The chrome of a signed-in page.
    pub(crate) fn signed_in(
        context: &WebContext,
        viewer: &Viewer,
        section: Section,
        title: impl Into<String>,
    ) -> Chrome {
        Chrome {
            title: title.into(),
            section,
            signed_in: true,
            csrf: csrf::token(context.settings(), viewer),
            stylesheet: assets::stylesheet_href(),
            icon: assets::icon_href(),
        }
    }

    /// The chrome of the sign-in and registration pages.
    pub(crate) fn anonymous(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            section: Section::SignIn,
            signed_in: false,
            csrf: String::new(),
            stylesheet: assets::stylesheet_href(),
            icon: assets::icon_href(),
        }
    }

    pub(crate) fn nav(&self) -> Vec<NavItem> {
        Section::NAV
            .iter()
            .map(|&s| NavItem {
                href: s.href(),
                label: s.label(),
                current: s == self.section,
            })
            .collect()
    }
}

/// The browser's `User-Agent`, as the session list shows it.
pub(crate) fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Forms are read up to [`FORM_LIMIT`]; one the server cannot read is a page, not a raw error.
pub(crate) fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|err, _| {
            PageError::BadRequest(format!("The form could not be read: {err}")).into()
        })
}

/// A query string the server cannot read is a page, not a raw error.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        PageError::BadRequest(format!("The address could not be read: {err}")).into()
    })
}

/// A path the server cannot read is a page, not a raw error.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| PageError::NotFound.into())
}
