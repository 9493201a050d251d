//! The static memory plan: every activation gets an offset in one f32 arena, chosen once from
//! value lifetimes so that values alive at the same time never overlap.
//!
//! Graph inputs are reserved for the whole run (the sampler writes the condition once and
//! rewrites the state and time every step). Graph outputs live until the end.

use crate::ir::{Graph, Storage, ValueId};

/// Arena offsets are multiples of this many f32 (64 bytes).
pub const ALIGN: usize = 16;

/// Where a value lives at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// `len` f32 at `offset` in the arena.
    Arena { offset: usize, len: usize },
    /// The `i`-th constant of the session.
    Const(usize),
    /// Not materialized (dead or never read).
    None,
}

/// The plan: a location per value and the arena size.
#[derive(Debug, Clone)]
pub struct MemoryPlan {
    pub locs: Vec<Loc>,
    pub arena_len: usize,
    /// The constants referenced by live nodes, by value id, in `Loc::Const` order.
    pub consts: Vec<ValueId>,
    /// Total f32 of all activations if each had its own buffer (to report the plan's saving).
    pub unplanned_len: usize,
}

fn round_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

/// Plans `g`'s memory.
pub fn plan(g: &Graph) -> MemoryPlan {
    let nv = g.values.len();
    let n_nodes = g.nodes.len();
    let mut locs = vec![Loc::None; nv];
    let mut consts = Vec::new();
    // Lifetime of each root value: (first step, last step), steps being node indices.
    let mut first = vec![usize::MAX; nv];
    let mut last = vec![0usize; nv];
    let mut used = vec![false; nv];
    for (i, n) in g.nodes.iter().enumerate() {
        let o = g.root(n.output);
        first[o] = first[o].min(i);
        last[o] = last[o].max(i);
        used[o] = true;
        for &v in &n.inputs {
            let r = g.root(v);
            last[r] = last[r].max(i);
            used[r] = true;
        }
    }
    for &o in &g.outputs {
        let r = g.root(o);
        last[r] = n_nodes;
        used[r] = true;
    }
    // Sums saturate: a graph of huge values (each bounded by the lowering) asks for an arena of
    // usize::MAX, which no allocation satisfies, instead of wrapping to a small one.
    let mut arena_len: usize = 0;
    // Inputs first, alive throughout.
    for &v in &g.inputs {
        let len = g.values[v].len();
        locs[v] = Loc::Arena {
            offset: arena_len,
            len,
        };
        arena_len = arena_len.saturating_add(round_up(len));
    }
    let base = arena_len;
    // Activations: greedy by size (largest first), lowest offset that does not collide.
    let mut acts: Vec<ValueId> = (0..nv)
        .filter(|&v| used[v] && g.values[v].storage == Storage::Activation)
        .collect();
    acts.sort_by_key(|&v| std::cmp::Reverse(g.values[v].len()));
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (offset, size, first, last)
    let mut unplanned_len: usize = 0;
    for v in acts {
        let size = round_up(g.values[v].len().max(1));
        unplanned_len = unplanned_len.saturating_add(size);
        let (f, l) = (first[v].min(last[v]), last[v]);
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|p| p.2 <= l && f <= p.3)
            .map(|p| (p.0, p.0.saturating_add(p.1)))
            .collect();
        conflicts.sort();
        let mut off = base;
        for (s, e) in conflicts {
            if off.saturating_add(size) <= s {
                break;
            }
            off = off.max(e);
        }
        placed.push((off, size, f, l));
        locs[v] = Loc::Arena {
            offset: off,
            len: g.values[v].len(),
        };
        arena_len = arena_len.max(off.saturating_add(size));
    }
    for v in 0..nv {
        if used[v]
            && let Storage::Const(_) = g.values[v].storage
        {
            locs[v] = Loc::Const(consts.len());
            consts.push(v);
        }
    }
    // Aliases share their root's location, with their own length (always equal).
    for v in 0..nv {
        if let Storage::Alias(_) = g.values[v].storage {
            locs[v] = locs[g.root(v)];
        }
    }
    MemoryPlan {
        locs,
        arena_len,
        consts,
        unplanned_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Node, Op, Value};

    fn act(shape: usize) -> Value {
        Value {
            name: String::new(),
            shape: vec![shape],
            storage: Storage::Activation,
        }
    }

    /// An input of `len` values and `nodes` copies of it in a chain, the last one the output.
    fn chain(len: usize, nodes: usize) -> Graph {
        let mut g = Graph::default();
        g.values.push(Value {
            name: "x".into(),
            shape: vec![len],
            storage: Storage::Input(0),
        });
        g.inputs.push(0);
        for i in 1..=nodes {
            g.values.push(act(len));
            g.nodes.push(Node {
                name: String::new(),
                op: Op::Copy,
                inputs: vec![i - 1],
                output: i,
            });
        }
        g.outputs.push(nodes);
        g
    }

    /// Values that are each as large as the lowering allows and alive together would need more
    /// than usize::MAX elements: the arena saturates at usize::MAX (which no allocation
    /// satisfies) instead of wrapping to a small one.
    #[test]
    fn an_arena_too_large_to_count_saturates() {
        // 9 values of 2^61 elements, all read by the last node: all alive at once
        let mut g = chain(1 << 61, 9);
        g.nodes[8].inputs.extend(1..8);
        assert_eq!(plan(&g).arena_len, usize::MAX);
    }

    /// Values alive at the same step never overlap, and a chain reuses memory.
    #[test]
    fn chain_reuses_and_live_values_do_not_overlap() {
        let mut g = chain(100, 6);
        // A skip connection: node 6 also reads value 2.
        g.nodes[5].inputs.push(2);
        let p = plan(&g);
        let span = |v: usize| match p.locs[v] {
            Loc::Arena { offset, len } => (offset, offset + len),
            _ => panic!("not in arena"),
        };
        for (i, n) in g.nodes.iter().enumerate() {
            let (o0, o1) = span(n.output);
            for &inp in &n.inputs {
                let (a, b) = span(inp);
                assert!(o1 <= a || b <= o0, "node {i} output overlaps its input");
            }
        }
        // value 2 is alive until node 5; values 3, 4, 5 must not overlap it
        let (a, b) = span(2);
        for v in 3..=5 {
            let (c, d) = span(v);
            assert!(d <= a || b <= c, "value {v} overlaps the skip value");
        }
        assert!(
            p.arena_len < p.unplanned_len + 112,
            "plan {} vs unplanned {}",
            p.arena_len,
            p.unplanned_len
        );
        assert!(
            p.arena_len <= 112 + 3 * 112,
            "a chain with one skip needs at most 3 live buffers"
        );
    }
}
