"""Demo data behind ``helpline demo``: a believable contact center to click through.

One tenant ("Acme Support"), its staff and teams, 200 contacts in 30 organisations and
1,000 conversations in English, German and Hungarian over the last six months. Everything
is written through the services (the only writers of their tables), in transactions of a
few dozen rows, and everything is drawn from ``random.Random(2026)``: the same data on
every machine. Loading is idempotent: when the "demo" tenant exists, nothing is written.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel.dates import format_date
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.accounts.models import Role, Team, Tenant, User
from helpline.accounts.service import Actor
from helpline.contacts import service as contacts
from helpline.contacts.models import Contact, IdentityKind, Organisation
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation, Direction, Message, Priority, Status
from helpline.conversations.service import NewMessage
from helpline.db import Database, utcnow
from helpline.errors import Conflict

DEMO_SLUG = "demo"
DEMO_TENANT_NAME = "Acme Support"
DEMO_TIME_ZONE = "Europe/Budapest"
# Every demo address (staff, contacts, organisations) is under the reserved ``.example`` TLD
# (RFC 2606), so no demo reply can reach a real mailbox. ``.test`` would be reserved too, but the
# accounts service validates with email-validator, which refuses special-use names like ``.test``.
DEMO_DOMAIN = "demo.helpline.example"
DEMO_ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"
DEMO_ADMIN_PASSWORD = "helpline-demo"

SEED = 2026
CONTACT_COUNT = 200
CONVERSATION_COUNT = 1000
HISTORY_DAYS = 182
CONTACT_BATCH = 50
CONVERSATION_BATCH = 50

BILLING = "Billing"
TECHNICAL = "Technical support"
TEAMS = (BILLING, TECHNICAL)


@dataclass(frozen=True)
class DemoSummary:
    """What ``helpline demo`` reports: where to log in and what is there."""

    tenant_id: int
    admin_email: str
    admin_password: str
    counts: Mapping[str, int] = field(default_factory=dict, hash=False)
    created: bool = True  # False when the demo tenant existed already and nothing was written


# --- staff -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Staff:
    key: str
    first: str
    last: str
    language: str
    role: Role
    team: str | None
    speaks: tuple[str, ...]

    @property
    def name(self) -> str:
        return _display_name(self.first, self.last, self.language)

    @property
    def email(self) -> str:
        return f"{_ascii(self.first, self.language)}.{_ascii(self.last, self.language)}@{DEMO_DOMAIN}"


AGENTS = (
    _Staff("anna", "Anna", "Kovács", "hu", Role.agent, BILLING, ("hu", "en")),
    _Staff("lukas", "Lukas", "Müller", "de", Role.agent, BILLING, ("de", "en")),
    _Staff("james", "James", "Carter", "en", Role.agent, BILLING, ("en",)),
    _Staff("bence", "Bence", "Nagy", "hu", Role.agent, TECHNICAL, ("hu", "en", "de")),
    _Staff("sophie", "Sophie", "Wagner", "de", Role.agent, TECHNICAL, ("de", "en")),
)
SUPERVISOR = _Staff("emily", "Emily", "Clarke", "en", Role.supervisor, None, ("en", "de"))
ADMIN_NAME = "Acme Admin"


# --- organisations and people ----------------------------------------------------------------

# (name, domain label, country); the domains are under the reserved .example TLD.
ORGANISATIONS = (
    ("Harbour & Finch Ltd", "harbourfinch", "GB"),
    ("Brightwater Logistics Ltd", "brightwater-logistics", "GB"),
    ("Oakridge Dental Group", "oakridgedental", "GB"),
    ("Pemberton Home Supplies", "pembertonhome", "GB"),
    ("Crown & Anchor Travel Ltd", "crownanchortravel", "GB"),
    ("Kestrel Analytics Inc.", "kestrelanalytics", "US"),
    ("Bluebird Coffee Roasters LLC", "bluebirdcoffee", "US"),
    ("Summit Ridge Outfitters Inc.", "summitridge", "US"),
    ("Greenway Property Management LLC", "greenwaypm", "US"),
    ("Lakeside Veterinary Clinic", "lakesidevet", "US"),
    ("Müller & Söhne GmbH", "mueller-soehne", "DE"),
    ("Bergmann Elektrotechnik GmbH", "bergmann-elektro", "DE"),
    ("Schneider Logistik AG", "schneider-logistik", "DE"),
    ("Bäckerei Hofmann KG", "baeckerei-hofmann", "DE"),
    ("Rheinland Solartechnik GmbH", "rheinland-solar", "DE"),
    ("Becker & Partner Steuerberatung", "becker-partner", "DE"),
    ("Kaufhaus Lindner e.K.", "kaufhaus-lindner", "DE"),
    ("Alpenblick Hotelbetriebe GmbH", "alpenblick-hotels", "AT"),
    ("Donau Versicherungsmakler GmbH", "donau-makler", "AT"),
    ("Wiener Feinkost Handels GmbH", "wiener-feinkost", "AT"),
    ("Kovács és Társa Kft.", "kovacsestarsa", "HU"),
    ("Dunamenti Építő Zrt.", "dunamenti-epito", "HU"),
    ("Balaton Borház Kft.", "balatonborhaz", "HU"),
    ("Tisza Informatika Kft.", "tisza-informatika", "HU"),
    ("Pannon Pékség Kft.", "pannonpekseg", "HU"),
    ("Mátra Turisztikai Bt.", "matra-turisztika", "HU"),
    ("Szegedi Szállítmányozási Kft.", "szegedi-szallitmanyozas", "HU"),
    ("Budai Fogászati Centrum Kft.", "budaifogaszat", "HU"),
    ("Alföldi Agrár Zrt.", "alfoldi-agrar", "HU"),
    ("Hegyvidék Ingatlan Kft.", "hegyvidek-ingatlan", "HU"),
)
COUNTRY_LANGUAGE = {"GB": "en", "US": "en", "DE": "de", "AT": "de", "HU": "hu"}
COUNTRY_ZONES = {
    "GB": ("Europe/London",),
    "US": ("America/New_York", "America/Chicago", "America/Los_Angeles"),
    "DE": ("Europe/Berlin",),
    "AT": ("Europe/Vienna",),
    "HU": ("Europe/Budapest",),
}
LANGUAGE_COUNTRY = {"en": "GB", "de": "DE", "hu": "HU"}
PRIVATE_DOMAINS = {
    "en": ("mail.example", "inbox.example"),
    "de": ("post.example", "webmail.example"),
    "hu": ("posta.example", "levelezo.example"),
}

FIRST_NAMES = {
    "en": {
        "f": ("Emma", "Olivia", "Sophie", "Charlotte", "Amelia", "Grace", "Hannah", "Chloe", "Lucy", "Megan",
              "Sarah", "Jessica", "Rachel", "Laura", "Abigail"),
        "m": ("Oliver", "Harry", "Jack", "George", "Thomas", "Daniel", "Matthew", "Ryan", "Michael", "David",
              "Andrew", "Christopher", "Samuel", "Benjamin", "Joshua"),
    },
    "de": {
        "f": ("Anna", "Lena", "Laura", "Julia", "Sarah", "Lisa", "Katharina", "Sabine", "Petra", "Claudia",
              "Monika", "Johanna", "Marie", "Eva", "Birgit"),
        "m": ("Thomas", "Michael", "Andreas", "Stefan", "Markus", "Christian", "Jan", "Tobias", "Florian",
              "Matthias", "Jürgen", "Klaus", "Maximilian", "Felix", "Sebastian"),
    },
    "hu": {
        "f": ("Anna", "Eszter", "Katalin", "Zsófia", "Réka", "Judit", "Ágnes", "Erzsébet", "Krisztina",
              "Nóra", "Dóra", "Viktória", "Boglárka", "Lilla", "Tímea"),
        "m": ("László", "István", "Péter", "Gábor", "Zoltán", "Attila", "Balázs", "Tamás", "Dávid", "Ádám",
              "Gergely", "Márton", "Csaba", "Levente", "Bence"),
    },
}
LAST_NAMES = {
    "en": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
           "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Harris",
           "Clarke", "Miller", "Davis", "Anderson", "Martinez", "Moore", "Jackson", "Lee", "Patel", "Murphy",
           "Bennett"),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
           "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
           "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Huber", "Gruber", "Pichler",
           "Steiner", "Weiß", "Köhler"),
    "hu": ("Nagy", "Kovács", "Tóth", "Szabó", "Horváth", "Varga", "Kiss", "Molnár", "Németh", "Farkas",
           "Balogh", "Papp", "Takács", "Juhász", "Lakatos", "Mészáros", "Oláh", "Simon", "Rácz", "Fekete",
           "Szűcs", "Török", "Fehér", "Gál", "Vincze", "Bíró", "Kelemen", "Halász"),
}
CONTACT_NOTES = (
    "Key account — contract renewal due next quarter.",
    "Prefers to be called in the afternoon.",
    "Purchasing contact; invoices go to the accounts department.",
    "Asked to receive invoices as PDF only.",
    "Long-standing customer since 2019.",
)

# The same product in each language, with its price in euro.
PRODUCTS = (
    ("wireless headset", "Funk-Headset", "vezeték nélküli headset", 129.00),
    ("laser printer", "Laserdrucker", "lézernyomtató", 249.00),
    ("USB-C docking station", "USB-C-Dockingstation", "USB-C dokkoló", 189.90),
    ("27-inch monitor", "27-Zoll-Monitor", "27 colos monitor", 329.00),
    ("HD webcam", "HD-Webcam", "HD webkamera", 89.90),
    ("wireless keyboard", "Funktastatur", "vezeték nélküli billentyűzet", 59.90),
    ("sit-stand desk", "Sitz-Steh-Schreibtisch", "elektromos állóasztal", 549.00),
    ("label printer", "Etikettendrucker", "címkenyomtató", 119.00),
    ("conference speakerphone", "Konferenzlautsprecher", "konferencia-hangszóró", 199.00),
)
LANGUAGE_INDEX = {"en": 0, "de": 1, "hu": 2}


# --- conversation content ---------------------------------------------------------------------

# Topics: (key, tags, team, weight, what the agent asks for when something is missing: the
# common "asks_<kind>", "info_<kind>" (answers, in the same order) and "hold_<kind>" texts, unless
# the scenario or topic has its own "asks", "info" and "hold_notes").
TOPICS: tuple[tuple[str, tuple[str, ...], str | None, int, str], ...] = (
    ("billing", ("billing",), BILLING, 12, "payment"),
    ("refund", ("refund", "billing"), BILLING, 14, "account"),
    ("delivery", ("delivery",), BILLING, 15, "delivery"),
    ("password", ("login", "password"), TECHNICAL, 10, "account"),
    ("invoice", ("billing", "invoice"), BILLING, 9, "account"),
    ("complaint", ("complaint",), None, 7, "delivery"),
    ("order_change", ("order-change",), BILLING, 9, "delivery"),
    ("cancellation", ("cancellation", "billing"), BILLING, 7, "account"),
    ("locked", ("login", "2fa"), TECHNICAL, 6, "account"),
    ("technical", ("technical",), TECHNICAL, 11, "tech"),
)
# What every scenario of a topic must have (its own or the topic's), and the shared phrases.
SCENARIO_FIELDS = ("subjects", "openings", "replies", "resolutions", "notes")
COMMON_FIELDS = (
    "customer_greetings", "customer_signoffs", "agent_greetings", "agent_signoffs", "chat_intros",
    "followups_wait", "chat_wait", "after_reply", "thanks", "call_note", "call_subject", "our_company",
    "outcome_open", "outcome_pending", "outcome_on_hold", "outcome_solved",
    *(f"{prefix}_{kind}" for prefix in ("asks", "info", "hold")
      for kind in ("payment", "delivery", "account", "tech")),
)
SCENARIOS_PER_TOPIC = 3

# A small format: "# topic KEY", "## LANG", "### scenario" (a case within the topic: its subject,
# opening, reply and resolution belong together), then "field: value" or "field:" followed by
# "- item" lines; an indented line continues the item above it (joined with a space). A field a
# scenario lacks comes from its topic, then from "common".
TEXTS_SOURCE = """
# topic common
## en
our_company: our company
customer_greetings:
- Hello,
- Hi,
- Hi there,
- Good morning,
- Dear Acme Support,
- Hello Acme team,
customer_signoffs:
- Best regards,\\n{name}
- Thanks,\\n{first}
- Kind regards,\\n{name}\\n{company}
- Many thanks,\\n{name}
- Cheers,\\n{first}
agent_greetings:
- Hi {first},
- Hello {first},
- {formal}
agent_signoffs:
- Kind regards,\\n{agent}\\nAcme Support
- Best wishes,\\n{agent_first}\\nAcme Support
- Thanks,\\n{agent}\\nAcme Support team
chat_intros:
- Hi {first}, this is {agent_first} from Acme Support.
- Hello {first}! {agent_first} here.
followups_wait:
- Is there any update on this?
- I haven't heard back yet — could you let me know the status?
- Just following up on my earlier message.
- Sorry to chase, but this is getting urgent for us.
chat_wait:
- Hello? Is anyone there?
- Still waiting for someone to answer…
after_reply:
- Thanks for the quick reply. One more question: will I get a confirmation by email?
- Thank you. Roughly how long will this take?
- OK, thanks. Please keep me posted.
info_payment:
- Here is the screenshot from my banking app, with the charge from {date}.
- It was paid with my Visa card ending in 4821.
info_delivery:
- "Sure: the address is the one in my account, and the courier can reach me on my mobile."
- The address is correct; the door code is 2468, third floor.
info_account:
- Sure — I'm writing from the address registered on the account. Yes, this request is from me.
- Of course: the billing address is the one on our last invoice, and the account is registered to
  {email}.
info_tech:
- I'm using a Windows 11 laptop with all updates installed. It happens every time.
- It's a MacBook Pro with macOS 14. I've attached a screenshot of the error.
thanks:
- Thank you so much, that was quick!
- Perfect, thanks for your help.
- Great, thanks a lot!
- Thank you, that's all I needed.
asks_payment:
- Could you send us a screenshot of the charge from your bank statement or card app? Then I can match
  it with our records right away.
- "So that I can check this with our payment provider: which card was the payment made with (just the
  last four digits, please)?"
asks_delivery:
- Could you please confirm the delivery address and a phone number the courier can reach you on?
- Could you confirm the exact delivery address, including the floor or door code if there is one?
asks_account:
- To process this, I need a short confirmation from the account owner. Could you reply from the email
  address registered on the account?
- For your security, could you please confirm the billing address on your account?
asks_tech:
- Could you tell me which operating system and device you are using? That helps me reproduce the
  problem.
