"""Processing after the parser: event processor, usage accounting, token counting, prices."""
