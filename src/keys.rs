//! The service's secret keys (the watermark key, and the master key that encrypts personal
//! secrets at rest): from configuration, from a key file, or generated once (mode 0600) and
//! reused on every later start: the watermark key into the data directory, the master key
//! into the secrets directory, never beside the data it opens. The two are separate, so one
//! leaking does not expose what the other protects.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::config::Settings;
use crate::watermark::Key;

pub const KEY_FILE_NAME: &str = "watermark.key";
pub const ENCRYPTION_KEY_FILE_NAME: &str = "encryption.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a key must be 64 hex digits (256 bits)")]
    Malformed,
    #[error("cannot read key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot create key file {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("no key configured and no key file at {0}; run `viewmark serve` once or pass --key-file")]
    Missing(PathBuf),
}

/// Whether a missing key may be generated (serve, embed) or must already exist (detect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    Create,
    Fail,
}

/// Parses 64 hex digits (surrounding whitespace allowed) into a key.
pub fn parse_key(text: &str) -> Result<Key, KeyError> {
    let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
    Ok(Key::from_bytes(bytes))
}

pub fn read_key_file(path: &Path) -> Result<Key, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
    parse_key(&text)
}

/// The key the service uses: `watermark_key`, else `watermark_key_file`, else
/// `<data_dir>/watermark.key`, generated when missing and `if_missing` allows it.
pub fn load_configured_key(settings: &Settings, if_missing: IfMissing) -> Result<Key, KeyError> {
    let inline = settings.watermark_key.as_ref().map(|k| k.expose());
    let source = KeySource {
        inline,
        file: settings.watermark_key_file.as_deref(),
        default_file: &settings.data_dir.join(KEY_FILE_NAME),
    };
    load_key(source, if_missing, "watermark key: back it up, marks cannot be read without it")
}

/// The key that encrypts personal secrets at rest: `encryption_key`, else
/// `encryption_key_file`, else `<secrets_dir>/encryption.key`, generated when missing. A key
/// an earlier version generated in `<data_dir>` stays in use until it is moved
/// ([`master_key_in_data_dir`] says so).
pub fn load_encryption_key(settings: &Settings) -> Result<[u8; 32], KeyError> {
    let inline = settings.encryption_key.as_ref().map(|k| k.expose());
    let default_file = default_master_key_file(settings);
    let source =
        KeySource { inline, file: settings.encryption_key_file.as_deref(), default_file: &default_file };
    let key = load_key(
        source,
        IfMissing::Create,
        "encryption key: back it up, stored secrets cannot be read without it",
    )?;
    Ok(*key.as_bytes())
}

/// The master keys: the configured encryption key, and earlier ones during a rotation.
pub fn load_master_keys(settings: &Settings) -> Result<crate::store::MasterKeys, KeyError> {
    use crate::store::MasterKey;
    let current = MasterKey::new(&load_encryption_key(settings)?);
    let previous = settings
        .encryption_previous_key_files
        .iter()
        .map(|path| Ok(MasterKey::new(read_key_file(path)?.as_bytes())))
        .collect::<Result<Vec<_>, KeyError>>()?;
    Ok(crate::store::MasterKeys { current, previous })
}

/// The master key file used when no key is configured: the one in `secrets_dir`, unless
/// only the data directory holds one.
fn default_master_key_file(settings: &Settings) -> PathBuf {
    let file = settings.secrets_dir.join(ENCRYPTION_KEY_FILE_NAME);
    let legacy = settings.data_dir.join(ENCRYPTION_KEY_FILE_NAME);
    if !file.exists() && legacy.exists() {
        legacy
    } else {
        file
    }
}

/// The master key file in effect when it lies inside the data directory, where one backup of
/// the directory holds the key store, the main database and the key that opens them both.
pub fn master_key_in_data_dir(settings: &Settings) -> Option<PathBuf> {
    if settings.encryption_key.is_some() {
        return None;
    }
    let file = match &settings.encryption_key_file {
        Some(file) => file.clone(),
        None => default_master_key_file(settings),
    };
    let (file, data_dir) = (file.canonicalize().ok()?, settings.data_dir.canonicalize().ok()?);
    file.starts_with(&data_dir).then_some(file)
}

/// Where a key comes from, in order: inline hex, an explicitly named file (which must
/// exist: a mistyped path must not silently yield a new key), a default file.
struct KeySource<'a> {
    inline: Option<&'a str>,
    file: Option<&'a Path>,
    default_file: &'a Path,
}

