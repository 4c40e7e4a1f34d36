"""Symbl's post-call intelligence from the Conversation API, mapped into the Report's shapes."""

from __future__ import annotations

from datetime import date

from bot.backends.base import PostCall
from bot.backends.symbl.models import (
    ActionItemsResponse,
    ConversationInsight,
    FollowUpsResponse,
    MessagesResponse,
    QuestionsResponse,
    SummaryResponse,
    TopicsResponse,
)
from bot.backends.symbl.recovery import AsyncApi
from bot.report.model import Insight, Topic


async def conversation_insights(api: AsyncApi, conversation_id: str, names: dict[str, str]) -> PostCall:
    """Questions, action items (assignee, due date), follow-ups, topics and summary of a conversation."""
    base = f"/v1/conversations/{conversation_id}"
    messages = MessagesResponse.model_validate_json(await api.get(f"{base}/messages"))
    times = {m.id: (m.time_offset or 0.0) for m in messages.messages if m.id}

    def insight(item: ConversationInsight, *, owner: bool = False) -> Insight:
        who = item.from_
        speaker_id = (who.user_id or who.id or "") if who is not None else ""
        speaker = (who.name if who is not None and who.name else None) or names.get(speaker_id, speaker_id)
        start = min((times[i] for i in item.message_ids if i in times), default=0.0)
        assignee = item.assignee.name if owner and item.assignee is not None else None
        return Insight(text=item.text, speaker_id=speaker_id, speaker=speaker, start_s=round(start, 3),
                       owner=assignee, due=item.due_by if owner else None,
                       due_date=_date(item.due_by) if owner else None)

    questions = QuestionsResponse.model_validate_json(await api.get(f"{base}/questions"))
    actions = ActionItemsResponse.model_validate_json(await api.get(f"{base}/action-items"))
    follow_ups = FollowUpsResponse.model_validate_json(await api.get(f"{base}/follow-ups"))
    topics = TopicsResponse.model_validate_json(await api.get(f"{base}/topics"))
    summary = SummaryResponse.model_validate_json(await api.get(f"{base}/summary"))
    return PostCall(
        summary=[s.text for s in summary.summary if s.text],
        topics=[Topic(text=t.text, score=min(1.0, max(0.0, t.score or 0.0))) for t in topics.topics if t.text],
        questions=[insight(q) for q in questions.questions],
        action_items=[insight(a, owner=True) for a in actions.action_items],
        follow_ups=[insight(f, owner=True) for f in follow_ups.follow_ups],
    )


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
