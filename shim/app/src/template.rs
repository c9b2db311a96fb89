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

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; the error says what is wrong in words a user can act on.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in {text:?}"))?;
            let name = after[..end].trim();
            if !is_lower_snake_id(name) {
                return Err(format!(
                    "{{{{ {name} }}}} in {text:?} is not a variable reference: \
                     names are lower_snake_case, like {{{{ api_key }}}}"
                ));
            }
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("`}}}}` without an opening `{{{{` in {text:?}"));
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

    /// Fills in the template; `Err(name)` for the first variable without a value.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(values.get(name).ok_or_else(|| name.clone())?),
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
        assert!(Template::parse("{{ open").unwrap_err().contains("closing"));
        assert!(Template::parse("close }}").unwrap_err().contains("opening"));
        assert!(
            Template::parse("{{ Bad-Name }}")
                .unwrap_err()
                .contains("lower_snake_case")
        );
    }

    #[test]
    fn missing_value_names_the_variable() {
        let t = Template::parse("{{ x }}").unwrap();
        assert_eq!(t.render(&BTreeMap::new()).unwrap_err(), "x");
    }
}