- Could you send us a screenshot of the error and the serial number from the label on the device?
hold_payment:
- On hold until finance approves — expected by the end of the week.
- Waiting for the payment provider to confirm the transaction.
hold_delivery:
- Waiting for the carrier's investigation result.
- Waiting for the warehouse to confirm stock before we can proceed.
hold_account:
- On hold until finance approves — expected by the end of the week.
- Waiting for the billing team to make the change in the subscription system.
hold_tech:
- Waiting for engineering to confirm the fix.
- Waiting for replacement units to come back into stock.
call_note: Inbound call ({minutes} min) from {name}. Topic: {label}. {outcome}
call_subject: "Phone call: {label}"
outcome_open: Needs a follow-up — I'll call back tomorrow.
outcome_pending: The customer will send the details by email.
outcome_on_hold: Waiting for another department; the customer has been informed.
outcome_solved: Resolved during the call.
supervisor_notes:
- Approved — go ahead with the goodwill credit.
- Please keep this one on your radar, it's a key account. Update me when it's resolved.
- I called the customer and apologised personally. Please continue as planned.
- I listened to the call recording — the customer is right. Let's handle this generously.
## de
our_company: unsere Firma
customer_greetings:
- Guten Tag,
- Hallo,
- Sehr geehrte Damen und Herren,
- Hallo Acme-Team,
- Liebes Support-Team,
customer_signoffs:
- Mit freundlichen Grüßen\\n{name}
- Viele Grüße\\n{first}
- Beste Grüße\\n{name}\\n{company}
- Danke und Gruß\\n{name}
agent_greetings:
- {formal}
- Guten Tag {title_last},
- Hallo {first},
agent_signoffs:
- Mit freundlichen Grüßen\\n{agent}\\nAcme Kundenservice
- Viele Grüße\\n{agent}\\nIhr Acme-Kundenservice
- Freundliche Grüße\\n{agent_first} vom Acme-Support
chat_intros:
- Hallo {first}, hier ist {agent_first} vom Acme-Kundenservice.
- Guten Tag, mein Name ist {agent_first}.
followups_wait:
- gibt es hierzu schon etwas Neues?
- ich habe noch keine Antwort erhalten – können Sie mir den aktuellen Stand mitteilen?
- ich wollte mich noch einmal nach dem Stand meiner Anfrage erkundigen.
- entschuldigen Sie die Nachfrage, aber die Sache wird langsam dringend.
chat_wait:
- Hallo? Ist da jemand?
- Ich warte immer noch auf eine Antwort…
after_reply:
- danke für die schnelle Antwort. Noch eine Frage: Bekomme ich eine Bestätigung per E-Mail?
- vielen Dank. Wie lange wird das ungefähr dauern?
- alles klar, danke. Bitte halten Sie mich auf dem Laufenden.
info_payment:
- anbei der Screenshot aus meiner Banking-App mit der Abbuchung vom {date}.
- bezahlt wurde mit meiner Visa-Karte mit der Endziffer 4821.
info_delivery:
- "gern: Die Adresse ist die in meinem Kundenkonto, der Paketdienst erreicht mich auf dem Handy."
- die Adresse stimmt, der Türcode ist 2468, dritter Stock.
info_account:
- gern – ich schreibe Ihnen von der im Konto hinterlegten Adresse. Die Anfrage kommt also von mir.
- natürlich: Die Rechnungsadresse ist die von unserer letzten Rechnung, das Konto läuft auf {email}.
info_tech:
- ich verwende einen Laptop mit Windows 11, alle Updates sind installiert. Der Fehler tritt jedes Mal
  auf.
- es ist ein MacBook Pro mit macOS 14. Einen Screenshot der Fehlermeldung habe ich angehängt.
thanks:
- vielen Dank für die schnelle Hilfe!
- perfekt, danke schön.
- super, vielen Dank!
- danke, das war alles, was ich brauchte.
asks_payment:
- könnten Sie uns einen Screenshot der Abbuchung aus Ihrem Kontoauszug oder Ihrer Banking-App
  schicken? Dann kann ich sie sofort mit unseren Daten abgleichen.
- "damit ich das mit unserem Zahlungsdienstleister klären kann: Mit welcher Karte wurde bezahlt (bitte
  nur die letzten vier Ziffern)?"
asks_delivery:
- könnten Sie mir bitte die Lieferadresse und eine Telefonnummer bestätigen, unter der Sie der
  Paketdienst erreicht?
- könnten Sie mir die genaue Lieferadresse bestätigen, gegebenenfalls mit Stockwerk oder Türcode?
asks_account:
- für die Bearbeitung benötige ich eine kurze Bestätigung des Kontoinhabers. Könnten Sie bitte von der
  im Konto hinterlegten E-Mail-Adresse antworten?
- zu Ihrer Sicherheit: Könnten Sie mir bitte die im Konto hinterlegte Rechnungsadresse bestätigen?
asks_tech:
- welches Betriebssystem und welches Gerät verwenden Sie? Das hilft mir, das Problem nachzustellen.
- könnten Sie uns einen Screenshot der Fehlermeldung und die Seriennummer vom Typenschild schicken?
hold_payment:
- Pausiert bis zur Freigabe durch die Buchhaltung – voraussichtlich bis Ende der Woche.
- Warten auf die Bestätigung der Transaktion durch den Zahlungsdienstleister.
hold_delivery:
- Warten auf das Ergebnis der Nachforschung beim Paketdienst.
- Warten auf die Bestätigung des Lagerbestands, vorher geht es nicht weiter.
hold_account:
- Pausiert bis zur Freigabe durch die Buchhaltung – voraussichtlich bis Ende der Woche.
- Warten, bis das Abrechnungsteam die Änderung im Abo-System umgesetzt hat.
hold_tech:
- Warten auf die Bestätigung der Fehlerbehebung durch die Entwicklung.
- Warten, bis wieder Ersatzgeräte auf Lager sind.
call_note: Eingehender Anruf ({minutes} Min.) von {name}. Thema: {label}. {outcome}
call_subject: "Anruf: {label}"
outcome_open: Rückruf für morgen vereinbart.
outcome_pending: Kunde schickt die Unterlagen per E-Mail.
outcome_on_hold: Warten auf eine andere Abteilung; Kunde ist informiert.
outcome_solved: Während des Gesprächs gelöst.
## hu
our_company: a cégünk
customer_greetings:
- Tisztelt Ügyfélszolgálat!
- Jó napot kívánok!
- Kedves Acme Csapat!
- Üdvözlöm!
- Jó napot!
customer_signoffs:
- Üdvözlettel:\\n{name}
- Köszönettel:\\n{name}
- Tisztelettel:\\n{name}\\n{company}
- Üdv,\\n{first}
agent_greetings:
- Kedves {first}!
- Kedves {name}!
- {formal}
agent_signoffs:
- Üdvözlettel:\\n{agent}\\nAcme Ügyfélszolgálat
- További szép napot kívánok!\\n{agent}\\nAcme Ügyfélszolgálat
- Tisztelettel:\\n{agent}\\nAcme Ügyfélszolgálat
chat_intros:
- Üdvözlöm, {agent_first} vagyok az Acme ügyfélszolgálatától.
- Jó napot kívánok, {agent_first} vagyok.
followups_wait:
- Van már valami fejlemény?
- Még nem kaptam választ – tájékoztatnának, hol tart az ügyem?
- Szeretnék érdeklődni, hogy áll a néhány napja küldött kérésem.
- Elnézést, hogy sürgetem, de kezd sürgős lenni a dolog.
chat_wait:
- Halló, van ott valaki?
- Még mindig a válaszra várok…
after_reply:
- Köszönöm a gyors választ! Még egy kérdés: kapok erről e-mailes visszaigazolást?
- Köszönöm. Körülbelül mennyi ideig tart?
- Rendben, köszönöm. Kérem, tájékoztasson a fejleményekről.
info_payment:
- Csatoltam a képernyőképet a banki alkalmazásomból, rajta a terheléssel ({date}).
- A 4821-re végződő Visa kártyámmal fizettem.
info_delivery:
- "Természetesen: a cím a fiókomban szereplő, a futár a mobilomon ér el."
- A cím helyes, a kapukód 2468, harmadik emelet.
info_account:
- Természetesen, a fiókhoz tartozó címről írok. A kérés tehát tőlem származik.
- "Persze: a számlázási cím megegyezik a legutóbbi számlán szereplővel, a fiók e-mail-címe pedig
  {email}."
info_tech:
- Windows 11-es laptopot használok, minden frissítés telepítve van. A hiba minden alkalommal
  jelentkezik.
- Egy MacBook Pro, macOS 14-gyel. A hibaüzenetről készült képernyőképet csatoltam.
thanks:
- Köszönöm a gyors választ!
- Tökéletes, köszönöm a segítséget!
- Szuper, nagyon köszönöm!
- Köszönöm, ez minden, amire szükségem volt.
asks_payment:
- Elküldené a terhelésről készült képernyőképet a bankszámlakivonatából vagy a banki alkalmazásából?
  Így azonnal össze tudom vetni a nyilvántartásunkkal.
- "Hogy egyeztetni tudjam a fizetési szolgáltatónkkal: melyik kártyával fizetett (kérem, csak az
  utolsó négy számjegyet adja meg)?"
asks_delivery:
- Megerősítené a szállítási címet és egy telefonszámot, amelyen a futár elérheti?
- Megerősítené a pontos szállítási címet, és ha van, az emeletet vagy a kapukódot?
asks_account:
- A feldolgozáshoz a fióktulajdonos rövid megerősítésére van szükségem. Tudna válaszolni a fiókhoz
  tartozó e-mail-címről?
- Biztonsági okokból kérem, erősítse meg a fiókjában megadott számlázási címet.
asks_tech:
- Milyen operációs rendszert és eszközt használ? Ez segít reprodukálni a hibát.
- Küldene egy képernyőképet a hibaüzenetről, és a készülék címkéjén található sorozatszámot?
hold_payment:
- Felfüggesztve a pénzügyi jóváhagyásig – várhatóan a hét végéig.
- Várjuk, hogy a fizetési szolgáltató megerősítse a tranzakciót.
hold_delivery:
- Várjuk a futárszolgálat vizsgálatának eredményét.
- Várunk a raktár visszaigazolására a készletről, addig nem tudunk továbblépni.
hold_account:
- Felfüggesztve a pénzügyi jóváhagyásig – várhatóan a hét végéig.
- Várjuk, hogy a számlázási csapat átvezesse a módosítást az előfizetési rendszerben.
hold_tech:
- Várjuk, hogy a fejlesztők megerősítsék a javítást.
- Várjuk, hogy újra legyen cserekészülék raktáron.
call_note: Bejövő hívás ({minutes} perc), hívó: {name}. Téma: {label}. {outcome}
call_subject: "Telefonhívás: {label}"
outcome_open: Holnap visszahívom.
outcome_pending: Az ügyfél e-mailben elküldi az adatokat.
outcome_on_hold: Másik osztályra várunk, az ügyfelet tájékoztattam.
outcome_solved: A hívás során megoldva.

# topic billing
## en
label: billing question
### scenario
subjects:
- Charged twice for order {order}
- Double payment on my card
openings:
- I was charged twice for order {order}. Both payments of {amount} show on my card statement from
  {date}. Could you please check and refund the duplicate?
replies:
- Thank you for reaching out. I checked your account and can confirm that the payment for order
  {order} was captured twice because of a timeout at our payment provider. I have started the
  reversal of the duplicate charge of {amount}.
resolutions:
- The duplicate charge of {amount} has been refunded. Depending on your bank, it can take 3–5 business
  days to appear on your statement. Just reply if anything else comes up.
notes:
- Checked in the payment gateway: two captures for {order}, the second one is a duplicate. Reversal
  requested.
### scenario
subjects:
- Question about my latest bill
- Bill higher than expected
openings:
- My latest bill shows {amount}, but I expected a lower amount since I downgraded my plan last month.
  Can you explain the difference?
replies:
- Thanks for your message. The amount of {amount} includes the prorated charge for the remaining days
  of your previous plan — the downgrade takes effect from the next billing cycle.
resolutions:
- As a courtesy, I have applied a credit of {amount} to your account, which will be deducted from your
  next invoice.
notes:
- Customer with us since 2019 — please handle with care. Finance confirmed the credit.
### scenario
subjects:
- Why was I charged {amount}?
- Unknown charge on my account
openings:
- There is a charge of {amount} on my account that I don't recognise. It is dated {date}. What is it
  for?
replies:
- Thanks for your message. The charge of {amount} from {date} is the renewal of two additional user
  licences that were added to your account last month. I have sent you the invoice again.
resolutions:
- As requested, I have removed the two extra licences and refunded {amount}. Sorry for the confusion!
notes:
- The extra licences were added by a colleague of the customer. Refund approved by finance.
## de
label: Abrechnungsfrage
### scenario
subjects:
- Doppelte Abbuchung für Bestellung {order}
- Zweimal abgebucht
openings:
- mir wurde die Bestellung {order} zweimal berechnet. Auf meinem Kontoauszug vom {date} sehe ich zwei
  Abbuchungen über jeweils {amount}. Bitte prüfen Sie das und erstatten Sie den doppelten Betrag.
replies:
- vielen Dank für Ihre Nachricht. Ich habe Ihr Kundenkonto geprüft: Die Zahlung für die Bestellung
  {order} wurde wegen einer Zeitüberschreitung bei unserem Zahlungsdienstleister zweimal eingezogen.
  Die Rückbuchung des doppelten Betrags über {amount} habe ich bereits veranlasst.
resolutions:
- die doppelte Abbuchung über {amount} wurde erstattet. Je nach Bank kann es 3–5 Werktage dauern, bis
  die Gutschrift auf Ihrem Konto erscheint. Bei weiteren Fragen antworten Sie einfach auf diese
  Nachricht.
notes:
- Im Payment-Gateway geprüft: zwei Buchungen für {order}, die zweite ist doppelt. Rückbuchung
  beantragt.
### scenario
subjects:
- Frage zu meiner letzten Rechnung
- Rechnung höher als erwartet
openings:
- auf meiner letzten Abrechnung stehen {amount}, obwohl ich im letzten Monat in einen günstigeren
  Tarif gewechselt habe. Können Sie mir den Unterschied erklären?
replies:
- danke für Ihre Anfrage. Der Betrag von {amount} enthält die anteilige Gebühr für die restlichen Tage
  Ihres bisherigen Tarifs – der Wechsel gilt ab dem nächsten Abrechnungszeitraum.
resolutions:
- aus Kulanz habe ich Ihrem Kundenkonto eine Gutschrift über {amount} hinzugefügt, die mit Ihrer
  nächsten Rechnung verrechnet wird.
notes:
- Langjähriger Kunde – bitte kulant behandeln. Buchhaltung hat die Gutschrift freigegeben.
### scenario
subjects:
- Unbekannte Abbuchung über {amount}
- Abbuchung nicht nachvollziehbar
openings:
- auf meinem Konto ist eine Abbuchung über {amount} vom {date}, die ich nicht zuordnen kann. Wofür ist
  dieser Betrag?
replies:
- danke für Ihre Nachricht. Bei der Abbuchung über {amount} vom {date} handelt es sich um die
  Verlängerung von zwei zusätzlichen Benutzerlizenzen, die letzten Monat zu Ihrem Konto hinzugefügt
  wurden. Ich habe Ihnen die Rechnung noch einmal geschickt.
resolutions:
- wie gewünscht habe ich die beiden zusätzlichen Lizenzen entfernt und {amount} erstattet.
  Entschuldigen Sie bitte die Verwirrung!
notes:
- Die Zusatzlizenzen hat ein Kollege des Kunden hinzugefügt. Erstattung von der Buchhaltung
  freigegeben.
## hu
label: számlázási kérdés
### scenario
subjects:
- Dupla terhelés – {order} számú rendelés
- Kétszer vonták le az összeget
openings:
- "A rendelésemért ({order}) kétszer vonták le a pénzt: a bankszámlakivonatomon ({date}) két darab
  {amount} összegű terhelés szerepel. Kérem, ellenőrizzék, és utalják vissza a duplán levont
  összeget."
replies:
- "Köszönöm, hogy jelezte! Ellenőriztem a fiókját: a rendelése ({order}) díját a fizetési
  szolgáltatónál fellépő időtúllépés miatt kétszer vonták le. A duplán terhelt összeg ({amount})
  visszautalását már elindítottam."
resolutions:
- A duplán levont összeget ({amount}) visszautaltuk. Banktól függően 3–5 munkanap, mire megjelenik a
  számláján. Ha bármi további kérdése van, csak válaszoljon erre az üzenetre.
notes:
- "Fizetési rendszerben ellenőrizve: a rendelésnél ({order}) két terhelés van, a második duplikátum.
  Visszautalás kérve."
### scenario
subjects:
- Kérdés a legutóbbi számlámmal kapcsolatban
- Magasabb lett a számlám
openings:
- A legutóbbi számlámon {amount} szerepel, pedig a múlt hónapban olcsóbb csomagra váltottam. Meg
  tudnák magyarázni a különbséget?
replies:
- Köszönöm a megkeresését! A számlán szereplő összeg ({amount}) tartalmazza az előző csomag
  hátralévő napjainak időarányos díját – a váltás a következő számlázási időszaktól érvényes.
resolutions:
- Gesztusként jóváírtam a fiókján {amount} összeget, amelyet a következő számlájából levonunk.
notes:
- Régi ügyfél, kérlek, kezeljük rugalmasan. A pénzügy jóváhagyta a jóváírást.
### scenario
subjects:
- "Ismeretlen terhelés: {amount}"
- Nem ismerem fel az egyik terhelést
openings:
- A számlámon van egy {amount} összegű terhelés ({date}), amit nem tudok hova tenni. Mire vonatkozik
  ez az összeg?
