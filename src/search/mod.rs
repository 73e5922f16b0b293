//! The `search` stage: the candidate space on this host ([`space`]) and the
//! strategies that walk it ([`guided`] by knob groups within the rules'
//! space; the grid of every coherent config is [`space::grid`]), and the
//! expert's [`recipes`] every guided search measures first.
pub mod guided;
pub mod recipes;
pub mod space;

pub use space::Candidate;
