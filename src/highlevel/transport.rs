//! One HTTP exchange with GHL: hyper's pooled HTTP/1 client (rustls for https), driven directly.
//!
//! reqwest, which the rest of the crate uses for its few calls, parsed every GHL call's URL twice
//! more (its redirect policy, the response URL), cloned the header map and ran three tower layers:
//! about 30k instructions a call, more than a tenth of a nested query. Here a call is a URI, its
//! headers, and one timeout around sending it and reading the whole answer.

use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// GHL's answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No whole answer within the attempt's timeout.
    #[error("GHL did not answer in time")]
    TimedOut,
    /// The request could not be made (a URL or header no request may carry); never sent.
    #[error("the request to GHL could not be made: {0}")]
    Unsendable(&'static str),
    /// Connecting, sending or reading the head failed.
    #[error("the exchange with GHL failed")]
    Exchange(#[source] hyper_util::client::legacy::Error),
    /// The answer's body broke off.
    #[error("GHL's answer broke off")]
    Body(#[source] hyper::Error),
}

impl TransportError {
    /// The attempt's timer fired, or the connect timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut) || self.io_kind() == Some(std::io::ErrorKind::TimedOut)
    }

    /// No connection was made (so the request was never sent).
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Exchange(error) if error.is_connect())
    }

    /// The first I/O error in the chain of causes.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        std::iter::successors(self.source(), |e| (*e).source()).find_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
    }
}

/// The pooled client.
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Transport {
    pub fn new(connect_timeout: Duration) -> Result<Self, rustls::Error> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(90)).pool_timer(TokioTimer::new()).build(https);
        Ok(Self { client })
    }

    /// Sends one request and reads the whole answer, all within `timeout`.
    pub async fn send(&self, method: Method, url: &url::Url, headers: HeaderMap, body: Option<Bytes>, timeout: Duration) -> Result<Reply, TransportError> {
        let uri: Uri = url.as_str().parse().map_err(|_| TransportError::Unsendable("the URL is not a valid URI"))?;
        let mut request = Request::new(Full::new(body.unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let exchange = async {
            let response = self.client.request(request).await.map_err(TransportError::Exchange)?;
            let (head, body) = response.into_parts();
            let body = body.collect().await.map_err(TransportError::Body)?.to_bytes();
            Ok(Reply { status: head.status, headers: head.headers, body })
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(TransportError::TimedOut))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::highlevel::probe::fault_of;
    use crate::highlevel::TransportFault;

    /// A one-connection server on its own thread: `serve` gets the accepted socket.
    fn server(serve: impl FnOnce(std::net::TcpStream) + Send + 'static) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((socket, _)) = listener.accept() {
                serve(socket);
            }
        });
        port
    }

    async fn failure(url: &str, timeout: Duration) -> TransportError {
        let transport = Transport::new(Duration::from_secs(5)).unwrap();
        let url = url::Url::parse(url).unwrap();
        match transport.send(Method::GET, &url, HeaderMap::new(), None, timeout).await {
            Ok(reply) => panic!("expected no answer, got {}", reply.status),
            Err(error) => error,
        }
    }

    #[tokio::test]
    async fn an_answer_is_read_whole_with_its_status_and_headers() {
        let port = server(|mut socket| {
            let mut request = [0u8; 4096];
            let read = socket.read(&mut request).unwrap();
            let head = String::from_utf8_lossy(&request[..read]).to_ascii_lowercase();
            let echoed = if head.contains("authorization: bearer t") && head.starts_with("get /contacts/c1?a=b%20c http/1.1") { "yes" } else { "no" };
            write!(socket, "HTTP/1.1 201 Created\r\nx-ratelimit-remaining: 7\r\ncontent-length: {}\r\n\r\n{echoed}", echoed.len()).unwrap();
        });
        let transport = Transport::new(Duration::from_secs(5)).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(hyper::header::AUTHORIZATION, "Bearer t".parse().unwrap());
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/contacts/c1?a=b%20c")).unwrap();
        let reply = transport.send(Method::GET, &url, headers, None, Duration::from_secs(5)).await.unwrap();
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(reply.headers["x-ratelimit-remaining"], "7");
        assert_eq!(&reply.body[..], b"yes", "the request line and headers as sent");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_refused_connect() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let error = failure(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).await;
        assert!(error.is_connect() && !error.is_timeout(), "{error:?}");
        assert_eq!(fault_of(&error), TransportFault::Refused);
    }

    #[tokio::test]
    async fn https_to_a_plain_http_port_is_a_tls_fault() {
        let port = server(|mut socket| {
            let _ = socket.read(&mut [0u8; 1024]);
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        });
        let error = failure(&format!("https://127.0.0.1:{port}/"), Duration::from_secs(5)).await;
        assert!(error.is_connect(), "{error:?}");
        assert_eq!(fault_of(&error), TransportFault::Tls);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let port = server(|socket| {
            std::thread::sleep(Duration::from_secs(2));
            drop(socket);
        });
        let error = failure(&format!("http://127.0.0.1:{port}/"), Duration::from_millis(200)).await;
        assert!(matches!(error, TransportError::TimedOut) && error.is_timeout() && !error.is_connect());
        assert_eq!(fault_of(&error), TransportFault::Timeout);
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_broken() {
        let port = server(|mut socket| {
            let _ = socket.read(&mut [0u8; 1024]);
        });
        let error = failure(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).await;
        assert!(!error.is_connect() && !error.is_timeout(), "{error:?}");
        assert_eq!(fault_of(&error), TransportFault::Broken);
    }
}