replies:
- Köszönöm az üzenetét! A terhelés ({amount}, {date}) két további felhasználói licenc megújítása,
  amelyeket a múlt hónapban adtak hozzá a fiókjához. A számlát újra elküldtem Önnek.
resolutions:
- Kérésére eltávolítottam a két további licencet, és visszatérítettük a terhelt összeget ({amount}).
  Elnézést a félreértésért!
notes:
- A további licenceket az ügyfél egyik kollégája adta hozzá. A visszatérítést a pénzügy jóváhagyta.

# topic refund
## en
label: refund
### scenario
subjects:
- Where is my refund?
- Returned item – refund still missing
openings:
- I returned the {product} from order {order} two weeks ago, but I still haven't received my refund of
  {amount}. Can you tell me when it will be processed?
replies:
- Thanks for getting in touch. Your return for order {order} arrived at our warehouse and has been
  inspected. I have now released the refund of {amount} to your original payment method.
resolutions:
- Your refund of {amount} has been processed today. You should see it on your statement within a few
  business days.
notes:
- Return received in the warehouse, item in good condition. Refund of {amount} approved.
### scenario
subjects:
- Return and refund for order {order}
- Requesting a refund
openings:
- I would like to return the {product} I ordered on {date} (order {order}) and get a refund. It
  doesn't fit my office setup. What do I need to do?
replies:
- Thank you for your message. You can return the {product} within 30 days. I have emailed you a
  prepaid return label — once the parcel reaches our warehouse, we will refund {amount} within 5
  business days.
resolutions:
- Your return has arrived and the refund of {amount} has been processed. You should see it on your
  statement within a few business days.
notes:
- Prepaid return label sent, RMA {ref}.
### scenario
subjects:
- Refund request for order {order}
- Cancelled order – refund missing
openings:
- I cancelled order {order} within the 14-day period, but the refund of {amount} has not arrived yet.
replies:
- Thank you for your patience. Your cancellation was registered in time, but the refund was stuck in a
  manual review. I have released the refund of {amount} now.
resolutions:
- "Good news: the refund for order {order} has been completed. Thank you for your patience!"
notes:
- The refund is above my approval limit — asked the supervisor to approve.
## de
label: Rückerstattung
### scenario
subjects:
- Wo bleibt meine Rückerstattung?
- Rücksendung – Erstattung fehlt noch
openings:
- ich habe den Artikel aus der Bestellung {order} ({product}) vor zwei Wochen zurückgeschickt, aber
  die Rückerstattung über {amount} ist noch nicht bei mir eingegangen. Wann wird sie bearbeitet?
replies:
- vielen Dank für Ihre Nachricht. Ihre Rücksendung zur Bestellung {order} ist in unserem Lager
  eingegangen und wurde geprüft. Ich habe die Rückerstattung über {amount} soeben auf Ihr
  ursprüngliches Zahlungsmittel veranlasst.
resolutions:
- Ihre Rückerstattung über {amount} wurde heute angewiesen. Der Betrag sollte in den nächsten
  Werktagen auf Ihrem Konto erscheinen.
notes:
- Rücksendung im Lager eingegangen, Ware einwandfrei. Erstattung über {amount} freigegeben.
### scenario
subjects:
- Rückgabe und Rückerstattung für Bestellung {order}
- Bitte um Rückerstattung
openings:
- ich möchte meine Bestellung vom {date} ({order}, {product}) zurückgeben und den Kaufpreis erstattet
  bekommen. Wie gehe ich vor?
replies:
- danke für Ihre Anfrage. Sie können den Artikel innerhalb von 30 Tagen zurückgeben. Ich habe Ihnen
  ein kostenloses Rücksendeetikett per E-Mail geschickt – sobald das Paket bei uns ist, erstatten wir
  {amount} innerhalb von 5 Werktagen.
resolutions:
- Ihre Rücksendung ist bei uns eingegangen, und die Rückerstattung über {amount} wurde veranlasst. Der
  Betrag sollte in den nächsten Werktagen auf Ihrem Konto erscheinen.
notes:
- Kostenloses Rücksendeetikett verschickt, RMA {ref}.
### scenario
subjects:
- Rückerstattung für Bestellung {order}
- Widerruf – Rückerstattung fehlt
openings:
- ich habe die Bestellung {order} innerhalb der 14-tägigen Widerrufsfrist storniert, die
  Rückerstattung von {amount} fehlt aber bis heute.
replies:
- vielen Dank für Ihre Geduld. Ihr Widerruf ist fristgerecht eingegangen, die Rückerstattung hing aber
  in einer manuellen Prüfung fest. Ich habe die Rückerstattung über {amount} jetzt freigegeben.
resolutions:
- die Rückerstattung für die Bestellung {order} ist abgeschlossen. Vielen Dank für Ihre Geduld!
notes:
- Erstattung liegt über meinem Freigabelimit – Supervisor um Freigabe gebeten.
## hu
label: visszatérítés
### scenario
subjects:
- Mikor kapom vissza a pénzem?
- Visszaküldött termék – hiányzik a visszatérítés
openings:
- Két hete visszaküldtem a rendelésem ({order}) termékét ({product}), de a visszatérítést ({amount})
  még mindig nem kaptam meg. Meg tudják mondani, mikor dolgozzák fel?
replies:
- Köszönöm a megkeresését! A rendeléséhez ({order}) tartozó visszaküldött csomag megérkezett a
  raktárunkba, és ellenőriztük. A visszatérítést ({amount}) most indítottam el az eredeti fizetési
  módjára.
resolutions:
- A visszatérítést ({amount}) ma elindítottuk, néhány munkanapon belül megjelenik a számláján.
notes:
- A visszaküldött termék megérkezett a raktárba, hibátlan állapotban. Visszatérítés ({amount})
  jóváhagyva.
### scenario
subjects:
- Visszaküldés és visszatérítés – {order}
- Visszatérítési kérelem
openings:
- "Szeretném visszaküldeni a rendelésemet ({order}, {product}, rendelés dátuma: {date}), és
  visszakérni az árát. Mi a teendőm?"
replies:
- Köszönöm az üzenetét! A terméket 30 napon belül visszaküldheti. E-mailben elküldtem Önnek egy
  előre fizetett visszaküldési címkét – amint a csomag beérkezik, 5 munkanapon belül visszautaljuk
  Önnek a vételárat ({amount}).
resolutions:
- A visszaküldött csomag megérkezett, a visszatérítést ({amount}) elindítottuk. Néhány munkanapon
  belül megjelenik a számláján.
notes:
- "Előre fizetett visszaküldési címke elküldve, RMA-szám: {ref}."
### scenario
subjects:
- Visszatérítés – {order} számú rendelés
- Lemondott rendelés – hiányzik a visszatérítés
openings:
- A rendelésemet ({order}) a 14 napos elállási határidőn belül lemondtam, de a visszatérítés
  ({amount}) azóta sem érkezett meg.
replies:
- Köszönöm a türelmét! A lemondása határidőben beérkezett, de a visszatérítés egy kézi ellenőrzésnél
  elakadt. A visszatérítést ({amount}) most jóváhagytam.
resolutions:
- "Jó hír: a rendelés ({order}) visszatérítése megtörtént. Köszönjük a türelmét!"
notes:
- A visszatérítés meghaladja a keretemet – a csoportvezető jóváhagyását kértem.

# topic delivery
## en
label: delivery delay
notes:
- Third delayed delivery for this customer this quarter — flagged for the logistics review.
### scenario
subjects:
- Order {order} has not arrived
- Still waiting for my {product}
openings:
- I ordered a {product} on {date} (order {order}) and delivery was promised within 3 days. It still
  hasn't arrived and the tracking page hasn't changed since. Can you look into it?
replies:
- "Thank you for your patience. I contacted the carrier: your parcel for order {order} was held at the
  regional depot because of a sorting backlog. It is back on its way and should reach you within 2
  business days."
resolutions:
- The carrier confirms that order {order} was delivered this morning. Enjoy your {product}, and sorry
  again for the wait!
notes:
- The carrier confirmed that the parcel was stuck at the depot and gave a new delivery date.
### scenario
subjects:
- Delivery delayed
- Order {order} delayed – urgent
openings:
- My order {order} was supposed to arrive yesterday, but the tracking status says "delayed". I need it
  for an event this week — is there anything you can do?
replies:
- I'm sorry about the delay. I have asked the carrier to prioritise your parcel, and it is now
  scheduled for delivery tomorrow before noon.
resolutions:
- The carrier confirms that order {order} was delivered this morning. Enjoy your {product}, and sorry
  again for the wait!
### scenario
subjects:
- Where is my parcel?
- Parcel marked as delivered but not received
openings:
- The courier marked order {order} as delivered, but I never received the parcel. Nobody in the
  building has it either.
replies:
- I'm sorry about this. I've opened an investigation with the carrier for order {order}. These usually
  take 2–3 business days; I'll update you as soon as I hear back.
resolutions:
- As the parcel could not be found, we have shipped a replacement with express delivery at no cost.
  You will receive a new tracking number by email.
notes:
- Carrier investigation opened, reference DPD-{ref}. Follow up in 2 days.
## de
label: Lieferverzögerung
notes:
- Schon die dritte verspätete Lieferung bei diesem Kunden in diesem Quartal – für die
  Logistik-Auswertung markiert.
### scenario
subjects:
- Bestellung {order} ist nicht angekommen
- Warte immer noch auf meine Lieferung
openings:
- ich habe am {date} einen Artikel bestellt ({product}, Bestellung {order}). Die Lieferung war
  innerhalb von 3 Tagen zugesagt, ist aber bis heute nicht angekommen, und die Sendungsverfolgung
  zeigt seitdem keinen neuen Status. Können Sie bitte nachsehen?
replies:
- "vielen Dank für Ihre Geduld. Ich habe beim Paketdienst nachgefragt: Ihr Paket zur Bestellung {order}
  lag wegen eines Rückstaus im regionalen Verteilzentrum. Es ist jetzt wieder unterwegs und sollte
  innerhalb von 2 Werktagen bei Ihnen sein."
resolutions:
- der Paketdienst bestätigt, dass die Bestellung {order} heute Vormittag zugestellt wurde.
  Entschuldigen Sie nochmals die Wartezeit!
notes:
- "Paketdienst bestätigt: Paket lag im Depot fest, neuer Zustelltermin genannt."
### scenario
subjects:
- Lieferverzögerung
- Bestellung {order} verspätet – dringend
openings:
- meine Bestellung {order} sollte gestern ankommen, aber die Sendungsverfolgung zeigt „verzögert“.
  Ich brauche die Ware diese Woche dringend – können Sie etwas tun?
replies:
- es tut mir leid, dass sich die Lieferung verzögert. Ich habe den Paketdienst gebeten, Ihr Paket
  bevorzugt zuzustellen; die Zustellung ist jetzt für morgen Vormittag geplant.
resolutions:
- der Paketdienst bestätigt, dass die Bestellung {order} heute Vormittag zugestellt wurde.
  Entschuldigen Sie nochmals die Wartezeit!
### scenario
subjects:
- Wo ist mein Paket?
- Als zugestellt markiert, aber nicht erhalten
openings:
- laut Paketdienst wurde die Bestellung {order} zugestellt, ich habe das Paket aber nie erhalten. Auch
  die Nachbarn haben nichts angenommen.
replies:
- es tut mir leid, das zu hören. Ich habe beim Paketdienst einen Nachforschungsauftrag für die
  Bestellung {order} eröffnet. Das dauert in der Regel 2–3 Werktage; ich melde mich, sobald ich eine
  Rückmeldung habe.
resolutions:
- da das Paket nicht auffindbar ist, haben wir Ihnen kostenlos eine Ersatzlieferung per Express
  geschickt. Die neue Sendungsnummer erhalten Sie per E-Mail.
notes:
- Nachforschungsauftrag beim Paketdienst eröffnet, Referenz DHL-{ref}. In 2 Tagen nachfassen.
## hu
label: szállítási késés
notes:
- Ennél az ügyfélnél ez már a harmadik késés ebben a negyedévben – jeleztem a logisztikának.
### scenario
subjects:
- Nem érkezett meg a rendelésem ({order})
- Még mindig várom a rendelésemet
openings:
- "Rendeltem egy terméket ({product}, rendelésszám: {order}, dátum: {date}). A szállítást 3 napon
  belülre ígérték, de még mindig nem érkezett meg, és a csomagkövetés azóta sem változott. Utána
  tudnának nézni?"
replies:
- "Köszönöm a türelmét! Felvettem a kapcsolatot a futárszolgálattal: a csomagja ({order}) egy
  torlódás miatt a regionális depóban maradt. Már újra úton van, és 2 munkanapon belül megérkezik."
resolutions:
- A futárszolgálat megerősítette, hogy a rendelését ({order}) ma délelőtt kézbesítették. Még egyszer
  elnézést a várakozásért!
notes:
- A futár megerősítette, hogy a csomag a depóban ragadt, és új kézbesítési időpontot adott.
### scenario
subjects:
- Késik a szállítás
- Késik a rendelésem ({order}) – sürgős
openings:
- A rendelésemnek ({order}) tegnap kellett volna megérkeznie, de a csomagkövetés szerint „késésben”
  van. Erre a hétre mindenképp szükségem lenne – tudnak valamit tenni?
replies:
- Elnézést kérek a késésért! Megkértem a futárszolgálatot, hogy soron kívül kézbesítsék a csomagját,
  így a kiszállítás holnap délelőttre van ütemezve.
resolutions:
- A futárszolgálat megerősítette, hogy a rendelését ({order}) ma délelőtt kézbesítették. Még egyszer
  elnézést a várakozásért!
### scenario
subjects:
- Hol van a csomagom?
- Kézbesítettnek jelölték, de nem kaptam meg
openings:
- A futár kézbesítettnek jelölte a rendelésemet ({order}), de a csomagot nem kaptam meg. A szomszédok
  sem vették át.
replies:
- Sajnálom, hogy így történt! A futárszolgálatnál csomagkeresést indítottam ({order}). Ez általában
  2–3 munkanapig tart; amint választ kapok, jelentkezem.
resolutions:
- Mivel a csomag nem került elő, díjmentesen, expressz szállítással küldtünk egy pótszállítmányt. Az
  új csomagszámot e-mailben kapja meg.
notes:
- "Csomagkeresés indítva a futárnál, hivatkozási szám: GLS-{ref}. 2 nap múlva rá kell kérdezni."

# topic password
## en
label: password reset
notes:
- "Mail log: reset mails bounced with 550 (spam policy). Sent again via the backup sender."
- Verified the customer's identity with the last invoice number before triggering the reset.
### scenario
subjects:
- Password reset email not arriving
- Forgot my password
openings:
- I forgot my password and requested a reset three times, but the email never arrives. I checked my
  spam folder too. My login is {email}.
replies:
- Thanks for letting us know. Our mail logs show that the reset emails to {email} were rejected by
  your mail server's spam filter. I have sent a new reset link from a different sender address — it is
  valid for 24 hours.
resolutions:
- Glad to hear you're back in! For extra security, I'd recommend turning on two-factor authentication
  in your profile settings.
### scenario
subjects:
- Can't log in to my account
- Login not working
openings:
- I can't log in to my account any more — it says my password is wrong, although I haven't changed it.
  Can you help me reset it?
replies:
- Sorry for the trouble! For security reasons we can't set a password for you, but I have just sent a
  reset link to {email}. It is valid for 60 minutes.
resolutions:
- I can see that you have set a new password and logged in successfully. I'll close this ticket now.
### scenario
subjects:
- Reset link expired
- Password reset link doesn't work
openings:
- The password reset link you sent me says it has expired, even though I clicked it right away.
replies:
- Sorry for the trouble! Reset links expire after 60 minutes and only the most recent one is valid.
  I've just sent you a fresh link; please use it within the hour.
resolutions:
- I can see that you have set a new password and logged in successfully. I'll close this ticket now.
## de
label: Passwort zurücksetzen
notes:
- "Mail-Log: Reset-Mails mit 550 (Spam-Policy) abgewiesen. Über den Backup-Absender neu verschickt."
- Identität vor dem Zurücksetzen über die letzte Rechnungsnummer geprüft.
### scenario
subjects:
- Keine E-Mail zum Zurücksetzen des Passworts
- Passwort vergessen
openings:
- ich habe mein Passwort vergessen und dreimal das Zurücksetzen angefordert, aber die E-Mail kommt nie
  an. Im Spam-Ordner ist auch nichts. Mein Login ist {email}.
