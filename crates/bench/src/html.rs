//! Just enough HTML reading to submit a sign-in or consent form: the forms
//! of a page, their inputs and submit buttons. Server-rendered sign-in pages
//! are simple and escape their attribute values, so a tag scanner does; a
//! full HTML parser would only slow the (unmeasured) sign-in step down.

/// A `<form>` with what a browser would submit from it.
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// The `action` attribute, as written.
    pub action: String,
    /// `post` or `get`, lower case.
    pub method: String,
    /// `<input>` elements: type, name, value.
    pub inputs: Vec<Input>,
    /// Named submit buttons: name, value.
    pub buttons: Vec<(String, String)>,
}

/// One `<input>`.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// `type`, lower case, `text` when absent.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `value`, unescaped.
    pub value: String,
}

impl Form {
    /// Whether the form asks for a password.
    pub fn has_password(&self) -> bool {
        self.inputs.iter().any(|i| i.kind == "password")
    }

    /// The name of the visible field that takes the account name: the first
    /// text-like input that is not the password.
    pub fn user_field(&self) -> Option<&str> {
        self.inputs
            .iter()
            .find(|i| matches!(i.kind.as_str(), "text" | "email"))
            .map(|i| i.name.as_str())
    }

    /// The hidden fields, to post back unchanged.
    pub fn hidden(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|i| i.kind == "hidden" && !i.name.is_empty())
            .map(|i| (i.name.clone(), i.value.clone()))
            .collect()
    }
}

/// Every form of a page.
pub fn forms(page: &str) -> Vec<Form> {
    let lower = page.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| i + at) {
        let Some(tag_end) = lower[start..].find('>').map(|i| i + start) else {
            break;
        };
        let body_end = lower[tag_end..]
            .find("</form")
            .map_or(page.len(), |i| i + tag_end);
        let attrs = attributes(&page[start + 5..tag_end]);
        let mut form = Form {
            action: attr(&attrs, "action").unwrap_or_default(),
            method: attr(&attrs, "method")
                .unwrap_or_else(|| "get".into())
                .to_ascii_lowercase(),
            ..Form::default()
        };
        let body = &page[tag_end + 1..body_end];
        let body_lower = &lower[tag_end + 1..body_end];
        for (tag, is_button) in [("<input", false), ("<button", true)] {
            let mut i = 0;
            while let Some(s) = body_lower[i..].find(tag).map(|k| k + i) {
                let Some(e) = body_lower[s..].find('>').map(|k| k + s) else {
                    break;
                };
                let a = attributes(&body[s + tag.len()..e]);
                let kind = attr(&a, "type")
                    .unwrap_or_else(|| if is_button { "submit" } else { "text" }.into())
                    .to_ascii_lowercase();
                let name = attr(&a, "name").unwrap_or_default();
                let value = attr(&a, "value").unwrap_or_default();
                if kind == "submit" {
                    if !name.is_empty() {
                        form.buttons.push((name, value));
                    }
                } else {
                    form.inputs.push(Input { kind, name, value });
                }
                i = e;
            }
        }
        out.push(form);
        at = body_end;
    }
    out
}

fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// Parses `name="value" name='value' name=value name` sequences.
fn attributes(raw: &str) -> Vec<(String, String)> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if ks == i {
            i += 1;
            continue;
        }
        let key = raw[ks..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = unescape(&raw[vs..i.min(b.len())]);
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = unescape(&raw[vs..i]);
            }
        }
        out.push((key, value));
    }
    out
}

/// Decodes the character references template engines emit.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse::<u32>().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_sign_in_form_and_a_consent_form() {
        let page = r#"<form method="post" action="/api/v1/oauth/login">
  <input type="hidden" name="csrf_token" value="a&amp;b&#34;c">
  <input type="hidden" name="scope" value="files:read">
  <input id="email" name="email" type="email" required autofocus value="">
  <input id="password" name="password" type="password" required>
  <button class="primary full" type="submit">Sign in</button>
</form>
<FORM method=POST action='/api/v1/oauth/authorize'>
  <button type="submit" name="decision" value="deny">Deny</button>
  <button type="submit" name="decision" value="allow">Allow</button>
</FORM>"#;
        let f = forms(page);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].action, "/api/v1/oauth/login");
        assert!(f[0].has_password());
        assert_eq!(f[0].user_field(), Some("email"));
        assert_eq!(
            f[0].hidden(),
            vec![
                ("csrf_token".to_owned(), "a&b\"c".to_owned()),
                ("scope".to_owned(), "files:read".to_owned())
            ]
        );
        assert_eq!(f[1].method, "post");
        assert_eq!(f[1].buttons.len(), 2);
        assert!(!f[1].has_password());
    }
}
