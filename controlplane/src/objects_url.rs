//! The object store a URL names: the local folder by default, S3 (or an
//! S3-compatible server) for `s3://<bucket>?endpoint=...&region=...`.

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use std::path::Path;
use std::sync::Arc;

/// Why the object store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// The URL is not one the platform understands.
    #[error("invalid --object-store {url:?}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store refused to open.
    #[error("cannot open the object store: {0}")]
    Open(#[from] object_store::Error),
    /// The local folder could not be created.
    #[error("cannot create the object folder {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

fn folder(folder: &Path) -> Result<Arc<dyn ObjectStore>, ObjectStoreError> {
    std::fs::create_dir_all(folder).map_err(|source| ObjectStoreError::Folder {
        path: folder.display().to_string(),
        source,
    })?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(folder)?))
}

/// Opens the store `url` names (`s3://...`, or `file:///<folder>` for a
/// folder shared by several nodes), or the `objects` folder of `data_dir`.
pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn ObjectStore>, ObjectStoreError> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return folder(&data_dir.join("objects"));
    };
    let invalid = |reason: &str| ObjectStoreError::Invalid {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(invalid("a folder must be absolute: file:///<path>"));
        }
        return folder(Path::new(path));
    }
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| invalid("use s3://<bucket>?endpoint=...&region=... or file:///<folder>"))?;
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    if bucket.is_empty() || bucket.contains('/') {
        return Err(invalid("name one bucket: s3://<bucket>"));
    }
    // Credentials (and anything not in the URL) come from the AWS_*
    // environment variables.
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        builder = match key {
            "endpoint" => builder
                .with_endpoint(value)
                .with_allow_http(value.starts_with("http://")),
            "region" => builder.with_region(value),
            "virtual_hosted_style" => builder.with_virtual_hosted_style_request(value == "true"),
            other => {
                return Err(invalid(&format!(
                    "unknown parameter {other:?} (endpoint, region, virtual_hosted_style)"
                )));
            }
        };
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(open(None, dir.path()).is_ok());
        assert!(
            open(
                Some("s3://b?endpoint=http://127.0.0.1:9000&region=us-east-1"),
                dir.path()
            )
            .is_ok()
        );
        for bad in ["gs://b", "s3://", "s3://a/b", "s3://b?colour=red"] {
            assert!(
                matches!(open(Some(bad), dir.path()), Err(ObjectStoreError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
