//! Kubernetes events, one per distinct message. kube's own recorder folds every event of one
//! reason on one object into a series that keeps the first note: a policy covering two stages
//! showed one `StageCovered` naming only the first, and a later, different drift showed the
//! message of an earlier one. Here only a repeat of the same note joins a series.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Client, Error};
use serde_json::json;

/// A repeat within this time of the last one joins its series (as kube's recorder and
/// client-go's do); a later one is a new event.
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);
/// The API server refuses an event whose note is 1 kB or more.
const MAX_NOTE_BYTES: usize = 1023;

/// Publishes events as the operator; clones share the series being counted.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    /// The series published in the last [`SERIES_TTL`], by a hash of what makes two events
    /// the same: a hash, not the note, so a thousand guards' events cost a few dozen kB.
    series: Arc<Mutex<HashMap<u64, Series>>>,
}

/// An event published (in its object's namespace) and how often since.
struct Series {
    name: String,
    count: i32,
    last: Timestamp,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            series: Arc::default(),
        }
    }

    /// Creates `event` about `regarding`, or counts it in the series of the same event
    /// published in the last minutes (same type, reason, action, object and note).
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), Error> {
        let now = Timestamp::now();
        let key = key(event, regarding);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let repeat = {
            let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
            series.retain(|_, s| s.last + SERIES_TTL > now);
            series.get_mut(&key).map(|s| {
                s.count += 1;
                s.last = now;
                (s.name.clone(), s.count)
            })
        };
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        if let Some((name, count)) = repeat {
            let series = json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                .await
            {
                Ok(_) => return Ok(()),
                // The API server dropped it (its event TTL): a new event starts the series.
                Err(Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err),
            }
        }
        let created = self.event(event, regarding, now);
        let name = created.metadata.name.clone().unwrap_or_default();
        events.create(&PostParams::default(), &created).await?;
        self.series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key,
                Series {
                    name,
                    count: 1,
                    last: now,
                },
            );
        Ok(())
    }

    fn event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let object = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            note: event.note.as_deref().map(bounded),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            ..K8sEvent::default()
        }
    }
}

/// What makes two events one series.
fn key(event: &Event, regarding: &ObjectReference) -> u64 {
    let mut hasher = DefaultHasher::new();
    event.type_.hash(&mut hasher);
    event.reason.hash(&mut hasher);
    event.action.hash(&mut hasher);
    event.note.hash(&mut hasher);
    for reference in std::iter::once(regarding).chain(event.secondary.as_ref()) {
        reference.uid.hash(&mut hasher);
        reference.kind.hash(&mut hasher);
        reference.namespace.hash(&mut hasher);
        reference.name.hash(&mut hasher);
    }
    hasher.finish()
}

/// `note` cut to what the API server accepts, at a character boundary, marked as cut.
fn bounded(note: &str) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_owned();
    }
    let mark = "…";
    let mut end = MAX_NOTE_BYTES - mark.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{mark}", &note[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.to_owned(),
            note: Some(note.to_owned()),
            action: "Reconcile".to_owned(),
            secondary: None,
        }
    }

    fn guard(uid: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("ApiGatewayGuard".to_owned()),
            namespace: Some("payments".to_owned()),
            name: Some("orders".to_owned()),
            uid: Some(uid.to_owned()),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn only_the_same_note_on_the_same_object_is_one_series() {
        let covered = |stage| event("StageCovered", &format!("covers orders/{stage}"));
        let same = key(&covered("prod"), &guard("u1"));
        assert_eq!(same, key(&covered("prod"), &guard("u1")));
        assert_ne!(same, key(&covered("beta"), &guard("u1")));
        assert_ne!(same, key(&covered("prod"), &guard("u2")));
        assert_ne!(
            same,
            key(&event("Drift", "covers orders/prod"), &guard("u1"))
        );
    }

    #[test]
    fn a_long_note_is_cut_to_what_the_api_server_takes() {
        let note = "é".repeat(600);
        let cut = bounded(&note);
        assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }
}
