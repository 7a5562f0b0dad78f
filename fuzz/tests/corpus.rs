//! Every committed input of every fuzz target — its corpus (`fuzz/corpus/<target>/`) and any
//! crash reproducer (`fuzz/artifacts/<target>/`) — replayed through the target's check, so what
//! a fuzzer found stays fixed.

use std::{fs, path::Path};

use praan_core::{
    codec::{Codec, DeviceMessage},
    domain::{DeviceId, Timestamp},
};

/// A fuzz target's check.
type Check = fn(&[u8]);

/// The targets, by name, with their checks.
const TARGETS: [(&str, Check); 6] = [
    ("reading", praan_fuzz::reading),
    ("ack", praan_fuzz::ack),
    ("topic", praan_fuzz::topic),
    ("device_id", praan_fuzz::device_id),
    ("schedule_body", praan_fuzz::schedule_body),
    ("pre_clean_body", praan_fuzz::pre_clean_body),
];

/// The files under `fuzz/{kind}/{target}`, in name order (none if the directory is missing).
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect()
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (target, _) in TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "fuzz/corpus/{target} is empty: commit the seeds (see fuzz/README.md)"
        );
    }
}

#[test]
fn every_corpus_input_and_crash_reproducer_passes_its_check() {
    let mut replayed = 0;
    for (target, check) in TARGETS {
        for kind in ["corpus", "artifacts"] {
            for (name, bytes) in inputs(kind, target) {
                let outcome = std::panic::catch_unwind(|| check(&bytes));
                assert!(outcome.is_ok(), "{target}: {name} fails its check");
                replayed += 1;
            }
        }
    }
    assert!(replayed >= TARGETS.len(), "replayed {replayed} inputs");
}

/// A named seed of `target`.
fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The seeds reach the checks' accepted paths (the round trips, the envelope of a success), so
/// the fuzzers start from inputs that exercise more than the rejections.
#[test]
fn the_seeds_are_accepted() {
    let codec = Codec::default();
    let at = Timestamp::from_unix_millis(1_796_806_800_000).expect("in range");
    let topic = format!("device/{}/data", praan_fuzz::DEVICE);
    for name in ["product_example", "backlog", "extras"] {
        let decoded = codec.decode(&topic, &seed("reading", name), at);
        assert!(
            matches!(&decoded, Ok(DeviceMessage::Readings { readings, rejected, .. })
                if !readings.is_empty() && rejected.is_empty()),
            "reading/{name}: {decoded:?}"
        );
    }
    let topic = format!("device/{}/ack", praan_fuzz::DEVICE);
    for name in ["product_example", "error"] {
        let decoded = codec.decode(&topic, &seed("ack", name), at);
        assert!(
            matches!(decoded, Ok(DeviceMessage::Ack(_))),
            "ack/{name}: {decoded:?}"
        );
    }
    for name in ["data", "ack", "status"] {
        let text = String::from_utf8(seed("topic", name)).expect("UTF-8");
        assert!(codec.parse_topic(&text).is_ok(), "topic/{name}");
    }
    for name in ["plain", "longest"] {
        let text = String::from_utf8(seed("device_id", name)).expect("UTF-8");
        assert!(DeviceId::new(&text).is_ok(), "device_id/{name}");
    }
    for name in ["weekdays", "overnight", "cron"] {
        let status = praan_fuzz::post("/api/schedule", &seed("schedule_body", name));
        assert!(status.is_success(), "schedule_body/{name}: {status}");
    }
    for name in ["minutes", "manual", "duration"] {
        let status = praan_fuzz::post("/api/preclean", &seed("pre_clean_body", name));
        assert!(status.is_success(), "pre_clean_body/{name}: {status}");
    }
}
