//! [`MemDir`]: an in-memory file system that remembers what is durable, so a test can
//! crash it, and that fails chosen writes and syncs.
//!
//! Every file has a live image (what reads see) and a durable image (what survives a
//! crash): `sync_data` copies one to the other. Directory entries work the same way:
//! creations, renames and removals survive a crash only once the directory is synced.
//! [`MemDir::crash`] returns the file system a restarted process would find (redb's
//! crash-consistency tests and sled's use the same two-image model).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{StorageDir, StorageFile};

/// A failure to inject into a [`MemDir`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write after `after` more successful writes stores only the first half of its
    /// bytes and fails; later writes work again.
    Write {
        /// Successful writes before the failing one.
        after: usize,
    },
    /// The sync after `after` more successful syncs fails without making anything
    /// durable (as Linux may, dropping the dirty pages' error state); later syncs work.
    Sync {
        /// Successful syncs before the failing one.
        after: usize,
    },
    /// The process "dies" at the sync after `after` more successful syncs: that sync
    /// and every later operation fail, and nothing more becomes durable.
    CrashAtSync {
        /// Successful syncs before the crash.
        after: usize,
    },
}

#[derive(Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    inodes: Vec<Inode>,
    live: HashMap<String, usize>,
    durable: HashMap<String, usize>,
    fault: Option<Fault>,
    dead: bool,
    writes: usize,
    syncs: usize,
}

impl State {
    fn check_alive(&self) -> io::Result<()> {
        if self.dead {
            Err(io::Error::other("simulated crash: the process is dead"))
        } else {
            Ok(())
        }
    }

    /// Counts a sync; an error if a fault says this one fails.
    fn sync_fault(&mut self) -> io::Result<()> {
        self.check_alive()?;
        match self.fault {
            Some(Fault::Sync { after: 0 }) => {
                self.fault = None;
                Err(io::Error::other("injected sync failure"))
            }
            Some(Fault::Sync { after }) => {
                self.fault = Some(Fault::Sync { after: after - 1 });
                self.syncs += 1;
                Ok(())
            }
            Some(Fault::CrashAtSync { after: 0 }) => {
                self.dead = true;
                Err(io::Error::other("simulated crash at sync"))
            }
            Some(Fault::CrashAtSync { after }) => {
                self.fault = Some(Fault::CrashAtSync { after: after - 1 });
                self.syncs += 1;
                Ok(())
            }
            _ => {
                self.syncs += 1;
                Ok(())
            }
        }
    }
}

/// An in-memory directory with crash simulation and fault injection, for tests.
///
/// ```
/// use fletchdb_storage::io::{MemDir, StorageDir};
/// let dir = MemDir::new();
/// let f = dir.create("a").unwrap();
/// f.write_all_at(b"hello", 0).unwrap();
/// dir.sync().unwrap();                      // the name is durable, the bytes are not
/// let after = dir.crash();
/// assert_eq!(after.open("a").unwrap().len().unwrap(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct MemDir {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl Default for MemDir {
    fn default() -> Self {
        MemDir::new()
    }
}

impl MemDir {
    /// An empty directory.
    pub fn new() -> MemDir {
        MemDir {
            state: Arc::default(),
            path: PathBuf::from("<memory>"),
        }
    }

    /// Arms a fault (replacing any armed one).
    pub fn inject(&self, fault: Fault) {
        self.state.lock().fault = Some(fault);
    }

    /// Successful syncs so far (file and directory syncs).
    pub fn syncs(&self) -> usize {
        self.state.lock().syncs
    }

    /// The directory a restarted process would find: durable entries with durable
    /// contents. This handle and its files keep working on the old live state (unless
    /// a [`Fault::CrashAtSync`] killed them).
    pub fn crash(&self) -> MemDir {
        self.image(false)
    }

    /// The directory a process killed with SIGKILL leaves: everything it wrote (the
    /// operating system keeps it), synced or not, as both live and durable.
    pub fn kill(&self) -> MemDir {
        self.image(true)
    }

    /// A new directory made of this one's live (or durable) entries and contents.
    fn image(&self, live: bool) -> MemDir {
        let s = self.state.lock();
        let mut next = State::default();
        let entries = if live { &s.live } else { &s.durable };
        for (name, &ino) in entries {
            let inode = &s.inodes[ino];
            let data = if live { &inode.live } else { &inode.durable };
            next.inodes.push(Inode {
                live: data.clone(),
                durable: data.clone(),
            });
            next.live.insert(name.clone(), next.inodes.len() - 1);
        }
        next.durable = next.live.clone();
        MemDir {
            state: Arc::new(Mutex::new(next)),
            path: self.path.clone(),
        }
    }

