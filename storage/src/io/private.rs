//! [`PrivateBytes`]: a file's bytes as memory of the caller's own, which it may change
//! without changing the file: a copy-on-write (`MAP_PRIVATE`) mapping of a real file,
//! so that reading it costs only the pages touched, or a copy.

use std::io;

use memmap2::MmapMut;

/// A whole file's bytes, private to their holder; see the module comment.
///
/// ```
/// use fletchdb_storage::io::{MemDir, StorageDir};
/// let dir = MemDir::new();
/// let f = dir.create("g")?;
/// f.write_all_at(b"graph bytes", 0)?;
/// let mut bytes = f.map_private()?;
/// assert_eq!(bytes.as_slice(), b"graph bytes");
/// assert_eq!(bytes.as_mut_ptr() as usize % 8, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PrivateBytes {
    inner: Inner,
    len: usize,
}

#[derive(Debug)]
enum Inner {
    /// A copy-on-write mapping of the file.
    Map(MmapMut),
    /// A copy, in words so that it is aligned as a mapping is.
    Copy(Vec<u64>),
}

impl PrivateBytes {
    /// A copy of what `read` (given a buffer of `len` bytes) reads.
    pub(crate) fn copy(
        len: usize,
        read: impl FnOnce(&mut [u8]) -> io::Result<()>,
    ) -> io::Result<PrivateBytes> {
        let mut words = vec![0u64; len.div_ceil(8)];
        let mut bytes = PrivateBytes {
            inner: Inner::Copy(Vec::new()),
            len,
        };
        read(&mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..len])?;
        bytes.inner = Inner::Copy(words);
        Ok(bytes)
    }

    /// A private mapping of a file's first `len` bytes (a copy when `len` is 0, which
    /// cannot be mapped).
    pub(crate) fn map(file: &std::fs::File, len: usize) -> io::Result<PrivateBytes> {
        if len == 0 {
            return Self::copy(0, |_| Ok(()));
        }
        // SAFETY: the mapping is private (copy-on-write): writes through it change this
        // process's pages only. Callers map files that are never written in place once
        // they exist (a graph generation is written under another name and renamed into
        // place); one truncated by another process could fault on access, as the
        // vector store's mappings could.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_copy(file)? };
        Ok(PrivateBytes {
            inner: Inner::Map(map),
            len,
        })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.inner {
            Inner::Map(m) => &m[..self.len],
            Inner::Copy(w) => &bytemuck::cast_slice::<u64, u8>(w)[..self.len],
        }
    }

    /// The start of the bytes, aligned to 8; it does not move while `self` lives, even
    /// when `self` is moved.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match &mut self.inner {
            Inner::Map(m) => m.as_mut_ptr(),
            Inner::Copy(w) => w.as_mut_ptr().cast(),
        }
    }

    /// How many bytes there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Asks the kernel to read bytes `range` of a mapped file now (they are about to
    /// be read in order). Only advice: nothing for a copy, or a range out of bounds.
    ///
    /// ```
    /// use fletchdb_storage::io::{MemDir, StorageDir};
    /// let dir = MemDir::new();
    /// let f = dir.create("g")?;
    /// f.write_all_at(&[7u8; 10_000], 0)?;
    /// let bytes = f.map_private()?;
    /// bytes.will_need(0..4_096);
    /// bytes.random_access(4_096..10_000);
    /// assert_eq!(bytes.as_slice()[9_999], 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn will_need(&self, range: std::ops::Range<usize>) {
        self.advise(memmap2::Advice::WillNeed, range);
    }

    /// Tells the kernel that bytes `range` of a mapped file are read here and there:
    /// a page fault there reads that page, not the `read_ahead_kb` around it (8 MiB on
    /// the VM this was measured on, where the first walk of a cold 1M graph faulted in
    /// most of its lists that way). Only advice, as [`will_need`](Self::will_need).
    pub fn random_access(&self, range: std::ops::Range<usize>) {
        self.advise(memmap2::Advice::Random, range);
    }

    fn advise(&self, advice: memmap2::Advice, range: std::ops::Range<usize>) {
        if let Inner::Map(m) = &self.inner {
            if range.start < range.end && range.end <= self.len {
                let _ = m.advise_range(advice, range.start, range.end - range.start);
            }
        }
    }
}
