//! Form and query parameters as RFC 6749 reads them.
//!
//! §3.1 and §3.2: parameters must not repeat, and a parameter sent without a
//! value is treated as omitted. Deserializing into a struct would silently
//! keep one of two duplicates, so endpoints read through [`Params`] instead.

use crate::error::OAuthError;

/// Longest single parameter value accepted; longer is hostile input.
pub const MAX_PARAM_LEN: usize = 4096;

/// The decoded `name=value` pairs of one request.
#[derive(Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets (client_secret, code, refresh_token).
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// Wraps decoded pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Builds params from literal pairs (tests, embedders).
    pub fn from_slice(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The single value of `name`, `None` if absent or empty.
    ///
    /// # Errors
    /// `invalid_request` if it appears more than once or is too long.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.0 {
            if k == name {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter '{name}' must not be repeated"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        match found {
            Some(v) if v.len() > MAX_PARAM_LEN => Err(OAuthError::invalid_request(format!(
                "parameter '{name}' is too long"
            ))),
            Some("") | None => Ok(None),
            Some(v) => Ok(Some(v)),
        }
    }

    /// The single value of `name`.
    ///
    /// # Errors
    /// `invalid_request` if missing, repeated or too long.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter '{name}' is required")))
    }

    /// Whether `name` appears more than once (used where repetition is
    /// fatal rather than an error to redirect).
    pub fn is_repeated(&self, name: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == name).count() > 1
    }

    /// Every pair, for re-rendering a request into a form.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Any decoded form: reading never panics, and a value read is the
        /// one pair of that name, non-empty and within bounds.
        #[test]
        fn any_form_reads_without_panicking(
            pairs in proptest::collection::vec(("[a-z_]{0,6}", any::<String>()), 0..8),
            name in "[a-z_]{0,6}",
        ) {
            let params = Params::from_pairs(pairs.clone());
            let named: Vec<&String> = pairs.iter().filter(|(k, _)| *k == name).map(|(_, v)| v).collect();
            prop_assert_eq!(params.is_repeated(&name), named.len() > 1);
            match params.get(&name) {
                Ok(Some(v)) => {
                    prop_assert_eq!(named.len(), 1);
                    prop_assert_eq!(v, named[0].as_str());
                    prop_assert!(!v.is_empty() && v.len() <= MAX_PARAM_LEN);
                }
                Ok(None) => prop_assert!(named.is_empty() || named[0].is_empty()),
                Err(_) => prop_assert!(named.len() > 1 || named[0].len() > MAX_PARAM_LEN),
            }
            prop_assert_eq!(params.require(&name).is_ok(), matches!(params.get(&name), Ok(Some(_))));
        }
    }

    #[test]
    fn repeated_parameters_are_invalid_requests() {
        let p = Params::from_slice(&[("a", "1"), ("a", "2")]);
        assert_eq!(
            p.get("a").unwrap_err().code,
            crate::error::ErrorCode::InvalidRequest
        );
        assert!(p.is_repeated("a"));
    }

    #[test]
    fn empty_values_count_as_absent() {
        let p = Params::from_slice(&[("a", "")]);
        assert_eq!(p.get("a").unwrap(), None);
        assert!(p.require("a").is_err());
    }

    #[test]
    fn oversized_values_are_refused_and_debug_hides_values() {
        let big = "x".repeat(MAX_PARAM_LEN + 1);
        let p = Params::from_slice(&[("a", &big), ("client_secret", "s3cret")]);
        assert!(p.get("a").is_err());
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
