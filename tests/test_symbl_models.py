"""Symbl protocol models against the example payloads of docs/SYMBL.md (one test per message family)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from bot.backends.symbl.models import (
    ActionItemsResponse,
    AnalyticsResponse,
    ApiErrorBody,
    Conversation,
    ConversationCompleted,
    ConversationCreated,
    EntitiesResponse,
    EntityResponse,
    ErrorMessage,
    FollowUpsResponse,
    InsightResponse,
    JobStatus,
    JobWebhook,
    KeepAlivePong,
    MessageResponse,
    MessagesResponse,
    ModifyRequest,
    ProcessAudioResponse,
    QuestionsResponse,
    RecognitionResult,
    RecognitionStarted,
    RecognitionStopped,
    ServerMessage,
    SessionModified,
    Speaker,
    SpeechRecognition,
    StartedListening,
    StartRequest,
    StopRequest,
    SummaryResponse,
    SymblProtocolError,
    TokenResponse,
    TopicResponse,
    TopicsResponse,
    TrackerResponse,
    TrackersDetectedResponse,
    UnknownMessage,
    is_email_like,
    parse_server_message,
    start_request,
    stop_request,
)


def wire(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def enveloped(inner: dict[str, Any]) -> str:
    return wire({"type": "message", "message": inner})


# -- lifecycle (§2.4.1) ----------------------------------------------------------------------------------------


def test_conversation_created() -> None:
    msg = parse_server_message(
        '{ "type": "message", "message": { "type": "conversation_created", '
        '"data": { "conversationId": "5093011103940608" } } }'
    )
    assert isinstance(msg, ConversationCreated)
    assert msg.type == "conversation_created"
    assert msg.enveloped
    assert msg.conversation_id == "5093011103940608"


def test_started_listening() -> None:
    msg = parse_server_message('{ "type": "message", "message": { "type": "started_listening" } }')
    assert isinstance(msg, StartedListening)
    assert msg.type == "started_listening"


def test_recognition_started_and_stopped() -> None:
    started = parse_server_message(
        enveloped({"type": "recognition_started", "data": {"conversationId": "5093011103940608"}})
    )
    assert isinstance(started, RecognitionStarted)
    assert started.conversation_id == "5093011103940608"
    stopped = parse_server_message(enveloped({"type": "recognition_stopped"}))
    assert isinstance(stopped, RecognitionStopped)
    assert stopped.conversation_id is None


def test_session_modified() -> None:
    assert isinstance(parse_server_message(enveloped({"type": "session_modified"})), SessionModified)


def test_conversation_completed_web_sdk_shape() -> None:
    msg = parse_server_message(
        enveloped(
            {
                "type": "conversation_completed",
                "conversationId": "5093011103940608",
                "summaryUrl": "https://meetinginsights.symbl.ai/meeting/#/abc",
            }
        )
    )
    assert isinstance(msg, ConversationCompleted)
    assert msg.conversation_id == "5093011103940608"
    assert msg.summary_url == "https://meetinginsights.symbl.ai/meeting/#/abc"


def test_conversation_completed_go_sdk_shape() -> None:
    msg = parse_server_message(
        '{"type":"message","message":{"type":"conversation_completed","data":{"conversationId":"5093011103940608"}}}'
    )
    assert isinstance(msg, ConversationCompleted)
    assert msg.conversation_id == "5093011103940608"
    assert msg.summary_url is None


def test_numeric_conversation_id_becomes_a_string() -> None:
    msg = parse_server_message(enveloped({"type": "conversation_created", "data": {"conversationId": 42}}))
    assert isinstance(msg, ConversationCreated)
    assert msg.conversation_id == "42"


# -- recognition_result (§2.4.2) -------------------------------------------------------------------------------

RECOGNITION_RESULT = {
    "type": "recognition_result",
    "isFinal": True,
    "payload": {
        "raw": {
            "alternatives": [
                {
                    "words": [
                        {
                            "word": "Hello",
                            "startTime": {"seconds": "3", "nanos": "800000000"},
                            "endTime": {"seconds": "4", "nanos": "200000000"},
                        },
                        {
                            "word": "world.",
                            "startTime": {"seconds": "4", "nanos": "200000000"},
                            "endTime": {"seconds": "4", "nanos": "800000000"},
                        },
                    ],
                    "transcript": "Hello world.",
                    "confidence": 0.9128385782241821,
                }
            ]
        }
    },
    "punctuated": {"transcript": "Hello world."},
    "user": {"userId": "emailAddress", "name": "John Doe", "id": "23681108-355b-4fc3-9d94-ed47dd39fa56"},
}


def test_recognition_result_final() -> None:
    msg = parse_server_message(enveloped(RECOGNITION_RESULT))
    assert isinstance(msg, RecognitionResult)
    assert msg.is_final
    assert msg.text == "Hello world."
    assert [w.word for w in msg.words] == ["Hello", "world."]
    assert msg.start_s == pytest.approx(3.8)
    assert msg.end_s == pytest.approx(4.8)
    assert msg.best is not None and msg.best.confidence == pytest.approx(0.9128385782241821)
    assert msg.user is not None
    assert msg.user.id == "23681108-355b-4fc3-9d94-ed47dd39fa56"
    assert msg.user.user_id == "emailAddress"
    assert msg.user.name == "John Doe"


def test_recognition_result_interim_without_punctuation_or_words() -> None:
    inner = {
        "type": "recognition_result",
        "isFinal": False,
        "payload": {"raw": {"alternatives": [{"transcript": "hello wor", "confidence": 0.5}]}},
        "user": {"userId": "p-1", "name": "Jane", "id": "u-1", "peerId": "peer-7"},
    }
    msg = parse_server_message(wire({"type": "message", "timeOffset": 1200, "message": inner}))
    assert isinstance(msg, RecognitionResult)
    assert not msg.is_final
    assert msg.text == "hello wor"  # falls back to the first alternative
    assert msg.words == []
    assert msg.start_s is None and msg.end_s is None
    assert msg.time_offset == 1200  # Go SDK's envelope-level field is kept
    assert msg.user is not None and msg.user.model_extra == {"peerId": "peer-7"}  # echoed extra speaker keys


# -- message_response (§2.4.3) ---------------------------------------------------------------------------------

MESSAGE_RESPONSE = {
    "type": "message_response",
    "sequenceNumber": 3,
    "messages": [
        {
            "id": "59c224c2-54c5-4762-9582-961bf250b478",
            "from": {"id": "0a7a36b1-047d-4d8c-8958-910317ed9edc", "name": "John Doe", "userId": "emailAddress"},
            "payload": {"content": "Hello world.", "contentType": "text/plain"},
            "channel": {"id": "realtime-api"},
            "metadata": {
                "disablePunctuation": True,
                "timezoneOffset": 480,
                "originalContent": "Hello world.",
                "words": '[{"word":"Hello","startTime":"2021-02-04T20:34:59.029Z",'
                '"endTime":"2021-02-04T20:34:59.429Z"},'
                '{"word":"world.","startTime":"2021-02-04T20:34:59.429Z","endTime":"2021-02-04T20:35:00.029Z"}]',
                "originalMessageId": "59c224c2-54c5-4762-9582-961bf250b478",
            },
            "dismissed": False,
            "duration": {"startTime": "2021-02-04T20:34:59.029Z", "endTime": "2021-02-04T20:35:00.029Z"},
            "sentiment": {"polarity": {"score": 0.6}, "suggested": "positive"},
        }
    ],
}


def test_message_response() -> None:
    msg = parse_server_message(wire(MESSAGE_RESPONSE))
    assert isinstance(msg, MessageResponse)
    assert not msg.enveloped
    assert msg.sequence_number == 3
    (m,) = msg.messages
    assert m.text == "Hello world."
    assert m.from_ is not None and m.from_.id == "0a7a36b1-047d-4d8c-8958-910317ed9edc"
    assert m.from_.user_id == "emailAddress"
    assert m.channel is not None and m.channel.id == "realtime-api"
    assert m.duration is not None
    assert m.duration.start_time == datetime(2021, 2, 4, 20, 34, 59, 29000, tzinfo=UTC)
    assert m.duration.end_time == datetime(2021, 2, 4, 20, 35, 0, 29000, tzinfo=UTC)
    assert m.sentiment is not None and m.sentiment.polarity is not None
    assert m.sentiment.polarity.score == pytest.approx(0.6)
    assert m.sentiment.suggested == "positive"
    # metadata.words is a JSON string on the wire; it is decoded
    assert [w.word for w in m.words] == ["Hello", "world."]
    assert m.words[1].end_time == datetime(2021, 2, 4, 20, 35, 0, 29000, tzinfo=UTC)
    assert m.metadata is not None and m.metadata.timezone_offset == 480


def test_message_response_tolerates_missing_optional_parts_and_bad_words() -> None:
    msg = parse_server_message(
        wire(
            {
                "type": "message_response",
                "messages": [
                    {"payload": {"content": "Hi."}, "metadata": {"words": "not json"}},
                    {"payload": {"content": "Bye."}},
                ],
            }
        )
    )
    assert isinstance(msg, MessageResponse)
    assert [m.text for m in msg.messages] == ["Hi.", "Bye."]
    assert msg.messages[0].words == [] and msg.messages[1].words == []
    assert msg.messages[0].sentiment is None


# -- insight_response (§2.4.4) ---------------------------------------------------------------------------------

INSIGHT_RESPONSE_REDUCED = {
    "type": "insight_response",
    "insights": [
        {
            "type": "question",
            "text": "So tell me, what is the most important quality …?",
            "confidence": 0.9997962117195129,
            "hints": [],
            "tags": [],
        },
        {
            "type": "action_item",
            "text": "Jane will look into the requirements …",
            "confidence": 0.9972074778643447,
            "hints": [],
            "tags": [
                {
                    "type": "person",
                    "text": "Jane",
                    "beginOffset": 0,
                    "value": {"value": {"name": "Jane", "alias": "Jane", "userId": "jane.doe@symbl.ai"}},
                }
            ],
        },
    ],
}

INSIGHT_FULL = {
    "id": "94020eb9-b688-4d56-945c-a7e5282258cc",
    "type": "action_item",
    "confidence": 0.9909798145016999,
    "messageReference": {"id": "94020eb9-b688-4d56-945c-a7e5282258cc"},
    "hints": [
        {"key": "informationScore", "value": "0.9782608695652174"},
        {"key": "confidenceScore", "value": "0.9999962500210938"},
        {"key": "comprehensionScore", "value": "0.9983848333358765"},
    ],
    "assignee": {"id": "e2c5acf8-…", "name": "John Doe", "userId": "emailAddress"},
    "dueBy": {"value": "2021-02-05T00:00:00-07:00"},
    "tags": [
        {"type": "date", "text": "today", "beginOffset": 39, "value": {"value": {"datetime": "2021-02-05"}}},
        {
            "type": "person",
            "text": "John Doe",
            "beginOffset": 8,
            "value": {"value": {"name": "John Doe", "id": "e2c5…", "assignee": True, "userId": "emailAddress"}},
        },
    ],
    "dismissed": False,
    "payload": {"content": "Perhaps John Doe can submit the report today.", "contentType": "text/plain"},
    "from": {"id": "e2c5acf8-…", "name": "John Doe", "userId": "emailAddress"},
    "entities": None,
}


def test_insight_response_reduced_form() -> None:
    msg = parse_server_message(wire(INSIGHT_RESPONSE_REDUCED))
    assert isinstance(msg, InsightResponse)
    question, action = msg.insights
    assert question.type == "question"
    assert question.content == "So tell me, what is the most important quality …?"
    assert question.confidence == pytest.approx(0.9997962117195129)
    assert action.type == "action_item"
    assert action.tags[0].begin_offset == 0
    assert action.tags[0].attributes["userId"] == "jane.doe@symbl.ai"


def test_insight_response_full_form() -> None:
    follow_up = {
        "type": "follow_up",
        "payload": {"content": "Let's sync next week."},
        "hints": [{"key": "addressedTo", "value": '["first_person_singular","second_person_singular"]'}],
    }
    msg = parse_server_message(wire({"type": "insight_response", "sequenceNumber": 2, "insights": [INSIGHT_FULL,
                                                                                                     follow_up]}))
    assert isinstance(msg, InsightResponse)
    assert msg.sequence_number == 2
    action, fu = msg.insights
    assert action.content == "Perhaps John Doe can submit the report today."
    assert action.assignee is not None and action.assignee.name == "John Doe"
    assert action.due_by is not None and action.due_by.value == "2021-02-05T00:00:00-07:00"
    assert action.from_ is not None and action.from_.id == "e2c5acf8-…"
    assert action.message_reference is not None
    assert action.message_reference.id == "94020eb9-b688-4d56-945c-a7e5282258cc"
    assert {h.key: h.value for h in action.hints}["confidenceScore"] == "0.9999962500210938"
    assert action.tags[0].attributes == {"datetime": "2021-02-05"}
    assert action.tags[1].attributes["assignee"] is True
    assert fu.type == "follow_up"
    assert json.loads(fu.hints[0].value) == ["first_person_singular", "second_person_singular"]


# -- topic_response (§2.4.5) -----------------------------------------------------------------------------------


def test_topic_response() -> None:
    msg = parse_server_message(
        wire(
            {
                "type": "topic_response",
                "topics": [
                    {
                        "id": "e69a5556-6729-11eb-ab14-2aee2deabb1b",
                        "messageReferences": [
                            {"id": "0df44422-0248-47e9-8814-e87f63404f2c", "relation": "text instance"}
                        ],
                        "phrases": "auto insurance",
                        "rootWords": [{"text": "auto"}],
                        "score": 0.9,
                        "type": "topic",
                        "sentiment": {"polarity": {"score": 0.2}, "suggested": "neutral"},
                    }
                ],
            }
        )
    )
    assert isinstance(msg, TopicResponse)
    (topic,) = msg.topics
    assert topic.phrases == "auto insurance"
    assert topic.root_words[0].text == "auto"
    assert topic.message_references[0].relation == "text instance"
    assert topic.score == pytest.approx(0.9)
    assert topic.sentiment is not None and topic.sentiment.suggested == "neutral"


# -- tracker_response and entity_response (§2.4.6) -------------------------------------------------------------


def test_tracker_response() -> None:
    msg = parse_server_message(
        wire(
            {
                "type": "tracker_response",
                "isFinal": True,
                "sequenceNumber": 1,
                "trackers": [
                    {
                        "name": "Goodness",
                        "matches": [
                            {
                                "type": "vocabulary",
                                "value": "This is awesome",
                                "messageRefs": [
                                    {"id": "fa93aa64-0e8d-4697-bb52-e2916ca63192", "text": "This is awesome.",
                                     "offset": 0},
                                    {"id": "other", "text": "This is great.", "offset": -1},
                                ],
                                "insightRefs": [],
                            }
                        ],
                    }
                ],
            }
        )
    )
    assert isinstance(msg, TrackerResponse)
    assert msg.is_final and msg.sequence_number == 1
    (tracker,) = msg.trackers
    assert tracker.name == "Goodness"
    exact, similar = tracker.matches[0].message_refs
    assert exact.exact and exact.text == "This is awesome."
    assert not similar.exact


def test_entity_response() -> None:
    msg = parse_server_message(
        '{"type":"entity_response","sequenceNumber":1,"entities":[{"type":"person","subType":"name",'
        '"category":"pii","matches":[{"detectedValue":"Jane",'
        '"messageRefs":[{"id":"m1","text":"Jane here","offset":0}]}]}]}'
    )
    assert isinstance(msg, EntityResponse)
    (entity,) = msg.entities
    assert entity.sub_type == "name" and entity.category == "pii"
    assert entity.matches[0].detected_value == "Jane"
    assert entity.matches[0].message_refs[0].id == "m1"


# -- errors (§2.4.7) -------------------------------------------------------------------------------------------


def test_error_top_level_shape() -> None:
    msg = parse_server_message('{ "type": "error", "details": "Invalid sampleRateHertz", "message": "Bad request" }')
    assert isinstance(msg, ErrorMessage)
    assert not msg.enveloped
    assert msg.details == "Invalid sampleRateHertz"
    assert msg.message == "Bad request"
    assert msg.description == "Bad request: Invalid sampleRateHertz"


def test_error_enveloped_shape() -> None:
    msg = parse_server_message(enveloped({"type": "error", "code": 1011, "reason": "Internal error"}))
    assert isinstance(msg, ErrorMessage)
    assert msg.enveloped
    assert msg.model_extra == {"code": 1011, "reason": "Internal error"}
    assert "Internal error" in msg.description
    bare = parse_server_message(enveloped({"type": "error"}))
    assert isinstance(bare, ErrorMessage) and bare.description == "unspecified error"


# -- tolerance and errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "is_enveloped"),
    [
        ('{"type": "speaker_change", "user": {"id": "x"}}', "speaker_change", False),
        ('{"type": "message", "message": {"type": "brand_new_event", "data": {"n": 1}}}', "brand_new_event", True),
        ('{"type": "message", "message": {"punctuated": {"transcript": "no type"}}}', "", True),
        ('{"type": "message", "message": "a plain string"}', "message", False),
        ('{"no_type": true}', "", False),
    ],
)
def test_unknown_types_are_kept_raw(text: str, kind: str, is_enveloped: bool) -> None:
    msg = parse_server_message(text)
    assert isinstance(msg, UnknownMessage)
    assert msg.type == kind
    assert msg.enveloped is is_enveloped
    assert msg.raw == json.loads(text)


def test_keepalive_pong_text() -> None:
    assert isinstance(parse_server_message("__PONG__"), KeepAlivePong)


def test_bytes_are_accepted() -> None:
    msg = parse_server_message(b'{"type":"message","message":{"type":"started_listening"}}')
    assert isinstance(msg, StartedListening)


@pytest.mark.parametrize("text", ['{"type": "message"', "", "not json", "{'type': 'stop_request'}"])
def test_malformed_json_raises_a_clear_error(text: str) -> None:
    with pytest.raises(SymblProtocolError, match="not valid JSON"):
        parse_server_message(text)


@pytest.mark.parametrize("text", ["[1, 2]", '"message"', "42", "null"])
def test_json_that_is_not_an_object_is_refused(text: str) -> None:
    with pytest.raises(SymblProtocolError, match="not a JSON object"):
        parse_server_message(text)


def test_known_type_with_a_broken_shape_names_the_type_and_field() -> None:
    with pytest.raises(SymblProtocolError, match=r"'recognition_result'.*isFinal|is_final") as err:
        parse_server_message(enveloped({"type": "recognition_result", "isFinal": "perhaps"}))
    assert isinstance(err.value, ValueError)
    with pytest.raises(SymblProtocolError, match="'message_response'.*messages"):
        parse_server_message('{"type": "message_response", "messages": 5}')


def test_non_utf8_bytes_are_refused() -> None:
    with pytest.raises(SymblProtocolError, match="UTF-8"):
        parse_server_message(b"\xff\xfe")


def test_server_message_union_validates_python_dicts_too() -> None:
    adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
    msg = adapter.validate_python({"type": "message", "message": {"type": "started_listening"}})
    assert isinstance(msg, StartedListening)
    assert isinstance(adapter.validate_python({"type": "mystery"}), UnknownMessage)


# -- client messages (§2.3) ------------------------------------------------------------------------------------


def test_start_request_produces_the_documented_json() -> None:
    req = start_request(
        user_id="7f3a9c1e",
        name="Jane",
        meeting_title="Weekly sync",
        sentiment=True,
        no_connection_timeout=300,
    )
    assert json.loads(req.to_json()) == {
        "type": "start_request",
        "insightTypes": ["question", "action_item", "follow_up"],
        "config": {
            "confidenceThreshold": 0.5,
            "languageCode": "en-US",
            "meetingTitle": "Weekly sync",
            "sentiment": True,
            "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 16000},
        },
        "speaker": {"userId": "7f3a9c1e", "name": "Jane"},
        "noConnectionTimeout": 300,
    }


def test_start_request_minimal_and_options() -> None:
    req = start_request(user_id="p1", name="Bob @ home", insight_types=["question", "topic"],
                        sample_rate_hertz=48000, confidence_threshold=0.7, disconnect_on_stop_request=False,
                        disconnect_on_stop_request_timeout=60, custom_vocabulary=["Jitsi"])
    out = req.to_wire()
    assert out["insightTypes"] == ["question", "topic"]
    assert out["config"]["speechRecognition"] == {"encoding": "LINEAR16", "sampleRateHertz": 48000}
    assert out["config"]["confidenceThreshold"] == 0.7
    assert "meetingTitle" not in out["config"] and "sentiment" not in out["config"]
    assert out["disconnectOnStopRequest"] is False
    assert out["disconnectOnStopRequestTimeout"] == 60
    assert out["customVocabulary"] == ["Jitsi"]
    assert out["speaker"] == {"userId": "p1", "name": "Bob @ home"}
    assert "noConnectionTimeout" not in out


@pytest.mark.parametrize(
    ("user_id", "name"),
    [
        ("jane.doe@example.com", "Jane"),
        ("p1", "jane@example.com"),
        ("p1", "Jane <jane@example.com>"),
        ("jane@localhost", "Jane"),
    ],
)
def test_start_request_refuses_email_like_speakers(user_id: str, name: str) -> None:
    with pytest.raises(ValueError, match="e-mail"):
        start_request(user_id=user_id, name=name)


def test_start_request_refuses_empty_speaker() -> None:
    with pytest.raises(ValueError, match="empty"):
        start_request(user_id="", name="Jane")
    with pytest.raises(ValueError, match="empty"):
        start_request(user_id="p1", name="")


def test_speaker_model_also_refuses_emails() -> None:
    with pytest.raises(ValidationError, match="e-mail"):
        Speaker(user_id="a@b.c", name="A")
    with pytest.raises(ValidationError, match="e-mail"):
        StartRequest.model_validate({"speaker": {"userId": "x", "name": "x@y.z"}})


def test_is_email_like() -> None:
    assert is_email_like("a@b.c")
    assert is_email_like("a@b")
    assert not is_email_like("Bob @ home")
    assert not is_email_like("@handle")
    assert not is_email_like("7f3a9c1e")


def test_start_request_range_checks() -> None:
    with pytest.raises(ValueError, match="confidence_threshold|confidenceThreshold"):
        start_request(user_id="p1", name="A", confidence_threshold=0.2)
    with pytest.raises(ValueError, match="sampleRateHertz"):
        start_request(user_id="p1", name="A", sample_rate_hertz=96000)
    with pytest.raises(ValueError, match="MULAW"):
        start_request(user_id="p1", name="A", encoding="MULAW", sample_rate_hertz=16000)
    with pytest.raises(ValueError):
        start_request(user_id="p1", name="A", no_connection_timeout=3600)


def test_stop_and_modify_requests() -> None:
    assert stop_request().to_json() == '{"type":"stop_request"}'
    assert isinstance(stop_request(), StopRequest)
    modify = ModifyRequest(speech_recognition=SpeechRecognition(sample_rate_hertz=8000))
    assert json.loads(modify.to_json()) == {
        "type": "modify_request",
        "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 8000},
    }


def test_client_messages_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        StartRequest.model_validate({"type": "start_request", "speakr": {"userId": "x", "name": "y"}})


# -- REST (§1, §3, §4) -----------------------------------------------------------------------------------------


def test_token_response() -> None:
    tok = TokenResponse.model_validate_json('{"accessToken": "your_accessToken", "expiresIn": 86400}')
    assert tok.access_token == "your_accessToken" and tok.expires_in == 86400
    with pytest.raises(ValidationError):
        TokenResponse.model_validate({"accessToken": "", "expiresIn": 10})
    with pytest.raises(ValidationError):
        TokenResponse.model_validate({"accessToken": "t"})


def test_rest_error_body() -> None:
    body = ApiErrorBody.model_validate_json(
        '{"statusCode":429,"message":"This API has a limit of maximum of `X` number of concurrent jobs per account."}'
    )
    assert body.status_code == 429 and body.message is not None and body.message.startswith("This API")


def test_async_process_audio_and_job() -> None:
    created = ProcessAudioResponse.model_validate_json(
        '{ "conversationId": "5815170693595136", "jobId": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d" }'
    )
    assert created.conversation_id == "5815170693595136"
    assert created.job_id == "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
    job = JobStatus.model_validate_json('{ "id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "status": "in_progress" }')
    assert job.status == "in_progress" and not job.done
    assert JobStatus.model_validate({"id": "j", "status": "failed"}).done
    with pytest.raises(ValidationError):
        JobStatus.model_validate({"id": "j", "status": "exploded"})
    hook = JobWebhook.model_validate({"jobId": "j1", "status": "completed"})
    assert hook.job_id == "j1"


def test_conversation() -> None:
    conv = Conversation.model_validate(
        {
            "id": "4549300882243584",
            "type": "meeting",
            "name": "4549300882243584",
            "startTime": "2021-07-23T16:31:29.798Z",
            "endTime": "2021-07-23T16:32:20.826Z",
            "members": [{"id": "5118221462011904", "name": "John", "email": "John@example.com"}],
            "metadata": {"label": "Business"},
        }
    )
    assert conv.members[0].email == "John@example.com"
    assert conv.start_time == datetime(2021, 7, 23, 16, 31, 29, 798000, tzinfo=UTC)


def test_messages_with_sentiment_and_words() -> None:
    resp = MessagesResponse.model_validate(
        {
            "messages": [
                {
                    "id": "6412283618000896",
                    "text": "Best package for you is $69.99 per month.",
                    "from": {"name": "Roger", "email": "Roger@example.com"},
                    "startTime": "2020-07-10T11:16:21.024Z",
                    "endTime": "2020-07-10T11:16:26.724Z",
                    "timeOffset": 5.9,
                    "duration": 1,
                    "conversationId": "6749556955938816",
                    "phrases": [{"type": "action_phrase", "text": "submit the documents"}],
                    "sentiment": {"polarity": {"score": 0.6}, "suggested": "positive"},
                    "words": [
                        {
                            "word": "Best",
                            "startTime": "2020-08-18T11:10:14.536Z",
                            "endTime": "2020-08-18T11:10:15.536Z",
                            "score": 0.91,
                            "timeOffset": 5.9,
                            "duration": 0.2,
                        }
                    ],
                }
            ]
        }
    )
    (m,) = resp.messages
    assert m.text.startswith("Best package")
    assert m.from_ is not None and m.from_.name == "Roger" and m.from_.email == "Roger@example.com"
    assert m.time_offset == pytest.approx(5.9) and m.duration == 1
    assert m.sentiment is not None and m.sentiment.polarity is not None and m.sentiment.polarity.score == 0.6
    assert m.words[0].score == pytest.approx(0.91) and m.words[0].time_offset == pytest.approx(5.9)
    assert m.phrases[0].text == "submit the documents"


def test_action_items() -> None:
    resp = ActionItemsResponse.model_validate(
        {
            "actionItems": [
                {
                    "id": "4567077831573504",
                    "text": "Vikram you need to work on figuring out a plan …",
                    "type": "action_item",
                    "score": 0.9456050585275944,
                    "messageIds": ["4854542482014208"],
                    "entities": [
                        {"type": "person", "text": "Vikram", "offset": 0, "value": {"assignee": True, "name": "Vikram"}}
                    ],
                    "phrases": [{"type": "action_phrase", "text": "make this hackathon work for our customers first"}],
                    "from": {"id": "c99e7baf-8d9c-4668-ae08-6bd3384bc642", "name": "Lucy",
                             "userId": "lucy@example.com"},
                    "definitive": True,
                    "assignee": {"name": "Vikram"},
                }
            ]
        }
    )
    (item,) = resp.action_items
    assert item.assignee is not None and item.assignee.name == "Vikram"
    assert item.definitive is True
    assert item.message_ids == ["4854542482014208"]
    assert item.entities[0].value == {"assignee": True, "name": "Vikram"}
    assert item.from_ is not None and item.from_.name == "Lucy"


def test_questions() -> None:
    resp = QuestionsResponse.model_validate(
        {
            "questions": [
                {
                    "id": "6673386714431488",
                    "text": "It actually does not have speakers right?",
                    "type": "question",
                    "score": 0.9844425742283145,
                    "messageIds": ["5561105242914816"],
                    "from": {"id": "47c74881-…", "name": "Surbhi", "userId": "Surbhi@symbl.ai"},
                }
            ]
        }
    )
    assert resp.questions[0].text == "It actually does not have speakers right?"
    assert resp.questions[0].score == pytest.approx(0.9844425742283145)


def test_follow_ups() -> None:
    resp = FollowUpsResponse.model_validate(
        {
            "followUps": [
                {
                    "id": "4526427164639111",
                    "text": "We need to have the meeting today, …",
                    "type": "follow_up",
                    "score": 0.8660254037851491,
                    "messageIds": ["4675554024357888"],
                    "entities": [
                        {"type": "date", "text": "today", "offset": 28, "value": "2020-06-22"},
                        {"type": "datetimerange", "text": "yesterday evening", "offset": 67,
                         "start": "2020-06-21 16:00:00", "end": "2020-06-21 20:00:00"},
                        {"type": "timerange", "text": "afternoon", "offset": 34,
                         "start": "12:00:00", "end": "15:00:00"},
                        {"type": "person", "text": "Richard Holmes", "offset": 110,
                         "value": {"name": "Richard Holmes"}},
                    ],
                    "from": {},
                    "assignee": {},
                    "dueBy": "2020-06-22T07:00:00.000Z",
                }
            ]
        }
    )
    (fu,) = resp.follow_ups
    assert fu.due_by == "2020-06-22T07:00:00.000Z"
    assert fu.entities[0].value == "2020-06-22"
    assert fu.entities[1].start == "2020-06-21 16:00:00"
    assert fu.from_ is not None and fu.from_.name is None
    # the streaming form {"value": ...} is accepted as well
    assert ActionItemsResponse.model_validate({"actionItems": [{"text": "x", "dueBy": {"value": "2021-02-05"}}]}
                                              ).action_items[0].due_by == "2021-02-05"


def test_topics() -> None:
    resp = TopicsResponse.model_validate(
        {
            "topics": [
                {
                    "id": "5907389282779136",
                    "text": "interns",
                    "type": "topic",
                    "score": 0.7178597920690242,
                    "messageIds": ["4600982711304192", "5487363432120320"],
                    "sentiment": {"polarity": {"score": 0.389}, "suggested": "positive"},
                    "parentRefs": [{"type": "topic", "text": "company-wise hiring"}],
                }
            ]
        }
    )
    (topic,) = resp.topics
    assert topic.text == "interns" and topic.parent_refs[0].text == "company-wise hiring"
    assert topic.sentiment is not None and topic.sentiment.suggested == "positive"


def test_analytics() -> None:
    resp = AnalyticsResponse.model_validate(
        {
            "metrics": [
                {"type": "total_silence", "percent": 29.061, "seconds": 23.432},
                {"type": "total_talk_time", "percent": 70.939, "seconds": 57.199},
                {"type": "total_overlap", "percent": 55.071, "seconds": 31.5},
            ],
            "members": [
                {
                    "id": "acc63fbe-c3cd-4daa-8ab0-b088142e5a0f",
                    "name": "Speaker 1",
                    "userId": "abc@symbl.ai",
                    "pace": {"wpm": 68},
                    "talkTime": {"percentage": 40.912, "seconds": 23.401},
                    "listenTime": {"percentage": 59.088, "seconds": 33.798},
                    "overlap": {
                        "overlapDuration": 31.5,
                        "overlappingMembers": [
                            {"id": "a52def45-…", "name": "Speaker 2", "userId": "abcd@symbl.ai", "percent": 61.58,
                             "seconds": 24.94}
                        ],
                    },
                }
            ],
        }
    )
    assert [m.type for m in resp.metrics] == ["total_silence", "total_talk_time", "total_overlap"]
    (member,) = resp.members
    assert member.pace is not None and member.pace.wpm == 68
    assert member.talk_time is not None and member.talk_time.seconds == pytest.approx(23.401)
    assert member.listen_time is not None and member.listen_time.percentage == pytest.approx(59.088)
    assert member.overlap is not None and member.overlap.overlap_duration == pytest.approx(31.5)
    assert member.overlap.overlapping_members[0].name == "Speaker 2"


def test_summary() -> None:
    resp = SummaryResponse.model_validate(
        {
            "summary": [
                {
                    "id": "3498579583479",
                    "text": "John, Mark and Paul need to focus more on the Dev team and on the product. …",
                    "messageRefs": [{"id": "248594875984"}, {"id": "948538959348"}],
                }
            ]
        }
    )
    (item,) = resp.summary
    assert item.text.startswith("John, Mark and Paul")
    assert [r.id for r in item.message_refs] == ["248594875984", "948538959348"]


def test_trackers_detected_is_a_bare_array() -> None:
    resp = TrackersDetectedResponse.model_validate(
        [
            {
                "id": "5237067555536896",
                "name": "PricingMention",
                "matches": [
                    {
                        "type": "vocabulary",
                        "value": "What is the price",
                        "messageRefs": [{"id": "4667009028587520", "text": "How much does it cost?", "offset": -1}],
                        "insightRefs": [{"text": "How much does it cost?", "offset": -1, "type": "question",
                                         "id": "5420651570528256"}],
                    }
                ],
            }
        ]
    )
    (tracker,) = resp.root
    assert tracker.name == "PricingMention"
    assert tracker.matches[0].insight_refs[0].type == "question"
    assert not tracker.matches[0].message_refs[0].exact


def test_entities_both_shapes() -> None:
    old = EntitiesResponse.model_validate(
        {
            "entities": [
                {"type": "person", "value": "jamie smith", "text": "jamie smith",
                 "messageRefs": [{"id": "5979280332816384", "text": "The name is Jamie Smith.", "offset": 12}]},
                {"type": "custom", "customType": "Company Executives", "value": "marketing director",
                 "text": "marketing director",
                 "messageRefs": [{"id": "5118221462011904",
                                  "text": "The marketing director is out-of-town due to some work.", "offset": 4}]},
            ]
        }
    )
    assert old.entities[1].custom_type == "Company Executives"
    assert old.entities[0].message_refs[0].offset == 12
    new = EntitiesResponse.model_validate(
        {"entities": [{"type": "t", "subType": "s", "category": "c",
                       "matches": [{"detectedValue": "v", "messageRefs": [{"id": "1", "text": "x", "offset": 0}]}]}]}
    )
    assert new.entities[0].matches[0].detected_value == "v"
