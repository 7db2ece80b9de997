//! Where bundles go, through the object_store crate: an S3-compatible bucket (rustls
//! TLS, path-style requests so Garage and MinIO work) or a local directory laid out
//! exactly as the bucket would be. Also parses `s3://bucket/prefix` and directory
//! arguments for `bundle verify`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use crate::config::{SyncConfig, SyncTargetKind};

/// An opened target.
#[derive(Clone)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local target.
    local_root: Option<PathBuf>,
    s3: Option<Arc<AmazonS3>>,
    prefix: String,
    /// `s3://bucket/prefix` or the directory, for people.
    pub describe: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

/// Connection settings of an S3 target (the secret is never printed).
#[derive(Clone, Default)]
pub struct S3Settings {
    /// Endpoint URL; `None` = AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Access key id (`None`: from the environment).
    pub access_key_id: Option<String>,
    /// Secret (`None`: from the environment).
    pub secret_access_key: Option<String>,
}

fn client_options() -> ClientOptions {
    // Short connect timeout so a dead uplink is noticed quickly; uploads of a part may
    // take long on a slow link.
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300))
}

fn retry() -> RetryConfig {
    // Our own loop retries with uplink probing; object_store only smooths over blips.
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    }
}

impl Target {
    /// Opens the target the `[sync]` section names.
    pub fn from_config(config: &SyncConfig, data_dir: &std::path::Path) -> anyhow::Result<Target> {
        match config.target {
            SyncTargetKind::Local => {
                let dir = config
                    .local_dir
                    .clone()
                    .unwrap_or_else(|| crate::files::layout::sync_target(data_dir));
                Target::local(dir, &config.prefix)
            }
            SyncTargetKind::S3 => Target::s3(
                S3Settings {
                    endpoint: config.endpoint.clone(),
                    region: config.region.clone(),
                    bucket: config.bucket.clone(),
                    access_key_id: config.access_key_id.clone(),
                    secret_access_key: config.secret_access_key.clone(),
                },
                &config.prefix,
            ),
        }
    }

    /// A directory (created if missing).
    pub fn local(dir: PathBuf, prefix: &str) -> anyhow::Result<Target> {
        crate::files::create_dir(&dir, 0o755)?;
        let fs = LocalFileSystem::new_with_prefix(&dir)?;
        Ok(Target {
            store: Arc::new(fs),
            local_root: Some(dir.clone()),
            s3: None,
            prefix: prefix.trim_matches('/').to_string(),
            describe: dir.join(prefix).display().to_string(),
        })
    }

    /// An S3-compatible bucket. Credentials not given come from `AWS_*` variables.
    pub fn s3(settings: S3Settings, prefix: &str) -> anyhow::Result<Target> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_client_options(client_options())
            .with_retry(retry());
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let s3 = Arc::new(builder.build()?);
        let prefix = prefix.trim_matches('/').to_string();
        Ok(Target {
            store: s3.clone(),
            local_root: None,
            s3: Some(s3),
            describe: format!("s3://{}/{}", settings.bucket, prefix),
            prefix,
        })
    }

    /// Opens `s3://bucket/prefix` (endpoint, region and credentials from `AWS_*`
    /// variables: `AWS_ENDPOINT_URL`, `AWS_REGION`, …) or a directory.
    pub fn parse(location: &str, endpoint: Option<String>) -> anyhow::Result<Target> {
        match location.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                anyhow::ensure!(!bucket.is_empty(), "{location}: no bucket");
                let endpoint = endpoint
                    .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
                    .or_else(|| std::env::var("AWS_ENDPOINT").ok());
                let region = std::env::var("AWS_REGION")
                    .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|_| "us-east-1".into());
                Target::s3(
                    S3Settings {
                        endpoint,
                        region,
                        bucket: bucket.into(),
                        ..S3Settings::default()
                    },
                    prefix,
                )
            }
            None => {
                let dir = PathBuf::from(location);
                anyhow::ensure!(dir.is_dir(), "{location} is not a directory");
                Target::local(dir, "")
            }
        }
    }

    /// Where an object of a local target lives on disk (`None` for S3).
    pub fn local_file(&self, key: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        Some(root.join(self.path(key).as_ref()))
    }

    /// The store.
    pub fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }

    /// Multipart uploads that survive a restart (S3 only).
    pub fn multipart(&self) -> Option<&dyn MultipartStore> {
        self.s3.as_deref().map(|s| s as &dyn MultipartStore)
    }

    /// The full object path of a key below the prefix.
    pub fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// A key below the prefix from a full path (`None` if outside the prefix).
    pub fn key_of(&self, path: &ObjectPath) -> Option<String> {
        let full = path.as_ref();
        if self.prefix.is_empty() {
            return Some(full.to_string());
        }
        full.strip_prefix(&self.prefix)?
            .strip_prefix('/')
            .map(str::to_string)
    }

    /// The prefix as an object path (for listing).
    pub fn prefix_path(&self) -> Option<ObjectPath> {
        (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    fn load(env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, env, &Overrides::default())
            .map_err(|e| e.issues.into_iter().map(|i| i.key).collect())
    }

    #[test]
    fn sync_section_is_validated_by_key() {
        let keys = load(&[
            ("VENUEBOX_SYNC__TARGET", "s3"),
            ("VENUEBOX_SYNC__ENDPOINT", "127.0.0.1:3900"),
            ("VENUEBOX_SYNC__PART_SIZE_BYTES", "1024"),
            ("VENUEBOX_SYNC__PREFIX", "../up"),
        ])
        .unwrap_err();
        for key in [
            "sync.bucket",
            "sync.endpoint",
            "sync.part_size_bytes",
            "sync.prefix",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
        }
        let ok = load(&[
            ("VENUEBOX_SYNC__TARGET", "s3"),
            ("VENUEBOX_SYNC__BUCKET", "night-market"),
            ("VENUEBOX_SYNC__SECRET_ACCESS_KEY", "very-secret"),
        ])
        .unwrap();
        assert!(!format!("{:?}", ok.sync).contains("very-secret"));
        // The development default syncs to a directory in the data dir.
        assert_eq!(
            load(&[]).unwrap().sync.target,
            crate::config::SyncTargetKind::Local
        );
    }
}
