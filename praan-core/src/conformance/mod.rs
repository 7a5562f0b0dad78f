//! The store conformance suite: one plain async function per contract point of the repository
//! traits in [`crate::store`], run against every backend.
//!
//! Each function in [`cases`] takes a fresh, empty [`Store`], exercises one point of a trait's
//! `# Contract` (or one of the common rules in [`crate::store`]) and asserts exact values and error
//! variants. A failed check panics: this module is test support, and a panic is how a Rust test
//! reports failure.
//!
//! A backend crate stamps the whole suite into its tests with one macro call, giving one `#[test]`
//! per case and a fresh store per case (in `tests/conformance.rs`, with praan-core and its
//! `conformance` feature as a dev-dependency):
//!
//! ```
//! praan_core::store_conformance_tests!(|| async { praan_core::store::MemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory is an async closure returning anything that implements [`Fixture`]: every
//! [`Store`] does, and a backend whose store needs a guard kept alive for the length of the test
//! (a temporary directory, a database to drop) implements [`Fixture`] for a struct holding both:
//!
//! ```
//! use praan_core::{conformance::Fixture, store::{MemoryStore, Store}};
//!
//! struct TempDirFixture {
//!     _dir: std::path::PathBuf, // e.g. a `tempfile::TempDir`, deleted when the test ends
//!     store: MemoryStore,       // e.g. the backend's store opened in that directory
//! }
//!
//! impl Fixture for TempDirFixture {
//!     fn store(&self) -> &dyn Store {
//!         &self.store
//!     }
//! }
//!
//! praan_core::store_conformance_tests!(|| async {
//!     TempDirFixture {
//!         _dir: std::path::PathBuf::from("/tmp/praan-test"),
//!         store: MemoryStore::new(),
//!     }
//! });
//! # fn main() {}
//! ```
//!
//! The tests are plain `#[test]` functions that build their own runtime with [`run`] (a
//! multi-thread tokio runtime with two workers, so drivers that spawn background tasks work), so
//! the backend crate needs no tokio macros. Cases never sleep and never read the real clock: every
//! instant is a fixed [`Timestamp`](crate::domain::Timestamp).

pub mod cases;

mod checks;
mod fixtures;

use std::future::Future;

use crate::store::Store;

/// What a case runs against: a store, and whatever must live as long as it (a temporary
/// directory, a database that is dropped afterwards).
///
/// Every [`Store`] is a fixture of itself.
pub trait Fixture: Send + Sync {
    /// The store under test.
    fn store(&self) -> &dyn Store;
}

impl<S: Store> Fixture for S {
    fn store(&self) -> &dyn Store {
        self
    }
}

/// Runs one case to completion on a new multi-thread tokio runtime with two workers and every
/// driver tokio was built with (timer, I/O) enabled.
pub fn run<F: Future<Output = ()>>(case: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    // Test support only: a case runs inside a `#[test]`, where panicking is how a failure is
    // reported, so a runtime that cannot be built panics with the reason.
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => panic!("cannot build the tokio runtime for a conformance case: {err}"),
    };
    runtime.block_on(case);
}

