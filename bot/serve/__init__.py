"""``jitsi-bot serve``: a web page and REST API that start one bot (one ``jitsi-bot join``) per meeting."""
