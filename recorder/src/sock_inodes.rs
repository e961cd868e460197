//! The inode of a TCP socket's rows that the kernel could not tell.
//!
//! A TCP row carries the socket's inode only while its `struct sock` still
//! has a file: not after close(2) orphaned it (`sock_orphan()` clears
//! `sk_socket`; FIN_WAIT2, TIME_WAIT and CLOSE come after), nor for a
//! passive connection's changes before accept(2) gave it one. The writer
//! remembers, per `struct sock` address, the inode of the last row that had
//! both, and gives it to that socket's later rows that lack it, until the
//! socket's life ends (TCP_CLOSE: the address may be reused).

use sockrec_common::{EventKind, SocketEvent, TCP_CLOSE};
use std::collections::HashMap;

/// Sockets remembered at most: a socket that never reaches TCP_CLOSE while
/// recording (a UDP connect, a listener) stays until the map is full, when
/// it is emptied (the rows then lack an inode they might have had, no worse).
const MAX_SOCKS: usize = 1 << 20;

#[derive(Default)]
pub struct SockInodes {
    inode_of: HashMap<u64, u64>,
}

impl SockInodes {
    /// Learns from `ev` or fills in its inode (rows in time order).
    pub fn fill(&mut self, ev: &mut SocketEvent) {
        if ev.sock == 0 {
            return;
        }
        if ev.inode != 0 {
            if self.inode_of.len() >= MAX_SOCKS {
                self.inode_of.clear();
            }
            self.inode_of.insert(ev.sock, ev.inode);
        } else if let Some(&inode) = self.inode_of.get(&ev.sock) {
            ev.inode = inode;
        }
        if ev.kind == EventKind::TcpState as u8 && ev.state == TCP_CLOSE {
            self.inode_of.remove(&ev.sock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(sock: u64, inode: u64, state: u8) -> SocketEvent {
        let mut ev = SocketEvent::new(EventKind::TcpState, 1);
        (ev.sock, ev.inode, ev.state) = (sock, inode, state);
        ev
    }

    #[test]
    fn orphaned_rows_get_the_inode_until_close() {
        let mut s = SockInodes::default();
        let mut rows = [
            tcp(0xa, 77, 4), // FIN_WAIT1, still with its file
            tcp(0xa, 0, 5),  // FIN_WAIT2, orphaned
            tcp(0xa, 0, TCP_CLOSE),
            tcp(0xa, 0, 2), // the address reused by another socket
        ];
        for r in &mut rows {
            s.fill(r);
        }
        let inodes: Vec<u64> = rows.iter().map(|r| r.inode).collect();
        assert_eq!(inodes, [77, 77, 77, 0]);
    }

    #[test]
    fn rows_without_sock_are_left_alone() {
        let mut s = SockInodes::default();
        let mut a = tcp(0, 5, 1);
        s.fill(&mut a);
        let mut b = tcp(0, 0, 1);
        s.fill(&mut b);
        assert_eq!((a.inode, b.inode), (5, 0));
    }
}
