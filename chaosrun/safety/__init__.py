"""Safety: the write-ahead ledger, recover and stop, child processes, secrets, the state folder."""
