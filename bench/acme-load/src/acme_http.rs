//! instant-acme's HTTP client for the driver: plain http (instant-acme's own
//! client speaks https only), one keep-alive connection per ACME client, the
//! time of every request by ACME resource, and nonces reused.
//!
//! instant-acme asks `newNonce` (a HEAD) before every request that starts a
//! chain (newOrder, revokeCert), although the last answer carried a fresh
//! `Replay-Nonce`. RFC 8555 §7.2 lets a client use that one, as certbot and
//! lego do; this client answers such a HEAD itself with the last nonce seen
//! when it has one not yet handed out (`--no-nonce-reuse`: always ask certd).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};

/// The ACME resource a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Directory,
    NewNonce,
    /// A `newNonce` HEAD answered here from the last response's nonce.
    NonceReused,
    NewAccount,
    NewOrder,
    Authz,
    Challenge,
    Order,
    Finalize,
    Cert,
    Revoke,
    /// The REST baseline's requests.
    RestOrder,
    RestDownload,
    RestRevoke,
    Other,
}

impl Kind {
    fn of(method: &Method, path: &str) -> Kind {
        let path = path.split_once("/acme/").map(|(_, p)| p).unwrap_or(path);
        if method == Method::HEAD || path.starts_with("new-nonce") {
            return Kind::NewNonce;
        }
        if method == Method::GET && path.starts_with("directory") {
            return Kind::Directory;
        }
        match path.split('/').next().unwrap_or("") {
            "new-account" => Kind::NewAccount,
            "new-order" => Kind::NewOrder,
            "authz" => Kind::Authz,
            "chall" => Kind::Challenge,
            "order" if path.ends_with("/finalize") => Kind::Finalize,
            "order" => Kind::Order,
            "cert" => Kind::Cert,
            "revoke-cert" => Kind::Revoke,
            _ => Kind::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Directory => "GET directory",
            Kind::NewNonce => "HEAD newNonce (sent)",
            Kind::NonceReused => "HEAD newNonce (answered from the last Replay-Nonce)",
            Kind::NewAccount => "POST newAccount",
            Kind::NewOrder => "POST newOrder",
            Kind::Authz => "POST authz (POST-as-GET)",
            Kind::Challenge => "POST challenge {} (ready)",
            Kind::Order => "POST order (POST-as-GET, polling)",
            Kind::Finalize => "POST finalize",
            Kind::Cert => "POST cert (download)",
            Kind::Revoke => "POST revokeCert",
            Kind::RestOrder => "POST /services/v2/order/certificate/ssl_basic",
            Kind::RestDownload => "GET /services/v2/certificate/{id}/download/format/pem_noroot",
            Kind::RestRevoke => "PUT /services/v2/certificate/{id}/revoke",
            Kind::Other => "other",
        }
    }
}

/// One request as the client saw it: until the response's headers.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub kind: Kind,
    pub at: Instant,
    pub took: Duration,
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    /// The last `Replay-Nonce` seen and not yet handed out.
    nonce: Mutex<Option<String>>,
    samples: Mutex<Vec<Sample>>,
}

/// instant-acme's [`HttpClient`] for one ACME client. Clones share the log.
#[derive(Clone)]
pub struct AcmeHttp {
    client: Client<HttpConnector, BodyWrapper<Bytes>>,
    shared: Arc<Shared>,
    reuse_nonces: bool,
}

impl AcmeHttp {
    pub fn new(reuse_nonces: bool) -> AcmeHttp {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        AcmeHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            shared: Arc::default(),
            reuse_nonces,
        }
    }

    /// Every request so far, emptied.
    pub fn take_samples(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.shared.samples.lock().unwrap())
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let kind = Kind::of(req.method(), req.uri().path());
        let shared = Arc::clone(&self.shared);
        let at = Instant::now();
        if kind == Kind::NewNonce
            && self.reuse_nonces
            && let Some(nonce) = shared.nonce.lock().unwrap().take()
        {
            shared.samples.lock().unwrap().push(Sample {
                kind: Kind::NonceReused,
                at,
                took: Duration::ZERO,
                status: 200,
            });
            let response = Response::builder()
                .status(StatusCode::OK)
                .header("replay-nonce", nonce)
                .body(http_body_util::Empty::<Bytes>::new())
                .expect("a nonce is a header value");
            return Box::pin(std::future::ready(Ok(BytesResponse::from(response))));
        }
        let sent = self.client.request(req);
        Box::pin(async move {
            let response = sent.await.map_err(|e| Error::Other(Box::new(e)))?;
            let took = at.elapsed();
            if let Some(nonce) = response
                .headers()
                .get("replay-nonce")
                .and_then(|v| v.to_str().ok())
            {
                *shared.nonce.lock().unwrap() = Some(nonce.to_owned());
            }
            shared.samples.lock().unwrap().push(Sample {
                kind,
                at,
                took,
                status: response.status().as_u16(),
            });
            Ok(BytesResponse::from(response))
        })
    }
}
