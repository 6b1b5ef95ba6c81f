//! Event ids across a reconnect, on nchan's wire shape. nchan numbers its
//! messages `<unix-seconds>:<n>` with `n` restarting every second, so two
//! messages a second apart both end in `:0`. Against a real nginx + nchan
//! stream that timed its subscribers out, slogate counted every correct
//! resume from Last-Event-ID as one repeated id (16 "repeats" over 16
//! reconnects in which nchan repeated nothing).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

const HEAD: &str = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\
Content-Type: text/event-stream; charset=utf-8\r\nConnection: keep-alive\r\n\r\n: hi\n\n";

/// A byte-exact nchan subscriber (no Content-Length, no chunking: the body
/// ends when the connection closes). The first connection carries two
/// messages from two seconds, then nchan's subscriber-timeout goodbye and a
/// close. Later connections send `resume` (the messages after the client's
/// Last-Event-ID, or a replay), then pings until the client leaves.
/// Returns the base URL and the Last-Event-ID of every request.
async fn nchan_like(resume: &'static str) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(sock, resume, log.clone()));
        }
    });
    (base, seen)
}

async fn serve(mut sock: TcpStream, resume: &str, log: Arc<Mutex<Vec<Option<String>>>>) {
    let head = read_head(&mut sock).await;
    // slogate's preflight connects and sends nothing: not a subscriber.
    if head.is_empty() {
        return;
    }
    let first = {
        let mut log = log.lock().unwrap();
        log.push(last_event_id(&head));
        log.len() == 1
    };
    let _ = sock.write_all(HEAD.as_bytes()).await;
    if first {
        let body = "id: 1700000000:0\ndata: {\"job\":1}\n\n\
                    id: 1700000001:0\ndata: {\"job\":2}\n\n:408: 408 Request Timeout\n\n";
        let _ = sock.write_all(body.as_bytes()).await;
        return;
    }
    if sock.write_all(resume.as_bytes()).await.is_err() {
        return;
    }
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if sock.write_all(b"event: ping\n\n").await.is_err() {
            return;
        }
    }
}

async fn read_head(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn last_event_id(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("last-event-id")
            .then(|| v.trim().to_string())
    })
}

fn one_stream(base: &str) -> slogate::scenario::Scenario {
    scenario(
        "base_url = \"${BASE_URL}\"\n[[stream]]\nname = \"jobs\"\npath = \"/sub/jobs\"\n\
         connections = 1\nhold = \"2500ms\"\n",
        base,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nchan_resume_after_a_reconnect_repeats_and_loses_nothing() {
    let (base, seen) = nchan_like("id: 1700000002:0\ndata: {\"job\":3}\n\n").await;
    let o = run(&one_stream(&base)).await;
    let st = &o.summary.streams[0];
    let ids = seen.lock().unwrap().clone();
    assert_eq!(
        ids,
        [None, Some("1700000001:0".to_string())],
        "requests' Last-Event-ID"
    );
    assert_eq!(st.reconnects, 1);
    assert_eq!(st.data_events, 3);
    assert_eq!((st.ids_lost, st.ids_repeated), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nchan_replay_after_a_reconnect_is_a_repeat() {
    let (base, _) = nchan_like("id: 1700000001:0\ndata: {\"job\":2}\n\n").await;
    let o = run(&one_stream(&base)).await;
    let st = &o.summary.streams[0];
    assert_eq!(st.reconnects, 1);
    assert_eq!((st.ids_lost, st.ids_repeated), (0, 1));
}
