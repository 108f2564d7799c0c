//! The social platforms: what a valid account handle looks like on each, and which post a
//! pasted URL names. (The adapters that speak each platform's API come next to these.)

pub mod urls;

use crate::store::Platform;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {platform} handle: {rule}")]
pub struct HandleError {
    pub platform: &'static str,
    pub rule: &'static str,
}

/// A handle as the platform defines it, normalised: without the leading `@`, lowercased
/// (all four platforms treat handles case-insensitively).
pub fn normalise_handle(platform: Platform, text: &str) -> Result<String, HandleError> {
    let handle = text.trim().strip_prefix('@').unwrap_or(text.trim()).to_ascii_lowercase();
    let (min, max, extra, rule): (usize, usize, &str, &'static str) = match platform {
        Platform::Youtube => (3, 30, "._-", "3-30 letters, digits, '.', '_' or '-'"),
        Platform::Tiktok => (2, 24, "._", "2-24 letters, digits, '.' or '_'"),
        Platform::Instagram => (1, 30, "._", "1-30 letters, digits, '.' or '_'"),
        Platform::X => (1, 15, "_", "1-15 letters, digits or '_'"),
    };
    let valid_chars = handle.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if !valid_chars || !(min..=max).contains(&handle.len()) {
        return Err(HandleError { platform: platform.as_str(), rule });
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_normalised_and_checked_per_platform() {
        assert_eq!(normalise_handle(Platform::X, " @Jack_01 ").unwrap(), "jack_01");
        assert_eq!(normalise_handle(Platform::Tiktok, "@some.creator").unwrap(), "some.creator");
        assert_eq!(normalise_handle(Platform::Youtube, "@My-Channel").unwrap(), "my-channel");
        assert!(normalise_handle(Platform::X, "much_too_long_handle").is_err());
        assert!(normalise_handle(Platform::X, "dots.not.allowed").is_err());
        assert!(normalise_handle(Platform::Instagram, "").is_err());
        assert!(normalise_handle(Platform::Instagram, "a/b").is_err());
        assert!(normalise_handle(Platform::Tiktok, "https://tiktok.com/@x").is_err());
        assert!(normalise_handle(Platform::Youtube, "ab").is_err());
    }
}
