"""Email delivery: a MIME message (text + HTML alternatives, attachments) submitted with aiosmtplib.

Header injection is impossible by construction: the subject is made single-line by the renderer, names
only ever appear in bodies, and Python's email package refuses CR/LF in any header value.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses

import aiosmtplib
import structlog

from bot.config import SmtpSettings
from bot.delivery.errors import DeliveryError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach."""

    filename: str
    data: bytes
    mimetype: str  # "text/plain", "application/json", …


def parse_addresses(values: list[str]) -> list[Address]:
    """Parse ``Name <addr@host>`` or ``addr@host`` strings; raises ValueError naming a bad one."""
    out: list[Address] = []
    for value in values:
        if "\r" in value or "\n" in value:
            raise ValueError(f"address contains a line break: {value!r}")
        parsed = getaddresses([value])
        if len(parsed) != 1 or "@" not in parsed[0][1] or " " in parsed[0][1]:
            raise ValueError(f"not an email address: {value!r}")
        name, addr = parsed[0]
        local, _, domain = addr.rpartition("@")
        if not local or "." not in domain and domain != "localhost":
            raise ValueError(f"not an email address: {value!r}")
        out.append(Address(display_name=name, addr_spec=addr))
    return out


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    sender: str,
    to: list[str],
    attachments: list[Attachment],
    message_key: str,
) -> EmailMessage:
    """The complete message: multipart/mixed of multipart/alternative (text, HTML) and attachments.

    Args:
        subject: a single line (the renderer guarantees it; the email package refuses CR/LF anyway).
        text: the plain-text alternative.
        html: the HTML alternative.
        sender: the From address, ``Name <addr>`` or ``addr``.
        to: the recipients.
        attachments: files to attach.
        message_key: stable per meeting and recipients; makes the Message-ID deterministic, so a resent
            message is recognisable as the same one.
    """
    from_addr = parse_addresses([sender])[0]
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = from_addr
    msg["To"] = parse_addresses(to)
    msg["Date"] = formatdate(usegmt=True)
    digest = hashlib.sha256(message_key.encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<notes.{digest}@{from_addr.domain or 'localhost'}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    for a in attachments:
        maintype, _, subtype = a.mimetype.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def send_message(message: EmailMessage | bytes, sender: str, to: list[str], settings: SmtpSettings) -> str:
    """Submit a message; returns the server's reply. Raises DeliveryError (retryable unless permanent)."""
    envelope_from = parse_addresses([sender])[0].addr_spec
    recipients = [a.addr_spec for a in parse_addresses(to)]
    password = settings.password.get_secret_value() if settings.password else None
    try:
        errors, reply = await aiosmtplib.send(
            message,
            sender=envelope_from,
            recipients=recipients,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=password,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout_s,
            tls_context=_tls_context(settings) if settings.security != "none" else None,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP authentication failed ({exc.code}): check smtp.username and smtp.password",
                            retryable=False) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"all recipients refused: {_codes(exc.recipients)}", retryable=False) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.code}: {exc.message[:200]}", retryable=exc.code < 500) from None
    except aiosmtplib.SMTPException as exc:
        if settings.security == "starttls" and "STARTTLS" in str(exc).upper():
            # The server answered but offers no STARTTLS: retrying never helps, the setting is wrong.
            raise DeliveryError(f"the SMTP server {settings.host}:{settings.port} does not offer STARTTLS: set "
                                "smtp.security (BOT_SMTP__SECURITY) to \"tls\" or, on a trusted network, \"none\"",
                                retryable=False) from None
        raise DeliveryError(f"could not reach the SMTP server {settings.host}:{settings.port}: "
                            f"{type(exc).__name__}: {str(exc)[:200]}", retryable=True) from None
    except (OSError, TimeoutError) as exc:
        raise DeliveryError(f"could not reach the SMTP server {settings.host}:{settings.port}: "
                            f"{type(exc).__name__}: {str(exc)[:200]}", retryable=True) from None
    if errors:
        log.warning("email.some_recipients_refused", count=len(errors))
    return reply


def _codes(recipients: list[aiosmtplib.SMTPRecipientRefused]) -> str:
    return ", ".join(f"{r.code}" for r in recipients)[:200]
