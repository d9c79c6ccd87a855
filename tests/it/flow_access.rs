//! Who may read and change a team's flows and conflicts, over real HTTP: nobody sees or touches
//! another team's data (the same flow id in two teams is two flows), viewers change nothing,
//! engineers change only flows they author, and bad pull requests get clear 4xx answers.

use reqwest::StatusCode;
use rf_core::sync::{
    Mutation, PROTOCOL_VERSION, PullResponse, PushRequest, PushResponse, PutFlowVersion,
};
use rf_core::{Flow, VersionId};
use rf_tests::{Backend, TestServer, on_every_backend};
use uuid::Uuid;

const FLOW_ID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

fn flow(title: &str) -> Flow {
    Flow::parse(&format!(
        r#"{{"format": "resolutionflow/v1", "id": "{FLOW_ID}",
            "kind": "troubleshooting", "title": "{title}", "start": "a",
            "nodes": [{{"id": "a", "type": "resolution", "title": "Done", "outcome": "resolved"}}]}}"#
    ))
    .unwrap()
}

fn put(mutation_id: i64, flow: &Flow, base: Option<VersionId>) -> Mutation {
    Mutation {
        mutation_id,
        entity: "flow".into(),
        entity_id: FLOW_ID.into(),
        operation: "put_version".into(),
        base_version: None,
        payload: serde_json::to_value(PutFlowVersion {
            version: VersionId::of(flow),
            base,
            document: serde_json::to_value(flow).unwrap(),
        })
        .unwrap(),
    }
}

fn push_of(device: Uuid, mutations: Vec<Mutation>) -> PushRequest {
    PushRequest {
        protocol: PROTOCOL_VERSION,
        schema: 7,
        client_id: device,
        mutations,
        events: Vec::new(),
        flow_versions: Vec::new(),
    }
}

