//! The client side of `sockrec query --cluster df://HOST:PORT`: a session
//! whose queries the scheduler plans and the executors run (Ballista's
//! `SessionStateExt::upgrade_for_ballista`). The client plans the SQL,
//! with sockrec's functions registered after the upgrade (which replaces
//! the session's function list with Ballista's), and fetches the results
//! from the executors.

use std::net::{TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use ballista_core::extension::SessionStateExt as _;
use sockrec_analyzer::Engine;
use url::Url;

/// The engine that runs queries on the cluster whose scheduler is at `url`
/// (`df://HOST:PORT`; the port defaults to Ballista's 50050).
pub fn engine(url: &str) -> Result<Engine> {
    let parsed = Url::parse(url).map_err(|e| anyhow::anyhow!("--cluster {url}: {e}"))?;
    let Some(host) = parsed.host_str().filter(|_| parsed.scheme() == "df") else {
        bail!("--cluster {url}: not a scheduler's address (df://HOST:PORT)");
    };
    let port = parsed.port().unwrap_or(50050);
    // Ballista's own error for this is a transport error's Debug text.
    let answers = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|addrs| {
            let mut why = "no address".to_string();
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                    Ok(_) => return Ok(()),
                    Err(e) => why = e.to_string(),
                }
            }
            Err(why)
        });
    if let Err(why) = answers {
        bail!("--cluster {url}: no scheduler answers at {host}:{port}: {why}");
    }
    let scheduler = format!("http://{host}:{port}");
    Ok(Engine::Remote(Arc::new(move |state| {
        state.upgrade_for_ballista(scheduler.clone())
    })))
}
