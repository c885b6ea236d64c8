//! The probe server over real TCP on loopback: each mode does what the bench
//! relies on.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn start() -> probe::Server {
    probe::Server::start(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap()
}

fn connect(server: &probe::Server, mode: u8) -> TcpStream {
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&[mode]).unwrap();
    stream
}

#[test]
fn echo_answers_every_byte_with_the_same_byte() {
    let server = start();
    let mut stream = connect(&server, probe::ECHO);
    stream.set_nodelay(true).unwrap();
    for i in 0..1000u32 {
        let byte = (i % 251) as u8;
        stream.write_all(&[byte]).unwrap();
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(answer[0], byte);
    }
}

#[test]
fn echo_returns_larger_writes_whole() {
    let server = start();
    let mut stream = connect(&server, probe::ECHO);
    let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let sent = sent.clone();
        std::thread::spawn(move || stream.write_all(&sent).unwrap())
    };
    let mut received = vec![0u8; sent.len()];
    stream.read_exact(&mut received).unwrap();
    writer.join().unwrap();
    assert_eq!(received, sent);
}

#[test]
fn sink_counts_what_it_received_and_reports_it_after_the_client_shuts_down() {
    let server = start();
    let mut stream = connect(&server, probe::SINK);
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..50 {
        stream.write_all(&chunk).unwrap();
    }
    stream.write_all(&[1, 2, 3]).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).unwrap();
    assert_eq!(u64::from_le_bytes(count), 50 * 64 * 1024 + 3);
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the count is the last thing sent");
}

#[test]
fn source_sends_for_the_asked_time_then_closes() {
    let server = start();
    let mut stream = connect(&server, probe::SOURCE);
    let started = Instant::now();
    stream.write_all(&300u32.to_le_bytes()).unwrap();
    let mut buf = vec![0u8; probe::CHUNK];
    let mut total = 0usize;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&b| b == 0x5a));
        total += n;
    }
    let elapsed = started.elapsed();
    assert!(total >= probe::CHUNK, "{total} bytes");
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed after {elapsed:?}, before the asked 300 ms"
    );
}

#[test]
fn an_unknown_mode_is_closed() {
    let server = start();
    let mut stream = connect(&server, b'?');
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn the_health_check_passes_on_a_running_probe_and_fails_on_a_closed_port() {
    let server = start();
    let addr = server.local_addr();
    assert!(probe::check(addr).is_ok());
    server.stop();
    let err = probe::check(addr).unwrap_err();
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn the_binary_serves_until_sigterm() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["--bind", &bind])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe::check(bind.parse().unwrap()).is_err() {
        assert!(Instant::now() < deadline, "the probe never answered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["--bind", &bind, "healthcheck"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "healthcheck failed on a running probe");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the probe ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
