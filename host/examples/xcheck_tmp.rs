use tern_host::exec::{HostExec, Phase, Recorder};
use tern_host::model::Model;
use tern_host::transformer::Session;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let m = Model::load(std::path::Path::new(&a[1])).unwrap();
    let b = std::fs::read("/tmp/xcheck/acc.bin").unwrap();
    let mut want: Vec<Vec<i32>> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = i32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        i += 4;
        want.push(b[i..i + 4 * n].chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect());
        i += 4 * n;
    }
    let val = std::fs::read("/work/main/models/data/val.txt").unwrap();
    let toks: Vec<u32> = val[..255].iter().map(|&b| b as u32).collect();
    let mut h = HostExec::new();
    let mut r = Recorder::new(&mut h);
    Session::new(&m).forward(&mut r, &toks, Phase::Prefill, true).unwrap();
    for (k, (rec, w)) in r.records.iter().zip(&want).enumerate() {
        let out = rec.y.len() / 255;
        let diffs: Vec<(usize, usize, i32, i32)> = rec.y.iter().zip(w).enumerate().filter(|(_, (a, b))| a != b).map(|(j, (a, b))| (j / out, j % out, *a, *b)).collect();
        if !diffs.is_empty() {
            println!("call {k} {}: {} diffs, first {:?}", rec.id, diffs.len(), &diffs[..diffs.len().min(5)]);

        }
    }
}
