use std::path::PathBuf;

/// Why a Spin app could not be read. Each variant names the file and, where there is
/// one, the field the user must fix.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid Spin manifest: {source}", path.display())]
    ManifestSyntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{} is not a valid Spin locked app: {source}", path.display())]
    LockedSyntax {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The file parsed but a field holds a value this runtime cannot accept.
    #[error("{}: `{field}`: {problem}", path.display())]
    Invalid {
        path: PathBuf,
        field: String,
        problem: String,
    },
}

impl AppError {
    pub fn invalid(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            path: path.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}