async fn pull(server: &TestServer, token: &str, since: i64) -> PullResponse {
    let (status, body) = server
        .get(&format!("/api/v1/sync/pull?since={since}"), Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn teams_never_see_or_touch_each_others_flows(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.issue_token("ada@contoso.example").await;
    let eve = server.issue_token("eve@fabrikam.example").await;
    let contoso = flow("Contoso's flow");
    let (status, body) = server
        .post(
            "/api/v1/sync/push",
            Some(&ada),
            push_of(Uuid::new_v4(), vec![put(1, &contoso, None)]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Fabrikam sees nothing of Contoso.
    let page = pull(&server, &eve, 0).await;
    assert_eq!(page.latest, 0);
    assert!(page.versions.is_empty() && page.flows.is_empty() && page.events.is_empty());

    // Eve pushing the same flow id makes a Fabrikam flow; Contoso's is untouched.
    let fabrikam = flow("Fabrikam's flow");
    let (status, body) = server
        .post(
            "/api/v1/sync/push",
            Some(&eve),
            push_of(
                Uuid::new_v4(),
                vec![put(1, &fabrikam, Some(VersionId::of(&contoso)))],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: PushResponse = serde_json::from_value(body).unwrap();
    assert!(answer.rejected.is_empty());
    assert_eq!(answer.heads[0].head, VersionId::of(&fabrikam));
    let page = pull(&server, &ada, 0).await;
    assert_eq!(page.flows.len(), 1);
    assert_eq!(page.flows[0].head, VersionId::of(&contoso));
    assert_eq!(page.versions.len(), 1);
    let page = pull(&server, &eve, 0).await;
    assert_eq!(page.flows[0].head, VersionId::of(&fabrikam));
    assert_eq!(
        page.versions.len(),
        1,
        "no Contoso version leaks into Fabrikam"
    );
    assert!(page.conflicts.is_empty());

    // A conflict id from another team (or none at all) is refused for good, changing nothing.
    let resolve = Mutation {
        mutation_id: 1,
        entity: "conflict".into(),
        entity_id: Uuid::new_v4().to_string(),
        operation: "resolve".into(),
        base_version: None,
        payload: serde_json::json!({"keep": "theirs"}),
    };
    let (_, body) = server
        .post(
            "/api/v1/sync/push",
            Some(&eve),
            push_of(Uuid::new_v4(), vec![resolve]),
        )
        .await;
    let answer: PushResponse = serde_json::from_value(body).unwrap();
    assert!(answer.rejected[0].reason.contains("no conflict"));
    server.stop().await;
}

async fn viewers_and_other_engineers_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.issue_token("ada@contoso.example").await;
    let bob = server.issue_token("bob@contoso.example").await;
    let vic = server.issue_token("vic@contoso.example").await;
    let first = flow("Ada's flow");
    server
        .post(
            "/api/v1/sync/push",
            Some(&ada),
            push_of(Uuid::new_v4(), vec![put(1, &first, None)]),
        )
        .await;
    let before = server.count("SELECT COUNT(*) FROM flow_versions").await;

    // A viewer's push is refused whole.
    let (status, body) = server
        .post(
            "/api/v1/sync/push",
            Some(&vic),
            push_of(
                Uuid::new_v4(),
                vec![put(1, &flow("Vic's"), Some(VersionId::of(&first)))],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    // Another engineer's edit of Ada's flow is settled as refused, with the reason.
    let (status, body) = server
        .post(
            "/api/v1/sync/push",
            Some(&bob),
            push_of(
                Uuid::new_v4(),
                vec![put(1, &flow("Bob's"), Some(VersionId::of(&first)))],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer: PushResponse = serde_json::from_value(body).unwrap();
    assert_eq!(answer.mutations_settled_through, 1);
    assert!(answer.rejected[0].reason.contains("author"));
    assert_eq!(answer.heads[0].head, VersionId::of(&first));
    assert_eq!(
        server.count("SELECT COUNT(*) FROM flow_versions").await,
        before
    );
    // Neither can smuggle a document in as a session's flow version.
    let smuggled = flow("Smuggled");
    for token in [&vic, &bob] {
        let mut request = push_of(Uuid::new_v4(), Vec::new());
        request
            .flow_versions
            .push(rf_core::sync::PushedFlowVersion {
                flow_id: smuggled.id.unwrap(),
                version: VersionId::of(&smuggled),
                document: serde_json::to_value(&smuggled).unwrap(),
            });
        let (status, body) = server.post("/api/v1/sync/push", Some(token), request).await;
        // The viewer is refused outright; the engineer's push goes through with the document
        // skipped, because no event of the push runs it (one bad item never fails the rest).
        let expected = if token == &vic {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{body}");
    }
    assert_eq!(
        server.count("SELECT COUNT(*) FROM flow_versions").await,
        before
    );
    // The viewer still reads everything of the team.
    let page = pull(&server, &vic, 0).await;
    assert_eq!(page.flows[0].head, VersionId::of(&first));
    server.stop().await;
}

async fn bad_pull_requests_get_clear_answers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.issue_token("ada@contoso.example").await;
    let (status, body) = server.get("/api/v1/sync/pull", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    for query in [
        "since=-1",
        "limit=0",
        "limit=1000000",
        "since=abc",
        "frobnicate=1",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/sync/pull?{query}"), Some(&ada))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
    }
    let (status, body) = server.get("/api/v1/sync/pull?protocol=0", Some(&ada)).await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(body["error"]["code"], "upgrade_required");
    // Paging: a limit spans at most that many team changes, and `until` never passes `latest`.
    for title in ["one", "two", "three"] {
        let version = flow(title);
        let (status, _) = server
            .post(
                "/api/v1/sync/push",
                Some(&ada),
                push_of(Uuid::new_v4(), vec![put(1, &version, None)]),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut since = 0;
    let mut pages = 0;
    loop {
        let (_, body) = server
            .get(
                &format!("/api/v1/sync/pull?since={since}&limit=2"),
                Some(&ada),
            )
            .await;
        let page: PullResponse = serde_json::from_value(body).unwrap();
        assert!(page.until - page.since <= 2 && page.until <= page.latest);
        pages += 1;
        since = page.until;
        if page.until == page.latest {
            break;
        }
    }
    assert!(pages >= 2, "three flows take several pages of two changes");
    server.stop().await;
}

on_every_backend!(
    teams_never_see_or_touch_each_others_flows,
    viewers_and_other_engineers_change_nothing,
    bad_pull_requests_get_clear_answers
);
