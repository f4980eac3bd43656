"""Judging samples: per-phase verdicts, sliding windows, streaming quantile sketches."""
