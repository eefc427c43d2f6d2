//! The order a host's resources apply in.
//!
//! LANGUAGE.md promises that resources without edges apply in source order
//! and that an edge only ever moves a resource later. That is the stable
//! topological order: among the resources whose predecessors are all done,
//! always take the earliest declared (Kahn's algorithm with a min-heap keyed
//! by declaration index).

use crate::{Catalog, Edge, ResourceId};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

impl Catalog {
    /// Every resource of the catalog, in the order it applies.
    pub fn apply_order(&self) -> Vec<ResourceId> {
        let ids: Vec<ResourceId> = self.resources.iter().map(|r| r.id.clone()).collect();
        apply_order(&ids, &self.edges)
    }
}

/// Orders `ids` (given in declaration order) so that every edge's `from`
/// comes before its `to`, and otherwise declaration order wins. Edges to or
/// from resources outside `ids` are ignored. A cycle (the compiler rejects
/// them) leaves its resources at the end in declaration order rather than
/// dropping them.
pub fn apply_order(ids: &[ResourceId], edges: &[Edge]) -> Vec<ResourceId> {
    let index: HashMap<&ResourceId, usize> =
        ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    let mut waiting_on: Vec<usize> = vec![0; ids.len()];
    for e in edges {
        if let (Some(&f), Some(&t)) = (index.get(&e.from), index.get(&e.to)) {
            if f != t && !succs[f].contains(&t) {
                succs[f].push(t);
                waiting_on[t] += 1;
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..ids.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(Reverse)
        .collect();
    let mut placed = vec![false; ids.len()];
    let mut out = Vec::with_capacity(ids.len());
    while let Some(Reverse(i)) = ready.pop() {
        placed[i] = true;
        out.push(ids[i].clone());
        for &t in &succs[i] {
            waiting_on[t] -= 1;
            if waiting_on[t] == 0 {
                ready.push(Reverse(t));
            }
        }
    }
    out.extend(
        (0..ids.len())
            .filter(|&i| !placed[i])
            .map(|i| ids[i].clone()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EdgeKind;

    fn ids(names: &[&str]) -> Vec<ResourceId> {
        names.iter().map(|n| ResourceId::new("file", n)).collect()
    }

    fn edge(from: &str, to: &str) -> Edge {
        Edge {
            from: ResourceId::new("file", from),
            to: ResourceId::new("file", to),
            kind: EdgeKind::Requires,
            action: None,
        }
    }

    fn titles(order: &[ResourceId]) -> Vec<String> {
        order
            .iter()
            .map(|id| {
                id.as_str()
                    .trim_start_matches("file[")
                    .trim_end_matches(']')
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn without_edges_the_order_is_source_order() {
        let order = apply_order(&ids(&["c", "a", "b"]), &[]);
        assert_eq!(titles(&order), ["c", "a", "b"]);
    }

    #[test]
    fn a_resource_without_edges_never_jumps_ahead_of_earlier_ones() {
        // `dir` ← `file` is an edge; `cmd` has none but is declared after
        // `dir`, so it must stay after `dir` (and after `file`, declared
        // before it).
        let order = apply_order(&ids(&["dir", "file", "cmd"]), &[edge("dir", "file")]);
        assert_eq!(titles(&order), ["dir", "file", "cmd"]);
    }

    #[test]
    fn an_edge_only_moves_a_resource_later() {
        // `a` requires `c`: `a` moves after `c`; `b` keeps its place first.
        let order = apply_order(&ids(&["a", "b", "c", "d"]), &[edge("c", "a")]);
        assert_eq!(titles(&order), ["b", "c", "a", "d"]);
    }

    #[test]
    fn edges_outside_the_set_and_cycles_keep_every_resource() {
        let order = apply_order(
            &ids(&["a", "b", "c"]),
            &[edge("x", "a"), edge("b", "c"), edge("c", "b")],
        );
        assert_eq!(titles(&order), ["a", "b", "c"]);
    }
}