replies:
- danke für den Hinweis. Laut unseren Mail-Protokollen hat der Spamfilter Ihres Mailservers die
  E-Mails an {email} abgewiesen. Ich habe Ihnen einen neuen Link von einer anderen Absenderadresse
  geschickt – er ist 24 Stunden gültig.
resolutions:
- schön, dass es jetzt klappt! Für mehr Sicherheit empfehle ich Ihnen, in Ihren Profileinstellungen
  die Zwei-Faktor-Authentifizierung zu aktivieren.
### scenario
subjects:
- Ich kann mich nicht anmelden
- Login funktioniert nicht
openings:
- ich kann mich nicht mehr in mein Kundenkonto einloggen – angeblich ist mein Passwort falsch, obwohl
  ich es nicht geändert habe. Können Sie es zurücksetzen?
replies:
- entschuldigen Sie die Umstände! Aus Sicherheitsgründen können wir kein Passwort für Sie festlegen,
  aber ich habe Ihnen gerade einen Link zum Zurücksetzen an {email} geschickt. Er ist 60 Minuten
  gültig.
resolutions:
- ich sehe, dass Sie erfolgreich ein neues Passwort gesetzt haben. Ich schließe das Ticket jetzt.
### scenario
subjects:
- Link zum Zurücksetzen abgelaufen
- Passwort-Link funktioniert nicht
openings:
- der Link zum Zurücksetzen des Passworts ist angeblich abgelaufen, obwohl ich ihn sofort angeklickt
  habe.
replies:
- entschuldigen Sie die Umstände! Die Links sind 60 Minuten gültig, und nur der zuletzt angeforderte
  funktioniert. Ich habe Ihnen gerade einen neuen Link geschickt; bitte verwenden Sie ihn innerhalb
  einer Stunde.
resolutions:
- ich sehe, dass Sie erfolgreich ein neues Passwort gesetzt haben. Ich schließe das Ticket jetzt.
## hu
label: jelszó-visszaállítás
notes:
- "Levélnapló: a visszaállító leveleket 550-es spamszabály miatt visszadobták. Tartalék feladóval
  újraküldve."
- Visszaállítás előtt az utolsó számlaszámmal azonosítottam az ügyfelet.
### scenario
subjects:
- Nem érkezik meg a jelszó-visszaállító e-mail
- Elfelejtettem a jelszavamat
openings:
- "Elfelejtettem a jelszavamat, háromszor kértem új jelszót, de az e-mail nem érkezik meg. A spam
  mappát is megnéztem. A felhasználónevem: {email}."
replies:
- Köszönöm, hogy jelezte! A levelezési naplónk szerint a levelezőszervere spamszűrője visszautasította
  az Ön címére ({email}) küldött leveleket. Egy másik feladócímről új linket küldtem, amely 24 óráig
  érvényes.
resolutions:
- Örülök, hogy sikerült belépnie! A nagyobb biztonság érdekében javaslom, hogy kapcsolja be a
  kétlépcsős azonosítást a profilbeállításokban.
### scenario
subjects:
- Nem tudok belépni a fiókomba
- Nem működik a belépés
openings:
- Nem tudok belépni a fiókomba, azt írja, hogy hibás a jelszó, pedig nem változtattam meg. Tudnának
  segíteni a visszaállításban?
replies:
- "Elnézést a kellemetlenségért! Biztonsági okokból mi nem állíthatunk be jelszót Önnek, de most
  küldtem egy visszaállító linket erre a címre: {email}. A link 60 percig érvényes."
resolutions:
- Látom, hogy sikeresen beállított egy új jelszót. Az ügyet most lezárom.
### scenario
subjects:
- Lejárt a visszaállító link
- Nem működik a jelszó-visszaállító link
openings:
- A jelszó-visszaállító link szerint lejárt, pedig azonnal rákattintottam.
replies:
- Elnézést a kellemetlenségért! A visszaállító linkek 60 percig érvényesek, és mindig csak a legutóbb
  kért működik. Most küldtem egy új linket, kérem, egy órán belül használja.
resolutions:
- Látom, hogy sikeresen beállított egy új jelszót. Az ügyet most lezárom.

# topic invoice
## en
label: invoice correction
replies:
- Thanks for letting us know. I have updated the billing details in your account and requested a
  corrected invoice from our finance team. You'll receive it by email within one business day.
- Thank you! I have cancelled invoice {invoice} and issued a credit note. The corrected invoice will
  follow shortly.
resolutions:
- The corrected invoice has been sent to your billing email address. The original invoice {invoice}
  has been cancelled.
- You'll find the corrected invoice in your account under Billing → Invoices. Let me know if anything
  else needs to change.
### scenario
subjects:
- Invoice {invoice} – wrong company address
- Please correct invoice {invoice}
openings:
- Invoice {invoice} shows our old company address. We moved in spring — could you issue a corrected
  invoice with our current address? Our accounts department cannot book it otherwise.
notes:
- Billing address updated in the CRM. Finance ticket opened for the corrected invoice.
### scenario
subjects:
- VAT number missing on invoice {invoice}
- Need a corrected invoice
openings:
- Our VAT number is missing on invoice {invoice}. Please send a corrected version, as we need it for
  the reverse charge.
notes:
- VAT ID checked in VIES — valid.
### scenario
subjects:
- Invoice {invoice} issued to the wrong name
- Please reissue invoice {invoice}
openings:
- Invoice {invoice} was issued to me personally, but the order was for {company}. Can you reissue it
  in the company's name?
notes:
- Invoice recipient changed to the company; finance informed.
## de
label: Rechnungskorrektur
replies:
- vielen Dank für den Hinweis. Ich habe die Rechnungsdaten in Ihrem Kundenkonto aktualisiert und bei
  unserer Buchhaltung eine korrigierte Rechnung angefordert. Sie erhalten sie innerhalb eines Werktags
  per E-Mail.
- danke! Ich habe die Rechnung {invoice} storniert und eine Gutschrift erstellt. Die korrigierte
  Rechnung folgt in Kürze.
resolutions:
- die korrigierte Rechnung wurde an Ihre Rechnungs-E-Mail-Adresse geschickt. Die ursprüngliche
  Rechnung {invoice} ist storniert.
- Sie finden die korrigierte Rechnung in Ihrem Kundenkonto unter „Abrechnung → Rechnungen“. Geben Sie
  gern Bescheid, falls noch etwas geändert werden muss.
### scenario
subjects:
- Rechnung {invoice} – falsche Firmenanschrift
- Bitte Rechnung {invoice} korrigieren
openings:
- auf der Rechnung {invoice} steht noch unsere alte Firmenanschrift. Wir sind im Frühjahr umgezogen –
  könnten Sie bitte eine korrigierte Rechnung mit der aktuellen Adresse ausstellen? Sonst kann unsere
  Buchhaltung sie nicht verbuchen.
notes:
- Rechnungsanschrift im CRM aktualisiert. Ticket an die Buchhaltung für die Rechnungskorrektur.
### scenario
subjects:
- USt-IdNr. fehlt auf Rechnung {invoice}
- Korrigierte Rechnung benötigt
openings:
- auf der Rechnung {invoice} fehlt unsere USt-IdNr. Bitte schicken Sie uns eine korrigierte Fassung,
  wir benötigen sie für das Reverse-Charge-Verfahren.
notes:
- USt-IdNr. in VIES geprüft – gültig.
### scenario
subjects:
- Rechnung {invoice} auf falschen Namen ausgestellt
- Bitte Rechnung {invoice} neu ausstellen
openings:
- die Rechnung {invoice} wurde auf mich persönlich ausgestellt, die Bestellung war aber für {company}.
  Können Sie die Rechnung auf die Firma umschreiben?
notes:
- Rechnungsempfänger auf die Firma geändert, Buchhaltung informiert.
## hu
label: számlakorrekció
replies:
- Köszönöm a jelzést! Frissítettem a számlázási adatokat a fiókjában, és kértem a pénzügytől egy
  helyesbítő számlát. Egy munkanapon belül megkapja e-mailben.
- Köszönöm! A számlát ({invoice}) sztornóztam, a helyesbítő számla hamarosan érkezik.
resolutions:
- A helyesbítő számlát elküldtük a számlázási e-mail-címére. Az eredeti számlát ({invoice})
  sztornóztuk.
- A helyesbítő számlát megtalálja a fiókjában, a Számlázás → Számlák menüpont alatt. Ha még valamit
  módosítani kell, jelezze bátran.
### scenario
subjects:
- Hibás cím a számlán ({invoice})
- Kérem, javítsák a számlát ({invoice})
openings:
- A számlán ({invoice}) még a régi cégcímünk szerepel. Tavasszal elköltöztünk – ki tudnának állítani
  egy helyesbítő számlát az új címmel? A könyvelésünk különben nem tudja befogadni.
notes:
- Számlázási cím frissítve a CRM-ben. Jegyet nyitottam a pénzügynek a helyesbítő számla miatt.
### scenario
subjects:
- Hiányzik az adószám a számláról ({invoice})
- Helyesbítő számlát kérnék
openings:
- A számláról ({invoice}) hiányzik a cégünk adószáma. Kérem, küldjék meg a javított változatot, mert a
  könyveléshez szükségünk van rá.
notes:
- Adószám ellenőrizve a NAV adatbázisában – érvényes.
### scenario
subjects:
- Rossz névre szól a számla ({invoice})
- Kérem, állítsák ki újra a számlát ({invoice})
openings:
- A számlát ({invoice}) a saját nevemre állították ki, de a rendelés a cégünk nevében történt. Ki
  tudnák állítani újra a cég nevére?
notes:
- A számla címzettjét a cégre módosítottam, a pénzügyet értesítettem.

# topic complaint
## en
label: complaint
hold_notes:
- Waiting for the team lead's decision on a goodwill gesture.
### scenario
subjects:
- "Complaint: damaged {product}"
- Formal complaint about order {order}
openings:
- I am very disappointed. The {product} from order {order} arrived damaged — the box was crushed and
  the device does not turn on. This is the second time this has happened.
replies:
- I'm truly sorry about this experience. I have arranged for a replacement {product} to be sent with
  express delivery today, and a courier will pick up the damaged item at no cost to you.
resolutions:
- Your replacement has been delivered, and as a goodwill gesture we have credited {amount} to your
  account. Thank you for giving us the chance to put this right.
notes:
- Goodwill credit of {amount} approved by the team lead.
asks:
- Could you send us a few photos of the damage and of the packaging? We need them for the claim with
  the carrier.
info:
- Of course — photos of the device and of the box are attached.
### scenario
subjects:
- Unacceptable waiting time
- Still no callback
openings:
- I have been waiting for an answer for over a week and have called your hotline three times. Nobody
  has called me back as promised. This is not the service I expect.
replies:
- Please accept my apologies — you should not have had to chase us. I have escalated your case to my
  team lead, and I will personally keep you updated until it is resolved.
resolutions:
- Our team lead has reviewed your case, and your original request has now been resolved. As an
  apology, we have added a credit of {amount} to your account.
notes:
- Escalated to the supervisor. The customer is upset — please call back today.
asks:
- Could you tell me roughly when you called us, so that I can find your calls and the original
  request?
info:
- I called on Monday and Wednesday morning, and again yesterday afternoon.
### scenario
subjects:
- Very disappointed with your service
- Complaint about a phone agent
openings:
- I want to file a formal complaint. The agent I spoke to on the phone was rude and hung up on me when
  I asked about my refund.
replies:
- "Thank you for telling us, and I'm sorry about how that call went. I have passed your complaint to
  our team lead, who will review the call recording. I have also checked your refund: it is on its
  way."
resolutions:
- Our team lead has reviewed the call and spoken with the colleague concerned. Thank you for your
  feedback — it helps us improve.
notes:
- Call recording requested from the telephony team for the review.
asks:
- Could you tell me the date and approximate time of the call? Then we can find the recording.
info:
- It was on {date}, at around half past two in the afternoon.
## de
label: Beschwerde
hold_notes:
- Warten auf die Entscheidung der Teamleitung zur Kulanz.
### scenario
subjects:
- "Reklamation: beschädigte Ware"
- Beschwerde zu Bestellung {order}
openings:
- ich bin sehr enttäuscht. Die Lieferung zur Bestellung {order} ({product}) kam beschädigt an – der
  Karton war eingedrückt und das Gerät lässt sich nicht einschalten. Das passiert mir schon zum
  zweiten Mal.
replies:
- es tut mir aufrichtig leid. Ich habe veranlasst, dass Ihnen heute per Express ein Ersatzgerät
  zugeschickt wird; die beschädigte Ware holt ein Kurier kostenlos bei Ihnen ab.
resolutions:
- Ihr Ersatzgerät wurde zugestellt, und als Entschuldigung haben wir Ihrem Kundenkonto {amount}
  gutgeschrieben. Danke, dass Sie uns die Chance gegeben haben, das wiedergutzumachen.
notes:
- Kulanzgutschrift über {amount} von der Teamleitung freigegeben.
asks:
- könnten Sie uns bitte ein paar Fotos des Schadens und der Verpackung schicken? Wir brauchen sie für
  die Reklamation beim Paketdienst.
info:
- natürlich – Fotos vom Gerät und vom Karton habe ich angehängt.
### scenario
subjects:
- Inakzeptable Wartezeit
- Immer noch kein Rückruf
openings:
- seit über einer Woche warte ich auf eine Antwort und habe dreimal bei Ihrer Hotline angerufen. Der
  versprochene Rückruf kam nie. So einen Service bin ich nicht gewohnt.
replies:
- bitte entschuldigen Sie – Sie hätten uns nicht hinterherlaufen müssen. Ich habe Ihren Fall an meine
  Teamleitung eskaliert und halte Sie persönlich auf dem Laufenden, bis alles geklärt ist.
resolutions:
- unsere Teamleitung hat Ihren Fall geprüft, und Ihr ursprüngliches Anliegen ist jetzt erledigt. Als
  Entschuldigung haben wir Ihrem Kundenkonto {amount} gutgeschrieben.
notes:
- An die Teamleitung eskaliert. Kunde ist verärgert – bitte heute noch zurückrufen.
asks:
- können Sie mir ungefähr sagen, wann Sie angerufen haben? Dann finde ich Ihre Anrufe und das
  ursprüngliche Anliegen.
info:
- ich habe am Montag und Mittwoch vormittags angerufen und gestern Nachmittag
  noch einmal.
### scenario
subjects:
- Sehr unzufrieden mit Ihrem Service
- Beschwerde über einen Mitarbeiter
openings:
- hiermit möchte ich mich offiziell beschweren. Der Mitarbeiter am Telefon war unhöflich und hat
  einfach aufgelegt, als ich nach meiner Rückerstattung gefragt habe.
replies:
- "danke, dass Sie uns das mitteilen, und es tut mir leid, wie das Gespräch verlaufen ist. Ich habe
  Ihre Beschwerde an unsere Teamleitung weitergegeben, die sich die Aufzeichnung des Gesprächs anhören
  wird. Außerdem habe ich Ihre Rückerstattung geprüft: Sie ist unterwegs."
resolutions:
- unsere Teamleitung hat sich das Gespräch angehört und mit dem betreffenden Kollegen gesprochen. Danke
  für Ihr Feedback – es hilft uns, besser zu werden.
notes:
- Gesprächsaufzeichnung für die Prüfung bei der Telefonie angefordert.
asks:
- können Sie mir Datum und ungefähre Uhrzeit des Anrufs nennen? Dann finden wir die Aufzeichnung.
info:
- das war am {date}, gegen halb drei am Nachmittag.
## hu
label: panasz
hold_notes:
- Várunk a csoportvezető döntésére a kárpótlásról.
### scenario
subjects:
- "Reklamáció: sérült termék"
- Panasz a rendelésemmel kapcsolatban ({order})
openings:
- Nagyon csalódott vagyok. A rendelésem ({order}, {product}) sérülten érkezett – a doboz be volt
  nyomódva, és a készülék be sem kapcsol. Már másodszor fordul elő ilyen.
