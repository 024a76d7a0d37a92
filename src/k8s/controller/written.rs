//! The status this process last wrote for each guard. A reconcile starts from the watch
//! cache, which can lag behind a status just written: another trigger (a namespace
//! relabelled, an AwsAccount's status, a restart's relist racing a write) reconciles the
//! guard again before the cache has the write. A deployment verdict or a rollback decided on
//! that older status would undo the newer one, so a cached status that is not the one
//! written last is never decided on: the guard is read afresh. Held as a digest per guard
//! (by uid: a guard deleted and made again under its name starts with nothing).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use crate::core::crd::ApiGatewayGuardStatus;

#[derive(Default)]
pub struct Written {
    digests: Mutex<HashMap<String, u64>>,
    hasher: RandomState,
}

impl Written {
    fn digest(&self, status: &ApiGatewayGuardStatus) -> u64 {
        self.hasher
            .hash_one(serde_json::to_string(status).unwrap_or_default())
    }

    /// Records `status` as the one just written for the guard `uid`.
    pub fn remember(&self, uid: &str, status: &ApiGatewayGuardStatus) {
        let digest = self.digest(status);
        self.lock().insert(uid.to_owned(), digest);
    }

    /// The guard is gone: nothing of its is kept.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Whether `cached` is the status this process last wrote for the guard `uid` (or
    /// this process wrote none): when not, it may be older than that write.
    pub fn is_current(&self, uid: &str, cached: Option<&ApiGatewayGuardStatus>) -> bool {
        let Some(written) = self.lock().get(uid).copied() else {
            return true;
        };
        cached.is_some_and(|cached| self.digest(cached) == written)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.digests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crd::DeploymentStatus;

    fn status(verdict: &str) -> ApiGatewayGuardStatus {
        ApiGatewayGuardStatus {
            deployment: Some(DeploymentStatus {
                id: "d1".to_owned(),
                verdict: verdict.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_cached_status_other_than_the_one_written_is_not_current() {
        let written = Written::default();
        // Nothing written yet (a fresh process): the cache is all there is.
        assert!(written.is_current("u1", Some(&status("Verifying"))));
        assert!(written.is_current("u1", None));
        written.remember("u1", &status("RolledBack"));
        assert!(written.is_current("u1", Some(&status("RolledBack"))));
        // One status behind the write, or none at all: not current.
        assert!(!written.is_current("u1", Some(&status("Verifying"))));
        assert!(!written.is_current("u1", None));
        // Another guard's write says nothing of this one; a deleted guard's is forgotten.
        assert!(written.is_current("u2", Some(&status("Verifying"))));
        written.forget("u1");
        assert!(written.is_current("u1", Some(&status("Verifying"))));
    }
}
