//! Hand-offs in the replica: the team's members as the server last listed them (replica
//! migration 18), the one-writer rule (`rf_core::session::Holder`) applied before anything is
//! recorded, and handing a session to a teammate. A device appends to a session only while it
//! holds it: it started it (under any identity it had), or the session was handed to this
//! replica's account and this device appends first. The moment a hand-off is recorded this
//! device stops; the receiver's device may append once it has pulled the hand-off.

use rf_core::session::{Command, Holder};
use rf_core::sync::TeamMember;
use rusqlite::{Connection, params};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::{Replica, SessionRecord, SessionSummary, now, timestamp};

/// A writer of a session's events, as this replica sees it: a device and its number there.
type Writer = (Uuid, i64);

/// Who holds a session, from its log.
pub(crate) fn holder(connection: &Connection, session: Uuid) -> Result<Option<Holder<Writer>>> {
    let mut statement = connection.prepare_cached(
        "SELECT device_id, device_seq, CASE WHEN kind = 'handed_off' THEN payload END
         FROM session_events WHERE session_id = ?1 ORDER BY session_seq",
    )?;
    let rows: Vec<(String, i64, Option<String>)> = statement
        .query_map([session.to_string()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut events = Vec::with_capacity(rows.len());
    for (device, seq, payload) in rows {
        let device = Uuid::parse_str(&device)
            .map_err(|error| ReplicaError::Damaged(format!("a stored device id: {error}")))?;
        let handoff_to = match payload {
            Some(payload) => serde_json::from_str::<rf_core::SessionEvent>(&payload)
                .map_err(ReplicaError::corrupt("a hand-off event"))?
                .kind
                .handoff_to(),
            None => None,
        };
        events.push(((device, seq), handoff_to));
    }
    Ok(Holder::of(events))
}

/// Whether `writer` is this replica: its device now, or one it retired up to the last number
/// it used there (later numbers are the other copy's).
fn is_this_device(connection: &Connection, writer: &Writer) -> Result<bool> {
    Ok(connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM device WHERE device_id = ?1)
             OR EXISTS (SELECT 1 FROM retired_devices WHERE device_id = ?1 AND ?2 <= last_event_seq)",
        params![writer.0.to_string(), writer.1],
        |row| row.get(0),
    )?)
}

fn account_id(connection: &Connection) -> Result<Option<Uuid>> {
    let user: Option<String> = connection
        .query_row("SELECT user_id FROM sync_state", [], |row| row.get(0))
        .unwrap_or(None);
    Ok(user.and_then(|user| Uuid::parse_str(&user).ok()))
}

fn member_email(connection: &Connection, id: Uuid) -> String {
    connection
        .query_row(
            "SELECT email FROM team_members WHERE id = ?1",
            [id.to_string()],
            |row| row.get(0),
        )
        .unwrap_or_else(|_| "another engineer".to_owned())
}

/// Refuses, with the reason, when this device may not append to `session` now.
pub(crate) fn check_may_append(connection: &Connection, session: Uuid) -> Result<()> {
    let Some(holder) = holder(connection, session)? else {
        return Ok(());
    };
    let this = match holder {
        Holder::Writer(writer) => is_this_device(connection, &writer)?,
        Holder::HandedTo(to) => account_id(connection)? == Some(to),
    };
    if this {
        return Ok(());
    }
    Err(ReplicaError::Invalid(match holder {
        Holder::HandedTo(to) => format!(
            "this session was handed to {}; only they can continue it",
            member_email(connection, to)
        ),
        Holder::Writer(_) => "this session is worked by another engineer or device; open it to read it, or ask them to hand it to you".to_owned(),
    }))
}

impl Replica {
    /// Replaces the team's member list with the server's.
    pub fn store_team_members(&mut self, members: &[TeamMember]) -> Result<()> {
        let transaction = self.write_transaction()?;
        transaction.execute("DELETE FROM team_members", [])?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO team_members (id, email, role, updated_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let at = timestamp(now());
            for member in members {
                insert.execute(params![
                    member.id.to_string(),
                    member.email,
                    member.role,
                    at
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// The team's members as the server last listed them, by e-mail.
    pub fn team_members(&self) -> Result<Vec<TeamMember>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, email, role FROM team_members ORDER BY email")?;
        let rows: Vec<(String, String, String)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(id, email, role)| {
                Ok(TeamMember {
                    id: Uuid::parse_str(&id)
                        .map_err(|error| ReplicaError::Damaged(format!("a member id: {error}")))?,
                    email,
                    role,
                })
            })
            .collect()
    }

    /// Hands `session` to the teammate with `to_email`, with a note ("tried X, need domain
    /// admin"). Checked here, offline, against the team's members: an active member, not a
    /// viewer, not oneself; the session open and held by this device. From the moment it is
    /// recorded this device appends nothing more to it.
    pub fn hand_off(
        &mut self,
        session: Uuid,
        to_email: &str,
        note: Option<String>,
    ) -> Result<SessionRecord> {
        let members = self.team_members()?;
        if members.is_empty() {
            return Err(ReplicaError::Invalid(
                "this device does not know the team's members yet; sync once, then hand the session off".into(),
            ));
        }
        let wanted = to_email.trim().to_lowercase();
        let member = members
            .iter()
            .find(|member| member.email.to_lowercase() == wanted)
            .ok_or_else(|| {
                ReplicaError::Invalid(format!(
                    "{} is not a member of the team; hand the session to one of: {}",
                    to_email.trim(),
                    members
                        .iter()
                        .filter(|member| member.may_take_sessions())
                        .map(|member| member.email.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
            .clone();
        if !member.may_take_sessions() {
            return Err(ReplicaError::Invalid(format!(
                "{} is a viewer: viewers read sessions, they do not work them; hand it to an engineer",
                member.email
            )));
        }
        if account_id(&self.connection)? == Some(member.id) {
            return Err(ReplicaError::Invalid(
                "that is you; hand the session to a teammate".into(),
            ));
        }
        let state = self.session(session)?.state;
        if state.is_finished() {
            return Err(ReplicaError::Invalid(
                "this session is finished; a finished session is not handed off (start a new one, or share it with resolutionflow://session/<id>)".into(),
            ));
        }
        self.run_commands(
            session,
            vec![Command::HandOff {
                to_user: member.id,
                to_email: member.email.clone(),
                note,
            }],
        )
    }

    /// Open sessions handed to this replica's account and not yet continued.
    pub fn handed_to_me(&self) -> Result<Vec<SessionSummary>> {
        let sessions = self.sessions()?;
        self.handed_to_me_among(sessions)
    }

    /// [`Replica::handed_to_me`] among `sessions` (the list the caller already read).
    pub(crate) fn handed_to_me_among(
        &self,
        sessions: Vec<SessionSummary>,
    ) -> Result<Vec<SessionSummary>> {
        let Some(me) = account_id(&self.connection)? else {
            return Ok(Vec::new());
        };
        let candidates: Vec<String> = self
            .connection
            .prepare_cached(
                "SELECT DISTINCT e.session_id FROM session_events e
                 JOIN sessions s ON s.id = e.session_id
                 WHERE e.kind = 'handed_off' AND s.status = 'active'",
            )?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut mine = Vec::new();
        for id in candidates {
            let id = Uuid::parse_str(&id)
                .map_err(|error| ReplicaError::Damaged(format!("a session id: {error}")))?;
            if holder(&self.connection, id)? == Some(Holder::HandedTo(me)) {
                mine.push(id);
            }
        }
        Ok(sessions
            .into_iter()
            .filter(|session| mine.contains(&session.id))
            .collect())
    }
}