replies:
- Őszintén sajnálom, ami történt. Intézkedtem, hogy még ma expressz szállítással csereterméket
  küldjünk, a sérült terméket pedig díjmentesen elviszi a futár.
resolutions:
- A csereterméket kézbesítették, és kárpótlásként {amount} összeget jóváírtunk a fiókján. Köszönjük,
  hogy lehetőséget adott a hiba helyrehozására.
notes:
- A {amount} összegű kárpótlást a csoportvezető jóváhagyta.
asks:
- Küldene néhány fotót a sérülésről és a csomagolásról? A futárszolgálatnál történő reklamációhoz
  szükségünk van rájuk.
info:
- Természetesen, csatoltam a fotókat a készülékről és a dobozról.
### scenario
subjects:
- Elfogadhatatlan várakozási idő
- Még mindig nem hívtak vissza
openings:
- Több mint egy hete várok válaszra, és háromszor hívtam a telefonos ügyfélszolgálatot. A megígért
  visszahívás nem történt meg. Nem ilyen kiszolgáláshoz vagyok szokva.
replies:
- Elnézést kérek – nem Önnek kellett volna utánunk járnia. Az ügyét továbbítottam a
  csoportvezetőmnek, és személyesen tájékoztatom, amíg meg nem oldódik.
resolutions:
- A csoportvezetőnk átnézte az ügyét, és az eredeti kérését mostanra megoldottuk. Bocsánatkérésként
  {amount} összeget jóváírtunk a fiókján.
notes:
- Eszkalálva a csoportvezetőnek. Az ügyfél nagyon ideges – kérlek, hívjuk vissza még ma.
asks:
- Meg tudná mondani, nagyjából mikor hívott minket? Így megtalálom a hívásait és az eredeti
  kérését.
info:
- Hétfőn és szerdán délelőtt hívtam, tegnap délután pedig újra.
### scenario
subjects:
- Nagyon elégedetlen vagyok a kiszolgálással
- Panasz egy telefonos munkatársra
openings:
- Hivatalos panaszt szeretnék tenni. A kolléga, akivel telefonon beszéltem, udvariatlan volt, és
  letette a telefont, amikor a visszatérítésemről kérdeztem.
replies:
- "Köszönöm, hogy jelezte, és sajnálom, hogy így alakult a beszélgetés. A panaszát továbbítottam a
  csoportvezetőnknek, aki meghallgatja a hívás felvételét. A visszatérítését is ellenőriztem: már
  úton van."
resolutions:
- A csoportvezetőnk meghallgatta a hívást, és beszélt az érintett kollégával. Köszönjük a
  visszajelzését – segít nekünk a fejlődésben.
notes:
- A hívásfelvételt kikértem a telefonos csapattól az ellenőrzéshez.
asks:
- Meg tudná adni a hívás dátumát és hozzávetőleges időpontját? Így megtaláljuk a felvételt.
info:
- A hívás {date} volt, délután fél három körül.

# topic order_change
## en
label: order change
replies:
- Thanks for asking! I have updated order {order} accordingly. The price difference of {amount} will
  be charged to the same payment method.
resolutions:
- Your updated order {order} has shipped today. You can follow it with the tracking link in the
  confirmation email.
- All done — the change to order {order} is confirmed.
notes:
- The warehouse confirmed that the order was not picked yet. Change applied.
### scenario
subjects:
- Change delivery address for order {order}
- Wrong delivery address
openings:
- I just placed order {order} and noticed that the delivery address is my old one. Can you please
  change it before it ships?
replies:
- No problem — your order {order} had not been picked yet, so I was able to update the delivery
  address. You'll receive an updated confirmation by email.
### scenario
subjects:
- Can I add an item to my order?
- Add a second {product} to order {order}
openings:
- Is it still possible to add a second {product} to order {order}? I'd rather not pay shipping twice.
notes:
- The warehouse confirmed that the order was not picked yet. Change applied.
- Price difference of {amount} charged; the customer agreed by email.
### scenario
subjects:
- Wrong model ordered
- Swap the item in order {order}
openings:
- I ordered the wrong model by mistake (order {order}). Could you swap it for the {product} instead?
notes:
- The warehouse confirmed that the order was not picked yet. Change applied.
- Price difference of {amount} charged; the customer agreed by email.
## de
label: Bestelländerung
replies:
- danke für Ihre Nachricht! Ich habe die Bestellung {order} entsprechend angepasst. Die Preisdifferenz
  von {amount} wird über dasselbe Zahlungsmittel abgerechnet.
resolutions:
- Ihre geänderte Bestellung {order} wurde heute verschickt. Den Sendungsstatus finden Sie über den
  Link in der Bestätigungs-E-Mail.
- alles erledigt – die Änderung an der Bestellung {order} ist bestätigt.
notes:
- "Lager bestätigt: Bestellung noch nicht kommissioniert. Änderung übernommen."
### scenario
subjects:
- Lieferadresse für Bestellung {order} ändern
- Falsche Lieferadresse
openings:
- ich habe gerade die Bestellung {order} aufgegeben und gesehen, dass noch meine alte Lieferadresse
  hinterlegt ist. Können Sie die Adresse bitte vor dem Versand ändern?
replies:
- kein Problem – Ihre Bestellung {order} war noch nicht kommissioniert, deshalb konnte ich die
  Lieferadresse noch ändern. Sie erhalten eine aktualisierte Bestätigung per E-Mail.
### scenario
subjects:
- Artikel zur Bestellung hinzufügen?
- Zweiten Artikel zu Bestellung {order} hinzufügen
openings:
- kann ich zur Bestellung {order} noch einen zweiten Artikel ({product}) hinzufügen? Ich möchte ungern
  zweimal Versandkosten zahlen.
notes:
- "Lager bestätigt: Bestellung noch nicht kommissioniert. Änderung übernommen."
- Preisdifferenz von {amount} abgerechnet, Kunde hat per E-Mail zugestimmt.
### scenario
subjects:
- Falsches Modell bestellt
- Artikel in Bestellung {order} tauschen
openings:
- ich habe aus Versehen das falsche Modell bestellt (Bestellung {order}). Könnten Sie es bitte gegen
  das richtige ({product}) tauschen?
notes:
- "Lager bestätigt: Bestellung noch nicht kommissioniert. Änderung übernommen."
- Preisdifferenz von {amount} abgerechnet, Kunde hat per E-Mail zugestimmt.
## hu
label: rendelésmódosítás
replies:
- Köszönöm az üzenetét! A rendelést ({order}) ennek megfelelően módosítottam. Az árkülönbözetet
  ({amount}) ugyanarról a fizetési módról vonjuk le.
resolutions:
- A módosított rendelését ({order}) ma feladtuk. A visszaigazoló e-mailben található linken
  követheti a csomagot.
- Minden kész – a rendelés ({order}) módosítását visszaigazoltuk.
notes:
- A raktár megerősítette, hogy a rendelést még nem szedték össze. Módosítás rögzítve.
### scenario
subjects:
- Szállítási cím módosítása ({order})
- Rossz szállítási cím
openings:
- Most adtam le a rendelésemet ({order}), és észrevettem, hogy a régi szállítási címem szerepel
  rajta. Módosítanák, mielőtt feladják?
replies:
- Semmi gond! A rendelését ({order}) még nem szedték össze a raktárban, így módosítani tudtam a
  szállítási címet. A frissített visszaigazolást e-mailben kapja meg.
### scenario
subjects:
- Hozzáadhatok még egy terméket a rendelésemhez?
- Még egy termék a rendeléshez ({order})
openings:
- Lehetséges még egy második terméket ({product}) hozzáadni a rendelésemhez ({order})? Nem szeretnék
  kétszer szállítási díjat fizetni.
notes:
- A raktár megerősítette, hogy a rendelést még nem szedték össze. Módosítás rögzítve.
- Árkülönbözet ({amount}) levonva, az ügyfél e-mailben jóváhagyta.
### scenario
subjects:
- Rossz modellt rendeltem
- Termékcsere a rendelésben ({order})
openings:
- "Véletlenül rossz modellt rendeltem ({order}). Ki tudnák cserélni erre: {product}?"
notes:
- A raktár megerősítette, hogy a rendelést még nem szedték össze. Módosítás rögzítve.
- Árkülönbözet ({amount}) levonva, az ügyfél e-mailben jóváhagyta.

# topic cancellation
## en
label: cancellation
notes:
- Cancellation processed in the billing system, confirmation sent.
### scenario
subjects:
- Cancel my subscription
- Cancellation request
openings:
- Please cancel my Acme Pro subscription at the end of the current billing period. We are
  consolidating our tools and won't need it any more.
replies:
- Thank you for letting us know. I have scheduled the cancellation for the end of your current billing
  period; you can keep using all features until then.
resolutions:
- Your cancellation is confirmed. You'll receive a confirmation email, and no further charges will be
  made.
notes:
- The customer is leaving because of the price. Offered the 20% retention discount — declined.
### scenario
subjects:
- Cancel order {order}
- Please cancel my order
openings:
- I'd like to cancel order {order} — I found the {product} locally and no longer need it.
replies:
- No problem — order {order} had not shipped yet, so I was able to cancel it.
resolutions:
- Order {order} has been cancelled and the payment of {amount} has been released.
### scenario
subjects:
- Please stop the automatic renewal
- Unwanted subscription renewal
openings:
- I just noticed that my subscription renewed automatically for another year ({amount}). I didn't want
  that — can I still cancel and get a refund?
replies:
- I'm sorry to see you go! Since the renewal was less than 14 days ago, you are entitled to a full
  refund of {amount}. I've cancelled the renewal and started the refund.
resolutions:
- Your cancellation is confirmed. You'll receive a confirmation email, and no further charges will be
  made.
## de
label: Kündigung
notes:
- Kündigung im Abrechnungssystem erfasst, Bestätigung verschickt.
### scenario
subjects:
- Kündigung meines Abonnements
- Kündigung zum Vertragsende
openings:
- hiermit kündige ich mein Acme-Pro-Abonnement zum Ende des aktuellen Abrechnungszeitraums. Wir
  stellen unsere Tools um und brauchen es nicht mehr. Bitte bestätigen Sie mir die Kündigung
  schriftlich.
replies:
- vielen Dank für Ihre Nachricht. Ich habe die Kündigung zum Ende Ihres aktuellen
  Abrechnungszeitraums vorgemerkt; bis dahin können Sie alle Funktionen weiter nutzen.
resolutions:
- Ihre Kündigung ist bestätigt. Sie erhalten eine Bestätigung per E-Mail, weitere Abbuchungen erfolgen
  nicht.
notes:
- Kunde kündigt wegen des Preises. 20 % Halterabatt angeboten – abgelehnt.
### scenario
subjects:
- Bestellung {order} stornieren
- Bitte Bestellung stornieren
openings:
- ich möchte die Bestellung {order} stornieren – ich habe den Artikel ({product}) inzwischen vor Ort
  gekauft.
replies:
- kein Problem – die Bestellung {order} war noch nicht verschickt, daher konnte ich sie stornieren.
resolutions:
- die Bestellung {order} wurde storniert, die Zahlung über {amount} ist freigegeben.
### scenario
subjects:
- Automatische Verlängerung stoppen
- Ungewollte Verlängerung meines Abos
openings:
- mein Abonnement hat sich gerade automatisch um ein Jahr verlängert ({amount}). Das wollte ich nicht –
  kann ich noch kündigen und bekomme das Geld zurück?
replies:
- schade, dass Sie gehen! Da die Verlängerung weniger als 14 Tage zurückliegt, erhalten Sie den vollen
  Betrag von {amount} zurück. Ich habe die Verlängerung storniert und die Rückerstattung veranlasst.
resolutions:
- Ihre Kündigung ist bestätigt. Sie erhalten eine Bestätigung per E-Mail, weitere Abbuchungen erfolgen
  nicht.
## hu
label: lemondás
notes:
- Lemondás rögzítve a számlázási rendszerben, visszaigazolás elküldve.
### scenario
subjects:
- Előfizetés lemondása
- Lemondási kérelem
openings:
- Kérem, mondják le az Acme Pro előfizetésemet az aktuális számlázási időszak végével. Átállunk más
  eszközökre, így már nincs rá szükségünk.
replies:
- Köszönöm, hogy jelezte! A lemondást az aktuális számlázási időszak végére ütemeztem, addig minden
  funkciót használhat.
resolutions:
- A lemondását visszaigazoltuk. E-mailben is kap egy megerősítést, további terhelés nem lesz.
notes:
- Az ügyfél az ár miatt mond le. 20% megtartási kedvezményt ajánlottam – nem fogadta el.
### scenario
subjects:
- Rendelés lemondása ({order})
- Kérem, mondják le a rendelésemet
openings:
- Szeretném lemondani a rendelésemet ({order}) – a terméket ({product}) időközben helyben megvettem.
replies:
- Semmi gond! A rendelést ({order}) még nem adtuk fel, így le tudtam mondani.
resolutions:
- A rendelést ({order}) töröltük, a kifizetett összeget ({amount}) feloldottuk.
### scenario
subjects:
- Automatikus megújítás leállítása
- Nem kért előfizetés-megújítás
openings:
- Most vettem észre, hogy az előfizetésem automatikusan megújult még egy évre ({amount}). Ezt nem
  szerettem volna – le tudom még mondani, és visszakapom a pénzt?
replies:
- Sajnálom, hogy távozik! Mivel a megújítás kevesebb mint 14 napja történt, a teljes összeget
  ({amount}) visszatérítjük. A megújítást töröltem, és elindítottam a visszatérítést.
resolutions:
- A lemondását visszaigazoltuk. E-mailben is kap egy megerősítést, további terhelés nem lesz.

# topic locked
## en
label: account locked / 2FA
notes:
- Identity verified via card digits and billing address. 2FA reset performed.
### scenario
subjects:
- Account locked
- Locked out after too many attempts
openings:
- My account was locked after too many login attempts. I need access urgently to download our
  invoices for the auditors.
replies:
- "Thanks for reaching out. For your security I need to verify your identity first: could you please
  confirm the last four digits of the card used on your latest invoice?"
after_reply:
- The last four digits are 4821.
resolutions:
- Thank you, your identity is confirmed and your account is unlocked. If you're unsure of your
  password, you can set a new one with "Forgot password".
### scenario
subjects:
- Lost my phone – can't get a 2FA code
- Need to reset two-factor authentication
openings:
- I lost my phone and can no longer generate two-factor codes. How can I get back into my account?
replies:
- "Thanks for reaching out. For your security I need to verify your identity first: could you please
  confirm the last four digits of the card used on your latest invoice?"
after_reply:
- The last four digits are 4821.
resolutions:
- Thank you, your identity is confirmed. I have reset two-factor authentication — you'll be asked to
  set it up again at your next login. Please store the new recovery codes in a safe place.
### scenario
subjects:
- Two-factor codes not working
- Authenticator codes rejected
openings:
- The codes from my authenticator app are always rejected. The time on my phone is correct.
replies:
- Thanks for the report. We are aware of a problem with two-factor codes since this morning, and our
  engineers are working on it. I'll let you know as soon as it is fixed.
resolutions:
- Great to hear it works again. The problem was a clock offset on our side that has now been fixed.
notes:
- Several customers report rejected TOTP codes since this morning — possibly related to the NTP
  incident.
## de
label: Konto gesperrt / 2FA
notes:
- Identität über Kartenziffern und Rechnungsadresse geprüft. 2FA zurückgesetzt.
### scenario
subjects:
- Konto gesperrt
- Nach zu vielen Versuchen ausgesperrt
openings:
- mein Konto wurde nach zu vielen Anmeldeversuchen gesperrt. Ich brauche dringend Zugriff, um unsere
  Rechnungen für die Wirtschaftsprüfer herunterzuladen.
replies:
- "danke für Ihre Nachricht. Zu Ihrer Sicherheit muss ich zuerst Ihre Identität prüfen: Können Sie mir
  bitte die letzten vier Ziffern der Karte nennen, mit der Sie Ihre letzte Rechnung bezahlt haben?"
after_reply:
- die letzten vier Ziffern sind 4821.
resolutions:
- vielen Dank, Ihre Identität ist bestätigt und Ihr Konto entsperrt. Falls Sie Ihr Passwort nicht mehr
  wissen, können Sie über „Passwort vergessen“ ein neues festlegen.
