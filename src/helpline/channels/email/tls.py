"""TLS contexts for email: to mailboxes' IMAP servers and SMTP relays, and for our own SMTP listener.

Client side: the system's CAs plus a mailbox's own ``tls_ca_pem`` (a company CA, or a server's
self-signed certificate pasted by the admin); ``verify=False`` accepts any certificate. Contexts
are cached: the same settings give the same (reusable, thread-safe) context, so a reply does not
load the system's CA store again.

Listener side: STARTTLS is offered when ``HELPLINE_SMTP_TLS_CERT`` and ``HELPLINE_SMTP_TLS_KEY``
name a certificate chain and its key. Never required: a public MX must take plain mail too.
"""

from __future__ import annotations

import logging
import ssl
from functools import lru_cache

from helpline.config import Settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def client_context(verify: bool = True, ca_pem: str = "") -> ssl.SSLContext:
    """The context for connecting to a mailbox's servers (IMAP over SSL/STARTTLS, the SMTP relay)."""
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def listener_context(settings: Settings) -> ssl.SSLContext | None:
    """STARTTLS for Helpline's SMTP listener, or None (not configured, or the files do not load).

    A certificate that does not load is logged and the listener serves without STARTTLS: mail
    keeps arriving (senders fall back to plain SMTP, as they do with any server without TLS).
    """
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if not cert and not key:
        return None
    if not cert or not key:
        log.error("SMTP listener: set both HELPLINE_SMTP_TLS_CERT and HELPLINE_SMTP_TLS_KEY; STARTTLS is off")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        log.error("SMTP listener: cannot load %s / %s (%s); STARTTLS is off", cert, key, exc)
        return None
    return context
