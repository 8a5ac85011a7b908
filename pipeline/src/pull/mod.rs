//! pull: partner sources on any `object_store` URL.
//!
//! A partner's `source` is a local path, `file://`, `s3://` (AWS or any
//! S3-compatible endpoint), `gs://`, `az://`/`abfss://` or `https://` (a
//! web server: a feed's glob names its file, unless the server speaks
//! WebDAV and so lists folders).
//! Non-secret options go in `source_options`; credentials come from the
//! environment, per partner: `BRAID_<PARTNER_ID>_<OPTION>` (for example
//! `BRAID_COLLEGE_AWS_SECRET_ACCESS_KEY`), falling back to the store's usual
//! variables (`AWS_ACCESS_KEY_ID`, ...).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::map::MappingConfig;
use crate::parse::FormatConfig;
use crate::protect::ConsentPolicy;

/// The kinds of partners in a consortium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    AdultSchool,
    CommunityCollege,
    WorkforceBoard,
    RefugeeAgency,
    CommunityOrg,
    /// UI wage records or a supplemental wage source.
    WageRecords,
}

/// A partner organization and its extracts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// Short id (`a-z`, `0-9`, `_`); public, used as a report dimension.
    pub id: String,
    /// Display name.
    pub name: String,
    pub kind: PartnerKind,
    /// Where the partner drops files: a path or an object-store URL.
    pub source: String,
    /// Non-secret object-store options (`aws_region`, `aws_endpoint`, ...).
    #[serde(default)]
    pub source_options: BTreeMap<String, String>,
    /// How the consent flag is read (`agreement` or `required`).
    #[serde(default)]
    pub consent: ConsentPolicy,
    /// The partner's feeds: one per kind of file it sends.
    #[serde(rename = "feed")]
    pub feeds: Vec<FeedConfig>,
}

/// One kind of file a partner sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Feed name, unique within the partner (`students`, `enrollments`).
    pub name: String,
    /// Glob of file paths relative to the source (`enrollments_*.csv`);
    /// `*` stays within one folder, `**/` reaches into subfolders.
    pub glob: String,
    #[serde(default)]
    pub format: FormatConfig,
    pub map: MappingConfig,
}

impl PartnerConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        let ok = !self.id.is_empty()
            && self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(format!("partner id `{}` must be lower-case letters, digits and _", self.id));
        }
        if self.feeds.is_empty() {
            return Err(format!("partner `{}` has no [[partner.feed]]", self.id));
        }
        let mut names = std::collections::BTreeSet::new();
        for f in &self.feeds {
            let ctx = |m: String| format!("partner `{}` feed `{}`: {m}", self.id, f.name);
            if !names.insert(f.name.as_str()) {
                return Err(ctx("feed name appears twice".into()));
            }
            globset::Glob::new(&f.glob).map_err(|e| ctx(format!("glob: {e}")))?;
            f.format.validate(&f.glob).map_err(ctx)?;
            f.map.validate().map_err(ctx)?;
        }
        for k in self.source_options.keys() {
            let lk = k.to_lowercase();
            if lk.contains("secret") || lk.contains("password") || lk.contains("token") || lk.ends_with("_key") || lk.contains("access_key") {
                return Err(format!(
                    "partner `{}`: source_options.{k} looks like a credential; put it in the environment as BRAID_{}_{}",
                    self.id,
                    self.id.to_uppercase(),
                    k.to_uppercase()
                ));
            }
        }
        Ok(())
    }

    /// Environment prefix for this partner's credentials.
    pub fn env_prefix(&self) -> String {
        format!("BRAID_{}_", self.id.to_uppercase())
    }
}

/// A file found at a source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Full URL (or absolute path) of the file, as recorded in the ledger.
    pub url: String,
    /// Location inside the store.
    pub location: StorePath,
    pub size: u64,
    pub modified: String,
}

/// An opened partner source.
pub struct Source {
    pub store: Arc<dyn ObjectStore>,
    pub base_url: String,
    prefix: StorePath,
    /// A plain web server: it lists a folder only if it speaks WebDAV.
    http: bool,
    /// The same store when it is a local folder: its files are read
    /// without it (see [`read_local`]).
    local: Option<Arc<object_store::local::LocalFileSystem>>,
}

