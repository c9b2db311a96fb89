//! Spin's variable templates: literal text with `{{ name }}` references to application
//! variables, as used in component `variables` and `allowed_outbound_hosts`.

use std::collections::BTreeMap;

use crate::ids::is_lower_snake_id;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Variable(String),
}

/// What is wrong with a template, or what it lacks to be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` without a closing `}}}}` in {text:?}")]
    Unclosed { text: String },
    #[error("`}}}}` without an opening `{{{{` in {text:?}")]
    Unopened { text: String },
    #[error(
        "{{{{ {name} }}}} in {text:?} is not a variable reference: \
         names are lower_snake_case, like {{{{ api_key }}}}"
    )]
    NotAReference { name: String, text: String },
    /// Filling in: the application variable has no value (it is not declared).
    #[error("refers to the undeclared application variable `{name}`")]
    Undeclared { name: String },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; the error says what is wrong in words a user can act on.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed { text: text.into() })?;
            let name = after[..end].trim();
            if !is_lower_snake_id(name) {
                return Err(TemplateError::NotAReference {
                    name: name.into(),
                    text: text.into(),
                });
            }
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(TemplateError::Unopened { text: text.into() });
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The variable names the template refers to.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills in the template; `Err` names the first variable without a value.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(
                    values
                        .get(name)
                        .ok_or_else(|| TemplateError::Undeclared { name: name.clone() })?,
                ),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_references_and_literals() {
        let t = Template::parse("https://{{ api_host }}/users/{{id}}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["api_host", "id"]);
        let values = BTreeMap::from([
            ("api_host".to_string(), "example.com".to_string()),
            ("id".to_string(), "7".to_string()),
        ]);
        assert_eq!(t.render(&values).unwrap(), "https://example.com/users/7");
    }

    #[test]
    fn literal_only() {
        let t = Template::parse("plain").unwrap();
        assert_eq!(t.variables().count(), 0);
        assert_eq!(t.render(&BTreeMap::new()).unwrap(), "plain");
    }

    #[test]
    fn malformed_templates_are_explained() {
        let problem = |text| Template::parse(text).unwrap_err().to_string();
        assert_eq!(
            problem("{{ open"),
            r#"`{{` without a closing `}}` in "{{ open""#
        );
        assert_eq!(
            problem("close }}"),
            r#"`}}` without an opening `{{` in "close }}""#
        );
        assert_eq!(
            problem("{{ Bad-Name }}"),
            r#"{{ Bad-Name }} in "{{ Bad-Name }}" is not a variable reference: names are lower_snake_case, like {{ api_key }}"#
        );
    }

    #[test]
    fn missing_value_names_the_variable() {
        let t = Template::parse("{{ x }}").unwrap();
        assert_eq!(
            t.render(&BTreeMap::new()).unwrap_err(),
            TemplateError::Undeclared { name: "x".into() }
        );
    }
}