/// Stamps the store conformance suite into the calling crate: one `#[test]` per case of
/// [`conformance::cases`](crate::conformance::cases), each on a fresh fixture.
///
/// The argument is a closure returning a future of [a fixture](crate::conformance::Fixture) (any
/// [store](crate::store::Store) is one); it is called once per test.
///
/// ```
/// praan_core::store_conformance_tests!(|| async { praan_core::store::MemoryStore::new() });
/// # fn main() {}
/// ```
///
/// Needs praan-core's `conformance` feature.
#[macro_export]
macro_rules! store_conformance_tests {
    // The one list of cases, handed to the arm named by `$then` (`stamp` or `names`).
    (@cases $then:ident $($args:tt)*) => {
        $crate::store_conformance_tests! { @$then $($args)* [
            // registry
            insert_device_then_get_device_reads_it_back_equal,
            insert_device_with_a_known_id_is_conflict,
            ensure_device_registers_only_an_unknown_id,
            concurrent_ensure_device_registers_exactly_once,
            update_device_replaces_the_record,
            update_missing_device_is_not_found,
            delete_device_removes_its_record_state_and_control_only,
            delete_missing_device_is_not_found,
            list_devices_filters_by_status_and_type_ordered_by_id,
            // observed state
            device_state_is_none_until_something_is_recorded,
            record_reported_keeps_the_newest_in_either_arrival_order,
            record_presence_keeps_a_presence_not_older_than_the_stored_one,
            record_seen_raises_last_seen_and_never_lowers_it,
            state_updates_leave_the_other_fields_alone,
            device_states_are_ordered_by_device_id,
            concurrent_record_reported_keeps_the_newest,
            concurrent_record_seen_keeps_the_latest,
            // telemetry
            readings_round_trip_to_the_millisecond,
            append_counts_duplicates_across_and_within_batches,
            append_keeps_the_first_stored_of_duplicate_readings,
            append_deduplicates_per_device,
            append_of_an_empty_batch_changes_nothing,
            append_raises_latest_reading_to_the_newest_by_timestamp,
            append_records_reported_from_the_newest_reading_with_power_and_speed,
            append_raises_last_seen_to_the_latest_received_at,
            append_updates_the_state_of_each_device_in_the_batch,
            concurrent_appends_for_one_device_keep_the_newest_state,
            concurrent_overlapping_appends_store_each_reading_once,
            readings_are_newest_first,
            readings_range_is_half_open,
            readings_pages_visit_every_reading_exactly_once,
            readings_last_full_page_has_no_cursor,
            readings_pages_stay_within_the_range,
            readings_of_an_unknown_device_are_an_empty_page,
            readings_never_include_other_devices,
            latest_reading_is_the_greatest_timestamp,
            statistics_cover_every_metric,
            statistics_count_a_metric_only_where_present,
            statistics_of_no_readings_have_zero_counts,
            statistics_range_is_half_open,
            statistics_buckets_are_aligned_non_empty_and_oldest_first,
            statistics_have_buckets_only_when_asked,
            // commands
            insert_command_then_get_command_reads_it_back_equal,
            insert_command_with_a_known_id_is_conflict,
            idempotency_key_is_unique_per_device,
            update_command_replaces_it,
            update_missing_command_is_not_found,
            commands_for_device_are_newest_first_filtered_and_limited,
            unfinished_commands_are_pending_or_sent_oldest_first,
            command_by_idempotency_key_finds_only_that_devices_command,
            // schedules
            insert_schedule_then_get_schedule_reads_it_back_equal,
            insert_schedule_with_a_known_id_is_conflict,
            update_schedule_replaces_it,
            update_missing_schedule_is_not_found,
            delete_schedule_removes_it_and_keeps_its_runs,
            delete_missing_schedule_is_not_found,
            schedules_for_device_are_oldest_created_first,
            active_schedules_are_the_active_ones_by_created_at,
            runs_for_schedule_are_newest_first_and_limited,
            insert_run_with_a_known_id_is_conflict,
            // pre-cleans
            insert_pre_clean_then_get_pre_clean_reads_it_back_equal,
            insert_pre_clean_with_a_known_id_is_conflict,
            second_active_pre_clean_for_a_device_is_conflict,
            update_to_a_second_active_pre_clean_is_conflict,
            update_pre_clean_replaces_it,
            update_missing_pre_clean_is_not_found,
            delete_pre_clean_removes_it,
            delete_missing_pre_clean_is_not_found,
            active_pre_clean_is_the_devices_active_one,
            active_pre_cleans_are_ordered_by_ends_at,
            pre_clean_history_is_newest_first_and_limited,
            // control
            put_control_then_get_control_reads_it_back_equal,
            put_control_replaces_the_stored_state,
            control_states_are_ordered_by_device_id,
            // maintenance
            purge_deletes_old_readings_in_bounded_batches,
            purge_deletes_terminal_commands_and_never_unfinished_ones,
            purge_frees_the_idempotency_key_of_a_purged_command,
            purge_deletes_finished_pre_cleans_and_never_active_ones,
            purge_deletes_old_schedule_runs,
            purge_bounds_each_kind_separately,
            purge_without_cutoffs_deletes_nothing,
            ping_succeeds,
            // common rules
            reads_of_missing_records_are_none_or_empty,
        ]}
    };
    (@stamp $factory:expr; [$($case:ident),+ $(,)?]) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run(async {
                    let fixture = ($factory)().await;
                    $crate::conformance::cases::$case($crate::conformance::Fixture::store(&fixture))
                        .await;
                });
            }
        )+
    };
    (@names [$($case:ident),+ $(,)?]) => {
        [$(stringify!($case)),+]
    };
    ($factory:expr $(,)?) => {
        $crate::store_conformance_tests! { @cases stamp $factory; }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every `pub async fn` in the case files, by name.
    fn defined_cases() -> BTreeSet<String> {
        let sources = [
            include_str!("cases/registry.rs"),
            include_str!("cases/state.rs"),
            include_str!("cases/telemetry.rs"),
            include_str!("cases/commands.rs"),
            include_str!("cases/schedules.rs"),
            include_str!("cases/pre_cleans.rs"),
            include_str!("cases/control.rs"),
            include_str!("cases/maintenance.rs"),
            include_str!("cases/common.rs"),
        ];
        sources
            .iter()
            .flat_map(|src| src.lines())
            .filter_map(|line| line.trim_start().strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split('(').next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_macro_stamps_every_case_exactly_once() {
        let stamped: Vec<&str> = crate::store_conformance_tests!(@cases names).to_vec();
        let unique: BTreeSet<String> = stamped.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            unique.len(),
            stamped.len(),
            "a case is listed twice in the macro"
        );
        let defined = defined_cases();
        let not_stamped: Vec<_> = defined.difference(&unique).collect();
        let not_defined: Vec<_> = unique.difference(&defined).collect();
        assert!(
            not_stamped.is_empty() && not_defined.is_empty(),
            "cases missing from the macro's list: {not_stamped:?}; listed but not found as \
             `pub async fn` in a case file: {not_defined:?}"
        );
    }
}
