//! The resource graph: dependency order, cycles, and the DOT form `strata graph` prints.
//!
//! `deps[i]` lists the indexes resource `i` must be applied after. petgraph finds cycles
//! (Tarjan); the order is a plain Kahn's algorithm over index lists, deterministic (ties by the
//! order resources were lowered) and light at 100k resources.

use std::collections::BTreeSet;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use strata_sdk::Resource;

/// Kahn's algorithm; ties broken by original order so output is deterministic.
pub fn topo_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut indegree = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        indegree[i] = ds.len();
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    order
}

/// Strongly connected components that are cycles, each as a walk in dependency order.
pub fn find_cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(deps.len(), deps.iter().map(Vec::len).sum());
    let nodes: Vec<NodeIndex> = (0..deps.len()).map(|_| g.add_node(())).collect();
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            g.add_edge(nodes[i], nodes[d], ());
        }
    }
    let mut cycles = Vec::new();
    for scc in tarjan_scc(&g) {
        if scc.len() == 1 {
            let i = scc[0].index();
            if deps[i].contains(&i) {
                cycles.push(vec![i]);
            }
            continue;
        }
        // Walk inside the component from its smallest member until we return to it.
        let members: BTreeSet<usize> = scc.iter().map(|n| n.index()).collect();
        let start = *members.iter().next().expect("non-empty");
        let mut walk = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut cur = start;
        loop {
            let next = deps[cur].iter().copied().find(|d| members.contains(d) && (*d == start || !seen.contains(d)));
            match next {
                Some(n) if n == start => break,
                Some(n) => {
                    walk.push(n);
                    seen.insert(n);
                    cur = n;
                }
                None => break,
            }
        }
        cycles.push(walk);
    }
    cycles.sort();
    cycles
}

/// The graph in Graphviz DOT, edges pointing from a resource to what it depends on.
pub fn to_dot(resources: &[Resource], deps: &[Vec<usize>]) -> String {
    let mut out = String::from("digraph strata {\n  rankdir = \"RL\";\n  node [shape = box];\n");
    for r in resources {
        out.push_str(&format!("  \"{}\" [label = \"{}\\n{}\"];\n", r.address, r.address, r.kind));
    }
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            out.push_str(&format!("  \"{}\" -> \"{}\";\n", resources[i].address, resources[d].address));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_dependencies_first_and_keeps_ties_in_input_order() {
        // 0 <- 2, 1 independent, 3 <- 0
        let deps = vec![vec![], vec![], vec![0], vec![0]];
        assert_eq!(topo_order(&deps), [0, 1, 2, 3]);
        let deps = vec![vec![1], vec![], vec![]];
        assert_eq!(topo_order(&deps), [1, 2, 0]);
    }

    #[test]
    fn cycles_are_walks_in_dependency_order_and_self_loops_count() {
        let deps = vec![vec![1], vec![2], vec![0], vec![3], vec![]];
        assert_eq!(find_cycles(&deps), [vec![0, 1, 2], vec![3]]);
        assert!(find_cycles(&[vec![], vec![0]]).is_empty());
    }
}
