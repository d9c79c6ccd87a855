//! Pieces the screens share: the frame, icons, the quick launcher, Markdown and cards.

pub mod common;
pub mod icons;
pub mod launcher;
pub mod shell;
