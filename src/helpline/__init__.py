"""Helpline: an open-source, self-hosted omnichannel contact center."""

import email_validator

__version__ = "0.1.0"

# Self-hosted help desks serve intranets too: addresses at .local, .internal or .test
# domains are real there. We never check deliverability (no DNS from the request path).
email_validator.GLOBALLY_DELIVERABLE = False
email_validator.TEST_ENVIRONMENT = True
email_validator.CHECK_DELIVERABILITY = False
