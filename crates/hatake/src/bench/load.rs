//! The loopback load generator of `hatake bench ui`: keep-alive HTTP/1.1 connections on plain
//! tokio sockets, each sending one request at a time, and the latencies they record.

use super::report::{Figures, Rounds};
use super::scenarios::{Paths, Scenario};
use super::{UiBenchArgs, WARM_UP};
use anyhow::{anyhow, bail, Context};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(super) async fn measure(client: &Client, scenarios: &[Scenario], args: &UiBenchArgs) -> anyhow::Result<Rounds> {
    // One request per scenario first: fail early, and show what is being served.
    println!();
    println!("pages served (first path of each scenario):");
    for scenario in scenarios {
        let (_, path) = scenario.paths.first();
        let started = Instant::now();
        let body = client.fetch_once(&path).await.with_context(|| format!("GET {path}"))?;
        let text = String::from_utf8_lossy(&body);
        let list = path.starts_with("/leads?") || path == "/leads";
        let rows = if list { text.matches("<td><a href=\"/leads/").count() } else { 0 };
        println!(
            "  {:<24} {:<58} {:>7} bytes  {:>8.2} ms{}",
            scenario.name,
            path,
            body.len(),
            started.elapsed().as_secs_f64() * 1000.0,
            if list { format!("  {rows} rows") } else { String::new() }
        );
        if list && rows == 0 {
            bail!("GET {path} returned a page without lead rows; the benchmark would measure an empty result");
        }
    }
    println!();
    println!("warming up ({} s per scenario, not recorded) …", WARM_UP.as_secs());
    for scenario in scenarios {
        run_load(client, scenario, args.concurrency, WARM_UP, u64::MAX).await?;
    }

    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        println!();
        println!("round {}/{}", round + 1, args.rounds);
        println!(
            "  {:<24} {:>9} {:>9} {:>10} {:>10} {:>10}",
            "scenario", "requests", "req/s", "median ms", "p95 ms", "p99 ms"
        );
        let mut figures = Vec::new();
        for (index, scenario) in scenarios.iter().enumerate() {
            let seed = (round * scenarios.len() + index) as u64;
            let sample = run_load(client, scenario, args.concurrency, Duration::from_secs(args.seconds), seed).await?;
            let f = sample.figures(scenario.variants.len());
            println!(
                "  {:<24} {:>9} {:>9.1} {:>10.2} {:>10.2} {:>10.2}",
                scenario.name, f.requests, f.per_second, f.median, f.p95, f.p99
            );
            if scenario.variants.len() > 1 {
                for (name, (n, median, p95)) in scenario.variants.iter().zip(&f.variants) {
                    println!("    {:<42} {:>9} {:>20.2} {:>10.2}", name, n, median, p95);
                }
            }
            figures.push(f);
        }
        rounds.push(figures);
    }
    Ok(rounds)
}

/// Latencies of one scenario run.
struct Sample {
    /// (nanoseconds, variant)
    latencies: Vec<(u64, usize)>,
    elapsed: Duration,
}

impl Sample {
    fn figures(&self, variants: usize) -> Figures {
        let mut all: Vec<u64> = self.latencies.iter().map(|(ns, _)| *ns).collect();
        all.sort_unstable();
        let variants = (0..variants)
            .map(|v| {
                let mut some: Vec<u64> = self.latencies.iter().filter(|(_, x)| *x == v).map(|(ns, _)| *ns).collect();
                some.sort_unstable();
                (some.len() as u64, percentile(&some, 0.50), percentile(&some, 0.95))
            })
            .collect();
        Figures {
            requests: all.len() as u64,
            per_second: all.len() as f64 / self.elapsed.as_secs_f64(),
            median: percentile(&all, 0.50),
            p95: percentile(&all, 0.95),
            p99: percentile(&all, 0.99),
            variants,
        }
    }
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
pub(super) fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

/// Runs `concurrency` connections against one scenario for `duration`, on a single-threaded
/// runtime of its own (on a blocking-pool thread), and fails on any error or non-200 status.
async fn run_load(
    client: &Client,
    scenario: &Scenario,
    concurrency: usize,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Sample> {
    let client = client.clone();
    let paths = Arc::new(scenario.paths.clone());
    let name = scenario.name;
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let started = Instant::now();
            let deadline = started + duration;
            let mut tasks = tokio::task::JoinSet::new();
            for worker in 0..concurrency {
                let client = client.clone();
                let paths = paths.clone();
                let rng = SmallRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(worker as u64));
                tasks.spawn(async move { client.worker(&paths, worker, rng, deadline).await });
            }
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            while let Some(joined) = tasks.join_next().await {
                let outcome = joined.map_err(|e| anyhow!("load task failed: {e}"))?;
                latencies.extend(outcome.latencies);
                errors += outcome.errors;
                if first_error.is_none() {
                    first_error = outcome.first_error;
                }
            }
            let elapsed = started.elapsed();
            if errors > 0 {
                bail!(
                    "{name}: {errors} failed request(s) out of {}; first: {}",
                    latencies.len() + errors,
                    first_error.unwrap_or_default()
                );
            }
            if latencies.is_empty() {
                bail!("{name}: no request completed");
            }
            Ok(Sample { latencies, elapsed })
        })
    })
    .await
    .map_err(|e| anyhow!("load generator thread failed: {e}"))?
}

