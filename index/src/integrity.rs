//! A structural self-check of the graph, for tests and for debugging damaged databases.

use crossbeam_epoch as epoch;

use crate::error::IndexError;
use crate::hnsw::Hnsw;
use std::sync::atomic::Ordering;

use crate::nodes::neighbours;
use crate::vectors::VectorSource;

impl<V: VectorSource> Hnsw<V> {
    /// Checks the graph's invariants: every link names a node present on that layer, no
    /// node links to itself or names a neighbour twice, lists are within capacity, the
    /// entry point is a node of the top level, the node counts add up, and each node's
    /// recorded layer-0 in-degree is the number of lists naming it, and its live bit
    /// is its state's. Meant for a
    /// quiescent index (no inserts running).
    ///
    /// # Errors
    /// [`IndexError::Corruption`] whose offset is the offending slot.
    pub fn check_integrity(&self) -> Result<(), IndexError> {
        let bad = |slot: usize, reason: String| IndexError::Corruption {
            offset: slot,
            reason,
        };
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let bound = self.slot_bound();
        let mut levels = vec![None; bound];
        let (mut present, mut deleted) = (0, 0);
        for (s, level) in levels.iter_mut().enumerate() {
            let st = view.meta(s as u32).map(|m| m.state());
            if view.live(s as u32) != st.is_some_and(|st| st.live()) {
                return Err(bad(s, "live bit disagrees with the node's state".into()));
            }
            if let Some(st) = st.filter(|st| st.claimed()) {
                if !st.ready() {
                    return Err(bad(s, "node claimed but never finished".into()));
                }
                *level = Some(st.level());
                present += 1;
                deleted += st.deleted() as usize;
            }
        }
        if present != self.inserted.load(std::sync::atomic::Ordering::Acquire)
            || deleted != self.deleted_len()
        {
            return Err(bad(
                bound,
                format!("counts disagree: {present} nodes, {deleted} deleted"),
            ));
        }
        let top = levels.iter().flatten().copied().max();
        match (self.entry(), top) {
            (None, None) => {}
            (Some(e), Some(t)) if e.level == t && levels.get(e.slot as usize) == Some(&Some(t)) => {
            }
            (e, t) => return Err(bad(0, format!("entry point {e:?} but top level {t:?}"))),
        }
        let mut seen = Vec::new();
        let mut indegree = vec![0u32; bound];
        for (s, level) in levels.iter().enumerate() {
            let Some(level) = *level else { continue };
            for layer in 0..=level {
                let list = view
                    .links(s as u32, layer)
                    .ok_or_else(|| bad(s, format!("no list on layer {layer}")))?;
                let cap = if layer == 0 {
                    2 * self.config.m
                } else {
                    self.config.m
                };
                seen.clear();
                seen.extend(neighbours(list));
                if seen.len() > cap {
                    return Err(bad(s, format!("{} links on layer {layer}", seen.len())));
                }
                for &n in &seen {
                    if n as usize == s {
                        return Err(bad(s, format!("links to itself on layer {layer}")));
                    }
                    if levels
                        .get(n as usize)
                        .copied()
                        .flatten()
                        .is_none_or(|l| l < layer)
                    {
                        return Err(bad(s, format!("links to {n}, absent on layer {layer}")));
                    }
                }
                seen.sort_unstable();
                if seen.windows(2).any(|w| w[0] == w[1]) {
                    return Err(bad(s, format!("duplicate link on layer {layer}")));
                }
            }
            if let (true, Some(list)) = (layer_zero_counts_needed(self), view.links0(s as u32)) {
                for n in neighbours(list) {
                    if let Some(c) = indegree.get_mut(n as usize) {
                        *c += 1;
                    }
                }
            }
            if present > 1 && level == 0 {
                let l0 = view.links0(s as u32).map(|l| neighbours(l).count());
                if l0 == Some(0) {
                    return Err(bad(s, "isolated node".into()));
                }
            }
        }
        if layer_zero_counts_needed(self) {
            for (s, &want) in indegree.iter().enumerate() {
                let got = view
                    .meta(s as u32)
                    .map_or(0, |m| m.indegree().load(Ordering::Acquire));
                if got != want {
                    return Err(bad(
                        s,
                        format!("in-degree {got} recorded, {want} lists name it"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// In-degrees are checked once they are counted (a loaded index counts them on its
/// first insert).
fn layer_zero_counts_needed<V: VectorSource>(index: &Hnsw<V>) -> bool {
    index.indegrees.get().is_some()
}
