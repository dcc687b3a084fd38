"""Every domain's tables, imported in one place so that migrations see the whole schema."""

from helpline.accounts import models as accounts
from helpline.channels.chat import models as chat
from helpline.channels.email import models as email
from helpline.contacts import models as contacts
from helpline.conversations import models as conversations
from helpline.db import Base
from helpline.jobs import Job
from helpline.replies import models as replies
from helpline.routing import models as routing

metadata = Base.metadata

__all__ = ["Job", "accounts", "chat", "contacts", "conversations", "email", "metadata", "replies", "routing"]
