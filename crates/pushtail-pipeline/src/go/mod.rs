//! Everything that imitates Go, in one place: each piece reproduces what
//! Promtail (a Go program) does with user input, and is tested against
//! golden tables written by real Go (`xtask/golden/`, output committed in
//! `testdata/`). Nothing here does I/O.

pub(crate) mod case;
pub(crate) mod float;
pub(crate) mod json;
pub(crate) mod layout;
pub(crate) mod literal;
pub(crate) mod net;
pub(crate) mod re2;
pub(crate) mod template;
