//! Plotting progress reports, for a node's progress bar.

/// What the plotter is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Computing table `table` (1..=7) from the previous one.
    Forward,
    /// Dropping entries that do not lead to table 7.
    Prune,
    /// Re-sorting table `table` (1..=7) into plot order.
    Sort,
    /// Writing and checksumming the plot file.
    Write,
    /// The plot is complete.
    Done,
}

/// One progress report: phase, table and the fraction of the whole plot done so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Table the phase works on (1..=7), or 0 when the phase is not per table.
    pub table: u8,
    /// Fraction of the whole job done, from 0.0 to 1.0, never decreasing.
    pub fraction: f32,
}

/// Fractions of the whole job at the start of each step, from measured k = 20 runs on two
/// threads (three plots, 2026-12-02, with the 16-lane f2..f7).
pub(crate) fn fraction(phase: Phase, table: u8) -> f32 {
    match phase {
        Phase::Forward if table <= 1 => 0.0,
        Phase::Forward => 0.03 + f32::from(table - 2) * 0.10,
        Phase::Prune => 0.60,
        Phase::Sort => 0.66 + f32::from(table.saturating_sub(1)) * 0.025,
        Phase::Write => 0.84,
        Phase::Done => 1.0,
    }
}

/// Sends the report for the start of a step.
pub(crate) fn report(progress: &mut (dyn FnMut(Progress) + Send), phase: Phase, table: u8) {
    progress(Progress {
        phase,
        table,
        fraction: fraction(phase, table),
    });
}
