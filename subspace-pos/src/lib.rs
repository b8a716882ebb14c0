#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod bits;
pub mod constants;
mod error;
mod f1;
mod fx;
mod id;
mod lanes;
mod park;
mod pledge;
mod plot;
mod progress;
mod proof;
mod prover;
mod sort;
mod tables;
mod verify;

pub use constants::{MAX_K, MAX_PLOT_K, MIN_K};
pub use error::PosError;
pub use id::{Challenge, PlotId};
pub use pledge::{
    MAX_PLEDGE_PROOF_BYTES, PLEDGE_CHALLENGES, PLEDGE_MIN_K, PLEDGE_SLACK_BITS, PLEDGE_THRESHOLD,
    PledgeProof, PlotSet, nominal_plot_bytes, plot_count,
};
pub use plot::{HEADER_BYTES, Plot, PlotInfo, Plotter};
pub use progress::{Phase, Progress};
pub use proof::{Proof, Quality};
pub use tables::Tables;
pub use verify::verify;

/// Result type of this crate.
pub type Result<T, E = PosError> = core::result::Result<T, E>;
