//! praan-core's store conformance suite against a real mongod, one fresh database per case.
//!
//! Needs `PRAAN_TEST_MONGODB_URI` (`scripts/test-services.sh start && source .services/env`).
//! Without it every case says it was skipped and how to run it, and passes — unless
//! `PRAAN_REQUIRE_BACKENDS=1` (as in CI), where every case fails.

mod support;

use support::{KEEP_EVERYTHING, MongoFixture};

// The macro calls the factory inside each case's `async` block; when no server is configured the
// block below `return`s from that async block before any store exists, so the case ends there
// (skipped, after `mongo_uri` said so, or failed by `mongo_uri` under PRAAN_REQUIRE_BACKENDS=1).
praan_core::store_conformance_tests!({
    let Some(uri) = support::mongo_uri("conformance") else {
        return;
    };
    async move || MongoFixture::new(&uri, &KEEP_EVERYTHING).await
});
