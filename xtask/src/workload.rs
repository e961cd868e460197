//! Loopback workloads that make socket calls as fast as they can, for the
//! demo and the benchmarks. Loopback only: nothing leaves the machine.

use anyhow::{Result, bail};
use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

/// Runs `kind` for `dur`; returns how many operations it made:
/// - `udp`: one send and one recv of 32 bytes on a connected UDP pair;
/// - `tcp`: one connect/accept/one-byte exchange/close.
pub fn run(kind: &str, dur: Duration) -> Result<u64> {
    let end = Instant::now() + dur;
    let mut n = 0u64;
    match kind {
        "udp" => {
            let server = UdpSocket::bind("127.0.0.1:0")?;
            let client = UdpSocket::bind("127.0.0.1:0")?;
            client.connect(server.local_addr()?)?;
            let mut buf = [0u8; 64];
            while Instant::now() < end {
                for _ in 0..1000 {
                    client.send(&buf[..32])?;
                    server.recv(&mut buf)?;
                }
                n += 1000;
            }
        }
        "tcp" => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            while Instant::now() < end {
                for _ in 0..100 {
                    let mut c = TcpStream::connect(addr)?;
                    let (mut a, _) = listener.accept()?;
                    c.write_all(b"x")?;
                    let mut b = [0u8; 1];
                    a.read_exact(&mut b)?;
                }
                n += 100;
            }
        }
        other => bail!("unknown workload {other:?} (udp or tcp)"),
    }
    Ok(n)
}