fn load_key(source: KeySource<'_>, if_missing: IfMissing, what: &str) -> Result<Key, KeyError> {
    if let Some(hex_key) = source.inline {
        return parse_key(hex_key);
    }
    if let Some(path) = source.file {
        return read_key_file(path);
    }
    let file = source.default_file;
    if file.exists() {
        return read_key_file(file);
    }
    match if_missing {
        IfMissing::Fail => Err(KeyError::Missing(file.to_owned())),
        IfMissing::Create => {
            let (key, created) = create_key_file(file)?;
            if created {
                tracing::warn!(path = %file.display(), "no key configured: created a new random key file for the {what}");
            }
            Ok(key)
        }
    }
}

/// Writes a new random key to `path` unless one is there. The key is written to a private
/// temporary file first and then linked into place, which fails if the file exists: another
/// process starting at the same moment on the same data directory either finds no file or
/// a whole one, and both end with the same key. `true` when this call created it.
fn create_key_file(path: &Path) -> Result<(Key, bool), KeyError> {
    let err = |source| KeyError::Create { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.{:016x}.tmp", std::process::id(), rand::rngs::OsRng.next_u64()));
    let temporary = PathBuf::from(temporary);
    let written =
        write_private(&temporary, &hex::encode(bytes)).and_then(|()| fs::hard_link(&temporary, path));
    // The temporary name is only a staging step; failing to remove it loses nothing.
    let _ = fs::remove_file(&temporary);
    match written {
        Ok(()) => Ok((Key::from_bytes(bytes), true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((read_key_file(path)?, false)),
        Err(e) => Err(err(e)),
    }
}

/// Creates `path` (which must not exist) readable by its owner only, with `hex` and a newline.
fn write_private(path: &Path, hex: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{hex}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings { data_dir: dir.path().to_owned(), ..Settings::default() };
        assert!(matches!(load_configured_key(&settings, IfMissing::Fail), Err(KeyError::Missing(_))));
        let first = load_configured_key(&settings, IfMissing::Create).unwrap();
        let second = load_configured_key(&settings, IfMissing::Fail).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE_NAME)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_master_key_is_created_outside_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
        fs::create_dir_all(&data).unwrap();
        let settings =
            Settings { data_dir: data.clone(), secrets_dir: secrets.clone(), ..Settings::default() };
        let key = load_encryption_key(&settings).unwrap();
        assert_eq!(*read_key_file(&secrets.join(ENCRYPTION_KEY_FILE_NAME)).unwrap().as_bytes(), key);
        assert!(!data.join(ENCRYPTION_KEY_FILE_NAME).exists());
        assert_eq!(master_key_in_data_dir(&settings), None);
        // Named inside the data directory, or left there by an earlier version: reported.
        let inside = data.join("master.key");
        fs::write(&inside, "ab".repeat(32)).unwrap();
        let named = Settings { encryption_key_file: Some(inside.clone()), ..settings.clone() };
        assert_eq!(master_key_in_data_dir(&named), Some(inside.canonicalize().unwrap()));
        fs::rename(secrets.join(ENCRYPTION_KEY_FILE_NAME), data.join(ENCRYPTION_KEY_FILE_NAME)).unwrap();
        assert_eq!(load_encryption_key(&settings).unwrap(), key, "the old key is still used");
        assert!(master_key_in_data_dir(&settings).is_some());
    }

    #[test]
    fn processes_creating_the_key_at_once_all_get_the_same_one() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_owned(),
            secrets_dir: dir.path().to_owned(),
            ..Settings::default()
        };
        for _ in 0..20 {
            let keys: Vec<[u8; 32]> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    (0..8).map(|_| scope.spawn(|| load_encryption_key(&settings).unwrap())).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(keys.iter().all(|k| *k == keys[0]));
            let stored = read_key_file(&dir.path().join(ENCRYPTION_KEY_FILE_NAME)).unwrap();
            assert_eq!(*stored.as_bytes(), keys[0]);
            // Only the key is left behind, no staging file.
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
            fs::remove_file(dir.path().join(ENCRYPTION_KEY_FILE_NAME)).unwrap();
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(parse_key("abcd").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
        assert!(parse_key(&"ab".repeat(32)).is_ok());
    }
}