### scenario
subjects:
- Handy verloren – kein 2FA-Code
- Zwei-Faktor-Authentifizierung zurücksetzen
openings:
- ich habe mein Handy verloren und kann keine Zwei-Faktor-Codes mehr erzeugen. Wie komme ich wieder in
  mein Konto?
replies:
- "danke für Ihre Nachricht. Zu Ihrer Sicherheit muss ich zuerst Ihre Identität prüfen: Können Sie mir
  bitte die letzten vier Ziffern der Karte nennen, mit der Sie Ihre letzte Rechnung bezahlt haben?"
after_reply:
- die letzten vier Ziffern sind 4821.
resolutions:
- vielen Dank, Ihre Identität ist bestätigt. Ich habe die Zwei-Faktor-Authentifizierung zurückgesetzt
  – bei der nächsten Anmeldung werden Sie gebeten, sie neu einzurichten. Bitte bewahren Sie die neuen
  Wiederherstellungscodes sicher auf.
### scenario
subjects:
- Zwei-Faktor-Codes funktionieren nicht
- Authenticator-Codes werden abgelehnt
openings:
- die Codes aus meiner Authenticator-App werden immer abgelehnt. Die Uhrzeit auf meinem Handy stimmt.
replies:
- danke für Ihre Meldung. Uns ist seit heute Morgen ein Problem mit Zwei-Faktor-Codes bekannt, unsere
  Technik arbeitet bereits daran. Ich melde mich, sobald es behoben ist.
resolutions:
- schön, dass es wieder funktioniert. Ursache war eine Zeitabweichung auf unserer Seite, die
  inzwischen behoben ist.
notes:
- Seit heute Morgen melden mehrere Kunden abgelehnte TOTP-Codes – evtl. Zusammenhang mit der
  NTP-Störung.
## hu
label: zárolt fiók / 2FA
notes:
- Azonosítás kártyaszámjegyekkel és számlázási címmel megtörtént. 2FA visszaállítva.
### scenario
subjects:
- Zárolták a fiókomat
- Túl sok próbálkozás után kizártak
openings:
- Túl sok sikertelen belépési kísérlet után zárolták a fiókomat. Sürgősen hozzá kellene férnem, mert
  le kell töltenem a számláinkat a könyvvizsgálónak.
replies:
- "Köszönöm, hogy megkeresett! Biztonsági okokból először azonosítanom kell Önt: megadná annak a
  bankkártyának az utolsó négy számjegyét, amellyel a legutóbbi számláját fizette?"
after_reply:
- "Az utolsó négy számjegy: 4821."
resolutions:
- Köszönöm, az azonosítás sikeres, a fiókját feloldottam. Ha nem biztos a jelszavában, az
  „Elfelejtett jelszó” funkcióval újat állíthat be.
### scenario
subjects:
- Elveszett a telefonom – nem kapok 2FA-kódot
- A kétlépcsős azonosítás visszaállítását kérem
openings:
- Elvesztettem a telefonomat, így nem tudok kétlépcsős azonosító kódot generálni. Hogyan tudok újra
  belépni a fiókomba?
replies:
- "Köszönöm, hogy megkeresett! Biztonsági okokból először azonosítanom kell Önt: megadná annak a
  bankkártyának az utolsó négy számjegyét, amellyel a legutóbbi számláját fizette?"
after_reply:
- "Az utolsó négy számjegy: 4821."
resolutions:
- Köszönöm, az azonosítás sikeres. Visszaállítottam a kétlépcsős azonosítást – a következő
  belépéskor újra be kell állítania. Kérem, az új helyreállítási kódokat tartsa biztonságos helyen.
### scenario
subjects:
- Nem működnek a kétlépcsős azonosító kódok
- Elutasítja a rendszer a hitelesítő kódjaimat
openings:
- A hitelesítő alkalmazásom kódjait mindig elutasítja a rendszer. A telefonomon pontos az idő.
replies:
- Köszönöm a jelzést! Ma reggel óta tudunk egy hibáról a kétlépcsős azonosító kódokkal, a kollégáink
  már dolgoznak a javításán. Amint elhárult, jelentkezem.
resolutions:
- Örülök, hogy újra működik! A hibát egy nálunk fellépő időeltérés okozta, amit már javítottunk.
notes:
- Ma reggel óta több ügyfél jelez elutasított TOTP-kódokat – lehet, hogy összefügg az NTP-hibával.

# topic technical
## en
label: technical problem
### scenario
subjects:
- Problem with my {product}
- "{product} stopped working"
openings:
- My new {product} (order {order}) stopped working after two days. I've tried restarting it and a
  different power socket, but nothing helps.
replies:
- "Thank you for the detailed description. Please try a factory reset: hold the power button for 15
  seconds until the light blinks twice, then set it up again. If that doesn't help, we'll replace the
  device under warranty."
after_reply:
- I tried that, but unfortunately it didn't help.
resolutions:
- We have shipped a replacement under warranty. Please send the faulty device back with the enclosed
  return label within 14 days.
notes:
- Warranty replacement approved; serial number checked against the order.
### scenario
subjects:
- Can't set up my new {product}
- Driver for {product}?
openings:
- I can't get my {product} to work with my laptop. The instructions don't cover my model. Is there a
  driver I need to install?
replies:
- Thanks for reaching out! Please install the latest driver from our help center under Downloads —
  older versions don't support every laptop model. Installation takes about five minutes.
resolutions:
- Great to hear that the new driver solved it! I'll close this ticket; you can reopen it any time by
  replying.
notes:
- Driver 4.2 fixes the detection problem on older laptops — linked the help center article.
### scenario
subjects:
- "{product} keeps disconnecting"
- Connection drops since the firmware update
openings:
- Since the last firmware update, my {product} keeps disconnecting every few minutes.
replies:
- Thanks for reaching out! There is a newer firmware version that fixes exactly this problem. You can
  download it from our help center under Downloads; installation takes about five minutes.
resolutions:
- Great to hear that the update solved the problem! I'll close this ticket; you can reopen it any time
  by replying.
notes:
- Known issue with firmware 2.3.1 — engineering ticket linked. Workaround: roll back to 2.2.
## de
label: technisches Problem
### scenario
subjects:
- Gerät funktioniert nicht ({product})
- "Defektes Gerät: {product}"
openings:
- mein neues Gerät ({product}, Bestellung {order}) funktioniert nach zwei Tagen nicht mehr. Ich habe
  es neu gestartet und eine andere Steckdose ausprobiert, aber nichts hilft.
replies:
- "vielen Dank für die ausführliche Beschreibung. Bitte setzen Sie das Gerät auf Werkseinstellungen
  zurück: Halten Sie die Einschalttaste 15 Sekunden gedrückt, bis die LED zweimal blinkt, und richten
  Sie es dann neu ein. Falls das nicht hilft, tauschen wir das Gerät im Rahmen der Garantie aus."
after_reply:
- das habe ich ausprobiert, leider ohne Erfolg.
resolutions:
- wir haben Ihnen im Rahmen der Garantie ein Ersatzgerät geschickt. Bitte senden Sie das defekte Gerät
  innerhalb von 14 Tagen mit dem beiliegenden Rücksendeetikett zurück.
notes:
- Garantietausch freigegeben, Seriennummer mit der Bestellung abgeglichen.
### scenario
subjects:
- "Probleme bei der Einrichtung: {product}"
- Treiber für {product}?
openings:
- ich bekomme das Gerät ({product}) nicht mit meinem Laptop zum Laufen. Die Anleitung deckt mein
  Modell nicht ab. Muss ich einen Treiber installieren?
replies:
- danke für Ihre Nachricht! Bitte installieren Sie den aktuellen Treiber aus unserem Hilfe-Center unter
  „Downloads“ – ältere Versionen unterstützen nicht jedes Laptop-Modell. Die Installation dauert etwa
  fünf Minuten.
resolutions:
- schön, dass der neue Treiber das Problem gelöst hat! Ich schließe das Ticket; Sie können es jederzeit
  mit einer Antwort wieder öffnen.
notes:
- Treiber 4.2 behebt das Erkennungsproblem bei älteren Laptops – Hilfe-Center-Artikel verlinkt.
### scenario
subjects:
- Verbindungsabbrüche seit dem Firmware-Update
- Gerät ({product}) verliert ständig die Verbindung
openings:
- seit dem letzten Firmware-Update verliert mein Gerät ({product}) alle paar Minuten die Verbindung.
replies:
- danke für Ihre Nachricht! Es gibt eine neue Firmware-Version, die genau dieses Problem behebt. Sie
  finden sie in unserem Hilfe-Center unter „Downloads“; die Installation dauert etwa fünf Minuten.
resolutions:
- schön, dass das Update das Problem gelöst hat! Ich schließe das Ticket; Sie können es jederzeit mit
  einer Antwort wieder öffnen.
notes:
- "Bekanntes Problem mit Firmware 2.3.1 – Entwickler-Ticket verknüpft. Workaround: Downgrade auf 2.2."
## hu
label: műszaki hiba
### scenario
subjects:
- "Nem működik: {product}"
- Meghibásodott a készülékem ({product})
openings:
- Az új készülékem ({product}, rendelésszám: {order}) két nap után nem működik. Újraindítottam, másik
  konnektorba is bedugtam, de semmi sem segít.
replies:
- "Köszönöm a részletes leírást! Kérem, állítsa vissza a készüléket gyári beállításokra: tartsa
  lenyomva a bekapcsológombot 15 másodpercig, amíg a jelzőfény kétszer felvillan, majd állítsa be
  újra. Ha ez nem segít, garanciában kicseréljük a készüléket."
after_reply:
- Kipróbáltam, de sajnos nem segített.
resolutions:
- Garanciális cserekészüléket küldtünk Önnek. Kérem, a hibás készüléket a mellékelt visszaküldési
  címkével 14 napon belül küldje vissza.
notes:
- Garanciális csere jóváhagyva, a sorozatszámot ellenőriztem a rendelés alapján.
### scenario
subjects:
- "Nem tudom beüzemelni: {product}"
- "Illesztőprogram kellene ehhez: {product}"
openings:
- Nem tudom működésre bírni a készüléket ({product}) a laptopommal. A leírás nem tér ki az én
  modellemre. Kell valamilyen illesztőprogramot telepítenem?
replies:
- Köszönöm, hogy jelezte! Kérem, telepítse a legfrissebb illesztőprogramot a súgóközpontunk
  Letöltések menüpontjából – a régebbi verziók nem minden laptopmodellt támogatnak. A telepítés
  körülbelül öt percet vesz igénybe.
resolutions:
- Örülök, hogy az új illesztőprogram megoldotta a problémát! Az ügyet lezárom, de bármikor
  újranyithatja, ha válaszol erre az üzenetre.
notes:
- A 4.2-es illesztőprogram javítja a felismerési hibát régebbi laptopokon – a súgócikket belinkeltem.
### scenario
subjects:
- Folyamatosan megszakad a kapcsolat
- "Firmware-frissítés óta szakadozik: {product}"
openings:
- A legutóbbi firmware-frissítés óta a készülékem ({product}) néhány percenként megszakítja a
  kapcsolatot.
replies:
- Köszönöm, hogy jelezte! Van egy újabb firmware-verzió, amely pontosan ezt a hibát javítja. A
  súgóközpontunk Letöltések menüpontjában találja; a telepítés körülbelül öt percet vesz igénybe.
resolutions:
- Örülök, hogy a frissítés megoldotta a problémát! Az ügyet lezárom, de bármikor újranyithatja, ha
  válaszol erre az üzenetre.
notes:
- "Ismert hiba a 2.3.1-es firmware-rel – fejlesztői jegy csatolva. Kerülő megoldás: visszaállás a
  2.2-es verzióra."
"""

Fields = dict[str, str | list[str]]


@dataclass
class _Language:
    fields: Fields = field(default_factory=dict)
    scenarios: list[Fields] = field(default_factory=list)


def _parse_texts(source: str) -> dict[str, dict[str, _Language]]:
    """topic -> language -> its fields and scenarios (see the format above TEXTS_SOURCE)."""
    out: dict[str, dict[str, _Language]] = {}
    language = _Language()
    target: Fields = {}
    items: list[str] | None = None
    topic = ""
    for raw in source.splitlines():
        if not raw.strip():
            continue
        if raw.startswith("# topic "):
            topic = raw[len("# topic ") :].strip()
            out[topic] = {}
        elif raw.startswith("## "):
            language = out[topic][raw[3:].strip()] = _Language()
            target, items = language.fields, None
        elif raw.strip() == "### scenario":
            target, items = {}, None
            language.scenarios.append(target)
        elif raw.startswith("- "):
            if items is None:
                raise ValueError(f"demo texts: an item outside a list: {raw!r}")
            items.append(raw[2:].strip())
        elif raw.startswith("  "):
            if not items:
                raise ValueError(f"demo texts: a continuation outside an item: {raw!r}")
            items[-1] += " " + raw.strip()
        else:
            name, _, value = raw.partition(":")
            items = None
            if value.strip():
                target[name] = value.strip()
            else:
                items = []
                target[name] = items
    for languages in out.values():
        for entry in languages.values():
            for fields in (entry.fields, *entry.scenarios):
                for key, text in fields.items():
                    fields[key] = [_unquote(t) for t in text] if isinstance(text, list) else _unquote(text)
    return out


def _unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.replace("\\n", "\n")


TEXTS = _parse_texts(TEXTS_SOURCE)


def _lookup(topic: str, lang: str, name: str, scenario: int | None = None) -> str | list[str]:
    """A scenario's own text, else its topic's, else the shared one."""
    entry = TEXTS[topic][lang]
    if scenario is not None and name in entry.scenarios[scenario]:
        return entry.scenarios[scenario][name]
    if name in entry.fields:
        return entry.fields[name]
    return TEXTS["common"][lang].fields[name]


def _texts(topic: str, lang: str, name: str, scenario: int | None = None) -> list[str]:
    value = _lookup(topic, lang, name, scenario)
    return [value] if isinstance(value, str) else value


def _questions(topic: str, lang: str, scenario: int, kind: str) -> tuple[list[str], list[str]]:
    """What an agent asks for in this case, and the customer's answers (in the same order)."""
    entry = TEXTS[topic][lang]
    if "asks" in entry.scenarios[scenario] or "asks" in entry.fields:
        return _texts(topic, lang, "asks", scenario), _texts(topic, lang, "info", scenario)
    return _texts("common", lang, f"asks_{kind}"), _texts("common", lang, f"info_{kind}")


def _holds(topic: str, lang: str, scenario: int, kind: str) -> list[str]:
    """Why a case of this kind waits on someone else (an internal note)."""
    entry = TEXTS[topic][lang]
    if "hold_notes" in entry.scenarios[scenario] or "hold_notes" in entry.fields:
        return _texts(topic, lang, "hold_notes", scenario)
    return _texts("common", lang, f"hold_{kind}")


def _text(topic: str, lang: str, name: str) -> str:
    value = _lookup(topic, lang, name)
    if not isinstance(value, str):
        raise TypeError(f"demo text {topic}.{lang}.{name} is a list")
    return value


def _check_texts() -> None:
    """Every language has every text: a gap would only show up as a KeyError mid-load."""
    problems = []
    for lang in LANGUAGE_INDEX:
        common = TEXTS["common"][lang].fields
        problems += [f"common.{lang}.{f}" for f in COMMON_FIELDS if f not in common]
        for key, *_ in TOPICS:
            entry = TEXTS[key][lang]
            if "label" not in entry.fields:
                problems.append(f"{key}.{lang}.label")
            if len(entry.scenarios) != SCENARIOS_PER_TOPIC:
                problems.append(f"{key}.{lang}: {len(entry.scenarios)} scenarios")
            for index, scenario in enumerate(entry.scenarios):
                problems += [f"{key}.{lang}.{index}.{f}" for f in SCENARIO_FIELDS
                             if f not in scenario and f not in entry.fields]
    if "supervisor_notes" not in TEXTS["common"]["en"].fields:
        problems.append("common.en.supervisor_notes")
    if problems:
        raise RuntimeError(f"demo texts are incomplete: {', '.join(problems)}")


_check_texts()


# --- small helpers -----------------------------------------------------------------------------


