//! An email as an account's identity (docs/security.md, "Emails"). Two spellings that a person
//! reads as the same address must be one account, and an address that only looks like
//! another must not be accepted. So, in the manner of PRECIS's UsernameCaseMapped profile
//! (RFC 8265): width and compatibility forms fold by NFKC, case by Unicode lowercasing, and
//! invisible or text-direction characters are refused, as are letters from two scripts within
//! one part of the address (a Cyrillic `а` among Latin letters).

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

use crate::validate::is_invisible;

/// Longest accepted email, in characters (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why an email cannot be an account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Not `local@domain` with both parts non-empty, or holds a space or control character.
    #[error("must be a valid email address")]
    Shape,
    /// Longer than [`MAX_EMAIL_CHARS`] once normalised.
    #[error("must be at most {MAX_EMAIL_CHARS} characters")]
    TooLong,
    /// Holds a character that shows nothing (a zero-width space, a soft hyphen) or that
    /// changes the direction text is shown in.
    #[error("must not contain invisible or text-direction characters")]
    Invisible,
    /// A part of it mixes letters of two scripts, as a lookalike address does.
    #[error("must not mix letters of different alphabets in one part")]
    MixedScripts,
}

/// The identity form of an email: trimmed, NFKC, lowercased; or why it cannot be one.
///
/// ```
/// use sync_core::email::{normalise_email, EmailError};
/// assert_eq!(normalise_email(" Runner@Example.COM ").unwrap(), "runner@example.com");
/// // Fullwidth letters fold to their usual width.
/// assert_eq!(normalise_email("ｒｕｎｎｅｒ@example.com").unwrap(), "runner@example.com");
/// assert_eq!(normalise_email("run\u{200b}ner@example.com"), Err(EmailError::Invisible));
/// // A Cyrillic "а" among Latin letters.
/// assert_eq!(normalise_email("runner@ex\u{430}mple.com"), Err(EmailError::MixedScripts));
/// ```
pub fn normalise_email(raw: &str) -> Result<String, EmailError> {
    let trimmed = raw.trim();
    if trimmed.chars().any(is_invisible) {
        return Err(EmailError::Invisible);
    }
    // NFKC again after lowercasing, which can leave a sequence that is not in normal form:
    // then normalising a normalised email changes nothing.
    let email: String = trimmed
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect();
    check_shape(&email)?;
    let (local, domain) = email.split_once('@').ok_or(EmailError::Shape)?;
    if !std::iter::once(local)
        .chain(domain.split('.'))
        .all(MixedScript::is_single_script)
    {
        return Err(EmailError::MixedScripts);
    }
    Ok(email)
}

/// The form accounts made before the rules above were stored under (trimmed and lowercased,
/// with the shape checked), so that login still finds them; `None` when no account can have
/// it.
pub fn legacy_email_form(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    check_shape(&email).ok().map(|()| email)
}

/// Every spelling an account with this email may be stored under, the identity form first
/// and the legacy one after it when it differs; empty when no account can have it. Login looks
/// all of them up at once.
///
/// ```
/// use sync_core::email::stored_spellings;
/// assert_eq!(stored_spellings(" Runner@Example.com"), ["runner@example.com"]);
/// assert_eq!(stored_spellings("Jose\u{301}@example.com"), ["jos\u{e9}@example.com", "jose\u{301}@example.com"]);
/// assert!(stored_spellings("no-at-sign").is_empty());
/// ```
pub fn stored_spellings(raw: &str) -> Vec<String> {
    let mut spellings: Vec<String> = normalise_email(raw).ok().into_iter().collect();
    spellings.extend(legacy_email_form(raw).filter(|legacy| !spellings.contains(legacy)));
    spellings
}

fn check_shape(email: &str) -> Result<(), EmailError> {
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(EmailError::TooLong);
    }
    let shaped = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    });
    if !shaped || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EmailError::Shape);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe's four lookalikes (issue 15, finding 6), each of which made an account of
    /// its own: now each is the plain address or refused.
    #[test]
    fn the_probes_lookalikes_are_one_account_or_refused() {
        let plain = "runner@example.com";
        assert_eq!(
            normalise_email("runner@ex\u{0430}mple.com"),
            Err(EmailError::MixedScripts),
            "a Cyrillic а"
        );
        assert_eq!(
            normalise_email("\u{FF52}unner@example.com").as_deref(),
            Ok(plain),
            "a fullwidth r"
        );
        assert_eq!(
            normalise_email("run\u{200B}ner@example.com"),
            Err(EmailError::Invisible),
            "a zero-width space"
        );
        assert_eq!(
            normalise_email("jose\u{0301}@example.com").as_deref(),
            Ok("jos\u{e9}@example.com"),
            "an NFD é is the NFC one"
        );
    }

    #[test]
    fn case_width_and_compatibility_forms_fold() {
        for (raw, identity) in [
            ("  Runner@Example.COM \t", "runner@example.com"),
            ("RUNNER\u{FF20}EXAMPLE.COM", "runner@example.com"),
            ("\u{2160}@example.com", "i@example.com"),
            ("Ölçü@Örnek.com.tr", "ölçü@örnek.com.tr"),
            ("ПРИМЕР@пример.рф", "пример@пример.рф"),
            ("ランナー@例え.jp", "ランナー@例え.jp"),
            (
                "first.last+tag@sub.example.org",
                "first.last+tag@sub.example.org",
            ),
        ] {
            let normalised = normalise_email(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(normalised, identity, "{raw:?}");
            assert_eq!(
                normalise_email(&normalised).as_deref(),
                Ok(identity),
                "{raw:?}: normalising again changes nothing"
            );
        }
    }

    #[test]
    fn invisible_and_direction_characters_are_refused() {
        for c in [
            '\u{00AD}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{FE0F}',
        ] {
            let email = format!("run{c}ner@example.com");
            assert_eq!(
                normalise_email(&email),
                Err(EmailError::Invisible),
                "U+{:04X}",
                c as u32
            );
            assert!(is_invisible(c));
        }
        for c in ['a', 'é', '.', '+', '-', '_', 'я', '例'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in [
            "",
            "runner",
            "@example.com",
            "runner@",
            "a@b@c",
            "run ner@example.com",
            "run\u{0}ner@example.com",
            "run\u{7}ner@example.com",
            // A no-break space becomes a space under NFKC.
            "run\u{A0}ner@example.com",
        ] {
            assert_eq!(normalise_email(raw), Err(EmailError::Shape), "{raw:?}");
            assert_eq!(legacy_email_form(raw), None, "{raw:?}");
        }
        let long = format!("{}@example.com", "x".repeat(MAX_EMAIL_CHARS));
        assert_eq!(normalise_email(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn the_legacy_form_is_the_old_rule() {
        assert_eq!(
            legacy_email_form(" Jose\u{301}@Example.com ").as_deref(),
            Some("jose\u{301}@example.com"),
            "lowercased and trimmed, not normalised"
        );
        assert_eq!(
            legacy_email_form("run\u{200B}ner@example.com").as_deref(),
            Some("run\u{200B}ner@example.com")
        );
    }
}
