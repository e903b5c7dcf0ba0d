//! What a GitHub login may be: the one rule for pushed commits' authors
//! (`sizegate-github`'s push parser) and merged pull requests' authors
//! (`sizegate-store`), so the two never disagree about a bot.

/// The suffix GitHub gives the logins of GitHub App bot accounts
/// (`dependabot[bot]`, `github-actions[bot]`).
pub const BOT_SUFFIX: &str = "[bot]";

/// The longest login GitHub allows, without [`BOT_SUFFIX`].
pub const MAX_LOGIN_CHARS: usize = 39;

/// Whether `text` is a GitHub login: 1 to 39 ASCII letters, digits or
/// single hyphens, neither starting nor ending with a hyphen, optionally
/// followed by the literal suffix `[bot]` of an App's bot account.
pub fn is_github_login(text: &str) -> bool {
    let name = text.strip_suffix(BOT_SUFFIX).unwrap_or(text);
    (1..=MAX_LOGIN_CHARS).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::is_github_login;

    #[test]
    fn people_and_app_bots_are_logins() {
        for login in [
            "octocat",
            "Codertocat",
            "a",
            "a-b-c",
            "x1",
            &"a".repeat(39),
            "dependabot[bot]",
            "github-actions[bot]",
            &format!("{}[bot]", "b".repeat(39)),
        ] {
            assert!(is_github_login(login), "{login:?} refused");
        }
    }

    #[test]
    fn anything_else_is_not_a_login() {
        for text in [
            "",
            "a--b",
            "-a",
            "a-",
            &"a".repeat(40),
            "x[bot]y",
            "[bot]",
            "-a[bot]",
            "a[bot][bot]",
            "a_b",
            "a b",
            "not a login <x@example.com>",
            "é",
            "a[BOT]",
        ] {
            assert!(!is_github_login(text), "{text:?} accepted");
        }
    }
}
