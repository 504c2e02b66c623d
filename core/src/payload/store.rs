//! [`Payloads`]: the payloads of one collection's live records, by id, in their stored
//! form, with the [`MetaIndex`] over their metadata.
//!
//! Everything is in memory: the stored bytes (metadata as JSON text, then the
//! document) of each id that has a payload, and the index. The catalog holds the same
//! bytes as of the last checkpoint; the log's records hold the changes since. Callers
//! serialise changes to one id with the id map's write stripes, and hold this behind
//! the collection's lock.

use rustc_hash::FxHashMap;

use crate::payload::codec::Payload;
use crate::payload::index::MetaIndex;
use crate::payload::links::Linked;
use crate::payload::Metadata;

/// The payloads of one collection (see the module comment).
#[derive(Debug, Default)]
pub(crate) struct Payloads {
    stored: FxHashMap<u64, Box<[u8]>>,
    index: MetaIndex,
    /// Links among wide filters' records, told of every slot that changes.
    linked: Linked,
    /// True once any payload was stored (or the catalog held one at open): until then
    /// a checkpoint has no payload rows to remove.
    ever: bool,
}

impl Payloads {
    /// Payloads restored at open: the stored bytes of each id (the catalog's, then the
    /// log's changes), whether the catalog held any payload row (`in_catalog`: if so,
    /// checkpoints may have rows to remove even when the log cleared every payload),
    /// and the slot each live id's vector is in (`None`: the id is gone, so is its
    /// payload). Bytes that do not decode are reported with their id.
    pub(crate) fn restore(
        stored: FxHashMap<u64, Box<[u8]>>,
        in_catalog: bool,
        slot_of: impl Fn(u64) -> Option<u32>,
    ) -> Result<Payloads, (u64, String)> {
        let mut out = Payloads {
            ever: in_catalog || !stored.is_empty(),
            ..Payloads::default()
        };
        for (id, bytes) in stored {
            let Some(slot) = slot_of(id) else { continue };
            let payload = Payload::decode(&bytes).map_err(|e| (id, e))?;
            if let Some(meta) = &payload.metadata {
                out.index.add(slot, meta);
            }
            if !bytes.is_empty() {
                out.stored.insert(id, bytes);
            }
        }
        Ok(out)
    }

    /// The index over the live records' metadata.
    pub(crate) fn index(&self) -> &MetaIndex {
        &self.index
    }

    /// Links among wide filters' records (`payload/links.rs`).
    pub(crate) fn linked(&self) -> &Linked {
        &self.linked
    }

    /// [`linked`](Self::linked), to start or install a build.
    pub(crate) fn linked_mut(&mut self) -> &mut Linked {
        &mut self.linked
    }

    /// The stored bytes of `id`'s payload; empty if it has none.
    pub(crate) fn bytes(&self, id: u64) -> &[u8] {
        self.stored.get(&id).map_or(&[], |b| b)
    }

    /// `id`'s payload; empty if it has none.
    pub(crate) fn get(&self, id: u64) -> Payload {
        // The bytes were encoded from a validated payload, or decoded and checked at
        // open; they decode.
        Payload::decode(self.bytes(id)).unwrap_or_default()
    }

    /// True if any payload was stored since open, or the catalog held one then.
    pub(crate) fn ever_stored(&self) -> bool {
        self.ever
    }

    /// `id`'s record is now at `slot` with the payload stored as `bytes` (empty for
    /// none), whose metadata is `meta`; it was at `old`, if anywhere.
    pub(crate) fn put(
        &mut self,
        id: u64,
        old: Option<u32>,
        slot: u32,
        bytes: &[u8],
        meta: Option<&Metadata>,
    ) {
        if let Some(old) = old {
            self.unindex(id, old);
            self.linked.changed(old);
        }
        self.linked.changed(slot);
        if let Some(meta) = meta {
            self.index.add(slot, meta);
        }
        if bytes.is_empty() {
            self.stored.remove(&id);
        } else {
            self.ever = true;
            self.stored.insert(id, bytes.into());
        }
    }

    /// `id`, at `slot`, is gone.
    pub(crate) fn delete(&mut self, id: u64, slot: u32) {
        self.unindex(id, slot);
        self.linked.changed(slot);
        self.stored.remove(&id);
    }

    /// `id`'s record moved from slot `from` to `to` (a compaction), payload unchanged.
    pub(crate) fn moved(&mut self, id: u64, from: u32, to: u32) {
        self.linked.changed(from);
        self.linked.changed(to);
        if let Some(meta) = self.get(id).metadata {
            self.index.remove(from, &meta);
            self.index.add(to, &meta);
        }
    }

    /// Takes `id`'s metadata, at `slot`, out of the index.
    fn unindex(&mut self, id: u64, slot: u32) {
        if let Some(meta) = self.get(id).metadata {
            self.index.remove(slot, &meta);
        }
    }
}