impl Source {
    /// Open the partner's source. Options: `source_options`, then
    /// `BRAID_<ID>_*` environment variables (which win).
    /// `partners` is the whole consortium: a variable of partner
    /// `college_north` (`BRAID_COLLEGE_NORTH_*`) is not one of `college`'s.
    pub fn open(p: &PartnerConfig, partners: &[PartnerConfig]) -> Result<Source> {
        let mut options: Vec<(String, String)> = p.source_options.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
        options.extend(env_options(p, partners, std::env::vars()));
        open_url(&p.source, &options)
    }

    /// List the files under the source that match `glob`. On a web server
    /// (`https://`) a glob without wildcards is one file, asked for by name,
    /// as most servers do not list folders.
    pub async fn list(&self, glob: &str) -> Result<Vec<SourceFile>> {
        if self.http && !glob.contains(['*', '?', '[', '{']) {
            return self.one(glob).await;
        }
        // `*` stays within one folder: a partner's `archive/` of old
        // versions is not read by `*.csv` (an old version read again would
        // bring back rows a newer file superseded); `**/` reaches into
        // subfolders where a feed wants that.
        let matcher = globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Source { url: self.base_url.clone(), message: format!("glob: {e}") })?
            .compile_matcher();
        let prefix = if self.prefix.as_ref().is_empty() { None } else { Some(&self.prefix) };
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| {
                let mut message = short_store_error(&e);
                if self.http {
                    message.push_str(
                        "; this web server does not list folders (WebDAV): give each feed's file name in `glob`, without wildcards",
                    );
                }
                Error::Source { url: self.base_url.clone(), message }
            })?;
        // Files in subfolders that only the file name matches: read before
        // `*` stayed in its folder, and worth a word where a feed relied on it.
        let by_name = globset::Glob::new(glob).ok().map(|g| g.compile_matcher());
        let mut in_subfolders = 0usize;
        let mut out = Vec::new();
        for m in metas {
            let rel = relative(&self.prefix, &m.location);
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            // Hidden and temporary files are never partner extracts.
            if name.starts_with('.') || name.starts_with('~') {
                continue;
            }
            if !matcher.is_match(&rel) {
                if rel.contains('/') && by_name.as_ref().is_some_and(|b| b.is_match(name)) {
                    in_subfolders += 1;
                }
                continue;
            }
            out.push(SourceFile {
                url: format!("{}/{}", self.base_url.trim_end_matches('/'), rel),
                location: m.location.clone(),
                size: m.size,
                modified: m.last_modified.to_rfc3339(),
            });
        }
        if in_subfolders > 0 {
            tracing::warn!(
                source = %self.base_url,
                glob,
                "{in_subfolders} file(s) in subfolders match this glob by name only and are not read (`*` stays in its folder; write `**/{glob}` to read them)"
            );
        }
        out.sort_by(|a, b| a.url.cmp(&b.url));
        Ok(out)
    }

    /// The file at `name` under the source, if it is there.
    async fn one(&self, name: &str) -> Result<Vec<SourceFile>> {
        let rel = name.trim_start_matches('/');
        let location = if self.prefix.as_ref().is_empty() {
            StorePath::from(rel)
        } else {
            StorePath::from(format!("{}/{rel}", self.prefix.as_ref()))
        };
        let url = format!("{}/{}", self.base_url.trim_end_matches('/'), rel);
        match self.store.head(&location).await {
            Ok(m) => Ok(vec![SourceFile { url, location, size: m.size, modified: m.last_modified.to_rfc3339() }]),
            Err(object_store::Error::NotFound { .. }) => Ok(vec![]),
            Err(e) => Err(Error::Source { url, message: short_store_error(&e) }),
        }
    }

    pub async fn fetch(&self, f: &SourceFile) -> Result<bytes::Bytes> {
        if let Some(local) = &self.local {
            let err = |message: String| Error::Source { url: f.url.clone(), message };
            let path = local.path_to_filesystem(&f.location).map_err(|e| err(short_store_error(&e)))?;
            let read = tokio::task::spawn_blocking(move || read_local(&path)).await.map_err(|e| err(e.to_string()))?;
            return read.map(bytes::Bytes::from).map_err(|e| {
                err(match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => "the file became shorter while it was read (is it still being written?)".into(),
                    _ => e.to_string(),
                })
            });
        }
        let r = self
            .store
            .get(&f.location)
            .await
            .map_err(|e| Error::Source { url: f.url.clone(), message: short_store_error(&e) })?;
        r.bytes().await.map_err(|e| Error::Source { url: f.url.clone(), message: short_store_error(&e) })
    }
}

