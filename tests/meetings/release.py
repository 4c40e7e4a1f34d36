"""A harder meeting: six people in the room, one of them a noisy room microphone that never speaks.

What it holds, on purpose: non-ASCII names (Søren, Zoë), two people talking at once, a late joiner (Chidi),
someone leaving and rejoining (Mateo), questions without a question mark, action items phrased as "could
you…", "X needs to…", "let's have X…", "action item: X to…" and "I will…", due dates, and decisions.

The meeting date is Wednesday 2026-11-25 (``Meeting.date``): "Friday" is 2026-11-27.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.demo.speech import Line, Meeting

# The participant with no voice: a room microphone picking up air conditioning hum and fan noise.
NOISE_NAME = "Boardroom"

MEETING = Meeting(
    title="Release planning",
    voices={"Søren": "en-gb+m3", "Zoë": "en-us+f3", "Mateo": "en-us+m1", "Greta": "en-us+f4",
            "Chidi": "en-gb-x-rp+m7"},
    lines=[
        Line("Søren", "Thanks for coming. Today we need to settle the release plan and the support rota."),
        Line("Zoë", "The beta feedback is mostly positive, but the export feature still crashes on large files."),
        Line("Mateo", "I wonder whether we should delay the release until the export bug is fixed.",
             question=True),
        Line("Greta", "How many customers are affected by the crash", question=True),
        Line("Zoë", "About thirty customers reported it last week."),
        Line("Søren", "Then we agreed to move the release to the fifteenth of January.", decision=True),
        Line("Mateo", "Could you send the updated timeline to the sales team by Friday, Zoë.",
             action_owner="Zoë", due="2026-11-27"),
        Line("Zoë", "Sure, I will do that.", overlap_s=0.8),  # starts before Mateo has finished
        Line("Chidi", "Sorry I am late. Did I miss the decision on the release date", question=True, gap_s=1.5),
        Line("Søren", "We moved it to January. Chidi needs to update the security review before the release.",
             action_owner="Chidi"),
        Line("Chidi", "Fine. What is the deadline for the security review", question=True),
        Line("Søren", "The end of next week."),
        Line("Greta", "Let's have Mateo check the database migration scripts on the staging server.",
             action_owner="Mateo"),
        Line("Mateo", "Okay. I have to drop off for a few minutes, I will be right back."),
        Line("Greta", "Action item: Chidi to book the load test environment for the second of December.",
             action_owner="Chidi", due="2026-12-02", gap_s=1.5),
        Line("Zoë", "Should we also write a blog post about the new export feature", question=True),
        Line("Søren", "Yes, let's go with a short post and a demo video.", decision=True),
        Line("Mateo", "I am back. The support rota for the holidays is still open.", gap_s=2.5),
        Line("Greta", "I will draft the holiday rota tomorrow and share it with everyone.", action_owner="Greta",
             due="2026-11-26"),
        Line("Søren", "Good, that covers everything. Thank you all."),
    ],
)


@dataclass(frozen=True, slots=True)
class Presence:
    """When one person is in the room, on the meeting timeline (seconds)."""

    name: str
    joined_s: float
    left_s: float


def presences(spans: list[tuple[str, float, float]]) -> list[Presence]:
    """Who is in the room when, given the rendered lines' spans (``bot.demo.speech.render``).

    Chidi joins 2 s before his first line; Mateo leaves 1 s after saying he will drop off and is back 2 s
    before his next line; everyone else (and the room microphone) is there from the start to the end.
    """
    end = spans[-1][2] + 1.0
    first_chidi = next(s for s in spans if s[0] == "Chidi")[1]
    mateo = [s for s in spans if s[0] == "Mateo"]
    drop = next(i for i, line in enumerate(MEETING.lines) if "drop off" in line.text)
    away_from = spans[drop][2] + 1.0
    back_at = next(s for s in mateo if s[1] > away_from)[1] - 2.0
    out = [Presence(name, 0.0, end) for name in MEETING.voices if name not in ("Chidi", "Mateo")]
    out += [Presence("Chidi", first_chidi - 2.0, end), Presence("Mateo", 0.0, away_from),
            Presence("Mateo", back_at, end), Presence(NOISE_NAME, 0.0, end)]
    return out
