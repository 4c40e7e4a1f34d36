"""Driving the Jitsi Meet page: browser launch, joining, capture script."""
