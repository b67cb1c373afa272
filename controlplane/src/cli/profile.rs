//! Profiles: where a platform is and how to sign in to it, by name, in
//! `config.toml` of the user's config directory (`MINICLOUD_CONFIG_DIR`,
//! else `$XDG_CONFIG_HOME/minicloud`, else `~/.config/minicloud`). The
//! file holds credentials: it is written with mode 0600 in a directory of
//! mode 0700, replaced whole (a temporary file renamed over it).

use super::client::CliError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

/// The profile used when none is named and none was saved.
pub const DEFAULT_PROFILE: &str = "default";

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// The profile used when none is named: the last one `login` saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One platform, and how to sign in to it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The platform's URL, such as `http://127.0.0.1:8080`.
    pub endpoint: String,
    /// The project commands act on when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// An API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A user's session from a password login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The access token.
    pub access_token: String,
    /// The refresh token (used once: each refresh gives a new one).
    pub refresh_token: String,
    /// When the access token expires, epoch ms.
    pub expires_ms: i64,
}

/// The config directory.
pub fn dir() -> Result<PathBuf, CliError> {
    if let Some(d) = std::env::var_os("MINICLOUD_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("minicloud"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("minicloud")),
        None => Err(CliError::Failed(
            "no config directory: set MINICLOUD_CONFIG_DIR or HOME".into(),
        )),
    }
}

/// The profiles file.
pub fn path() -> Result<PathBuf, CliError> {
    Ok(dir()?.join("config.toml"))
}

impl Profiles {
    /// The saved profiles; none when the file does not exist.
    pub fn load() -> Result<Self, CliError> {
        let path = path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(CliError::Failed(format!("cannot read {}: {e}", path.display()))),
        };
        toml::from_str(&text).map_err(|e| CliError::Usage(format!("{} does not read: {e}", path.display())))
    }

    /// Writes the profiles, readable by the user alone.
    pub fn save(&self) -> Result<PathBuf, CliError> {
        let path = path()?;
        let failed = |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
        let text =
            toml::to_string(self).map_err(|e| CliError::Failed(format!("cannot encode profiles: {e}")))?;
        let dir = dir()?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(failed)?;
        // A new file of a name nobody chose (mode 0600 from the start),
        // then renamed over the old one.
        let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(failed)?;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(failed)?;
        file.persist(&path).map_err(|e| failed(e.error))?;
        Ok(path)
    }

    /// The name of the profile to use: the one named, else the current
    /// one, else `default`.
    pub fn pick(&self, named: Option<&str>) -> String {
        named
            .map(str::to_owned)
            .or_else(|| self.current.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned())
    }
}
