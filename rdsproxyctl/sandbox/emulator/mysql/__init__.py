"""The MySQL engine family of the emulator: the wire protocol (``packets``), connections
to the database (``backend``), client sessions (``session``) and what pins them
(``pinning``)."""
