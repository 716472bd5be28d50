//! Config mode on a terminal: when the program holding the foreground ends,
//! the foreground comes back, so a later program can read the terminal
//! instead of being stopped by SIGTTIN for good.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn a_later_program_can_read_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        format!(
            "programs:\n  - {{name: first, path: 'true'}}\n  - name: reader\n    after: [first]\n    path: sh\n    args: [-c, 'read line; echo \"got $line\" > {}']\n",
            out.display()
        ),
    )
    .unwrap();
    let mut script = Command::new("script")
        .args([
            "-qfec",
            &format!("{INIT} -c {}", cfg.display()),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    let got = std::panic::catch_unwind(|| {
        wait_for(
            "the reader to read the terminal",
            Duration::from_secs(10),
            || {
                std::fs::read_to_string(&out)
                    .ok()
                    .filter(|t| t.ends_with('\n'))
            },
        )
    });
    if got.is_err() {
        for pid in descendants(script.id() as i32) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    drop(stdin);
    let status = script.wait().unwrap();
    assert_eq!(got.expect("reader was stopped"), "got hello\n");
    assert!(status.success(), "{status:?}");
}
