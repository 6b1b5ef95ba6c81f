//! A byte-exact HTTP/1.1 test server on raw TCP. Each request gets a
//! scripted reply: a head, then body pieces at fixed times after the request
//! was read ("@N ms"), each written and flushed on its own (its own chunk
//! under chunked transfer encoding), then an end or an open hold. The heads
//! of all requests are kept so tests can check what the client sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";

/// The scripted answer to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    head: String,
    head_at: u64,
    chunked: bool,
    steps: Vec<(u64, Vec<u8>)>,
    /// `None`: hold the connection open until the client closes it.
    end_at: Option<u64>,
    keep_alive: bool,
}

impl Reply {
    /// "SSE200": event-stream headers, chunked, flushed at once.
    pub fn sse() -> Reply {
        Reply::chunked(SSE_HEAD)
    }

    /// A head that declares chunked transfer encoding; pieces are framed.
    pub fn chunked(head: &str) -> Reply {
        Reply {
            head: head.into(),
            head_at: 0,
            chunked: true,
            steps: Vec::new(),
            end_at: None,
            keep_alive: false,
        }
    }

    /// A complete, unchunked answer (e.g. a 204 or a 503 with its body).
    pub fn whole(status: &str, content_type: &str, body: &str) -> Reply {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        Reply {
            head,
            head_at: 0,
            chunked: false,
            steps: vec![(0, body.as_bytes().to_vec())],
            end_at: Some(0),
            keep_alive: false,
        }
    }

    /// Send the head this long after the request was read.
    pub fn head_at(mut self, ms: u64) -> Reply {
        self.head_at = ms;
        self
    }

    /// One write + flush at `ms` after the request was read.
    pub fn at(mut self, ms: u64, bytes: impl AsRef<[u8]>) -> Reply {
        self.steps.push((ms, bytes.as_ref().to_vec()));
        self
    }

    /// One write per byte, `every` ms apart from `from`.
    pub fn bytewise(mut self, from: u64, every: u64, bytes: &[u8]) -> Reply {
        for (i, b) in bytes.iter().enumerate() {
            self.steps.push((from + i as u64 * every, vec![*b]));
        }
        self
    }

    /// `bytes` cut into `size`-byte writes, back to back at `ms`.
    pub fn pieces(mut self, ms: u64, bytes: &[u8], size: usize) -> Reply {
        for c in bytes.chunks(size) {
            self.steps.push((ms, c.to_vec()));
        }
        self
    }

    /// End the body (terminating chunk), then close.
    pub fn end(mut self, ms: u64) -> Reply {
        self.end_at = Some(ms);
        self
    }

    /// After the end, read the next request on the same connection.
    pub fn keep_alive(mut self) -> Reply {
        self.keep_alive = true;
        self
    }
}

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    pub at: Instant,
    pub head: String,
    /// When each body piece of the reply was written and flushed.
    pub wrote: Arc<Mutex<Vec<Instant>>>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves on 127.0.0.1:0; `script(i)` answers the i-th request (from 0).
pub async fn serve(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let script: Script = Arc::new(script);
    let counter = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (script, counter, seen) = (script.clone(), counter.clone(), seen.clone());
            tokio::spawn(connection(sock, script, counter, seen));
        }
    });
    Server { url, requests }
}

/// A server that accepts connections and never answers.
pub async fn silent() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

async fn connection(
    mut sock: TcpStream,
    script: Script,
    counter: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Request>>>,
) {
    sock.set_nodelay(true).unwrap();
    loop {
        let Some(head) = read_head(&mut sock).await else {
            return;
        };
        let t0 = Instant::now();
        let wrote = Arc::new(Mutex::new(Vec::new()));
        let req = Request {
            at: t0,
            head,
            wrote: wrote.clone(),
        };
        seen.lock().unwrap().push(req);
        let reply = script(counter.fetch_add(1, Ordering::SeqCst));
        if play(&mut sock, &reply, t0, &wrote).await.is_err() {
            return;
        }
        match reply.end_at {
            Some(_) if reply.keep_alive => continue,
            Some(_) => {
                let _ = sock.shutdown().await;
                return;
            }
            None => {
                // Hold: read until the client goes away.
                let mut buf = [0u8; 1024];
                while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

async fn read_head(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut b).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn play(
    sock: &mut TcpStream,
    r: &Reply,
    t0: Instant,
    wrote: &Mutex<Vec<Instant>>,
) -> std::io::Result<()> {
    let until = |ms: u64| tokio::time::sleep_until((t0 + Duration::from_millis(ms)).into());
    until(r.head_at).await;
    sock.write_all(r.head.as_bytes()).await?;
    sock.flush().await?;
    for (ms, bytes) in &r.steps {
        until(*ms).await;
        if r.chunked {
            let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
            framed.extend_from_slice(bytes);
            framed.extend_from_slice(b"\r\n");
            sock.write_all(&framed).await?;
        } else {
            sock.write_all(bytes).await?;
        }
        sock.flush().await?;
        wrote.lock().unwrap().push(Instant::now());
    }
    if let Some(ms) = r.end_at {
        until(ms).await;
        if r.chunked {
            sock.write_all(b"0\r\n\r\n").await?;
            sock.flush().await?;
        }
    }
    Ok(())
}
