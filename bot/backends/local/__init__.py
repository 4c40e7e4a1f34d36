"""The offline backend: VAD-segmented utterances decoded by faster-whisper (pocketsphinx as fallback)."""
