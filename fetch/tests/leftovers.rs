//! A bookmark write killed half-way leaves a temporary named with its
//! process id; the next run removes it, and nothing else.

use crate::support::*;
use testkit::Dir;

#[test]
fn temporaries_of_dead_processes_are_swept_from_the_state_dir() {
    let dir = Dir::new("fetch-leftovers");
    let mock = start_mock(&["--generate-users", "3"]);
    fetch(&dir, &mock, &["conversations"]).expect_success();
    commit(&dir);
    let files = state_files(&dir);
    let bookmark = files
        .iter()
        .find(|f| f.ends_with("conversations.json"))
        .expect("a bookmark")
        .clone();
    let parent = std::path::Path::new(&bookmark)
        .parent()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let dead = format!("{parent}/.conversations.json.tmp-999999999-0");
    let unknown = format!("{parent}/notes.txt");
    dir.write(&dead, "half a bookmark");
    dir.write(&unknown, "mine");
    fetch(&dir, &mock, &["conversations"]).expect_success();
    assert!(
        !dir.join(&dead).exists(),
        "the dead process's temporary is still there"
    );
    assert!(
        dir.join(&unknown).exists(),
        "a file fetch never writes was removed"
    );
    assert!(dir.join(&bookmark).exists(), "the bookmark went");
}
