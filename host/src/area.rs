//! Area by block: where a synthesized design's LUT4s, flip-flops, carry cells and block RAMs
//! go (`tern synth`'s `blocks`), read from yosys' flattened netlist (`write_json`).
//!
//! Flattening names every cell after a net with the instance path in front
//! (`core.array.row3.lane0.ng_SB_CARRY_CI`), but yosys takes that net from any of the cell's
//! ports, so a LUT can carry the name of a block it only reads from (the board's trailer mux is
//! named after the counters it selects). So:
//! - a flip-flop, RAM, I/O or kept submodule belongs to the block its own name is in;
//! - a LUT, carry or mux cell (combinational) belongs to the block of the registers it computes:
//!   the most common block among the cells its outputs feed, where a combinational consumer
//!   stands for its own block, found the same way (ties go to the first name in order); a
//!   cell that feeds only the top's output pins is the board's.
//!
//! The blocks are `tern_hdl::BLOCKS`: instance paths with instance numbers folded
//! (`core.array.row3` and `core.array.row12` are `core.array.row*`), each with what it is; a
//! cell is in the longest of them its instance path starts with, or else in the board. A
//! kept submodule (`tern_gt_*`) counts all its cells in its instance's block. The sums over blocks are the report's totals (`SynthReport::luts` and the rest), cell for
//! cell: both count with `Resources::of`.

use crate::synth::Family;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What one cell type adds to each count; LUT4 as `SynthReport::luts` defines it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub luts: u64,
    pub ffs: u64,
    pub carries: u64,
    pub brams: u64,
}

impl Resources {
    /// One cell of `cell_type` in `family`'s cell library.
    pub fn of(family: Family, cell_type: &str) -> Resources {
        let r = |luts, ffs, carries, brams| Resources { luts, ffs, carries, brams };
        match family {
            Family::Ice40 => match cell_type {
                "SB_LUT4" => r(1, 0, 0, 0),
                "SB_CARRY" => r(0, 0, 1, 0),
                "SB_RAM40_4K" | "SB_RAM40_4KNR" | "SB_RAM40_4KNW" | "SB_RAM40_4KNRNW" => r(0, 0, 0, 1),
                t if t.starts_with("SB_DFF") => r(0, 1, 0, 0),
                _ => r(0, 0, 0, 0),
            },
            // a carry cell occupies both LUT4s of a slice half; a 16x4 distributed RAM four LUT4s
            Family::Ecp5 => match cell_type {
                "LUT4" => r(1, 0, 0, 0),
                "CCU2C" => r(2, 0, 1, 0),
                "TRELLIS_DPR16X4" => r(4, 0, 0, 0),
                "TRELLIS_FF" => r(0, 1, 0, 0),
                "DP16KD" | "PDPW16KD" => r(0, 0, 0, 1),
                _ => r(0, 0, 0, 0),
            },
        }
    }

    /// `n` cells' worth.
    pub fn times(self, n: u64) -> Resources {
        Resources { luts: self.luts * n, ffs: self.ffs * n, carries: self.carries * n, brams: self.brams * n }
    }
}

impl std::ops::AddAssign for Resources {
    fn add_assign(&mut self, o: Resources) {
        self.luts += o.luts;
        self.ffs += o.ffs;
        self.carries += o.carries;
        self.brams += o.brams;
    }
}

impl std::iter::Sum for Resources {
    fn sum<I: Iterator<Item = Resources>>(it: I) -> Resources {
        it.fold(Resources::default(), |mut t, r| {
            t += r;
            t
        })
    }
}

/// One block's share of the design.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockArea {
    /// Instance path, numbers folded (`core.array.row*`); `board` for the top module's own cells.
    pub block: String,
    /// What the block is: its entry's text in the `known` blocks (`tern_hdl::BLOCKS`).
    pub what: &'static str,
    /// Instances folded into this block (rows for `core.array.row*`).
    pub instances: u64,
    #[serde(flatten)]
    pub res: Resources,
}

