//! A TCP proxy in front of PostgreSQL that can cut the database off and bring it back.

/// `postgres://user@host:port/db?…` with `host:port` replaced by `authority`.
fn with_authority(database_url: &str, authority: &str) -> String {
    let scheme_end = database_url.find("://").expect("a URL") + 3;
    let rest = &database_url[scheme_end..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..host_end].rfind('@').map(|i| i + 1).unwrap_or(0);
    format!(
        "{}{}{}{}",
        &database_url[..scheme_end],
        &rest[..host_start],
        authority,
        &rest[host_end..]
    )
}

/// The server address of a `postgres://` URL (port 5432 when not given).
pub fn socket_addr_of(database_url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let scheme_end = database_url.find("://").expect("a URL") + 3;
    let rest = &database_url[scheme_end..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .to_socket_addrs()
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host")
}

/// A TCP proxy in front of PostgreSQL on its own runtime, so it keeps forwarding whatever the
/// test's runtime does. [`TcpProxy::cut`] closes its port (new connections are refused) and
/// drops every open connection, like a database that went away; [`TcpProxy::restore`] opens
/// the same port again. [`TcpProxy::silence`] is the other kind of outage: a network that drops
/// packets without a reset, where every connection stays open and nothing gets through until
/// [`TcpProxy::speak`].
pub struct TcpProxy {
    pub port: u16,
    upstream: std::net::SocketAddr,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
    runtime: Option<tokio::runtime::Runtime>,
    accept: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: std::net::SocketAddr) -> TcpProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let proxy = TcpProxy {
            port: listener.local_addr().expect("proxy address").port(),
            upstream,
            silent: Default::default(),
            runtime: Some(runtime),
            accept: std::sync::Mutex::new(None),
            connections: Default::default(),
        };
        proxy.listen(listener);
        proxy
    }

    /// `database_url` (same user and database) through this proxy.
    pub fn url_for(&self, database_url: &str) -> String {
        with_authority(database_url, &format!("127.0.0.1:{}", self.port))
    }

    fn listen(&self, listener: std::net::TcpListener) {
        let runtime = self.runtime.as_ref().expect("proxy runtime");
        let _entered = runtime.enter();
        listener.set_nonblocking(true).expect("non-blocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let upstream = self.upstream;
        let connections = self.connections.clone();
        let silent = self.silent.clone();
        let accept = runtime.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let silent = silent.clone();
                let task = tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(upstream).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pump(client_read, server_write, silent.clone()),
                            pump(server_read, client_write, silent),
                        );
                    }
                });
                let mut open = connections.lock().unwrap();
                open.retain(|t| !t.is_finished());
                open.push(task.abort_handle());
            }
        });
        *self.accept.lock().unwrap() = Some(accept);
    }

    /// The database goes away: the port refuses connections and open ones are dropped.
    pub fn cut(&self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
            while !accept.is_finished() {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// The network goes silent: connections stay open (and new ones are accepted), but no byte
    /// is forwarded either way, as when packets are dropped without a reset.
    pub fn silence(&self) {
        self.silent.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The silent network forwards again, what it held first.
    pub fn speak(&self) {
        self.silent
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The database is back, on the same port.
    pub fn restore(&self) {
        let mut attempts = 0;
        let listener = loop {
            match std::net::TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(_) if attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on the proxy port {} again: {e}", self.port),
            }
        };
        self.listen(listener);
    }
}

/// Forwards `from` to `to` until either ends, holding what it read while `silent` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while silent.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
