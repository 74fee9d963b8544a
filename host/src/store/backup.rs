//! Backups of the embedded store: every tree, key and value in one file,
//! with a SHA-256 over the whole at its end, and restoring such a file into
//! a fresh store directory. The running host takes the snapshot with its
//! store's writes held, so the file is one consistent moment.
//!
//! Format: `TONGDAO-BACKUP 1\n`, then records — `T` name (a tree starts),
//! `K` key value (an entry of the current tree) — each byte string prefixed
//! by its length as a big-endian u32, then `E` and the 32-byte SHA-256 of
//! everything before it.

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"TONGDAO-BACKUP 1\n";

/// What a backup or a restore covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackupSummary {
    /// Trees written or read.
    pub trees: usize,
    /// Entries written or read.
    pub entries: u64,
    /// Bytes of the backup file.
    pub bytes: u64,
}

/// A writer that hashes what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| std::io::Error::other("a key or value over 4 GiB"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

/// Writes every tree of `db` to `path` (through a temporary file renamed
/// into place, synced). The caller holds the store's writes.
pub fn write(db: &sled::Db, path: &Path) -> anyhow::Result<BackupSummary> {
    let temporary = temporary_beside(path);
    let file = std::fs::File::create(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    let mut out = Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        written: 0,
    };
    let mut summary = BackupSummary::default();
    out.write_all(MAGIC)?;
    let mut names = db.tree_names();
    names.sort();
    for name in names {
        let tree = db
            .open_tree(&name)
            .with_context(|| format!("opening tree {}", String::from_utf8_lossy(&name)))?;
        out.write_all(b"T")?;
        put(&mut out, &name)?;
        summary.trees += 1;
        for entry in tree.iter() {
            let (key, value) = entry?;
            out.write_all(b"K")?;
            put(&mut out, &key)?;
            put(&mut out, &value)?;
            summary.entries += 1;
        }
    }
    out.write_all(b"E")?;
    let digest = out.hash.clone().finalize();
    let mut inner = out.inner;
    inner.write_all(&digest)?;
    summary.bytes = out.written + digest.len() as u64;
    let file = inner.into_inner().map_err(|err| err.into_error())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("moving the backup into {}", path.display()))?;
    Ok(summary)
}

fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// A reader that hashes what it reads.
struct Hashed<R: Read> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Hashed<R> {
    fn exact(&mut self, n: usize) -> anyhow::Result<Vec<u8>> {
        let mut buffer = vec![0u8; n];
        self.inner
            .read_exact(&mut buffer)
            .context("the backup ends too early")?;
        self.hash.update(&buffer);
        Ok(buffer)
    }

    fn bytes(&mut self) -> anyhow::Result<Vec<u8>> {
        let len = u32::from_be_bytes(self.exact(4)?.try_into().expect("4 bytes"));
        self.exact(len as usize)
    }
}

/// Restores the backup at `path` into a new store at `store_dir`, which
/// must not exist: it is built beside, checked against the backup's hash,
/// and only then moved into place.
pub fn restore(path: &Path, store_dir: &Path) -> anyhow::Result<BackupSummary> {
    if store_dir.exists() {
        bail!(
            "{} exists; restore into a data directory without a store (move the old one aside)",
            store_dir.display()
        );
    }
    let building = temporary_beside(store_dir);
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .with_context(|| format!("removing an unfinished restore at {}", building.display()))?;
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let bytes = file.metadata()?.len();
    let mut input = Hashed {
        inner: BufReader::new(file),
        hash: Sha256::new(),
    };
    if input.exact(MAGIC.len())? != MAGIC {
        bail!("{} is not a tongdao backup", path.display());
    }
    let db = sled::Config::new()
        .path(&building)
        .open()
        .with_context(|| format!("creating a store at {}", building.display()))?;
    let mut summary = BackupSummary {
        bytes,
        ..BackupSummary::default()
    };
    let mut tree: Option<sled::Tree> = None;
    loop {
        match input.exact(1)?[0] {
            b'T' => {
                let name = input.bytes()?;
                tree = Some(db.open_tree(&name)?);
                summary.trees += 1;
            }
            b'K' => {
                let (key, value) = (input.bytes()?, input.bytes()?);
                tree.as_ref()
                    .context("an entry before any tree: the backup is corrupt")?
                    .insert(key, value)?;
                summary.entries += 1;
            }
            b'E' => break,
            other => bail!("unknown record `{}`: the backup is corrupt", other as char),
        }
    }
    let expected = input.hash.clone().finalize();
    let mut recorded = [0u8; 32];
    input
        .inner
        .read_exact(&mut recorded)
        .context("the backup's checksum is missing")?;
    if recorded != expected.as_slice() {
        drop(db);
        let _ = std::fs::remove_dir_all(&building);
        bail!("{} is damaged: its checksum does not match", path.display());
    }
    db.flush()?;
    drop(db);
    std::fs::rename(&building, store_dir)
        .with_context(|| format!("moving the restored store into {}", store_dir.display()))?;
    Ok(summary)
}
