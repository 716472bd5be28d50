//! Readiness notification, the sd_notify datagram protocol, with the
//! sender of every datagram known.
//!
//! Each `type: notify` program gets a socket of its own, in a directory of
//! its own that only the program's uid (and root) can enter, and the socket
//! itself is writable by that uid alone. The kernel attaches the sender's
//! pid, uid and gid to every datagram (SO_PASSCRED), and the supervisor
//! decides from those whether the sender speaks for the program: as
//! systemd's NotifyAccess= does, a message is taken only from the program's
//! own processes, never from whoever can reach a path.

use std::ffi::CString;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr, UnixCredentials,
};

/// The largest datagram taken: sd_notify messages are a few short lines.
/// A longer one arrives truncated and is dropped whole.
pub const MAX_DATAGRAM: usize = 4096;
/// Datagrams read per socket per wake-up, so a flood cannot starve the
/// loop's reaping and signal forwarding.
const MAX_PER_WAKE: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Ready,
    Status(String),
    MainPid(i32),
}

/// One datagram with who sent it, as the kernel vouches.
#[derive(Debug)]
pub struct Datagram {
    pub pid: i32,
    pub uid: u32,
    pub messages: Vec<Message>,
}

pub struct NotifySocket {
    socket: OwnedFd,
    dir: PathBuf,
    pub path: PathBuf,
}

impl NotifySocket {
    /// Binds `notify` in a fresh private directory under `parent`, both owned
    /// by `owner` (the program's uid and gid) when that is not the init's.
    pub fn bind(parent: &Path, owner: Option<(u32, u32)>) -> io::Result<NotifySocket> {
        let template = parent.join("initlab-init.XXXXXX");
        // mkdtemp: a new name that nobody could have prepared, mode 0700.
        let dir = nix::unistd::mkdtemp(&template)?;
        let path = dir.join("notify");
        let made = (|| -> io::Result<OwnedFd> {
            let socket = socket(
                AddressFamily::Unix,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )?;
            bind(socket.as_raw_fd(), &UnixAddr::new(&path)?)?;
            setsockopt(&socket, sockopt::PassCred, &true)?;
            restrict(&path, 0o600, owner)?;
            restrict(&dir, 0o700, owner)?;
            Ok(socket)
        })();
        match made {
            Ok(socket) => Ok(NotifySocket { socket, dir, path }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The datagrams waiting on the socket, up to a bound per wake-up. Those
    /// without credentials or cut short are dropped.
    pub fn drain(&self) -> Vec<Datagram> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..MAX_PER_WAKE {
            let mut cmsg = nix::cmsg_space!(UnixCredentials);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let Ok(msg) = recvmsg::<()>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) else {
                break;
            };
            let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
            let bytes = msg.bytes;
            let creds = msg.cmsgs().ok().and_then(|mut all| {
                all.find_map(|c| match c {
                    ControlMessageOwned::ScmCredentials(c) => Some(c),
                    _ => None,
                })
            });
            if let (Some(c), false) = (creds, truncated) {
                out.push(Datagram {
                    pid: c.pid(),
                    uid: c.uid(),
                    messages: parse(&String::from_utf8_lossy(&buf[..bytes])),
                });
            }
        }
        out
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn restrict(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        let c = CString::new(path.as_os_str().as_bytes())?;
        // lchown: the path is ours, but never follow a link out of it.
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
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
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;

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
    fn a_datagram_arrives_with_its_sender() {
        let parent = tempfile::tempdir().unwrap();
        let sock = NotifySocket::bind(parent.path(), None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sock.path), 0o600);
        assert_eq!(mode(sock.path.parent().unwrap()), 0o700);
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1", &sock.path).unwrap();
        client
            .send_to(&[b'x'; MAX_DATAGRAM + 1], &sock.path)
            .unwrap();
        let got = sock.drain();
        assert_eq!(got.len(), 1, "the oversized datagram is dropped: {got:?}");
        assert_eq!(got[0].pid, std::process::id() as i32);
        assert_eq!(got[0].uid, nix::unistd::getuid().as_raw());
        assert_eq!(got[0].messages, vec![Message::Ready]);
        assert!(sock.drain().is_empty());
        let dir = sock.path.parent().unwrap().to_path_buf();
        drop(sock);
        assert!(!dir.exists(), "the private directory is removed");
    }
}