/// Cell types whose block is the block they feed.
fn combinational(family: Family, cell_type: &str) -> bool {
    match family {
        Family::Ice40 => matches!(cell_type, "SB_LUT4" | "SB_CARRY"),
        Family::Ecp5 => matches!(cell_type, "LUT4" | "CCU2C" | "PFUMX" | "L6MUX21"),
    }
}

/// The block of a cell name (see the module doc): the longest path of `known` (instance
/// numbers folded, `core.array.row*`) that the cell's instance path starts with, else `board`
/// (the top module's own cells and anything not listed); with that block's instance
/// (`core.array.row3`), for `instances`. None for a yosys-made name without a path
/// (`$abc$...`).
pub fn block_of(cell_name: &str, known: &[&str]) -> Option<(String, String)> {
    if cell_name.starts_with('$') {
        return None;
    }
    let path: Vec<&str> = cell_name.split('.').collect();
    let inst = &path[..path.len() - 1];
    let fold = |p: &str| {
        let f = p.trim_end_matches(|c: char| c.is_ascii_digit());
        if f.len() < p.len() && !f.is_empty() { format!("{f}*") } else { p.to_string() }
    };
    let folded: Vec<String> = inst.iter().map(|p| fold(p)).collect();
    let best = (1..=inst.len()).rev().find(|&n| known.contains(&folded[..n].join(".").as_str()));
    Some(match best {
        Some(n) => (folded[..n].join("."), inst[..n].join(".")),
        None => ("board".to_string(), "board".to_string()),
    })
}

#[derive(Deserialize)]
struct Netlist {
    modules: HashMap<String, Module>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    attributes: HashMap<String, serde_json::Value>,
    #[serde(default)]
    cells: BTreeMap<String, Cell>,
}

impl Netlist {
    /// A module of the design kept as a submodule (`keep_hierarchy`), not a library cell
    /// (whose simulation model may have cells of its own).
    fn submodule(&self, cell_type: &str) -> bool {
        self.modules.get(cell_type).is_some_and(|m| !["blackbox", "whitebox", "lib_whitebox"].iter().any(|a| m.attributes.contains_key(*a)))
    }
}

#[derive(Deserialize)]
struct Cell {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    port_directions: HashMap<String, String>,
    #[serde(default)]
    connections: HashMap<String, Vec<serde_json::Value>>,
}

/// Why a netlist could not be split into blocks.
#[derive(Debug, thiserror::Error)]
pub enum AreaError {
    #[error("not a yosys JSON netlist: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the netlist has no module `{0}`")]
    NoTop(String),
    #[error("cell `{cell}` of type {kind} has no instance path, so no block (yosys named it)")]
    Unnamed { cell: String, kind: String },
}

/// Resources of one module with every kept submodule inside it, cell for cell.
fn module_total(nl: &Netlist, module: &str, family: Family, memo: &mut HashMap<String, Resources>) -> Resources {
    if let Some(r) = memo.get(module) {
        return *r;
    }
    let mut total = Resources::default();
    if let Some(m) = nl.modules.get(module) {
        for c in m.cells.values() {
            total += if nl.submodule(&c.kind) { module_total(nl, &c.kind, family, memo) } else { Resources::of(family, &c.kind) };
        }
    }
    memo.insert(module.to_string(), total);
    total
}