def _display_name(first: str, last: str, language: str) -> str:
    """Hungarians write the family name first."""
    return f"{last} {first}" if language == "hu" else f"{first} {last}"


def _ascii(value: str, language: str) -> str:
    value = value.lower()
    if language == "de":
        for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
            value = value.replace(umlaut, spelled)
    value = unicodedata.normalize("NFKD", value)
    return "".join(c for c in value if c.isascii() and (c.isalnum() or c in ".-"))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _money(amount_eur: float, country: str, language: str) -> str:
    if country == "HU":
        forint = int(amount_eur * 395 / 1000) * 1000 + 990
        return f"{forint:,} Ft".replace(",", " ")
    if country == "GB":
        value, symbol = round(amount_eur * 0.86) - 0.01, "£"
    elif country == "US":
        value, symbol = round(amount_eur * 1.08) - 0.01, "$"
    else:
        value, symbol = amount_eur, "€"
    if language == "en":
        return f"{symbol}{value:,.2f}"
    return f"{value:,.2f}".replace(",", " ").replace(".", ",") + f" {symbol}"


DATE_PATTERNS = {"en": "d MMMM y", "de": "d. MMMM y", "hu": "y. MMMM d."}


def _date(day: date, language: str) -> str:
    return format_date(day, DATE_PATTERNS[language], locale=language)


# Templates for valid numbers in each country; "#" is a random digit. Every number is checked
# with ``phonenumbers`` (as the contacts service does) and redrawn until it is valid.
PHONE_PATTERNS = {
    "HU": ("+3620#######", "+3630#######", "+3670#######", "+361#######", "+3652######", "+3662######"),
    "DE": ("+49151########", "+49160#######", "+49170#######", "+49176########", "+4930########",
           "+4989########", "+4940########", "+49221#######"),
    "AT": ("+43664#######", "+43676#######", "+43699########", "+431#######"),
    "GB": ("+447700######", "+447911######", "+447400######", "+44207946####", "+44161496####"),
    "US": ("+1212555010#", "+1415555012#", "+1312555013#", "+1617555014#", "+1206555015#"),
}


def _phone(rng: random.Random, country: str, taken: set[str]) -> str:
    for _ in range(200):
        pattern = rng.choice(PHONE_PATTERNS[country])
        candidate = "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)
        number = phonenumbers.parse(candidate, None)
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in taken:
            taken.add(e164)
            return e164
    raise RuntimeError(f"no valid phone number for {country}")  # pragma: no cover


# --- contacts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ContactSpec:
    first: str
    last: str
    gender: str
    language: str
    country: str
    email: str
    phone: str | None
    organisation: int | None  # index into ORGANISATIONS
    time_zone: str
    vip: bool
    notes: str

    @property
    def name(self) -> str:
        return _display_name(self.first, self.last, self.language)


def _plan_contacts(rng: random.Random) -> list[_ContactSpec]:
    org_weights = [rng.uniform(0.4, 3.0) for _ in ORGANISATIONS]
    org_zones = [rng.choice(COUNTRY_ZONES[country]) for _, _, country in ORGANISATIONS]
    emails: set[str] = set()
    phones: set[str] = set()
    specs = []
    for _ in range(CONTACT_COUNT):
        org: int | None = None
        if rng.random() < 0.88:
            org = rng.choices(range(len(ORGANISATIONS)), weights=org_weights)[0]
            country = ORGANISATIONS[org][2]
            language = COUNTRY_LANGUAGE[country] if rng.random() < 0.9 else rng.choice(("en", "de", "hu"))
            time_zone = org_zones[org]
            domain = f"{ORGANISATIONS[org][1]}.example"
        else:
            language = rng.choices(("en", "de", "hu"), weights=(4, 3, 3))[0]
            country = LANGUAGE_COUNTRY[language]
            time_zone = COUNTRY_ZONES[country][0]
            domain = rng.choice(PRIVATE_DOMAINS[language])
        gender = rng.choice("fm")
        first = rng.choice(FIRST_NAMES[language][gender])
        last = rng.choice(LAST_NAMES[language])
        f, la = _ascii(first, language), _ascii(last, language)
        local = rng.choice((f"{f}.{la}", f"{f}.{la}", f"{f[0]}.{la}", f"{f}{la}", f"{la}.{f}"))
        email, n = f"{local}@{domain}", 2
        while email in emails:
            email, n = f"{local}{n}@{domain}", n + 1
        emails.add(email)
        phone = _phone(rng, country, phones) if rng.random() < 0.5 else None
        vip = rng.random() < 0.08
        notes = rng.choice(CONTACT_NOTES) if vip or rng.random() < 0.1 else ""
        specs.append(_ContactSpec(first, last, gender, language, country, email, phone, org, time_zone, vip,
                                  notes))
    return specs


# --- conversations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    direction: Direction
    author: str | None  # staff key for replies and notes; None: the customer (via the system actor)
    body: str
    at: datetime
    status_after: Status | None = None


@dataclass(frozen=True)
class _Draft:
    direction: Direction
    author: str | None
    body: str
    pace: str  # how long after the previous message this one comes: a key of PACES
    status_after: Status | None = None


# Hours between a message and the one before it, in writing (chats and calls take minutes).
PACES = {
    "reply": (0.3, 8.0),  # an agent answers the customer
    "work": (4.0, 48.0),  # an agent reports back after working on it
    "answer": (0.5, 24.0),  # the customer answers the agent
    "wait": (24.0, 72.0),  # the customer chases an answer
    "thanks": (0.2, 10.0),
    "note": (0.1, 2.0),
}


@dataclass
class _Plan:
    contact: int  # index into the contact specs
    channel: str
    subject: str
    language: str
    status: Status
    priority: Priority
    tags: list[str]
    team: str | None
    assignee: str | None
    steps: list[_Step] = field(default_factory=list)


STATUS_BY_AGE: tuple[tuple[float, tuple[Status, ...], tuple[int, ...]], ...] = (
    # (age in days up to, statuses, weights)
    (3, (Status.new, Status.open, Status.pending, Status.on_hold, Status.solved), (35, 30, 15, 5, 15)),
    (21, (Status.new, Status.open, Status.pending, Status.on_hold, Status.solved, Status.closed),
     (3, 15, 15, 7, 45, 15)),
    (HISTORY_DAYS + 1, (Status.open, Status.pending, Status.on_hold, Status.solved, Status.closed),
     (2, 1, 2, 10, 85)),
)
# When customers write, by hour of the day (the tenant's time zone).
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 11, 12, 13, 12, 11, 9, 7, 6, 5, 4, 3, 2)
PRIORITIES = (Priority.low, Priority.normal, Priority.high, Priority.urgent)
SPEAKERS = {s.key: s for s in (*AGENTS, SUPERVISOR)}


class _Planner:
    """Turns the seeded random stream into conversation plans (no database involved)."""

    def __init__(self, rng: random.Random, specs: list[_ContactSpec], now: datetime) -> None:
        self.rng = rng
        self.specs = specs
        self.now = now
        self.zone = ZoneInfo(DEMO_TIME_ZONE)
        # A few customers write often, most write once or twice.
        self.contact_weights = [rng.paretovariate(1.6) for _ in specs]

    def plan(self) -> list[_Plan]:
        plans = [self._one() for _ in range(CONVERSATION_COUNT)]
        # Reference numbers grow with time, as they would have.
        plans.sort(key=lambda p: p.steps[0].at)
        return plans

    def _start(self) -> datetime:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            days = rng.uniform(0.02, 3)
        elif roll < 0.2:
            days = rng.uniform(3, 21)
        else:
            days = rng.uniform(21, HISTORY_DAYS)
        moment = (self.now - timedelta(days=days)).astimezone(self.zone)
        if days > 1:  # customers mostly write during the day
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
            moment = moment.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
        return min(moment.astimezone(UTC), self.now - timedelta(minutes=20))

    def _one(self) -> _Plan:
        rng = self.rng
        contact_index = rng.choices(range(len(self.specs)), weights=self.contact_weights)[0]
        spec = self.specs[contact_index]
        lang = spec.language
        topic, topic_tags, topic_team, _, ask_kind = rng.choices(TOPICS, weights=[t[3] for t in TOPICS])[0]
        scenario = rng.randrange(SCENARIOS_PER_TOPIC)
        start = self._start()
        age_days = (self.now - start).total_seconds() / 86400
        statuses, weights = next((s, w) for limit, s, w in STATUS_BY_AGE if age_days <= limit)
        status = rng.choices(statuses, weights=weights)[0]

        channels, channel_weights = ["webform", "email", "chat"], [38, 40, 12]
        if spec.phone and status != Status.new:
            channels.append("phone")
            channel_weights.append(16)
        channel = rng.choices(channels, weights=channel_weights)[0]

        priority_weights = [20, 60, 15, 5]
        if topic == "complaint":
            priority_weights = [0, 35, 50, 15]
        elif topic == "locked":
            priority_weights = [0, 50, 40, 10]
        priority = rng.choices(PRIORITIES, weights=priority_weights)[0]
        if spec.vip and priority != Priority.urgent and rng.random() < 0.35:
            priority = PRIORITIES[PRIORITIES.index(priority) + 1]

        tags = list(topic_tags)
        if spec.vip:
            tags.append("vip")
        if topic == "complaint" and rng.random() < 0.4:
            tags.append("escalated")
        if spec.organisation is not None and rng.random() < 0.1:
            tags.append("b2b")

        team = topic_team if topic_team and rng.random() < 0.9 else None
        assignee: str | None = self._assignee(team, lang)
        if status == Status.new and rng.random() < 0.7:
            assignee = None
            team = team if rng.random() < 0.5 else None

        ctx = self._context(spec, start, assignee)
        if channel == "phone":
            subject = _text("common", lang, "call_subject").format(label=_text(topic, lang, "label"))
        else:
            subject = _capitalise(rng.choice(_texts(topic, lang, "subjects", scenario)).format_map(ctx))
        plan = _Plan(contact_index, channel, subject, lang, status, priority, tags, team, assignee)
        if channel == "phone":
            self._phone_steps(plan, topic, scenario, ask_kind, start, ctx)
        else:
            self._written_steps(plan, topic, scenario, ask_kind, start, ctx)
        return plan

    def _assignee(self, team: str | None, lang: str) -> str:
        members = [a for a in AGENTS if team is None or a.team == team]
        speakers = [a for a in members if lang in a.speaks] or members
        return self.rng.choice(speakers).key

    def _context(self, spec: _ContactSpec, start: datetime, assignee: str | None) -> dict[str, Any]:
        rng = self.rng
        lang = spec.language
        product = rng.choice(PRODUCTS)
        ordered = (start - timedelta(days=rng.randint(2, 20))).date()
        agent = SPEAKERS[assignee] if assignee else SUPERVISOR
        if lang == "de":
            title_last = f"{'Frau' if spec.gender == 'f' else 'Herr'} {spec.last}"
            formal = f"Sehr geehrte{'' if spec.gender == 'f' else 'r'} {title_last},"
        elif lang == "hu":
            title_last = spec.name
            formal = f"Tisztelt {spec.name}!"
        else:
            title_last = f"{'Ms' if spec.gender == 'f' else 'Mr'} {spec.last}"
            formal = f"Dear {title_last},"
        invoice_prefix = {"en": "INV-", "de": "RE-", "hu": "ACM-"}[lang] + str(ordered.year)
        invoice_prefix += "/" if lang == "hu" else "-"
        company = ORGANISATIONS[spec.organisation][0] if spec.organisation is not None else None
        context: dict[str, Any] = {
            "name": spec.name,
            "first": spec.first,
            "title_last": title_last,
            "formal": formal,
            "email": spec.email,
            "company": company or _text("common", lang, "our_company"),
            "signature_company": company or "",
            "order": f"AC-{rng.randint(100000, 999999)}",
            "invoice": f"{invoice_prefix}{rng.randint(1, 99999):05d}",
            "amount": _money(product[3] * rng.choice((1, 1, 1, 2)), spec.country, lang),
            "product": product[LANGUAGE_INDEX[lang]],
            "date": _date(ordered, lang),
            "ref": str(rng.randint(10**9, 10**10 - 1)),
            "agent": agent.name,
            "agent_first": agent.first,
        }
        # An agent greets and signs the same way throughout a conversation.
        for key, name in (("agent_greeting", "agent_greetings"), ("agent_signoff", "agent_signoffs"),
                          ("chat_intro", "chat_intros")):
            context[key] = rng.choice(_texts("common", lang, name)).format_map(context)
        return context

    # --- texts as people write them

    def _customer(self, body: str, lang: str, channel: str, ctx: dict[str, Any], *, first: bool) -> str:
        rng = self.rng
        body = body.format_map(ctx)
        if channel == "chat" or (not first and rng.random() < 0.5):
            return _capitalise(body)
        parts = []
        if channel == "email" or rng.random() < 0.5:
            parts.append(rng.choice(_texts("common", lang, "customer_greetings")))
        else:
            body = _capitalise(body)
        parts.append(body)
        if channel == "email" and (first or rng.random() < 0.7):
            signoff = rng.choice(_texts("common", lang, "customer_signoffs"))
            parts.append(signoff.format_map({**ctx, "company": ctx["signature_company"]}).rstrip())
        return "\n\n".join(parts)

    def _agent(self, body: str, lang: str, channel: str, ctx: dict[str, Any], *, first: bool) -> str:
        body = body.format_map(ctx)
        if channel == "chat":
            return f"{ctx['chat_intro']} {_capitalise(body)}" if first else _capitalise(body)
        greeting, signoff = ctx["agent_greeting"], ctx["agent_signoff"]
        if not (lang == "de" and greeting.endswith(",")):  # German letters go on in lower case
            body = _capitalise(body)
        return f"{greeting}\n\n{body}\n\n{signoff}"

    # --- message sequences

    def _written_steps(self, plan: _Plan, topic: str, scenario: int, ask_kind: str, start: datetime,
                       ctx: dict[str, Any]) -> None:
        rng, lang, channel, agent = self.rng, plan.language, plan.channel, plan.assignee
        drafts: list[_Draft] = []

        def pick(name: str, source: str = topic) -> str:
            return rng.choice(_texts(source, lang, name, scenario if source == topic else None))

        def inbound(body: str, pace: str, first: bool = False) -> None:
            text = self._customer(body, lang, channel, ctx, first=first)
            drafts.append(_Draft(Direction.inbound, None, text, pace))

        def outbound(body: str, pace: str, status_after: Status | None = None) -> None:
            first = not any(d.direction == Direction.outbound for d in drafts)
            text = self._agent(body, lang, channel, ctx, first=first)
            drafts.append(_Draft(Direction.outbound, agent, text, pace, status_after))

        def note(body: str, status_after: Status | None = None) -> None:
            author = agent
            if (topic == "complaint" or plan.priority == Priority.urgent) and rng.random() < 0.5:
                author, body = SUPERVISOR.key, rng.choice(_texts("common", "en", "supervisor_notes"))
            text = _capitalise(body.format_map(ctx))
            drafts.append(_Draft(Direction.note, author, text, "note", status_after))

        def ask(status_after: Status | None = None) -> None:
            outbound(ask_text, "reply", status_after)

        def answer() -> None:
            inbound(info_text, "answer")

        def reply(status_after: Status | None = None) -> None:
            outbound(pick("replies"), "reply", status_after)

        def react() -> None:
            inbound(pick("after_reply"), "answer")

        def wait() -> None:
            inbound(pick("chat_wait" if channel == "chat" else "followups_wait", "common"), "wait")

        def resolve() -> None:
            previous = drafts[-1].direction
            outbound(pick("resolutions"), "reply" if previous == Direction.inbound else "work", Status.solved)

        def thank() -> None:
            inbound(pick("thanks", "common"), "thanks")

        # What the agent asks when something is missing, and the customer's answer to it.
        asks, infos = _questions(topic, lang, scenario, ask_kind)
        index = rng.randrange(len(asks))
        ask_text, info_text = asks[index], infos[index % len(infos)]

        inbound(pick("openings"), "", first=True)
        status = plan.status
        variant = rng.randrange(4)
        if status == Status.new:
            if variant == 0:
                wait()
        elif status == Status.open:
            if variant == 0:
                reply()
                react()
            elif variant == 1 and channel != "chat":
                reply()
                note(pick("notes"))
                wait()
            elif variant == 2:
                ask()
                answer()
                note(pick("notes"))
            else:
                ask()
                answer()
                reply()
                react()
        elif status == Status.pending:
            if variant == 2 and channel != "chat":
                wait()  # the customer chases, the agent needs something first
            ask(Status.pending)
        elif status == Status.on_hold:
            if variant in (0, 1):
                reply()
            else:
                ask()
                answer()
            note(rng.choice(_holds(topic, lang, scenario, ask_kind)), Status.on_hold)
        elif channel == "chat":  # solved (and closed later) while the customer is still there
            if variant in (0, 1):
                reply(Status.solved)
            else:
                ask()
                answer()
                reply(Status.solved)
            if variant != 0:
                thank()
        else:  # solved, and closed later
            if variant == 0:
                reply()
                resolve()
            elif variant == 1:
                ask()
                answer()
                resolve()
            elif variant == 2:
                reply()
                react()
                resolve()
                thank()
            else:
                ask()
                answer()
                note(pick("notes"))
                resolve()
                thank()
        plan.steps = self._timed(drafts, start, channel)

    def _phone_steps(self, plan: _Plan, topic: str, scenario: int, ask_kind: str, start: datetime,
                     ctx: dict[str, Any]) -> None:
        rng, lang = self.rng, plan.language
        status = Status.solved if plan.status == Status.closed else plan.status
        call = _text("common", lang, "call_note").format(
            minutes=rng.randint(3, 25), name=ctx["name"], label=_text(topic, lang, "label"),
            outcome=_text("common", lang, f"outcome_{status.value}"),
        )
        drafts = [_Draft(Direction.note, plan.assignee, call, "")]
        if rng.random() < 0.5:
            body = rng.choice(_texts(topic, lang, "notes", scenario)).format_map(ctx)
            drafts.append(_Draft(Direction.note, plan.assignee, _capitalise(body), "note"))
        if plan.status == Status.on_hold:
            hold = rng.choice(_holds(topic, lang, scenario, ask_kind))
            drafts.append(_Draft(Direction.note, plan.assignee, hold, "note", Status.on_hold))
        plan.steps = self._timed(drafts, start, "phone")

    def _timed(self, drafts: list[_Draft], start: datetime, channel: str) -> list[_Step]:
        """Timestamps for a sequence: minutes apart in a chat or call, hours or days in writing."""
        rng = self.rng
        offsets = [0.0]
        for draft in drafts[1:]:
            if channel in ("chat", "phone"):
                low, high = 0.5 / 60, 6 / 60
            else:
                low, high = PACES[draft.pace]
            offsets.append(offsets[-1] + rng.uniform(low, high) * 3600)
        # Squeeze recent conversations so that nothing happens in the future.
        room = (self.now - timedelta(minutes=2) - start).total_seconds()
        if offsets[-1] > room > 0:
            offsets = [o * room / offsets[-1] for o in offsets]
        return [
            _Step(d.direction, d.author, d.body, start + timedelta(seconds=offset), d.status_after)
            for d, offset in zip(drafts, offsets, strict=True)
        ]


