"""The contracts: msgspec Structs for API bodies and events. No I/O, nothing of Usher's imported."""
