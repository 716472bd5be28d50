//! Single mode hands the child the init's own environment, byte for byte,
//! and looks the command up in the init's own PATH.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::Command;

use common::INIT;

fn run(env: &[(&str, OsString)], argv: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(INIT);
    cmd.env_clear().arg("--").args(argv);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_child_gets_the_environment_as_it_is() {
    let given: Vec<(&str, OsString)> = vec![
        ("PATH", "/usr/bin:/bin".into()),
        ("EMPTY", "".into()),
        ("WITH_EQUALS", "a=b=c".into()),
        ("NOT_UTF8", OsString::from_vec(vec![0xff, 0xfe, b'x'])),
        ("SPACES", " two  spaces ".into()),
    ];
    let out = run(&given, &["env", "-0"]);
    assert_eq!(out.status.code(), Some(0));
    let mut got: Vec<Vec<u8>> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut want: Vec<Vec<u8>> = given
        .iter()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn the_command_is_looked_up_in_the_inits_path() {
    let out = run(&[("PATH", "/nonexistent".into())], &["true"]);
    assert_eq!(out.status.code(), Some(127));
    // No PATH at all: the default one, as execvp's.
    let out = run(&[], &["true"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
