//! Users and groups, read from the container's own `/etc/passwd` and
//! `/etc/group`.
//!
//! No NSS: a static binary has none, and inside a container the files are
//! the whole truth anyway. The result matches what `docker run --user` and
//! gosu give a process: the user's uid, primary gid, every group that lists
//! the user as a member, and the home directory.

use std::path::Path;

/// Files bigger than this are not a user database but an attack on it.
const MAX_DB_BYTES: u64 = 16 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The databases of one root directory (`/` in production).
pub struct Db {
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
}

impl Db {
    pub fn load(root: &Path) -> Db {
        Db {
            accounts: read(&root.join("etc/passwd"))
                .lines()
                .filter_map(parse_account)
                .collect(),
            groups: read(&root.join("etc/group"))
                .lines()
                .filter_map(parse_group)
                .collect(),
        }
    }

    pub fn account_named(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn account_of(&self, uid: u32) -> Option<&Account> {
        self.accounts.iter().find(|a| a.uid == uid)
    }

    pub fn group_named(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// `gid` first, then every other group that names `user` as a member,
    /// without repeats.
    pub fn groups_of(&self, user: &str, gid: u32) -> Vec<u32> {
        let mut gids = vec![gid];
        for g in &self.groups {
            if g.members.iter().any(|m| m == user) && !gids.contains(&g.gid) {
                gids.push(g.gid);
            }
        }
        gids
    }
}

/// A missing or unreadable database is an empty one, as for libc.
fn read(path: &Path) -> String {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let _ = file.take(MAX_DB_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `name:password:uid:gid:gecos:home:shell`
fn parse_account(line: &str) -> Option<Account> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 || f[0].is_empty() {
        return None;
    }
    Some(Account {
        name: f[0].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        home: f[5].to_string(),
    })
}

/// `name:password:gid:member,member`
fn parse_group(line: &str) -> Option<Group> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 || f[0].is_empty() {
        return None;
    }
    Some(Group {
        name: f[0].to_string(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supplementary_groups_and_home_come_from_the_files() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nbroken line\npg:x:70:71::/var/lib/pg:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "root:x:0:\npg:x:71:\nssl-cert:x:109:pg,other\nnum:x:abc:pg\n",
        )
        .unwrap();
        let db = Db::load(root.path());
        let pg = db.account_named("pg").unwrap();
        assert_eq!((pg.uid, pg.gid, pg.home.as_str()), (70, 71, "/var/lib/pg"));
        assert_eq!(db.groups_of("pg", 71), vec![71, 109]);
        assert_eq!(db.account_of(0).unwrap().name, "root");
        assert!(db.account_named("broken line").is_none());
    }

    #[test]
    fn a_missing_database_is_empty() {
        let root = tempfile::tempdir().unwrap();
        let db = Db::load(root.path());
        assert!(db.accounts.is_empty() && db.groups.is_empty());
    }
}
