use sockrec_capture::*;
use sockrec_common::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&a[1]);
    let flushes: u64 = a[2].parse().unwrap();
    let per: u64 = a[3].parse().unwrap();
    let finish = a[4] == "finish";
    let meta = CaptureMeta {
        host: "h".into(),
        kernel: "k".into(),
        boot_time_ns: 1_700_000_000_000_000_000,
        start_ns: 1_700_000_000_000_000_000,
        end_ns: 0,
        probes: "p".into(),
        lost: vec![0, 0],
        filters: "".into(),
        sockrec_version: "0.1.0".into(),
    };
    let mut w = CaptureWriter::create(path, true, meta).unwrap();
    let mut sizes = vec![];
    for f in 0..flushes {
        for i in 0..per {
            let mut addr = [0u8; ADDR_CAP];
            addr[0] = 2;
            addr[2..4].copy_from_slice(&((i % 1000) as u16).to_be_bytes());
            addr[4..8].copy_from_slice(&[10, 0, (i % 7) as u8, 1]);
            let ev = SocketEvent {
                time_ns: f * 1_000_000 + i,
                latency_ns: i % 5000,
                cgroup_id: 1,
                ret: if i % 3 == 0 { -111 } else { 0 },
                pid: (i % 50) as u32,
                tid: (i % 60) as u32,
                uid: 0,
                cpu: (i % 2) as u32,
                fd: 3,
                fd2: -1,
                call_flags: 0,
                kind: (1 + (i % 8)) as u8,
                flags: 0,
                family: 2,
                sock_type: 1,
                protocol: 6,
                addr_len: 16,
                _pad: 0,
                comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
                addr,
            };
            w.push(&ev, "tracepoint:syscalls:sys_exit_connect");
        }
        let t0 = std::time::Instant::now();
        w.flush().unwrap();
        sizes.push(t0.elapsed().as_micros());
        if f % 200 == 0 {
            eprintln!(
                "flush {f}: {:?} us, file {}",
                t0.elapsed().as_micros(),
                w.bytes_written()
            );
        }
    }
    eprintln!("file {} rows {}", w.bytes_written(), w.rows_written());
    if finish {
        eprintln!("{:?}", w.finish().unwrap());
    } else {
        std::mem::forget(w);
    }
}
