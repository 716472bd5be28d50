//! Notify sockets under attack: a foreign uid cannot reach a program's
//! socket, and a process outside the program's tree (even root) is not
//! listened to: no early READY=1, no MAINPID= that would make the root init
//! signal a stranger, itself, or every process.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use rstest::rstest;

fn environ_var(pid: i32, key: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    raw.split(|&b| b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(&format!("{key}=")).map(str::to_string)
    })
}

/// Sends `payload` to `socket` as uid/gid 65534 with no groups; returns what
/// the attempt ended with (`sent`, or the error).
fn send_as_nobody(socket: &str, payload: &str) -> String {
    let code = "import socket,sys\n\
                s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n\
                try:\n  s.sendto(sys.argv[2].encode(),sys.argv[1]); print('sent')\n\
                except OSError as e: print(type(e).__name__)\n";
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["/usr/bin/python3", "-c", code, socket, payload])
        .output()
        .expect("setpriv and /usr/bin/python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[rstest]
#[case::direct(Env::Direct, &[][..])]
#[case::pid1_group(Env::Pid1, &["-g"][..])]
fn strangers_are_not_listened_to(#[case] env: Env, #[case] flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("dependant-started");
    let log = dir.path().join("init.log");
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        format!(
            "programs:\n\
             \x20 - {{name: svc, type: notify, path: {py}, args: [{helper}]}}\n\
             \x20 - name: dependant\n    after: [svc]\n    path: sh\n    args: [-c, 'trap \"\" USR2; touch {marker}; exec sleep 60']\n",
            py = python(),
            helper = helper("notify_on_signal.py"),
            marker = marker.display(),
        ),
    )
    .unwrap();
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-v", "--grace", "2", "-c", cfg.to_str().unwrap()]);
    let mut cmd = command(INIT, env, &args);
    cmd.stderr(std::fs::File::create(&log).unwrap());
    let mut live = Live::start(cmd, env);
    let init = live.init_pid();
    let svc = wait_for("svc to start", Duration::from_secs(10), || {
        descendants(init)
            .into_iter()
            .find(|&p| environ_var(p, "NOTIFY_SOCKET").is_some())
    });
    let socket = environ_var(svc, "NOTIFY_SOCKET").unwrap();
    assert_eq!(live.line(Duration::from_secs(10)), "armed");

    // Another uid cannot even reach the socket.
    assert_eq!(send_as_nobody(&socket, "READY=1"), "PermissionError");

    // Root, but outside the program's tree: reaches it, and is ignored.
    let mut victim = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let stranger = UnixDatagram::unbound().unwrap();
    for payload in [
        "READY=1".to_string(),
        format!("MAINPID={}", victim.id()),
        format!("MAINPID={init}"),
        "MAINPID=1".to_string(),
    ] {
        stranger.send_to(payload.as_bytes(), &socket).unwrap();
    }
    // The program's own READY=1 comes after the strangers' on the same
    // socket: once the dependant has started, all of them were read.
    unsafe { libc::kill(svc, libc::SIGUSR1) };
    wait_for("the dependant to start", Duration::from_secs(10), || {
        marker.exists().then_some(())
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let ignored = text.matches("ignored a notification from pid").count();
    let ready_at = text.find("svc: ready").expect("svc became ready");
    assert_eq!(ignored, 4, "each stranger's datagram refused: {text}");
    assert!(
        text.rfind("ignored a notification").unwrap() < ready_at,
        "nothing from a stranger made svc ready: {text}"
    );

    // Forwarded signals still go to the program, never to the stranger.
    live.signal(libc::SIGUSR2);
    live.signal(libc::SIGTERM);
    let status = live.wait(Duration::from_secs(10));
    assert!(
        status.code().is_some(),
        "the init exited by itself: {status:?}"
    );
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the unrelated process was never signalled"
    );
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(
        !Path::new(&socket).exists(),
        "the socket is removed at exit"
    );
}

/// A program running as another user reaches its own socket, and its
/// READY=1 counts.
#[test]
fn a_program_of_another_user_reaches_its_own_socket() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("dependant-started");
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        format!(
            "programs:\n\
             \x20 - name: svc\n    type: notify\n    user: nobody\n    path: /usr/bin/python3\n    args: [-c, 'import os,socket; socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM).sendto(b\"READY=1\",os.environ[\"NOTIFY_SOCKET\"]); import time; time.sleep(60)']\n\
             \x20 - {{name: dependant, after: [svc], path: touch, args: ['{}']}}\n",
            marker.display()
        ),
    )
    .unwrap();
    let mut live = Live::start(
        command(
            INIT,
            Env::Direct,
            &["--grace", "1", "-c", cfg.to_str().unwrap()],
        ),
        Env::Direct,
    );
    wait_for("the dependant to start", Duration::from_secs(10), || {
        marker.exists().then_some(())
    });
    let init = live.init_pid();
    let svc = descendants(init)
        .into_iter()
        .find(|&p| environ_var(p, "NOTIFY_SOCKET").is_some())
        .expect("svc runs");
    let socket = environ_var(svc, "NOTIFY_SOCKET").unwrap();
    let meta = std::fs::metadata(Path::new(&socket).parent().unwrap()).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (65534, 0o700));
    live.signal(libc::SIGTERM);
    live.wait(Duration::from_secs(10));
}

/// A MAINPID= process that is not the init's child (its parent lives on and
/// reaps it) is noticed when it ends: the program counts as ended, and the
/// init shuts down instead of watching a dead pid for ever.
#[test]
fn an_adopted_main_pid_that_ends_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    let daemon = "import os,socket,time\n\
                  pid = os.fork()\n\
                  if pid == 0:\n\
                  \x20   s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                  \x20   s.sendto(f'MAINPID={os.getpid()}\\nREADY=1'.encode(), os.environ['NOTIFY_SOCKET'])\n\
                  \x20   time.sleep(1)\n\
                  \x20   os._exit(0)\n\
                  os.waitpid(pid, 0)\n\
                  time.sleep(60)\n";
    std::fs::write(
        &cfg,
        format!(
            "programs:\n  - name: svc\n    type: notify\n    path: {}\n    args: [-c, {:?}]\n",
            python(),
            daemon
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = assert_cmd::Command::new(INIT)
        .args(["-v", "--grace", "1", "-c", cfg.to_str().unwrap()])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("main pid is now"), "{stderr}");
    assert!(stderr.contains("is gone"), "{stderr}");
    assert!(out.status.code().is_some(), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
}