/// Split the `top` module of a yosys JSON netlist into blocks, largest LUT4 count first.
/// `known`: the blocks (path, what) the design's instance paths map to (`tern_hdl::BLOCKS`).
pub fn blocks(netlist_json: &[u8], top: &str, family: Family, known: &[(&str, &'static str)]) -> Result<Vec<BlockArea>, AreaError> {
    let paths: Vec<&str> = known.iter().map(|(p, _)| *p).collect();
    let what = |b: &str| known.iter().find(|(p, _)| *p == b).map_or("", |(_, w)| *w);
    let nl: Netlist = serde_json::from_slice(netlist_json)?;
    let m = nl.modules.get(top).ok_or_else(|| AreaError::NoTop(top.to_string()))?;
    let names: Vec<&String> = m.cells.keys().collect();
    let cells: Vec<&Cell> = m.cells.values().collect();
    // net bit -> the cells that read it
    let mut readers: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, c) in cells.iter().enumerate() {
        for (port, bits) in &c.connections {
            if c.port_directions.get(port).is_none_or(|d| d != "output") {
                for b in bits.iter().filter_map(|b| b.as_u64()) {
                    readers.entry(b).or_default().push(i);
                }
            }
        }
    }
    let mut own: Vec<Option<(String, String)>> = Vec::with_capacity(cells.len());
    for (n, c) in names.iter().zip(&cells) {
        let b = block_of(n, &paths);
        if b.is_none() && !combinational(family, &c.kind) && c.kind != "$scopeinfo" {
            return Err(AreaError::Unnamed { cell: n.to_string(), kind: c.kind.clone() });
        }
        own.push(b);
    }
    // each cell's readers (the cells reading any of its outputs), once
    let mut fanout: Vec<Vec<usize>> = vec![Vec::new(); cells.len()];
    for (i, c) in cells.iter().enumerate() {
        for (port, bits) in &c.connections {
            if c.port_directions.get(port).is_some_and(|d| d == "output") {
                fanout[i].extend(bits.iter().filter_map(|b| b.as_u64()).flat_map(|b| readers.get(&b).into_iter().flatten().copied()));
            }
        }
    }
    // a combinational cell's block: the most common block among its readers, memoized. A
    // depth-first walk with an explicit stack (carry chains are long) that descends into one
    // unresolved reader at a time, so the stack holds exactly the path from the start: a
    // reader on it closes a combinational loop (which synthesis should not leave) and casts
    // no vote. (Pushing every unresolved reader at once made a reader that another reader of
    // the same cell feeds look like a loop, and lose its vote.)
    let mut fed: Vec<Option<String>> = vec![None; cells.len()];
    let mut on_stack = vec![false; cells.len()];
    let mut cursor = vec![0usize; cells.len()];
    let board = "board".to_string();
    for start in 0..cells.len() {
        if !combinational(family, &cells[start].kind) || fed[start].is_some() {
            continue;
        }
        let mut stack = vec![start];
        on_stack[start] = true;
        while let Some(&i) = stack.last() {
            // resume where this cell's last descent left off: readers before it are resolved
            let unresolved = |&r: &usize| combinational(family, &cells[r].kind) && fed[r].is_none() && !on_stack[r];
            let next = fanout[i][cursor[i]..].iter().position(unresolved).map(|k| cursor[i] + k);
            if let Some(k) = next {
                cursor[i] = k + 1;
                let r = fanout[i][k];
                stack.push(r);
                on_stack[r] = true;
                continue;
            }
            let mut votes: BTreeMap<&str, u64> = BTreeMap::new();
            for &r in &fanout[i] {
                let b = if combinational(family, &cells[r].kind) { fed[r].as_deref() } else { own[r].as_ref().map(|(b, _)| b.as_str()) };
                if let Some(b) = b {
                    *votes.entry(b).or_default() += 1;
                }
            }
            stack.pop();
            on_stack[i] = false;
            let best = votes.iter().max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0))).map(|(b, _)| b.to_string());
            fed[i] = Some(best.unwrap_or_else(|| board.clone()));
        }
    }
    let mut memo = HashMap::new();
    let mut out: BTreeMap<String, (Resources, std::collections::BTreeSet<String>)> = BTreeMap::new();
    for (i, c) in cells.iter().enumerate() {
        if c.kind == "$scopeinfo" {
            continue;
        }
        let (block, inst) = match (&fed[i], &own[i]) {
            (Some(b), _) => (b.clone(), None),
            (None, Some((b, inst))) => (b.clone(), Some(inst.clone())),
            (None, None) => unreachable!("an unnamed cell that is not combinational was refused above"),
        };
        let entry = out.entry(block).or_default();
        let res = if nl.submodule(&c.kind) { module_total(&nl, &c.kind, family, &mut memo) } else { Resources::of(family, &c.kind) };
        entry.0 += res;
        if let Some(inst) = inst {
            entry.1.insert(inst);
        }
    }
    let mut v: Vec<BlockArea> = out
        .into_iter()
        .map(|(block, (res, insts))| BlockArea { what: what(&block), instances: insts.len().max(1) as u64, block, res })
        .collect();
    v.sort_by(|a, b| b.res.luts.cmp(&a.res.luts).then(a.block.cmp(&b.block)));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_of_takes_the_longest_known_path() {
        let known = ["core", "core.array", "core.array.row*", "core.array.abuf"];
        let b = |n: &str| block_of(n, &known).map(|(b, _)| b);
        assert_eq!(b("core.array.row12.lane0.ng_SB_CARRY_CI").as_deref(), Some("core.array.row*"));
        assert_eq!(block_of("core.array.row12.lane0.ng_SB_CARRY_CI", &known).unwrap().1, "core.array.row12");
        assert_eq!(b("core.array.acc0_SB_DFFESR_Q").as_deref(), Some("core.array"));
        assert_eq!(b("core.array.c_x2_g3.q_TRELLIS_FF_Q").as_deref(), Some("core.array"));
        assert_eq!(b("core.array.abuf.mem.0.0").as_deref(), Some("core.array.abuf"));
        assert_eq!(b("core.seq.pc_SB_DFF_Q").as_deref(), Some("core"));
        assert_eq!(b("tr_word_SB_DFF_Q_3").as_deref(), Some("board"));
        assert_eq!(b("c_rst.q_SB_DFF_Q").as_deref(), Some("board"));
        assert_eq!(b("$abc$123$auto_1"), None);
    }

    /// A board FF fed by a LUT named after a core net (the trailer mux's case) is the board's;
    /// a carry chain feeding a row's register is the row's, through every link of the chain;
    /// a kept submodule counts its own cells; an output-pin driver is the board's.
    #[test]
    fn combinational_cells_go_to_the_block_they_feed() {
        let lut = |i: u64, o: u64| serde_json::json!({"type": "SB_LUT4", "port_directions": {"I0": "input", "O": "output"}, "connections": {"I0": [i], "O": [o]}});
        let carry = |ci: u64, co: u64| serde_json::json!({"type": "SB_CARRY", "port_directions": {"CI": "input", "CO": "output"}, "connections": {"CI": [ci], "CO": [co]}});
        let ff = |d: u64, q: u64| serde_json::json!({"type": "SB_DFF", "port_directions": {"D": "input", "Q": "output"}, "connections": {"D": [d], "Q": [q]}});
        let nl = serde_json::json!({"modules": {
            "top": {"cells": {
                "core.cnt.c_cycles_SB_DFF_Q": ff(1, 2),
                "core.cnt.c_cycles_SB_LUT4_I0": lut(2, 3),
                "tr_word_SB_DFF_Q": ff(3, 4),
                "core.array.row0.ng_SB_CARRY_CI": carry(5, 6),
                "core.array.row0.ng_SB_CARRY_CI_1": carry(6, 7),
                "core.array.acc_SB_LUT4_O": lut(7, 8),
                "core.array.row1.r_SB_DFF_Q": ff(8, 9),
                "tx_pin_SB_LUT4_O": lut(9, 10),
                "core.seq.gt": {"type": "tern_gt", "connections": {"A": [9]}}
            }},
            "tern_gt": {"cells": {"a": {"type": "SB_LUT4"}, "b": {"type": "SB_LUT4"}, "c": {"type": "SB_CARRY"}, "r": {"type": "SB_RAM40_4K"}}},
            "SB_RAM40_4K": {"attributes": {"blackbox": "1"}, "cells": {"x": {"type": "SB_LUT4"}}}
        }});
        let bytes = serde_json::to_vec(&nl).unwrap();
        let known = [("core.cnt", "counters"), ("core.seq", ""), ("core.array", ""), ("core.array.row*", "rows")];
        let v = blocks(&bytes, "top", Family::Ice40, &known).unwrap();
        let get = |b: &str| v.iter().find(|x| x.block == b).map(|x| (x.res.luts, x.res.ffs, x.res.carries, x.instances));
        assert_eq!(get("board"), Some((2, 1, 0, 1)), "{v:?}");
        assert_eq!(get("core.cnt"), Some((0, 1, 0, 1)), "{v:?}");
        assert_eq!(get("core.array.row*"), Some((1, 1, 2, 1)), "{v:?}");
        // the kept module's block RAM is one, not the cells of its simulation model
        assert_eq!(get("core.seq"), Some((2, 0, 1, 1)), "{v:?}");
        assert_eq!(v.iter().find(|x| x.block == "core.seq").unwrap().res.brams, 1);
        assert_eq!(v.iter().map(|b| b.res.luts).sum::<u64>(), 5);
        assert_eq!(v.iter().find(|x| x.block == "core.array.row*").unwrap().what, "rows");
    }

    /// A LUT whose output reaches a register both directly through one reader and through
    /// another reader of the same net (reconvergent fanout, everywhere in a netlist): the
    /// second reader's block comes from the first. The walk once pushed both readers at once,
    /// so the first looked like a combinational loop to the second, which lost its only vote
    /// and fell to the board.
    #[test]
    fn reconvergent_fanout_is_not_a_loop() {
        let lut = |ins: &[u64], o: u64| {
            let mut con = serde_json::Map::new();
            let mut dir = serde_json::Map::new();
            for (k, i) in ins.iter().enumerate() {
                con.insert(format!("I{k}"), serde_json::json!([i]));
                dir.insert(format!("I{k}"), serde_json::json!("input"));
            }
            con.insert("O".into(), serde_json::json!([o]));
            dir.insert("O".into(), serde_json::json!("output"));
            serde_json::json!({"type": "SB_LUT4", "port_directions": dir, "connections": con})
        };
        let ff =
            serde_json::json!({"type": "SB_DFF", "port_directions": {"D": "input", "Q": "output"}, "connections": {"D": [4], "Q": [5]}});
        // a -> (b, c); c -> b; b -> the row's register. By name order b is read before c.
        let nl = serde_json::json!({"modules": {"top": {"cells": {
            "core.x.a_SB_LUT4_O": lut(&[1], 2),
            "core.x.b_SB_LUT4_O": lut(&[2, 3], 4),
            "core.x.c_SB_LUT4_O": lut(&[2], 3),
            "core.array.row0.r_SB_DFF_Q": ff,
        }}}});
        let known = [("core.array.row*", "rows")];
        let v = blocks(&serde_json::to_vec(&nl).unwrap(), "top", Family::Ice40, &known).unwrap();
        assert_eq!(v.len(), 1, "every cell feeds the row's register: {v:?}");
        assert_eq!((v[0].block.as_str(), v[0].res.luts, v[0].res.ffs), ("core.array.row*", 3, 1));
    }

    #[test]
    fn an_unnamed_register_is_an_error() {
        let nl = serde_json::json!({"modules": {"top": {"cells": {"$auto$1": {"type": "SB_DFF"}}}}});
        let err = blocks(&serde_json::to_vec(&nl).unwrap(), "top", Family::Ice40, &[]).unwrap_err();
        assert_eq!(err.to_string(), "cell `$auto$1` of type SB_DFF has no instance path, so no block (yosys named it)");
        let err = blocks(b"{}", "top", Family::Ice40, &[]).unwrap_err();
        assert!(err.to_string().starts_with("not a yosys JSON netlist"), "{err}");
    }
}