/// A local file, read by every core at once, each its own stretch of it.
/// The kernel zeroes each fresh page of the buffer as the read first
/// touches it, and a file read on one thread kept the other cores waiting:
/// before anything else could start, reading the 148 MB ingest benchmark
/// file took about a seventh of the whole ingest. The file is read at the
/// length it has when opened.
fn read_local(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; len];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        // Stretches of at least 8 MiB: a small file is one read.
        let threads = crate::link::threads().min(len.div_ceil(8 << 20)).max(1);
        let share = len.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = buf
                .chunks_mut(share)
                .enumerate()
                .map(|(i, stretch)| {
                    let file = &file;
                    s.spawn(move || file.read_exact_at(stretch, (i * share) as u64))
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().expect("reading thread"))
        })?;
    }
    #[cfg(not(unix))]
    {
        use std::io::Read;
        (&file).read_exact(&mut buf)?;
    }
    Ok(buf)
}

fn relative(prefix: &StorePath, loc: &StorePath) -> String {
    let p = prefix.as_ref();
    let l = loc.as_ref();
    l.strip_prefix(p).map(|s| s.trim_start_matches('/')).unwrap_or(l).to_string()
}

fn short_store_error(e: &object_store::Error) -> String {
    // Store errors can be long (retries, URLs with signatures); keep the gist.
    let s = e.to_string();
    let s = s.split(" (").next().unwrap_or(&s);
    s.chars().take(300).collect()
}

/// The options among `vars` that belong to partner `p`: those named
/// `BRAID_<ID>_<OPTION>`, less those of another partner whose id starts
/// with `p`'s and an underscore (its prefix is longer and also matches).
fn env_options(
    p: &PartnerConfig,
    partners: &[PartnerConfig],
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let prefix = p.env_prefix();
    let longer: Vec<String> =
        partners.iter().map(PartnerConfig::env_prefix).filter(|o| o.len() > prefix.len() && o.starts_with(&prefix)).collect();
    vars.filter(|(k, _)| !longer.iter().any(|o| k.starts_with(o)))
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|rest| (rest.to_lowercase(), v)))
        .collect()
}

