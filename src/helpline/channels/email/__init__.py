"""The email channel. So far: the inbound parser (`parse_message`, `strip_quoted`); see docs/subsystems/email.md."""

from helpline.channels.email.parsing import (
    Address,
    ParsedAttachment,
    ParsedEmail,
    parse_message,
    safe_filename,
    strip_quoted,
)

__all__ = ["Address", "ParsedAttachment", "ParsedEmail", "parse_message", "safe_filename", "strip_quoted"]
