//! One validated push and what it settled.

use uuid::Uuid;

use crate::domain::flows::{Checked, CheckedDocument};

/// A session's row as the push transaction reads it: its team, the engineer who may append
/// (its owner), and the account a hand-off gave it to, until that account's device appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    pub team: Uuid,
    pub owner: Uuid,
    pub handed_to: Option<Uuid>,
    /// The place of the last hand-off in the session and who held it then: that engineer's
    /// events from before it may still arrive, out of order.
    pub handoff: Option<(i64, Uuid)>,
    /// The device that took the session up after a hand-off: only it writes from then on (the
    /// receiver's other devices may have pulled the hand-off too).
    pub writer_device: Option<Uuid>,
}

/// What a push settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettled {
    pub last_mutation_id: i64,
    /// Permanent rejections among the mutations this push settled.
    pub rejected: Vec<rf_core::sync::Rejection>,
    pub events_acknowledged_through: i64,
    /// Events stored by this push (duplicates excluded).
    pub events_stored: usize,
    /// Conflicts this push recorded.
    pub conflicts: usize,
    /// The current head of every flow the batch's flow versions were for.
    pub heads: Vec<rf_core::sync::PulledFlow>,
    /// The refused events among this batch's numbers (refused now or by an earlier push).
    pub refused_events: Vec<rf_core::sync::RefusedEvent>,
    /// The team's latest sequence number before and after the push (equal: nothing changed).
    pub latest_before: i64,
    pub latest: i64,
    /// Another copy of the device used numbers of this batch for other content.
    pub identity_clash: Option<rf_core::sync::IdentityClash>,
    /// The store's epoch, read in the push's transaction.
    pub epoch: String,
}

impl PushSettled {
    /// What the answer may tell the device: with a clash, nothing at or beyond it (those
    /// numbers hold the other copy's work, not this one's).
    pub fn answer(mut self) -> PushSettled {
        let Some(clash) = self.identity_clash else {
            return self;
        };
        if let Some(first) = clash.first_mutation {
            self.last_mutation_id = self.last_mutation_id.min(first - 1);
            self.rejected
                .retain(|rejection| rejection.mutation_id < first);
        }
        if let Some(first) = clash.first_event {
            self.events_acknowledged_through = self.events_acknowledged_through.min(first - 1);
            self.refused_events
                .retain(|refused| refused.device_seq < first);
        }
        self
    }
}

/// The lowest and highest device sequence number a batch carries, refused events included.
pub fn batch_range(batch: &PushBatch) -> Option<(i64, i64)> {
    let numbers = batch
        .events
        .iter()
        .chain(batch.refused_events.iter().map(|(event, _)| event))
        .map(|event| event.device_seq);
    numbers.fold(None, |range, seq| match range {
        None => Some((seq, seq)),
        Some((low, high)) => Some((low.min(seq), high.max(seq))),
    })
}

impl PushBatch {
    /// The numbers of this batch's mutations the device has had settled already (at most
    /// `last_applied`): the server compares their stored digests with what came now.
    pub fn settled_numbers(&self, last_applied: i64) -> Option<(i64, i64)> {
        let first = self.mutations.first()?.0.mutation_id;
        (first <= last_applied).then_some((first, last_applied))
    }

    /// Cuts the batch where another copy of its device already used a number for different
    /// content (`digests`: what the server kept of the settled numbers; `held`: the events it
    /// holds under the batch's numbers): that mutation and every later one, and every event
    /// from that number on, are left out, so nothing of the other copy's is taken for a
    /// duplicate and nothing of this one is lost. The caller answers with the clash.
    pub fn cut_at_clash(
        &mut self,
        last_applied: i64,
        digests: &std::collections::HashMap<i64, String>,
        held: &std::collections::HashMap<i64, rf_core::sync::HeldEvent>,
    ) -> Option<rf_core::sync::IdentityClash> {
        let first_mutation = rf_core::sync::first_mutation_clash(
            self.mutations.iter().map(|(mutation, _)| mutation),
            |id| digests.get(&id).cloned(),
        );
        let events: Vec<&rf_core::sync::PushedEvent> = self
            .events
            .iter()
            .chain(self.refused_events.iter().map(|(event, _)| event))
            .collect();
        let first_event = rf_core::sync::first_event_clash(&events, held);
        if let Some(clash) = first_mutation {
            self.mutations
                .retain(|(mutation, _)| mutation.mutation_id < clash);
        }
        if let Some(clash) = first_event {
            self.events.retain(|event| event.device_seq < clash);
            self.refused_events
                .retain(|(event, _)| event.device_seq < clash);
        }
        (first_mutation.is_some() || first_event.is_some()).then_some(
            rf_core::sync::IdentityClash {
                first_mutation,
                first_event,
                last_mutation: first_mutation.map(|_| last_applied),
            },
        )
    }

    /// The flows the batch's `put_version` mutations are for, each once.
    pub fn flows_touched(&self) -> Vec<Uuid> {
        let mut flows: Vec<Uuid> = self
            .mutations
            .iter()
            .filter_map(|(_, checked)| match checked {
                Checked::Put { document, .. } => Some(document.flow_id),
                _ => None,
            })
            .collect();
        flows.sort();
        flows.dedup();
        flows
    }
}

/// One validated push: mutations in order with their checks, the flow documents its sessions
/// refer to, and the events.
#[derive(Debug, Clone)]
pub struct PushBatch {
    pub device_id: Uuid,
    pub mutations: Vec<(rf_core::sync::Mutation, Checked)>,
    pub flow_versions: Vec<CheckedDocument>,
    pub events: Vec<rf_core::sync::PushedEvent>,
    /// Events refused by rf-core's rules, with the reason: kept aside, acknowledged, never
    /// served to the team.
    pub refused_events: Vec<(rf_core::sync::PushedEvent, String)>,
}
