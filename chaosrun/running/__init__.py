"""Running a plan: the engine, fault injection, sampling, the run end to end, the preflight."""
