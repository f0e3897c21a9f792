"""Developer tools (doc generators); not used by the CLI at run time."""
