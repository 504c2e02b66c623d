//! Links among a filter's members (`FilterLinks`): the linked walk against a
//! brute-force oracle (from queries anywhere, and from queries outside the filter),
//! members added or forgotten after the build, bookkeeping.

use fletchdb_index::{
    Filter, FilterLinks, FilterPlan, Hnsw, HnswConfig, InMemoryVectors, Metric, SearchRequest, Slot,
};

use crate::common::{clustered, queries_near, recall};

/// A filter kept as a plain bit vector, as `core`'s metadata filters are.
struct Bits(Vec<u64>);

impl Bits {
    fn of(slots: impl IntoIterator<Item = u32>, bound: usize) -> Bits {
        let mut words = vec![0u64; bound.div_ceil(64)];
        for s in slots {
            words[s as usize / 64] |= 1 << (s % 64);
        }
        Bits(words)
    }

    fn members(&self) -> Vec<Slot> {
        (0..self.0.len() as u32 * 64)
            .filter(|&s| self.admits(Slot(s)))
            .map(Slot)
            .collect()
    }
}

impl Filter for Bits {
    fn admits(&self, s: Slot) -> bool {
        self.0
            .get(s.0 as usize / 64)
            .is_some_and(|w| w & (1 << (s.0 % 64)) != 0)
    }
    fn admitted_hint(&self) -> Option<usize> {
        Some(self.0.iter().map(|w| w.count_ones() as usize).sum())
    }
    fn words(&self) -> Option<&[u64]> {
        Some(&self.0)
    }
}

const N: usize = 12_000;
const DIM: usize = 16;
/// Low enough that the filters below (half to three quarters of `N`) are walked by
/// their links (the planner takes links above 200 matches per unit of ef).
const EF: usize = 24;

fn index() -> (Hnsw<InMemoryVectors>, Vec<f32>) {
    let base = clustered(N, DIM, 60, 0.6, 91);
    let index = Hnsw::in_memory(
        DIM,
        HnswConfig {
            ef_construction: 64,
            ..HnswConfig::new(Metric::L2)
        },
    )
    .unwrap();
    index.add_batch(&base).unwrap();
    (index, base)
}

fn search(
    index: &Hnsw<InMemoryVectors>,
    q: &[f32],
    ef: usize,
    filter: &Bits,
    links: Option<&FilterLinks>,
) -> Vec<u32> {
    let request = SearchRequest::new(10, ef).filter(filter);
    let request = match links {
        Some(l) => request.links(l),
        None => request,
    };
    let mut hits = Vec::new();
    index.search_into(q, request, &mut hits).unwrap();
    assert!(hits.iter().all(|h| filter.admits(h.slot)));
    hits.iter().map(|h| h.slot.0).collect()
}

fn truth(index: &Hnsw<InMemoryVectors>, q: &[f32], filter: &Bits) -> Vec<u32> {
    let request = SearchRequest::new(10, 10)
        .filter(filter)
        .plan(FilterPlan::Exact);
    let mut hits = Vec::new();
    index.search_into(q, request, &mut hits).unwrap();
    hits.iter().map(|h| h.slot.0).collect()
}

#[test]
fn linked_walks_agree_with_brute_force() {
    let (index, base) = index();
    let queries = queries_near(&base, DIM, 100, 92);
    // A filter placed by the data (one side of a hyperplane: many queries start away
    // from their matches) and two that are not, at 50-75 %.
    let filters = [
        Bits::of((0..N as u32).filter(|&s| base[s as usize * DIM] > -0.2), N),
        Bits::of((0..N as u32).filter(|s| s % 4 != 0), N),
        Bits::of((0..N as u32).filter(|s| s % 2 == 1), N),
    ];
    for filter in &filters {
        let links = index.link_members(&filter.members()).unwrap();
        assert_eq!(links.members(), filter.admitted_hint().unwrap());
        assert_eq!(links.valid(), links.members());
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for q in queries.chunks(DIM) {
            got.push(search(&index, q, EF, filter, Some(&links)));
            want.push(truth(&index, q, filter));
        }
        let r = recall(&got, &want, 10);
        eprintln!("{} members: recall {r}", links.members());
        assert!(links.members() > 200 * EF, "{} members", links.members());
        assert!(r >= 0.95, "{} members: recall {r}", links.members());
    }
}