# --- writing ------------------------------------------------------------------------------------


@dataclass
class _Ids:
    tenant_id: int
    system: Actor
    actors: dict[str, Actor] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)
    organisations: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)


async def load_demo(db: Database, *, progress: bool = True) -> DemoSummary:
    """Load the demo tenant; when it exists already, only report what is there."""
    async with db.read() as session:
        existing = await session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    if existing is not None:
        await _create_routing(db, existing)  # a demo loaded before routing existed gets it now
        await _create_mailbox(db, existing)  # and a demo loaded before mailboxes existed, its mailbox
        await _create_chat_channel(db, existing)  # and one from before live chat, its chat channel
        await _create_canned_replies(db, existing)  # and one from before canned replies, a few of them
        return await _summary(db, existing, created=False)

    rng = random.Random(SEED)
    now = utcnow().replace(microsecond=0)
    specs = _plan_contacts(rng)
    plans = _Planner(rng, specs, now).plan()

    try:
        async with db.transaction() as session:
            ids = await _create_staff(session)
    except Conflict:  # another loader created the tenant in the meantime
        async with db.read() as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
        assert tenant_id is not None
        return await _summary(db, tenant_id, created=False)

    with _progress_bar(progress) as bar:
        contacts_task = bar.add_task("Contacts", total=len(specs))
        conversations_task = bar.add_task("Conversations", total=len(plans))
        for batch in _batches(specs, CONTACT_BATCH):
            async with db.transaction() as session:
                for spec in batch:
                    ids.contacts.append(await _create_contact(session, ids, spec))
            bar.advance(contacts_task, len(batch))
        for plan_batch in _batches(plans, CONVERSATION_BATCH):
            async with db.transaction() as session:
                for plan in plan_batch:
                    await _create_conversation(session, ids, plan)
            bar.advance(conversations_task, len(plan_batch))
    # After the history: the past conversations stay unrouted, new ones go through the rules.
    await _create_routing(db, ids.tenant_id)
    await _create_mailbox(db, ids.tenant_id)
    await _create_chat_channel(db, ids.tenant_id)
    await _create_canned_replies(db, ids.tenant_id)
    return await _summary(db, ids.tenant_id, created=True)


# --- routing ---------------------------------------------------------------------------------

SKILLS = ("billing", "technical", "english", "german", "hungarian")
# Proficiency 1–5 per agent; languages are what each of them speaks.
AGENT_SKILLS = {
    "anna": {"billing": 4, "hungarian": 5, "english": 4},
    "lukas": {"billing": 3, "german": 5, "english": 4},
    "james": {"billing": 5, "english": 5},
    "bence": {"technical": 5, "hungarian": 5, "german": 3, "english": 4},
    "sophie": {"technical": 4, "german": 5, "english": 4},
    "emily": {"billing": 3, "technical": 3, "english": 5, "german": 3},
}
REASON_CODES = ("Lunch", "Break", "Training", "Meeting")


async def _create_routing(db: Database, tenant_id: int) -> None:
    """Skills, queues, rules, reason codes and the agents' routing profiles; once (skipped when queues exist)."""
    from helpline.routing import configuration as routing
    from helpline.routing.models import Queue

    async with db.transaction() as session:
        if await session.scalar(select(Queue.id).where(Queue.tenant_id == tenant_id).limit(1)) is not None:
            return
        system = Actor.system(tenant_id)
        for name in SKILLS:
            await routing.create_skill(session=session, actor=system, name=name)
        teams = {t.name: t.id for t in await accounts.list_teams(session=session, actor=system)}
        general = await routing.ensure_default_queue(session, tenant_id)
        billing = await routing.create_queue(session=session, actor=system, values={
            "name": "Billing", "team_id": teams.get(BILLING), "skills": {"billing": 2}, "sticky_seconds": 60.0,
            "wrap_up_seconds": 30.0, "offer_timeout_seconds": 20.0,
        })
        technical = await routing.create_queue(session=session, actor=system, values={
            "name": "Technical", "team_id": teams.get(TECHNICAL), "skills": {"technical": 4},
            "strategy": "skills_best_match", "wrap_up_seconds": 30.0,
            "expansions": [
                {"after_seconds": 60.0, "lower_levels_by": 1},
                {"after_seconds": 180.0, "lower_levels_by": 2},
            ],
            "overflow_queue_id": general.id, "overflow_after_seconds": 300.0,
        })
        german = await routing.create_queue(session=session, actor=system, values={
            "name": "German", "skills": {"german": 4}, "languages": ["de"],
            "expansions": [{"after_seconds": 90.0, "lower_levels_by": 1}],
            "overflow_queue_id": general.id, "overflow_after_seconds": 240.0,
        })
        for name, queue_id, conditions, priority in (
            ("Billing questions", billing.id, [{"field": "tag", "op": "is", "value": "billing"}], None),
            ("Technical and login problems", technical.id,
             [{"field": "tag", "op": "in", "value": ["technical", "login", "2fa"]}], None),
            ("Urgent email to the technical queue", technical.id,
             [{"field": "channel", "op": "is", "value": "email"}, {"field": "priority", "op": "is", "value": "urgent"}],
             "urgent"),
            ("German-speaking customers", german.id, [{"field": "language", "op": "is", "value": "de"}], None),
        ):
            await routing.create_rule(session=session, actor=system, values={
                "name": name, "queue_id": queue_id, "conditions": conditions, "priority": priority,
            })
        for reason in REASON_CODES:
            await routing.create_reason_code(session=session, actor=system, name=reason)
        staff = {p.email: p for p in (*AGENTS, SUPERVISOR)}
        users = await session.scalars(select(User).where(User.tenant_id == tenant_id))
        for user in users:
            person = staff.get(user.email)
            if person is None:
                continue
            await routing.update_agent_profile(
                session=session, actor=system, user_id=user.id, languages=list(person.speaks),
                skills=AGENT_SKILLS.get(person.key, {}),
                capacity={"voice": 1, "chat": 3 if person.role == Role.agent else 2, "email": 8},
            )


# --- email ---------------------------------------------------------------------------------------

DEMO_MAILBOX = f"support@{DEMO_DOMAIN}"


async def _create_mailbox(db: Database, tenant_id: int) -> None:
    """The support mailbox, fed by Helpline's own SMTP listener (no IMAP); once (skipped when it exists)."""
    from helpline.channels.email import service as mailboxes
    from helpline.channels.email.models import Mailbox

    async with db.transaction() as session:
        if await session.scalar(select(Mailbox.id).where(Mailbox.address == DEMO_MAILBOX)) is not None:
            return
        # No team: which team answers is for the routing rules to decide.
        await mailboxes.create_mailbox(session=session, actor=Actor.system(tenant_id), secret_key="", values={
            "address": DEMO_MAILBOX, "display_name": DEMO_TENANT_NAME,
            "signature": f"{DEMO_TENANT_NAME}\nhttps://{DEMO_DOMAIN}", "auto_acknowledge": True,
        })


DEMO_CHAT_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]


async def _create_chat_channel(db: Database, tenant_id: int) -> None:
    """A live chat channel the widget may use from the demo server's own pages; once."""
    from helpline.channels.chat import service as chat
    from helpline.channels.chat.models import ChatChannel

    async with db.transaction() as session:
        if await session.scalar(select(ChatChannel.id).where(ChatChannel.tenant_id == tenant_id)) is not None:
            return
        await chat.create_channel(session=session, actor=Actor.system(tenant_id), values={
            "name": f"{DEMO_TENANT_NAME} website", "allowed_origins": DEMO_CHAT_ORIGINS,
            "greeting": "Hello! How can we help?",
            "offline_message": "We are not online right now. Leave a message and we answer by email.",
        })


DEMO_CANNED_REPLIES = (
    ("Greeting", "hello", "Hello {{customer.first_name}},\n\nthank you for contacting {{company.name}}. "
     "I am {{agent.first_name}} and I will take care of your request."),
    ("Refund on its way", "refund", "Hello {{customer.first_name}},\n\nyour refund has been issued. It reaches "
     "your account within 5 business days. Your reference number is #{{conversation.number}}.\n\n"
     "Best regards,\n{{agent.name}}"),
    ("Anything else?", "thanks", "Thank you, {{customer.first_name}}! Is there anything else I can do for you?"),
)


async def _create_canned_replies(db: Database, tenant_id: int) -> None:
    """A few shared canned replies for every agent's composer; once (skipped when the company has any)."""
    from helpline.replies import service as replies
    from helpline.replies.models import CannedReply

    async with db.transaction() as session:
        if await session.scalar(select(CannedReply.id).where(CannedReply.tenant_id == tenant_id).limit(1)):
            return
        for title, shortcut, body in DEMO_CANNED_REPLIES:
            await replies.create_reply(session=session, actor=Actor.system(tenant_id), values={
                "title": title, "shortcut": shortcut, "body": body, "visibility": "shared",
            })


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress]:
    bar = Progress(
        TextColumn("[bold]{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=not enabled,
    )
    with bar:
        yield bar


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _create_staff(session: AsyncSession) -> _Ids:
    tenant = await accounts.create_tenant(
        session=session, slug=DEMO_SLUG, name=DEMO_TENANT_NAME, default_language="en",
        time_zone=DEMO_TIME_ZONE,
    )
    system = Actor.system(tenant.id)
    ids = _Ids(tenant_id=tenant.id, system=system)
    await accounts.create_user(
        session=session, actor=system, email=DEMO_ADMIN_EMAIL, name=ADMIN_NAME, role=Role.admin,
        password=DEMO_ADMIN_PASSWORD, language="en",
    )
    users: dict[str, User] = {}
    for person in (*AGENTS, SUPERVISOR):
        users[person.key] = await accounts.create_user(
            session=session, actor=system, email=person.email, name=person.name, role=person.role,
            password=DEMO_ADMIN_PASSWORD, language=person.language,
        )
    for team_name in TEAMS:
        members = [users[a.key].id for a in AGENTS if a.team == team_name] + [users[SUPERVISOR.key].id]
        team = await accounts.create_team(session=session, actor=system, name=team_name, member_ids=members)
        ids.teams[team_name] = team.id
    await session.flush()
    for key, user in users.items():
        ids.actors[key] = await accounts.actor_for(session, user)
    for name, label, _country in ORGANISATIONS:
        organisation = await contacts.create_organisation(
            session=session, actor=system, name=name, domain=f"{label}.example"
        )
        ids.organisations.append(organisation.id)
    return ids


async def _create_contact(session: AsyncSession, ids: _Ids, spec: _ContactSpec) -> int:
    identities = [(IdentityKind.email, spec.email)]
    if spec.phone:
        identities.append((IdentityKind.phone, spec.phone))
    contact = await contacts.create_contact(
        session=session, actor=ids.system, name=spec.name, language=spec.language, time_zone=spec.time_zone,
        organisation_id=ids.organisations[spec.organisation] if spec.organisation is not None else None,
        notes=spec.notes, identities=identities,
    )
    return contact.id


async def _create_conversation(session: AsyncSession, ids: _Ids, plan: _Plan) -> None:
    def actor(author: str | None) -> Actor:
        return ids.system if author is None else ids.actors[author]

    first, *rest = plan.steps
    conversation = await conversations.create_conversation(
        session=session,
        actor=actor(first.author),
        contact_id=ids.contacts[plan.contact],
        channel=plan.channel,
        subject=plan.subject,
        message=NewMessage(body_text=first.body, created_at=first.at),
        direction=first.direction,
        priority=plan.priority,
        team_id=ids.teams[plan.team] if plan.team else None,
        assignee_id=ids.actors[plan.assignee].user_id if plan.assignee else None,
        tags=plan.tags,
        language=plan.language,
    )
    for step in rest:
        await conversations.add_message(
            session=session,
            actor=actor(step.author),
            conversation_id=conversation.id,
            direction=step.direction,
            message=NewMessage(body_text=step.body, created_at=step.at),
            status_after=step.status_after,
        )
    # A customer's "thank you" reopens a solved case, and calls are solved by hand: bring every
    # conversation to its planned status the way an agent would (closing is the system's job).
    if conversation.status != plan.status:
        if plan.status == Status.closed and conversation.status != Status.solved:
            await conversations.update_conversation(
                session=session, actor=actor(plan.assignee), conversation_id=conversation.id,
                changes={"status": Status.solved.value},
            )
        closer = ids.system if plan.status == Status.closed else actor(plan.assignee)
        await conversations.update_conversation(
            session=session, actor=closer, conversation_id=conversation.id,
            changes={"status": plan.status.value},
        )


async def _summary(db: Database, tenant_id: int, *, created: bool) -> DemoSummary:
    counted: dict[str, Any] = {
        "users": User,
        "teams": Team,
        "organisations": Organisation,
        "contacts": Contact,
        "conversations": Conversation,
        "messages": Message,
    }
    counts: dict[str, int] = {}
    async with db.read() as session:
        for key, model in counted.items():
            query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            counts[key] = int(await session.scalar(query) or 0)
    return DemoSummary(tenant_id=tenant_id, admin_email=DEMO_ADMIN_EMAIL, admin_password=DEMO_ADMIN_PASSWORD,
                       counts=counts, created=created)


__all__ = ["DEMO_ADMIN_EMAIL", "DEMO_ADMIN_PASSWORD", "DemoSummary", "load_demo"]
