//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the local AWS: answers chosen
//! operations with throttling, 500s, dropped connections or delays, and forwards the rest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do to a matching request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// 429 TooManyRequestsException with `Retry-After: 1`, as API Gateway throttles.
    Throttle,
    /// 500 InternalFailure.
    ServerError,
    /// Close the connection without answering.
    Drop,
    /// Forward, but only after this long.
    Delay(Duration),
    /// 403 AccessDeniedException, as IAM refuses a call the role may not make.
    Deny,
}

/// A rule: requests whose operation (e.g. `UpdateStage`, `PutMetricAlarm`) and path contain
/// the given texts get `fault`, `times` times.
#[derive(Clone, Debug)]
struct Rule {
    operation: String,
    path_contains: String,
    fault: Fault,
    times: usize,
}

/// The running proxy; rules can change while it runs.
#[derive(Clone)]
pub struct FaultProxy {
    pub endpoint: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    injected: Arc<Mutex<Vec<(String, Fault)>>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let proxy = Self {
            endpoint,
            rules: Arc::default(),
            injected: Arc::default(),
        };
        let handle = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (handle, upstream) = (handle.clone(), upstream.clone());
                tokio::spawn(async move { handle.serve(client, &upstream).await });
            }
        });
        proxy
    }

    /// Injects `fault` into the next `times` requests for `operation` whose path contains
    /// `path_contains` (empty matches any).
    pub fn inject(&self, operation: &str, path_contains: &str, fault: Fault, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            operation: operation.to_owned(),
            path_contains: path_contains.to_owned(),
            fault,
            times,
        });
    }

    /// Removes every rule still pending.
    pub fn heal(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// The faults injected so far, as (operation, fault).
    pub fn injected(&self) -> Vec<(String, Fault)> {
        self.injected.lock().unwrap().clone()
    }

    fn fault_for(&self, operation: &str, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules
            .iter_mut()
            .find(|r| r.times > 0 && r.operation == operation && path.contains(&r.path_contains))?;
        rule.times -= 1;
        self.injected
            .lock()
            .unwrap()
            .push((operation.to_owned(), rule.fault));
        Some(rule.fault)
    }

    /// One request per connection: read it, fault it or forward it, answer, close.
    async fn serve(&self, mut client: TcpStream, upstream: &str) {
        let Some((head, body)) = read_request(&mut client).await else {
            return;
        };
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        match self.fault_for(&operation(method, path, &body), path) {
            Some(Fault::Drop) => return,
            Some(Fault::Throttle) => {
                let body = r#"{"message":"Too Many Requests"}"#;
                let response = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
                     x-amzn-ErrorType: TooManyRequestsException\r\nRetry-After: 1\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(response.as_bytes()).await;
                return;
            }
            Some(Fault::ServerError) => {
                let body = r#"{"message":"Internal server error"}"#;
                let response = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\
                     x-amzn-ErrorType: InternalFailure\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(response.as_bytes()).await;
                return;
            }
            Some(Fault::Deny) => {
                let body = r#"{"message":"User is not authorized to perform this action"}"#;
                let response = format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n\
                     x-amzn-ErrorType: AccessDeniedException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(response.as_bytes()).await;
                return;
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
        let Ok(mut server) = TcpStream::connect(upstream).await else {
            return;
        };
        // One exchange per connection, so the answer ends where the upstream closes.
        let head: String = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let request = [head.as_bytes(), b"Connection: close\r\n\r\n", &body].concat();
        if server.write_all(&request).await.is_err() {
            return;
        }
        let mut response = Vec::new();
        let _ = server.read_to_end(&mut response).await;
        let _ = client.write_all(&response).await;
    }
}

/// The AWS operation a request calls: RPC v2 CBOR names it in the path; the query protocol
/// (STS) in the form body's `Action`; API Gateway's REST routes by method and resource.
fn operation(method: &str, path: &str, body: &[u8]) -> String {
    let path = path.split('?').next().unwrap_or_default();
    if let Some((_, op)) = path.split_once("/operation/") {
        return op.to_owned();
    }
    if let Some(action) = String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        return action.to_owned();
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segments.as_slice()) {
        ("GET", ["restapis"]) => "GetRestApis",
        ("GET", ["restapis", _]) => "GetRestApi",
        ("GET", ["restapis", _, "stages", _]) => "GetStage",
        ("PATCH", ["restapis", _, "stages", _]) => "UpdateStage",
        ("GET", ["usageplans"]) => "GetUsagePlans",
        ("GET", ["usageplans", _]) => "GetUsagePlan",
        ("PATCH", ["usageplans", _]) => "UpdateUsagePlan",
        ("GET", ["account"]) => "GetAccount",
        ("GET", ["restapis", _, "resources"]) => "GetResources",
        ("GET", ["2015-03-31", "functions", _]) => "GetFunction",
        _ => "Other",
    };
    name.to_owned()
}

/// The request head (request line and headers) and its body, read by Content-Length.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buffer[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}