/// What one connection did.
struct WorkerOutcome {
    latencies: Vec<(u64, usize)>,
    errors: usize,
    first_error: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) addr: std::net::SocketAddr,
    pub(super) cookie: String,
}

impl Client {
    fn request(&self, path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nAccept: text/html\r\nUser-Agent: hatake-bench\r\n\r\n",
            self.addr, self.cookie
        )
        .into_bytes()
    }

    async fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// One request on a new connection; the body of a 200 response.
    pub(super) async fn fetch_once(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let mut stream = self.connect().await?;
        let mut buffer = Vec::new();
        let response = read_exchange(&mut stream, &mut buffer, &self.request(path)).await?;
        if response.status != 200 {
            bail!("status {}: {}", response.status, snippet(&response.body));
        }
        Ok(response.body)
    }

    /// One keep-alive connection sending requests until `deadline`. Stops at the first error.
    async fn worker(&self, paths: &Paths, worker: usize, mut rng: SmallRng, deadline: Instant) -> WorkerOutcome {
        let mut outcome = WorkerOutcome { latencies: Vec::new(), errors: 0, first_error: None };
        let mut stream: Option<TcpStream> = None;
        let mut buffer = Vec::with_capacity(256 * 1024);
        // Each connection starts at a different place in the rotation.
        let mut counter = worker * 7;
        while Instant::now() < deadline {
            let (variant, path) = paths.pick(&mut rng, counter);
            counter += 1;
            let request = self.request(&path);
            let started = Instant::now();
            if stream.is_none() {
                match self.connect().await {
                    Ok(s) => stream = Some(s),
                    Err(e) => {
                        fail(&mut outcome, format!("connect: {e}"));
                        break;
                    }
                }
            }
            let Some(conn) = stream.as_mut() else { break };
            match read_exchange(conn, &mut buffer, &request).await {
                Ok(response) => {
                    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    if response.status != 200 {
                        fail(
                            &mut outcome,
                            format!("GET {path}: status {}: {}", response.status, snippet(&response.body)),
                        );
                        break;
                    }
                    outcome.latencies.push((nanos, variant));
                    if response.close {
                        stream = None;
                    }
                }
                Err(e) => {
                    fail(&mut outcome, format!("GET {path}: {e:#}"));
                    break;
                }
            }
        }
        outcome
    }
}

