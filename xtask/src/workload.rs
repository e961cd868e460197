//! Loopback workloads that make socket calls as fast as they can, for the
//! demo and the benchmarks. Loopback only: nothing leaves the machine.

use anyhow::{Result, bail};
use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

/// Socket events one operation of `kind` makes, as sockrec counts them
/// (what the benchmarks turn operations into events with):
/// - `udp`: a send and a recv;
/// - `tcp`: socket + connect (client), accept4 (server), one send and one
///   recv (`close` is not a traced call), and the two sockets' ten TCP
///   state changes: the client's CLOSE→SYN_SENT→ESTABLISHED, the server
///   side's LISTEN→SYN_RECV→ESTABLISHED, and the close: ESTABLISHED→
///   FIN_WAIT1→FIN_WAIT2→CLOSE on the side that closes first,
///   ESTABLISHED→CLOSE_WAIT→LAST_ACK→CLOSE on the other.
pub fn events_per_op(kind: &str) -> u64 {
    match kind {
        "udp" => 2,
        "tcp" => 15,
        _ => 0,
    }
}

/// Runs `kind` for `dur`; returns how many operations it made:
/// - `udp`: one send and one recv of 32 bytes on a connected UDP pair;
/// - `tcp`: one connect/accept/one-byte exchange/close.
pub fn run(kind: &str, dur: Duration) -> Result<u64> {
    Ok(run_timed(kind, dur)?.0)
}

/// [`run`], also returning how long the operations really took: the loop
/// checks the clock once per batch, so it overshoots `dur` by up to a batch,
/// which under a slow tracer is not negligible for a rate.
pub fn run_timed(kind: &str, dur: Duration) -> Result<(u64, Duration)> {
    let mut n = 0u64;
    // The sockets are set up before the clock starts: only the loop is timed.
    let started;
    match kind {
        "udp" => {
            let server = UdpSocket::bind("127.0.0.1:0")?;
            let client = UdpSocket::bind("127.0.0.1:0")?;
            client.connect(server.local_addr()?)?;
            let mut buf = [0u8; 64];
            started = Instant::now();
            let end = started + dur;
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
            started = Instant::now();
            let end = started + dur;
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
    Ok((n, started.elapsed()))
}
