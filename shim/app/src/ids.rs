//! Identifier rules of Spin manifests: component ids are kebab-case, variable names
//! lower snake case.

/// `hello`, `my-app-2`: lowercase letters and digits in words joined by single `-`,
/// starting with a letter.
pub fn is_kebab_id(s: &str) -> bool {
    words_ok(s, '-')
}

/// `api_key`, `db_url2`: lowercase letters and digits in words joined by single `_`,
/// starting with a letter.
pub fn is_lower_snake_id(s: &str) -> bool {
    words_ok(s, '_')
}

fn words_ok(s: &str, sep: char) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.split(sep).all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_ids() {
        for ok in ["hello", "my-app", "a1-b2", "x"] {
            assert!(is_kebab_id(ok), "{ok}");
        }
        for bad in ["", "Hello", "my_app", "-a", "a-", "a--b", "1abc", "a.b"] {
            assert!(!is_kebab_id(bad), "{bad}");
        }
    }

    #[test]
    fn snake_ids() {
        for ok in ["api_key", "x", "db2"] {
            assert!(is_lower_snake_id(ok), "{ok}");
        }
        for bad in ["", "API_KEY", "api-key", "_a", "a_", "a__b", "9a"] {
            assert!(!is_lower_snake_id(bad), "{bad}");
        }
    }
}
