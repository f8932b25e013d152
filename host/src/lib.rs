//! tern-host: everything that runs on the host side of the accelerator: the command
//! implementations behind the `tern` binary, layer runs and their reports.

pub mod backend;
pub mod cmd;
pub mod layer;
pub mod table;
