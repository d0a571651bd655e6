//! Where objects are read from and written to: a local folder (S3 comes with
//! the `s3://` scheme).

use std::path::PathBuf;

/// A source or destination given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local folder.
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without leading or trailing slash (may be empty).
        prefix: String,
    },
}

impl Location {
    /// Parse `s3://bucket[/prefix]` or a local path.
    ///
    /// ```
    /// use trail_etl::location::Location;
    /// assert_eq!(
    ///     Location::parse("s3://my-trail/logs/").unwrap(),
    ///     Location::S3 { bucket: "my-trail".into(), prefix: "logs".into() }
    /// );
    /// assert!(matches!(Location::parse("./out").unwrap(), Location::Local(_)));
    /// assert!(Location::parse("s3://").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Location, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{text}: no bucket name after s3://"));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if text.contains("://") {
            return Err(format!(
                "{text}: only local folders and s3:// locations are supported"
            ));
        }
        if text.is_empty() {
            return Err("an empty path is not a location".into());
        }
        Ok(Location::Local(PathBuf::from(text)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}
