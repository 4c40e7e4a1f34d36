"""Test meetings: scripted dialogues rendered to speech with espeak-ng, with what a notetaker should find."""
