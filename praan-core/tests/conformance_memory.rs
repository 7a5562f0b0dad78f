//! The store conformance suite against [`MemoryStore`], the reference implementation.

use praan_core::{
    conformance::{self, Fixture},
    store::{MemoryStore, Store},
};

praan_core::store_conformance_tests!(|| async { MemoryStore::new() });

/// A fixture that is not itself a store, as a backend whose store needs a guard (a temporary
/// directory) writes it: implementing `Fixture` for it must not clash with the blanket impl.
struct Guarded {
    store: MemoryStore,
    _guard: (),
}

impl Fixture for Guarded {
    fn store(&self) -> &dyn Store {
        &self.store
    }
}

#[test]
fn run_drives_a_case_to_completion() {
    let mut ran = false;
    conformance::run(async {
        let fixture = Guarded {
            store: MemoryStore::new(),
            _guard: (),
        };
        conformance::cases::ping_succeeds(fixture.store()).await;
        ran = true;
    });
    assert!(ran);
}
