//! Hand-offs between real replicas through a real sync server on each back end: the handing
//! laptop stops writing the moment it records the hand-off, the receiver continues once it has
//! pulled it, nobody else writes, bad hand-offs are refused offline with nothing changed, and
//! the export shows who did which steps.

use rf_core::Outcome;
use rf_core::export::{ExportFormat, ExportOptions, export};
use rf_core::session::{Choice, Command, StartRequest};
use rf_tests::device::{Device, FLOW_ID, converged, flow};
use rf_tests::{Backend, TestServer, fingerprint, on_every_backend};
use uuid::Uuid;

async fn open_session(device: &Device) -> Uuid {
    device
        .with(|replica| {
            let id = replica
                .start_session(
                    Uuid::parse_str(FLOW_ID).unwrap(),
                    StartRequest {
                        ticket: "T-77".into(),
                        client: "Contoso".into(),
                        engineer: "ada@contoso.example".into(),
                        ..StartRequest::default()
                    },
                )
                .unwrap()
                .id;
            replica
                .run_commands(
                    id,
                    vec![
                        Command::Answer {
                            choice: Choice::parse("yes"),
                        },
                        Command::Note {
                            text: "Reinstalled the client: same error 809".into(),
                        },
                    ],
                )
                .unwrap();
            id
        })
        .await
}

/// Tries to add a note; the error's words, with nothing changed on the replica.
async fn refused_note(device: &Device, session: Uuid) -> String {
    device
        .with(move |replica| {
            let before = fingerprint(replica);
            let error = replica
                .run_command(
                    session,
                    Command::Note {
                        text: "one more thing".into(),
                    },
                )
                .unwrap_err()
                .to_string();
            assert_eq!(before, fingerprint(replica), "nothing recorded");
            error
        })
        .await
}

async fn a_session_handed_off_is_continued_on_the_receivers_laptop(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    let session = open_session(&ada).await;
    ada.sync().await.unwrap();
    bob.sync().await.unwrap();

    // A teammate's session is not in progress on Bob's home: it is Ada's.
    let home = bob.with(|replica| replica.home().unwrap()).await;
    assert!(home.in_progress.is_empty() && home.handed_to_me.is_empty());
    let home = ada.with(|replica| replica.home().unwrap()).await;
    assert_eq!(home.in_progress.len(), 1);
    // A teammate who was not handed the session cannot write to it.
    let words = refused_note(&bob, session).await;
    assert!(words.contains("worked by another engineer"), "{words}");

    // Bad hand-offs are refused here, offline, and change nothing.
    for (to, expected) in [
        ("vic@contoso.example", "is a viewer"),
        ("eve@fabrikam.example", "is not a member of the team"),
        ("ADA@contoso.example", "that is you"),
    ] {
        let words = ada
            .with(move |replica| {
                let before = fingerprint(replica);
                let error = replica.hand_off(session, to, None).unwrap_err().to_string();
                assert_eq!(before, fingerprint(replica));
                error
            })
            .await;
        assert!(words.contains(expected), "{to}: {words}");
    }

    // Ada hands it to Bob while offline from him: from now her laptop records nothing on it.
    ada.with(move |replica| {
        replica
            .hand_off(
                session,
                "Bob@Contoso.example",
                Some("Tried reinstalling; need domain admin for the NPS policy".into()),
            )
            .unwrap();
    })
    .await;
    let words = refused_note(&ada, session).await;
    assert!(words.contains("handed to bob@contoso.example"), "{words}");
    // Bob cannot continue before he has pulled the hand-off.
    let words = refused_note(&bob, session).await;
    assert!(words.contains("worked by another engineer"), "{words}");

    ada.sync().await.unwrap();
    bob.sync().await.unwrap();
    let handed = bob.with(|replica| replica.handed_to_me().unwrap()).await;
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].id, session);
    let home = bob.with(|replica| replica.home().unwrap()).await;
    assert_eq!(home.handed_to_me, handed, "on Bob's home, as handed to him");
    assert!(home.in_progress.is_empty());
    let home = ada.with(|replica| replica.home().unwrap()).await;
    assert!(home.in_progress.is_empty(), "no longer Ada's to continue");
    bob.with(move |replica| {
        replica
            .run_commands(
                session,
                vec![
                    Command::Note {
                        text: "Fixed the NPS network policy as domain admin".into(),
                    },
                    Command::Answer {
                        choice: Choice::parse("done"),
                    },
                    Command::Finish {
                        outcome: Outcome::Resolved,
                        summary: Some("NPS policy corrected".into()),
                        next_steps: None,
                    },
                ],
            )
            .unwrap();
        assert!(replica.handed_to_me().unwrap().is_empty());
    })
    .await;
    bob.sync().await.unwrap();
    ada.sync().await.unwrap();
    let state = converged(&[&ada, &bob]).await;
    assert!(state.refused.is_empty());
    assert!(
        state
            .sessions
            .iter()
            .any(|row| row.starts_with(&format!("{session} finished resolved"))),
        "{:#?}",
        state.sessions
    );
    // The server: Bob owns it now; the log holds both laptops' events, never interleaved.
    assert_eq!(
        server
            .count(
                format!(
                    "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.session_id = '{session}' AND u.email = 'bob@contoso.example'
                       AND s.handed_to IS NULL"
                )
                .leak()
            )
            .await,
        1
    );
    assert_eq!(
        server
            .count(
                format!(
                    "SELECT COUNT(DISTINCT device_id) FROM session_events WHERE session_id = '{session}'"
                )
                .leak()
            )
            .await,
        2
    );
    // The note shows who did what: the hand-off line with its note, then Bob's steps.
    let note = ada
        .with(move |replica| {
            let state = replica.session(session).unwrap().state;
            export(&state, ExportFormat::Text, ExportOptions::default()).text
        })
        .await;
    let handed_at = note
        .find("Handed off to: bob@contoso.example")
        .expect(&note);
    let need = note.find("need domain admin").expect(&note);
    let fixed = note.find("Fixed the NPS network policy").expect(&note);
    assert!(handed_at < need && need < fixed, "{note}");
    // A finished session is not handed on.
    let words = bob
        .with(move |replica| {
            replica
                .hand_off(session, "ada@contoso.example", None)
                .unwrap_err()
                .to_string()
        })
        .await;
    assert!(words.contains("finished"), "{words}");
    server.stop().await;
}

on_every_backend!(a_session_handed_off_is_continued_on_the_receivers_laptop);
