//! The bundled rules and suites, embedded in the binary by build.rs so that
//! it runs from any directory: `RULES` and `SUITES` as (file name, text).
include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
