//! The consent rules of the Creator Program: who may join, and what a consent change is.
//! The ledger itself (append-only grant/revoke events) lives in the store; this module
//! decides, the HTTP layer only translates.

pub mod changes;
pub mod export;
pub mod locks;
pub mod retention;
pub mod webhook;

use chrono::Datelike;

use crate::domain::Timestamp;

/// Why a creator cannot join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// Refused as under age; the refusal stands until `until`, when the user is certainly
    /// old enough whatever their birthday.
    #[error("the Creator Program is not open to users under {minimum_age}")]
    UnderAge { minimum_age: i32, until: Timestamp },
    #[error("a birth year or an age attestation is required to join")]
    AgeUnknown,
    #[error("birth year {0} is not plausible")]
    ImplausibleBirthYear(i32),
    #[error("consent was given to policy version {given}, but the current version is {current}")]
    PolicyOutdated { given: String, current: String },
    #[error("display name must be 1 to {MAX_DISPLAY_NAME} characters")]
    DisplayName,
}

pub const MAX_DISPLAY_NAME: usize = 100;

/// Counts a consent event for `/metrics`: `event` is joined, granted, revoked or erased,
/// `via` the channel (api, webhook, operator). Never who.
pub fn count_event(event: &'static str, via: &'static str) {
    metrics::counter!("viewmark_consent_events_total", "event" => event, "via" => via).increment(1);
}

/// What a would-be creator says when joining, with what their session token says.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    pub display_name: Option<String>,
    /// From the identity provider's token; wins over the one in the request.
    pub token_birth_year: Option<i32>,
    pub birth_year: Option<i32>,
    /// The caller attests being at least the minimum age (when no birth year is known).
    pub age_attested: bool,
    /// The policy version the client showed; the current one when absent.
    pub policy_version: Option<String>,
}

/// An accepted join: what is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub policy_version: String,
}

/// Decides whether a join is allowed. A birth year only gives the age to within a year, so
/// the rule is conservative: the caller must be at least the minimum age whatever their
/// birthday (born in year Y, certainly `now - Y - 1` years old).
pub fn admit(
    request: &JoinRequest,
    settings: &ConsentSettings,
    now: Timestamp,
) -> Result<Admission, AdmissionError> {
    let display_name = request.display_name.as_deref().map(parse_display_name).transpose()?;
    let birth_year = request.token_birth_year.or(request.birth_year);
    match birth_year {
        Some(y) => check_birth_year(y, settings, now)?,
        None if request.age_attested => {}
        None => return Err(AdmissionError::AgeUnknown),
    }
    let policy_version = policy_version(request.policy_version.as_deref(), settings)?;
    Ok(Admission { display_name, birth_year, policy_version })
}

/// A display name as kept: trimmed, 1 to `MAX_DISPLAY_NAME` characters, no control character.
pub fn parse_display_name(name: &str) -> Result<String, AdmissionError> {
    let trimmed = name.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_DISPLAY_NAME
        || trimmed.chars().any(char::is_control)
    {
        return Err(AdmissionError::DisplayName);
    }
    Ok(trimmed.to_owned())
}

/// A birth year must be plausible, and leave the creator at least the minimum age whatever
/// their birthday; an under-age refusal says until when it stands.
pub fn check_birth_year(year: i32, settings: &ConsentSettings, now: Timestamp) -> Result<(), AdmissionError> {
    let this_year = now.year();
    if !(1900..=this_year).contains(&year) {
        return Err(AdmissionError::ImplausibleBirthYear(year));
    }
    if this_year - year - 1 < settings.minimum_age {
        let until = chrono::NaiveDate::from_ymd_opt(year + settings.minimum_age + 1, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map_or(now, |midnight| midnight.and_utc());
        return Err(AdmissionError::UnderAge { minimum_age: settings.minimum_age, until });
    }
    Ok(())
}

/// The policy version a consent refers to: the current one; a stale one is refused so that
/// nobody is recorded as consenting to a text they were not shown.
pub fn policy_version(given: Option<&str>, settings: &ConsentSettings) -> Result<String, AdmissionError> {
    match given {
        Some(v) if v != settings.policy_version => Err(AdmissionError::PolicyOutdated {
            given: v.to_owned(),
            current: settings.policy_version.clone(),
        }),
        _ => Ok(settings.policy_version.clone()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn settings() -> ConsentSettings {
        ConsentSettings { policy_version: "2026-01".into(), minimum_age: 13, regrant_grace_days: 30 }
    }

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().unwrap()
    }

    #[test]
    fn age_is_checked_conservatively_and_the_token_wins() {
        let join = |token_birth_year, birth_year, age_attested| JoinRequest {
            token_birth_year,
            birth_year,
            age_attested,
            ..JoinRequest::default()
        };
        assert!(admit(&join(None, Some(2012), false), &settings(), now()).is_ok());
        // Born in 2013: 12 or 13 today, so not certainly 13.
        let until = |year| chrono::Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single().unwrap();
        assert_eq!(
            admit(&join(None, Some(2013), false), &settings(), now()),
            Err(AdmissionError::UnderAge { minimum_age: 13, until: until(2027) })
        );
        assert_eq!(
            admit(&join(Some(2015), Some(1990), true), &settings(), now()),
            Err(AdmissionError::UnderAge { minimum_age: 13, until: until(2029) })
        );
        assert_eq!(admit(&join(None, None, false), &settings(), now()), Err(AdmissionError::AgeUnknown));
        assert!(admit(&join(None, None, true), &settings(), now()).is_ok());
        assert_eq!(
            admit(&join(None, Some(1850), false), &settings(), now()),
            Err(AdmissionError::ImplausibleBirthYear(1850))
        );
    }

    #[test]
    fn consent_names_the_current_policy_only() {
        let mut join = JoinRequest { age_attested: true, ..JoinRequest::default() };
        assert_eq!(admit(&join, &settings(), now()).unwrap().policy_version, "2026-01");
        join.policy_version = Some("2025-06".into());
        assert!(matches!(admit(&join, &settings(), now()), Err(AdmissionError::PolicyOutdated { .. })));
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        let mut join = JoinRequest {
            age_attested: true,
            display_name: Some("  Ada  ".into()),
            ..JoinRequest::default()
        };
        assert_eq!(admit(&join, &settings(), now()).unwrap().display_name.as_deref(), Some("Ada"));
        join.display_name = Some("x".repeat(101));
        assert_eq!(admit(&join, &settings(), now()), Err(AdmissionError::DisplayName));
        join.display_name = Some("   ".into());
        assert_eq!(admit(&join, &settings(), now()), Err(AdmissionError::DisplayName));
    }
}

/// The Creator Program's consent terms.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConsentSettings {
    /// Version of the privacy policy text creators consent to when joining or re-granting.
    pub policy_version: String,
    /// The youngest age allowed into the Creator Program.
    pub minimum_age: i32,
    /// Days a creator who consented under an earlier policy version is still tracked, from
    /// the new version's adoption, before tracking pauses until they re-grant.
    #[serde(default = "default_regrant_grace_days")]
    pub regrant_grace_days: u32,
}

fn default_regrant_grace_days() -> u32 {
    30
}
