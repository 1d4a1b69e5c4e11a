//! A form's messages per field, and reading the values a runner types or edits into a URL.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use sync_core::running::{MAX_YEAR, MIN_YEAR};

use crate::error::PageError;

/// The first message for each field at fault, shown next to that field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct FieldMessages(BTreeMap<String, String>);

impl FieldMessages {
    /// The first message of each field of the contract's `errors` map, with the field renamed
    /// by `rename` (the contract's names are not always the form's).
    pub(crate) fn from_errors(
        errors: BTreeMap<String, Vec<String>>,
        rename: impl Fn(&str) -> &str,
    ) -> FieldMessages {
        let mut messages = FieldMessages::default();
        for (field, list) in errors {
            if let Some(first) = list.into_iter().next() {
                messages.add(rename(&field), first);
            }
        }
        messages
    }

    /// Adds `message` for `field` unless the field has one already.
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// The message for `field`.
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// `aria-invalid` of `field`'s input.
    pub(crate) fn invalid(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `?year=` as edited into a URL: absent or empty is the runner's current year; anything but
/// a year the numbers cover is a page saying so.
pub(crate) fn year_param(raw: Option<&str>) -> Result<Option<i32>, PageError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<i32>() {
        Ok(year) if (MIN_YEAR..=MAX_YEAR).contains(&year) => Ok(Some(year)),
        _ => Err(PageError::BadRequest(format!(
            "The year must be a number from {MIN_YEAR} to {MAX_YEAR}."
        ))),
    }
}

/// A time zone of the picker.
pub(crate) struct ZoneOption {
    pub name: &'static str,
    pub selected: bool,
}

/// Every IANA zone name the server knows, sorted.
static ZONES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    names.sort_unstable();
    names
});

/// The picker's options with `selected` chosen.
pub(crate) fn zone_options(selected: &str) -> Vec<ZoneOption> {
    ZONES
        .iter()
        .map(|&name| ZoneOption {
            name,
            selected: name == selected,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_in_a_url_is_read_or_refused_with_a_page() {
        assert_eq!(year_param(None).unwrap(), None);
        assert_eq!(year_param(Some("")).unwrap(), None);
        assert_eq!(year_param(Some(" 2025 ")).unwrap(), Some(2025));
        for bad in ["1999", "2101", "twenty", "2025.5", "99999999999"] {
            assert!(year_param(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_zone_picker_lists_the_zones_with_one_selected() {
        let options = zone_options("Europe/Berlin");
        assert!(options.len() > 300);
        let selected: Vec<&str> = options
            .iter()
            .filter(|o| o.selected)
            .map(|o| o.name)
            .collect();
        assert_eq!(selected, ["Europe/Berlin"]);
        assert!(options.iter().any(|o| o.name == "UTC"));
    }

    #[test]
    fn messages_keep_the_first_per_field_under_the_forms_names() {
        let errors = BTreeMap::from([(
            "distance_meters".to_owned(),
            vec!["must be at least 0".to_owned(), "second".to_owned()],
        )]);
        let messages = FieldMessages::from_errors(errors, |f| match f {
            "distance_meters" => "distance_km",
            other => other,
        });
        assert_eq!(messages.get("distance_km"), Some("must be at least 0"));
        assert!(messages.invalid("distance_km"));
        assert!(!messages.invalid("duration"));
    }
}
