"""Wire formats: one module each (request building and a sans-IO event parser)."""
