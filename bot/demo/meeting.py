"""A launch review among three people: questions, action items with and without names, a follow-up."""

from bot.demo.speech import Line, Meeting

MEETING = Meeting(
    title="Launch review",
    voices={"Alice": "en-us+f3", "Bob": "en-gb+m3", "Priya": "en-us+f4"},
    lines=[
        Line("Alice", "Good morning everyone, thanks for joining the launch review."),
        Line("Bob", "Morning. Can we start with the budget?", question=True),
        Line("Alice", "Yes. The budget is almost final, but the marketing costs went up."),
        Line("Priya", "What is the new total for marketing?", question=True),
        Line("Alice", "It is a little higher than planned. I will send the updated budget to finance by Thursday.",
             action_owner="Alice", due="2026-11-26"),
        Line("Bob", "Priya will update the launch checklist before Friday.", action_owner="Priya",
             due="2026-11-27"),
        Line("Priya", "Sure, I can do that. Bob, can you book the venue for the launch party?",
             action_owner="Bob"),
        Line("Bob", "Yes, I will call them tomorrow.", action_owner="Bob", due="2026-11-26"),
        Line("Alice", "Do we have a date for the press release?", question=True),
        Line("Priya", "Not yet. We need to confirm it with the legal team.", action_owner=""),
        Line("Bob", "Who is writing the customer email?", question=True),
        Line("Alice", "Great work everyone. Let's meet again next week to check the progress.", follow_up=True),
    ],
)