fn fail(outcome: &mut WorkerOutcome, message: String) {
    outcome.errors += 1;
    outcome.first_error.get_or_insert(message);
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

struct Response {
    status: u16,
    body: Vec<u8>,
    /// The server will close the connection after this response.
    close: bool,
}

/// Writes one request and reads its whole response (headers and a `Content-Length`, chunked
/// or close-delimited body).
async fn read_exchange(stream: &mut TcpStream, buffer: &mut Vec<u8>, request: &[u8]) -> anyhow::Result<Response> {
    stream.write_all(request).await.context("writing the request")?;
    buffer.clear();
    let header_end = loop {
        if let Some(at) = find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        if read_more(stream, buffer).await? == 0 {
            bail!("connection closed before the response headers ({} bytes read)", buffer.len());
        }
    };
    let head = std::str::from_utf8(&buffer[..header_end]).context("response headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 =
        parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse().with_context(|| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|v| v.trim() == "chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body = if chunked {
        read_chunked(stream, buffer, header_end).await?
    } else if let Some(length) = content_length {
        while buffer.len() < header_end + length {
            if read_more(stream, buffer).await? == 0 {
                bail!("connection closed after {} of {length} body bytes", buffer.len() - header_end);
            }
        }
        buffer[header_end..header_end + length].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        // Delimited by the end of the connection.
        while read_more(stream, buffer).await? > 0 {}
        close = true;
        buffer[header_end..].to_vec()
    };
    Ok(Response { status, body, close })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<usize> {
    let mut chunk = [0u8; 64 * 1024];
    let n = stream.read(&mut chunk).await.context("reading the response")?;
    buffer.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body that starts at `at` in `buffer`, reading more as needed.
async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>, mut at: usize) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = find(&buffer[at..], b"\r\n") {
                break at + end;
            }
            if read_more(stream, buffer).await? == 0 {
                bail!("connection closed inside a chunked body");
            }
        };
        let line = std::str::from_utf8(&buffer[at..line_end]).context("chunk size is not UTF-8")?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).with_context(|| format!("bad chunk size {line:?}"))?;
        at = line_end + 2;
        if size == 0 {
            // Trailers (if any), then an empty line.
            loop {
                if let Some(end) = find(&buffer[at..], b"\r\n") {
                    if end == 0 {
                        return Ok(body);
                    }
                    at += end + 2;
                    continue;
                }
                if read_more(stream, buffer).await? == 0 {
                    bail!("connection closed inside chunked trailers");
                }
            }
        }
        while buffer.len() < at + size + 2 {
            if read_more(stream, buffer).await? == 0 {
                bail!("connection closed inside a chunk");
            }
        }
        body.extend_from_slice(&buffer[at..at + size]);
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ns: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        assert_eq!(percentile(&ns, 0.50), 50.0);
        assert_eq!(percentile(&ns, 0.95), 95.0);
        assert_eq!(percentile(&ns, 0.99), 99.0);
        assert_eq!(percentile(&ns[..1], 0.95), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    /// A server that answers each request with the next canned response, on one connection.
    async fn canned(responses: Vec<&'static str>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for response in responses {
                while find(&seen, b"\r\n\r\n").is_none() {
                    let mut chunk = [0u8; 1024];
                    let n = socket.read(&mut chunk).await.unwrap();
                    seen.extend_from_slice(&chunk[..n]);
                }
                let end = find(&seen, b"\r\n\r\n").unwrap() + 4;
                seen.drain(..end);
                socket.write_all(response.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_sized_chunked_and_error_responses_on_one_connection() {
        let addr = canned(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-a: b\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops",
        ])
        .await;
        let client = Client { addr, cookie: "hatake_session=x".into() };
        let mut stream = client.connect().await.unwrap();
        let mut buffer = Vec::new();
        let first = read_exchange(&mut stream, &mut buffer, &client.request("/a")).await.unwrap();
        assert_eq!((first.status, first.body.as_slice(), first.close), (200, &b"hello"[..], false));
        let second = read_exchange(&mut stream, &mut buffer, &client.request("/b")).await.unwrap();
        assert_eq!((second.status, second.body.as_slice(), second.close), (200, &b"abcde"[..], false));
        let third = read_exchange(&mut stream, &mut buffer, &client.request("/c")).await.unwrap();
        assert_eq!((third.status, third.body.as_slice(), third.close), (500, &b"oops"[..], true));
    }

    #[tokio::test]
    async fn a_non_200_status_fails_the_scenario() {
        let addr = canned(vec!["HTTP/1.1 303 See Other\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n"]).await;
        let client = Client { addr, cookie: "hatake_session=x".into() };
        let scenario = Scenario {
            name: "test",
            variants: vec!["only"],
            paths: Paths::Rotate(vec![(0, "/leads".into())]),
            baseline: false,
        };
        let error = run_load(&client, &scenario, 1, Duration::from_secs(5), 0).await.err().expect("must fail");
        let message = format!("{error:#}");
        assert!(message.contains("1 failed request") && message.contains("status 303"), "{message}");
    }
}
