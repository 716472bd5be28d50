//! Readiness notification, the sd_notify datagram protocol.
//!
//! Each `type: notify` program gets a socket of its own, so a message needs no
//! credentials check to be attributed: whoever can write to that socket speaks
//! for that program (a wrapper script or a forked helper included).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Ready,
    Status(String),
    MainPid(i32),
}

pub struct NotifySocket {
    socket: UnixDatagram,
    pub path: PathBuf,
}

impl NotifySocket {
    /// Binds `<dir>/<index>-<name>.sock`. The file is world-writable so that a
    /// program running under another `user` can still report; the directory
    /// it lives in is private to this init's run.
    pub fn bind(dir: &Path, index: usize, name: &str) -> io::Result<NotifySocket> {
        // sun_path holds 108 bytes: keep the name short and plain.
        let plain: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(32)
            .collect();
        let path = dir.join(format!("{index}-{plain}.sock"));
        let socket = UnixDatagram::bind(&path)?;
        socket.set_nonblocking(true)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        Ok(NotifySocket { socket, path })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Every message waiting on the socket.
    pub fn drain(&self) -> Vec<Message> {
        let mut messages = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            messages.extend(parse(&String::from_utf8_lossy(&buf[..n])));
        }
        messages
    }
}

/// Parses newline-separated `KEY=value` assignments; unknown keys are ignored,
/// as the protocol asks.
pub fn parse(datagram: &str) -> Vec<Message> {
    datagram
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            match key {
                "READY" if value == "1" => Some(Message::Ready),
                "STATUS" => Some(Message::Status(value.to_string())),
                "MAINPID" => value.trim().parse().ok().map(Message::MainPid),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_keys_we_honour() {
        assert_eq!(
            parse("READY=1\nSTATUS=warming up\nMAINPID=42\nWATCHDOG=1\nREADY=0"),
            vec![
                Message::Ready,
                Message::Status("warming up".into()),
                Message::MainPid(42)
            ]
        );
    }

    #[test]
    fn a_datagram_sent_to_the_socket_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let sock = NotifySocket::bind(dir.path(), 0, "web/app").unwrap();
        assert!(sock.path.ends_with("0-web_app.sock"));
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1", &sock.path).unwrap();
        assert_eq!(sock.drain(), vec![Message::Ready]);
        assert!(sock.drain().is_empty());
    }
}