    /// Runs `f` on the live bytes of file `name` (to damage them in tests).
    ///
    /// # Errors
    /// `NotFound` if there is no such file.
    pub fn with_file<R>(&self, name: &str, f: impl FnOnce(&mut Vec<u8>) -> R) -> io::Result<R> {
        let mut s = self.state.lock();
        let ino = *s.live.get(name).ok_or_else(not_found)?;
        let inode = &mut s.inodes[ino];
        let r = f(&mut inode.live);
        inode.durable = inode.live.clone();
        Ok(r)
    }
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such file")
}

#[derive(Debug)]
struct MemFile {
    state: Arc<Mutex<State>>,
    ino: usize,
}

impl StorageFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        let s = self.state.lock();
        s.check_alive()?;
        Ok(s.inodes[self.ino].live.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let s = self.state.lock();
        s.check_alive()?;
        let data = &s.inodes[self.ino].live;
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        buf.copy_from_slice(data.get(start..end).ok_or_else(eof)?);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check_alive()?;
        let mut buf = buf;
        let mut failed = false;
        match s.fault {
            Some(Fault::Write { after: 0 }) => {
                s.fault = None;
                buf = &buf[..buf.len() / 2];
                failed = true;
            }
            Some(Fault::Write { after }) => s.fault = Some(Fault::Write { after: after - 1 }),
            _ => {}
        }
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let data = &mut s.inodes[self.ino].live;
        if data.len() < start + buf.len() {
            data.resize(start + buf.len(), 0);
        }
        data[start..start + buf.len()].copy_from_slice(buf);
        s.writes += 1;
        if failed {
            Err(io::Error::other("injected write failure"))
        } else {
            Ok(())
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check_alive()?;
        let len = usize::try_from(len).map_err(|_| eof())?;
        s.inodes[self.ino].live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.sync_fault()?;
        let inode = &mut s.inodes[self.ino];
        inode.durable = inode.live.clone();
        Ok(())
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the file",
    )
}

impl StorageDir for MemDir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let s = self.state.lock();
        s.check_alive()?;
        let ino = *s.live.get(name).ok_or_else(not_found)?;
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            ino,
        }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let mut s = self.state.lock();
        s.check_alive()?;
        if s.live.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        s.inodes.push(Inode::default());
        let ino = s.inodes.len() - 1;
        s.live.insert(name.to_string(), ino);
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            ino,
        }))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let s = self.state.lock();
        s.check_alive()?;
        Ok(s.live.keys().cloned().collect())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check_alive()?;
        s.live.remove(name).map(|_| ()).ok_or_else(not_found)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check_alive()?;
        let ino = s.live.remove(from).ok_or_else(not_found)?;
        s.live.insert(to.to_string(), ino);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.sync_fault()?;
        s.durable = s.live.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_synced_data_and_entries_survive_a_crash() {
        let d = MemDir::new();
        let a = d.create("a").unwrap();
        a.write_all_at(b"one", 0).unwrap();
        a.sync_data().unwrap();
        d.sync().unwrap();
        a.write_all_at(b"two", 3).unwrap();
        let b = d.create("b").unwrap();
        b.write_all_at(b"x", 0).unwrap();
        b.sync_data().unwrap(); // data durable, entry not
        let c = d.crash();
        let mut buf = vec![0; 3];
        let a2 = c.open("a").unwrap();
        assert_eq!(a2.len().unwrap(), 3);
        a2.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"one");
        assert!(c.open("b").is_err());
    }

    #[test]
    fn faults_fire_once_at_the_chosen_operation() {
        let d = MemDir::new();
        let f = d.create("f").unwrap();
        d.inject(Fault::Write { after: 1 });
        f.write_all_at(b"aaaa", 0).unwrap();
        assert!(f.write_all_at(b"bbbb", 4).is_err());
        assert_eq!(f.len().unwrap(), 6, "half of the failed write landed");
        f.write_all_at(b"cc", 6).unwrap();
        d.inject(Fault::Sync { after: 0 });
        assert!(f.sync_data().is_err());
        f.sync_data().unwrap();
        d.inject(Fault::CrashAtSync { after: 0 });
        assert!(f.sync_data().is_err());
        assert!(f.write_all_at(b"z", 0).is_err(), "dead after the crash");
    }
}
