//! A kept identity (`--keep-identity`): the key in a file only its owner can read, and the
//! devices verified with it, in the config directory (`$XDG_CONFIG_HOME/hush` or
//! `~/.config/hush`). Nothing else about a room is ever written.

use crate::error::CliError;
use hush_core::hex::{from_hex, to_hex};
use hush_core::identity::{Identity, PublicKey, PUBLIC_LEN, SECRET_LEN};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const IDENTITY_FILE: &str = "identity";
const DEVICES_FILE: &str = "devices";
/// Owner read and write only.
const PRIVATE_MODE: u32 = 0o600;
/// Remembered devices kept (the engine takes as many).
const MAX_DEVICES: usize = hush_core::room::MAX_DEVICES;

/// The directory the identity and devices live in.
pub fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("hush"))
}

fn private_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_MODE)
        .open(path)?;
    // An existing file keeps its mode on open: make sure it is private.
    f.set_permissions(fs::Permissions::from_mode(PRIVATE_MODE))?;
    f.write_all(text.as_bytes())
}

/// The kept identity, made on first use.
pub fn load_or_create(dir: &Path) -> Result<Identity, CliError> {
    let path = dir.join(IDENTITY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let mode = fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            if mode & 0o077 != 0 {
                return Err(CliError::Config(format!(
                    "{} is readable by others (mode {mode:o}): chmod 600 it, or remove it",
                    path.display()
                )));
            }
            from_hex::<SECRET_LEN>(text.trim())
                .and_then(|s| Identity::from_secret(&s))
                .ok_or_else(|| {
                    CliError::Config(format!("{} is not a Hush identity", path.display()))
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Identity::generate(|| {
                let mut s = [0u8; SECRET_LEN];
                // Without randomness nothing else works either; a zero scalar is rejected
                // and drawn again.
                let _ = getrandom::fill(&mut s);
                s
            });
            fs::create_dir_all(dir).map_err(|e| CliError::Config(e.to_string()))?;
            private_file(&path, &to_hex(&id.secret()))
                .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
            Ok(id)
        }
        Err(e) => Err(CliError::Config(format!("{}: {e}", path.display()))),
    }
}

/// Devices verified with the kept identity: (key, label).
pub fn devices(dir: &Path) -> Vec<(PublicKey, String)> {
    let Ok(text) = fs::read_to_string(dir.join(DEVICES_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let (key, label) = l.split_once(' ')?;
            Some((from_hex::<PUBLIC_LEN>(key)?, label.to_owned()))
        })
        .take(MAX_DEVICES)
        .collect()
}

/// Remembers a device verified now.
pub fn remember(dir: &Path, key: &PublicKey, label: &str) -> std::io::Result<()> {
    let mut list = devices(dir);
    list.retain(|(k, _)| k != key);
    if list.len() >= MAX_DEVICES {
        list.remove(0);
    }
    list.push((*key, hush_core::wire::sanitize_name(label, "a device")));
    let text: String = list
        .iter()
        .map(|(k, l)| format!("{} {l}\n", to_hex(k)))
        .collect();
    private_file(&dir.join(DEVICES_FILE), &text)
}

/// Forgets the kept identity and every remembered device.
pub fn forget(dir: &Path) -> std::io::Result<bool> {
    let mut any = false;
    for f in [IDENTITY_FILE, DEVICES_FILE] {
        match fs::remove_file(dir.join(f)) {
            Ok(()) => any = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_kept_private_and_reused_then_forgotten() {
        let dir = std::env::temp_dir().join(format!("hush-keep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = load_or_create(&dir).expect("made");
        let mode = fs::metadata(dir.join(IDENTITY_FILE))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, PRIVATE_MODE);
        let b = load_or_create(&dir).expect("read");
        assert_eq!(a.public(), b.public());
        remember(&dir, b.public(), "laptop").expect("remembered");
        assert_eq!(devices(&dir), vec![(*b.public(), "laptop".to_owned())]);
        fs::set_permissions(dir.join(IDENTITY_FILE), fs::Permissions::from_mode(0o644))
            .expect("chmod");
        assert!(load_or_create(&dir).is_err(), "a readable key is refused");
        assert!(forget(&dir).expect("forgotten"));
        assert!(devices(&dir).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
