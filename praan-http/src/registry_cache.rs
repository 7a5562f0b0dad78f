//! [`RegistryCache`]: registered devices as the store last returned them, so the device routes
//! (`/state`, `/latest`, …) skip the registry query on a hit.
//!
//! It never answers with a device as it was before a change the API made or the engine was told
//! about:
//! - the API's registry writes (register, change, remove) [`invalidate`](RegistryCache::invalidate)
//!   the device once the store has answered, whatever it answered;
//! - the engine's registry epoch ([`Handle::registry_epoch`](praan_core::engine::Handle::registry_epoch),
//!   bumped by `forget_device`) empties the cache when it moves;
//! - a lookup that missed fills the cache only if neither happened while it read the store (a
//!   [`Ticket`] holds the generation and epoch it started under), so a slow read cannot put back
//!   what a write just replaced;
//! - unknown ids are never cached: ingestion registers devices on their first message without
//!   telling the API.
//!
//! Entries expire after [`HttpConfig::registry_cache_ttl`](crate::HttpConfig::registry_cache_ttl)
//! on the state's clock, which bounds how long a change made behind the API's back (another
//! process on the same database) goes unseen; a TTL of zero turns the cache off.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use praan_core::domain::{Device, DeviceId, Timestamp};

/// Entries kept before expired ones are pruned (and all of them, if none has expired).
const MAX_ENTRIES: usize = 100_000;

/// The cache of one [`AppState`](crate::AppState) (shared by its clones).
#[derive(Debug)]
pub(crate) struct RegistryCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Bumped by every invalidation.
    generation: u64,
    /// The engine's registry epoch the entries were read under.
    epoch: u64,
    devices: HashMap<DeviceId, Entry>,
}

#[derive(Debug)]
struct Entry {
    device: Arc<Device>,
    expires: Timestamp,
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The device, as the store returned it less than a TTL ago with no change since.
    Hit(Arc<Device>),
    /// Not cached: read the store, then hand its answer to [`RegistryCache::fill`] with this.
    Miss(Ticket),
}

/// The cache's generation and the engine's epoch when a lookup missed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    generation: u64,
    epoch: u64,
    at: Timestamp,
}

impl RegistryCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The device `id` at `now`, the engine's registry epoch being `epoch`.
    pub(crate) fn get(&self, id: &DeviceId, epoch: u64, now: Timestamp) -> Lookup {
        let mut entries = self.lock();
        if entries.epoch != epoch {
            entries.devices.clear();
            entries.epoch = epoch;
        }
        match entries.devices.get(id) {
            Some(entry) if now < entry.expires => return Lookup::Hit(entry.device.clone()),
            Some(_) => {
                entries.devices.remove(id);
            }
            None => {}
        }
        Lookup::Miss(Ticket {
            generation: entries.generation,
            epoch,
            at: now,
        })
    }

    /// Keeps `device`, which the store returned after `ticket`'s lookup, unless the registry
    /// changed since (an invalidation, or the engine's epoch now being `epoch`).
    pub(crate) fn fill(&self, device: &Arc<Device>, ticket: Ticket, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.generation != ticket.generation
            || entries.epoch != ticket.epoch
            || epoch != ticket.epoch
        {
            return;
        }
        if entries.devices.len() >= MAX_ENTRIES {
            entries.devices.retain(|_, e| ticket.at < e.expires);
            if entries.devices.len() >= MAX_ENTRIES {
                entries.devices.clear();
            }
        }
        entries.devices.insert(
            device.device_id.clone(),
            Entry {
                device: device.clone(),
                expires: ticket.at.saturating_add(self.ttl),
            },
        );
    }

    /// Forgets `id` and refuses every fill whose lookup began before now: call it after every
    /// registry write, once the store answered (successfully or not).
    pub(crate) fn invalidate(&self, id: &DeviceId) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.devices.remove(id);
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000 + ms).unwrap_or_else(|e| panic!("{e}"))
    }

    fn device(id: &str) -> Arc<Device> {
        let id = DeviceId::new(id).unwrap_or_else(|e| panic!("{e}"));
        Arc::new(Device::auto_registered(id, at(0)))
    }

    fn ticket(lookup: Lookup) -> Ticket {
        match lookup {
            Lookup::Miss(t) => t,
            Lookup::Hit(d) => panic!("unexpected hit: {}", d.device_id),
        }
    }

    fn is_hit(lookup: &Lookup) -> bool {
        matches!(lookup, Lookup::Hit(_))
    }

    #[test]
    fn a_filled_device_is_a_hit_until_it_expires() {
        let cache = RegistryCache::new(Duration::from_secs(1));
        let d = device("a-1");
        let t = ticket(cache.get(&d.device_id, 0, at(0)));
        cache.fill(&d, t, 0);
        assert!(is_hit(&cache.get(&d.device_id, 0, at(999))));
        assert!(!is_hit(&cache.get(&d.device_id, 0, at(1000))));
    }

    #[test]
    fn an_invalidation_forgets_the_device_and_refuses_fills_begun_before_it() {
        let cache = RegistryCache::new(Duration::from_secs(1));
        let d = device("a-1");
        let t = ticket(cache.get(&d.device_id, 0, at(0)));
        cache.fill(&d, t, 0);
        let slow = ticket(cache.get(&device("b-2").device_id, 0, at(0)));
        cache.invalidate(&d.device_id);
        assert!(!is_hit(&cache.get(&d.device_id, 0, at(1))));
        cache.fill(&device("b-2"), slow, 0);
        assert!(!is_hit(&cache.get(&device("b-2").device_id, 0, at(1))));
    }

    #[test]
    fn a_new_engine_epoch_empties_the_cache_and_refuses_older_fills() {
        let cache = RegistryCache::new(Duration::from_secs(1));
        let d = device("a-1");
        let t = ticket(cache.get(&d.device_id, 0, at(0)));
        cache.fill(&d, t, 0);
        let slow = ticket(cache.get(&device("b-2").device_id, 0, at(0)));
        assert!(!is_hit(&cache.get(&d.device_id, 1, at(1))));
        cache.fill(&device("b-2"), slow, 1);
        assert!(!is_hit(&cache.get(&device("b-2").device_id, 1, at(1))));
        // A fill that read under the old epoch while the epoch moved, before any lookup saw it.
        let stale = ticket(cache.get(&d.device_id, 1, at(2)));
        cache.fill(&d, stale, 2);
        assert!(!is_hit(&cache.get(&d.device_id, 2, at(3))));
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = RegistryCache::new(Duration::ZERO);
        let d = device("a-1");
        let t = ticket(cache.get(&d.device_id, 0, at(0)));
        cache.fill(&d, t, 0);
        assert!(!is_hit(&cache.get(&d.device_id, 0, at(0))));
    }
}