#[test]
fn members_added_or_forgotten_after_the_build_are_still_found() {
    let (index, base) = index();
    let members: Vec<u32> = (0..N as u32).filter(|s| s % 2 == 0).collect();
    let links = index
        .link_members(&members.iter().copied().map(Slot).collect::<Vec<_>>())
        .unwrap();
    // New members: each a copy of a query, so each is its query's nearest; the links
    // do not know them.
    let queries = queries_near(&base, DIM, 40, 93);
    let added = index.add_batch(&queries).unwrap();
    // Forgotten members: each the nearest admitted slot of its query, its links gone.
    let far = queries_near(&base, DIM, 40, 94);
    let before = Bits::of(members.iter().copied(), N);
    let forgotten: Vec<u32> = far
        .chunks(DIM)
        .map(|q| truth(&index, q, &before)[0])
        .collect();
    for &s in &forgotten {
        links.forget(Slot(s));
    }
    links.forget(Slot(1)); // not a member: nothing to forget
    let distinct: std::collections::BTreeSet<u32> = forgotten.iter().copied().collect();
    assert_eq!(links.valid(), links.members() - distinct.len());
    let filter = Bits::of(
        members.iter().copied().chain(added.iter().map(|s| s.0)),
        N + added.len(),
    );
    for (q, s) in queries.chunks(DIM).zip(&added) {
        let hits = search(&index, q, EF, &filter, Some(&links));
        assert_eq!(hits[0], s.0, "a member added after the build was missed");
    }
    for (q, &s) in far.chunks(DIM).zip(&forgotten) {
        let hits = search(&index, q, EF, &filter, Some(&links));
        assert!(hits.contains(&s), "a forgotten member was missed");
    }
}

#[test]
fn slots_that_are_not_live_are_left_out() {
    let (index, _) = index();
    index.delete(Slot(4)).unwrap();
    let links = index
        .link_members(&[Slot(2), Slot(4), Slot(6), Slot(N as u32 + 5), Slot(2)])
        .unwrap();
    assert_eq!(links.members(), 2);
    assert!(links.bytes() > 0);
    // Forgetting a slot past every list, or twice, changes nothing more.
    links.forget(Slot(u32::MAX));
    links.forget(Slot(2));
    links.forget(Slot(2));
    assert_eq!(links.valid(), 1);
}

#[test]
fn queries_from_outside_the_filter_find_its_nearest_members() {
    // Every query starts among non-members, away from the matches (the filter is one
    // side of a hyperplane; the queries lie on the other): the case the projected
    // links (`links.rs`, `PROJECTED`) are for. Without them this walk had recall
    // 0.968 here, with them 0.997.
    let (index, base) = index();
    let filter = Bits::of((0..N as u32).filter(|&s| base[s as usize * DIM] > 0.1), N);
    let outside: Vec<f32> = base
        .chunks(DIM)
        .filter(|row| row[0] <= 0.1)
        .flatten()
        .copied()
        .collect();
    let queries = queries_near(&outside, DIM, 200, 95);
    let links = index.link_members(&filter.members()).unwrap();
    assert!(links.members() > 200 * EF, "{} members", links.members());
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for q in queries.chunks(DIM) {
        got.push(search(&index, q, EF, &filter, Some(&links)));
        want.push(truth(&index, q, &filter));
    }
    let r = recall(&got, &want, 10);
    eprintln!("{} members, queries outside: recall {r}", links.members());
    assert!(r >= 0.985, "recall {r}");
}
