"""The Symbl.ai conversation backend: typed protocol messages and token management (see docs/SYMBL.md)."""