/// Open any supported URL or path with the given options.
pub fn open_url(source: &str, options: &[(String, String)]) -> Result<Source> {
    let err = |m: String| Error::Source { url: source.to_string(), message: m };
    let has_scheme = source.contains("://");
    if !has_scheme || source.starts_with("file://") {
        let path = if let Some(rest) = source.strip_prefix("file://") {
            std::path::PathBuf::from(rest)
        } else {
            crate::config::resolve(source)
        };
        if !path.is_dir() {
            return Err(err(format!("folder {} does not exist", path.display())));
        }
        let abs = path.canonicalize().map_err(|e| err(e.to_string()))?;
        let store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&abs).map_err(|e| err(e.to_string()))?);
        return Ok(Source {
            store: store.clone(),
            base_url: url::Url::from_directory_path(&abs).map(|u| u.to_string()).unwrap_or_else(|_| source.to_string()),
            prefix: StorePath::default(),
            http: false,
            local: Some(store),
        });
    }
    let url = url::Url::parse(source).map_err(|e| err(format!("not a URL: {e}")))?;
    let prefix = StorePath::from(url.path().trim_start_matches('/'));
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(source);
            for (k, v) in options {
                let key = k.parse::<object_store::aws::AmazonS3ConfigKey>().map_err(|e| err(format!("option {k}: {e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| err(short_store_error(&e)))?)
        }
        "gs" => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(source);
            for (k, v) in options {
                let key = k.parse::<object_store::gcp::GoogleConfigKey>().map_err(|e| err(format!("option {k}: {e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| err(short_store_error(&e)))?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(source);
            for (k, v) in options {
                let key = k.parse::<object_store::azure::AzureConfigKey>().map_err(|e| err(format!("option {k}: {e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| err(short_store_error(&e)))?)
        }
        "http" | "https" => {
            let mut b = object_store::http::HttpBuilder::new().with_url(format!("{}://{}", url.scheme(), url.authority()));
            for (k, v) in options {
                let key = k.parse::<object_store::ClientConfigKey>().map_err(|e| err(format!("option {k}: {e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| err(short_store_error(&e)))?)
        }
        other => return Err(err(format!("unsupported scheme `{other}`"))),
    };
    // Cloud stores are rooted at the bucket; keep the path as a prefix.
    let bucket_root = match url.scheme() {
        "http" | "https" => format!("{}://{}", url.scheme(), url.authority()),
        _ => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    };
    Ok(Source {
        store,
        base_url: format!("{}/{}", bucket_root, prefix.as_ref()),
        prefix,
        http: matches!(url.scheme(), "http" | "https"),
        local: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(id: &str) -> PartnerConfig {
        toml::from_str(&format!(
            "id = \"{id}\"\nname = \"{id}\"\nkind = \"community_college\"\nsource = \"s3://b/{id}\"\n\
             [[feed]]\nname = \"f\"\nglob = \"*.csv\"\n[feed.map.columns]\nrecord_id = \"ID\"\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn a_glob_star_stays_in_its_folder() {
        // The partner keeps its old versions in `archive/`: `*.csv` reads
        // the current file only, `**/*.csv` both.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("archive")).unwrap();
        std::fs::write(dir.path().join("x.csv"), "ID\n1\n").unwrap();
        std::fs::write(dir.path().join("archive/x.csv"), "ID\n0\n").unwrap();
        let src = open_url(dir.path().to_str().unwrap(), &[]).unwrap();
        let names = |v: Vec<SourceFile>| v.into_iter().map(|f| f.url.rsplit_once(dir.path().to_str().unwrap()).unwrap().1.to_string()).collect::<Vec<_>>();
        assert_eq!(names(src.list("*.csv").await.unwrap()), vec!["/x.csv"]);
        assert_eq!(names(src.list("**/*.csv").await.unwrap()), vec!["/archive/x.csv", "/x.csv"]);
    }

    #[tokio::test]
    async fn a_local_file_is_read_whole_in_stretches_and_a_vanished_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // Large enough to be read in stretches (8 MiB each at least), and
        // not a multiple of the stretch: every byte is where it belongs.
        let big: Vec<u8> = (0..(17u32 << 20) + 12_345).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(dir.path().join("big.csv"), &big).unwrap();
        std::fs::write(dir.path().join("small.csv"), "ID\n1\n").unwrap();
        std::fs::write(dir.path().join("empty.csv"), "").unwrap();
        let src = open_url(dir.path().to_str().unwrap(), &[]).unwrap();
        let files = src.list("*.csv").await.unwrap();
        let get = |name: &str| files.iter().find(|f| f.url.ends_with(name)).unwrap().clone();
        assert!(src.fetch(&get("big.csv")).await.unwrap() == big);
        assert_eq!(&src.fetch(&get("small.csv")).await.unwrap()[..], b"ID\n1\n");
        assert!(src.fetch(&get("empty.csv")).await.unwrap().is_empty());
        // Gone between the listing and the read: a source error naming the file.
        std::fs::remove_file(dir.path().join("small.csv")).unwrap();
        let e = src.fetch(&get("small.csv")).await.unwrap_err().to_string();
        assert!(e.contains("small.csv"), "{e}");
    }

    #[test]
    fn credentials_go_to_the_partner_they_name_even_when_ids_share_a_start() {
        let partners = vec![partner("college"), partner("college_north"), partner("col")];
        let vars = || {
            [
                ("BRAID_COLLEGE_AWS_ACCESS_KEY_ID", "a"),
                ("BRAID_COLLEGE_NORTH_AWS_ACCESS_KEY_ID", "b"),
                ("BRAID_COL_AWS_REGION", "c"),
                ("BRAID_COLLEGES_X", "d"),
                ("HOME", "/root"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
        };
        let of = |i: usize| env_options(&partners[i], &partners, vars());
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(of(0), vec![pair("aws_access_key_id", "a")]);
        assert_eq!(of(1), vec![pair("aws_access_key_id", "b")]);
        // `BRAID_COL_` is not the start of `BRAID_COLLEGE_`, and a variable
        // of no partner (`BRAID_COLLEGES_X`) is nobody's.
        assert_eq!(of(2), vec![pair("aws_region", "c")]);
    }
}
