//! The status endpoints through the whole stack: what pushes do to a
//! target's counters, routing of `/` next to a target at base `/`, and the
//! JSON twin.

use super::*;

async fn status_json(h: &Harness) -> serde_json::Value {
    let (status, headers, body) = h.call(Method::GET, "/api/v1/status", &[], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_str(&body).expect("json")
}

#[tokio::test]
async fn pushes_show_up_in_the_target_counters() {
    let h = Harness::new(vec![target("root", "/"), target("app", "/app/")]);
    assert_eq!(
        h.push_json("/loki/api/v1/push", &[], ONE_STREAM).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, _, _) = h
        .call(Method::POST, "/app/api/v1/raw", &[], "a\nb\nc")
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.push_json("/app/loki/api/v1/push", &[], "{nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = h.call(Method::GET, "/app/loki/api/v1/push", &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // Not a target's path: counted nowhere.
    let (status, _, _) = h.call(Method::GET, "/app/ready", &[], "").await;
    assert_eq!(status, StatusCode::OK);

    let json = status_json(&h).await;
    let targets = &json["listeners"][0]["targets"];
    let root = &targets[0];
    assert_eq!(root["job"], "root");
    assert_eq!(root["base_url"], "/");
    assert_eq!(root["pushes_accepted"], 1);
    assert_eq!(root["entries"], 1);
    assert_eq!(root["bytes"], ONE_STREAM.len());
    assert_eq!(root["rejected_4xx"], 0);
    assert_eq!(root["last_rejection"], serde_json::Value::Null);
    let app = &targets[1];
    assert_eq!(app["job"], "app");
    assert_eq!(app["pushes_accepted"], 1);
    assert_eq!(app["entries"], 3);
    assert_eq!(app["bytes"], "a\nb\nc".len() + "{nope".len());
    assert_eq!(app["rejected_4xx"], 2);
    assert_eq!(app["rejected_503"], 0);
    assert_eq!(app["last_rejection"]["status"], 405);
    let reason = app["last_rejection"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("not allowed"), "{reason}");
}

#[tokio::test]
async fn queue_full_is_a_503_in_the_counters() {
    let h = Harness::with_queue(vec![target("app", "/")], 1, Duration::from_millis(20));
    h.tx.try_send(Arc::new(Delivery::default()))
        .expect("room for one");
    let (status, _) = h.push_json("/loki/api/v1/push", &[], ONE_STREAM).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let json = status_json(&h).await;
    let app = &json["listeners"][0]["targets"][0];
    assert_eq!(app["rejected_503"], 1);
    assert_eq!(app["last_rejection"]["status"], 503);
    assert_eq!(app["entries"], 0);
}

#[tokio::test]
async fn root_is_the_page_and_push_paths_under_root_still_push() {
    let h = Harness::new(vec![target("root", "/")]);
    let (status, headers, body) = h.call(Method::GET, "/", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    let (status, headers, _) = h.call(Method::POST, "/", &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
    for path in ["/push", "/push/a/b", "/api/v1/raw"] {
        let (status, _, body) = h.call(Method::POST, path, &[], "line").await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
    }
    assert_eq!(
        h.push_json("/api/v1/push", &[], ONE_STREAM).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn not_served_on_a_loki_push_api_listener() {
    let (tx, _rx) = mpsc::channel(4);
    let spec = ListenerSpec {
        server: ServerConfig::default(),
        targets: vec![target("legacy", "/")],
        serve_metrics: false,
    };
    let handoff = Arc::new(Handoff::new(vec![tx], None));
    let state = Arc::new(
        listener_state(
            &spec,
            &handoff,
            Duration::from_secs(1),
            &Arc::new(AtomicBool::new(false)),
            None,
        )
        .unwrap(),
    );
    let h = Harness {
        state,
        rx: mpsc::channel(1).1,
        tx: mpsc::channel(1).0,
        server: ServerConfig::default(),
    };
    for path in ["/", "/api/v1/status"] {
        let (status, _, _) = h.call(Method::GET, path, &[], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}
