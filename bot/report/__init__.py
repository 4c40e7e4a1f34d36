"""The meeting report: schema and files."""
