//! The benchmark scripts' verdicts (benches/stats.py): a goal on a time ratio is met only
//! when the whole 90% interval of the median of the pairs' ratios meets it.

use std::path::PathBuf;
use std::process::Command;

fn verdict(a: &[f64], b: &[f64], goal_max: f64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, times: &[f64]| {
        let p = dir.path().join(name);
        let text: String = times.iter().map(|t| format!("{t}\n")).collect();
        std::fs::write(&p, text).unwrap();
        p
    };
    let (pa, pb) = (write("a", a), write("b", b));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/stats.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(pa)
        .arg(pb)
        .args(["--goal-max", &goal_max.to_string()])
        .output()
        .expect("python3 is required for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_goal_is_met_only_when_the_whole_interval_meets_it() {
    let a = [1.0, 1.1, 0.9, 1.0, 1.2, 1.0, 0.95, 1.05, 1.0];
    // B about 10% slower in every pair: met, however the rounds are resampled.
    let b: Vec<f64> = a.iter().map(|x| x * 1.1).collect();
    let out = verdict(&a, &b, 1.176);
    assert!(
        out.contains("ratios B/A 1.100, 90% interval 1.100-1.100"),
        "{out}"
    );
    assert!(out.contains("met with 95% confidence"), "{out}");
    // 30% slower: not met.
    let b: Vec<f64> = a.iter().map(|x| x * 1.3).collect();
    assert!(verdict(&a, &b, 1.176).contains("NOT met"));
    // Half the pairs 5% slower, half 35%: the interval straddles the goal.
    let b: Vec<f64> = a
        .iter()
        .enumerate()
        .map(|(i, x)| x * if i % 2 == 0 { 1.05 } else { 1.35 })
        .collect();
    let out = verdict(&a, &b, 1.176);
    assert!(out.contains("not shown"), "{out}");
}
