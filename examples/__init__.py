"""Services built on Tessera, kept in the repository so the suite proves they work."""
