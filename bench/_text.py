"""Deterministic, varied, multilingual support-mail text for the benchmarks.

English, German and Hungarian (with their accents, so FTS5's diacritic folding is exercised),
word frequencies roughly Zipfian (a few very common words, a long tail), plus order numbers and
a handful of rare product names so that both common and rare searches have realistic hit counts.
"""

from __future__ import annotations

import itertools
import random

EN = """the a to and of i you is for it in my on have with this that be not your we was
order please can would help thanks hello hi regards thank invoice delivery refund package
account password payment card shipping return product item received still waiting since
week days yesterday today problem issue error broken damaged wrong missing replace
replacement cancel cancelled subscription email phone number address update change
login reset support team customer service urgent asap soon possible information details
attached photo screenshot tracking link courier warehouse stock available price discount
voucher code coupon charged twice bank transfer paypal credit receipt tax vat company
size colour color fits small large exchange manual instructions setup install app
website checkout cart basket weekend monday friday morning afternoon evening could
should will just also again already really very much more about after before because
when where which what how why there their they them our us me he she his her""".split()

DE = """der die das und ist ich nicht sie es zu mit den ein eine für auf von dem bitte
danke hallo guten tag grüße freundlichen mit sehr geehrte damen herren bestellung
rechnung lieferung rückerstattung rücksendung paket konto passwort zahlung karte
versand ware artikel erhalten immer noch warte seit woche tagen gestern heute problem
fehler kaputt beschädigt falsch fehlt ersatz stornieren storniert abonnement telefon
nummer adresse ändern anmeldung zurücksetzen kundendienst dringend möglichst bald
informationen anhang foto sendungsverfolgung kurier lager verfügbar preis rabatt
gutschein doppelt abgebucht überweisung quittung mehrwertsteuer firma größe farbe
passt klein groß umtausch anleitung einrichtung über können würde möchte müssen
schon wirklich wann warum wo welche könnten schnellstmöglich lieferzeit zustellung
bestätigung bestätigen kündigung kündigen rückruf straße hausnummer postleitzahl
übermorgen nächste letzte woche grüßen schöne""".split()

HU = """a az és hogy nem is van egy ez meg már csak de mert köszönöm köszönöm szépen
kérem kérném jó napot üdvözlettel tisztelt hölgyem uram rendelés rendelésem számla
számlát szállítás szállítási visszatérítés visszaküldés csomag csomagot fiók jelszó
fizetés kártya termék megkaptam még mindig várok óta hét napja tegnap ma probléma
hiba hibás törött sérült rossz hiányzik csere lemondás lemondani előfizetés telefonszám
cím módosítás bejelentkezés visszaállítás ügyfélszolgálat sürgős mielőbb információ
melléklet fénykép nyomkövetés futár raktár elérhető ár kedvezmény kupon kétszer
terhelték átutalás nyugta áfa cég méret szín kicsi nagy útmutató beállítás segítség
segítséget szeretném tudnák lehetne kellene mikor miért hol melyik holnap jövő héten
utolsó kiszállítás visszaigazolás megrendelés összeg forint postán átvétel
ügyintéző válasz választ gyorsan""".split()

# Rare words: each shows up in a few hundred of a million messages.
RARE = """zephyrlight quokkamat brummelbär fényképezőgép-állvány gletscherblau
nordlicht-lampe tündérkert velvetino kaleidoskop hajnalcsillag marzipanherz
szélkakas""".split()

FIRST_EN = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Emma",
    "Olivia",
    "Noah",
    "Liam",
    "Sophia",
    "Ava",
    "Mia",
]
FIRST_DE = [
    "Jürgen",
    "Björn",
    "Käthe",
    "Günther",
    "Lena",
    "Lukas",
    "Jörg",
    "Sönke",
    "Anneliese",
    "Maximilian",
    "Hannah",
    "Felix",
    "Jürgen",
    "Dörte",
    "Uwe",
    "Sabine",
]
FIRST_HU = [
    "Éva",
    "Ágnes",
    "Zoltán",
    "Gábor",
    "Erzsébet",
    "Ildikó",
    "Péter",
    "Lőrinc",
    "Zsófia",
    "Dániel",
    "Katalin",
    "Ödön",
    "Gyöngyi",
    "Bálint",
    "Réka",
    "Ferenc",
]
LAST_EN = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clarke"]
LAST_DE = ["Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Schäfer", "Köhler", "Groß", "Böhm", "Krüger"]
LAST_HU = ["Nagy", "Kovács", "Tóth", "Szabó", "Horváth", "Varga", "Kiss", "Molnár", "Németh", "Farkas"]

SUBJECTS = {
    "en": [
        "Where is my order",
        "Refund request",
        "Wrong item received",
        "Invoice question",
        "Cannot log in",
        "Package damaged",
        "Change delivery address",
        "Cancel my subscription",
        "Charged twice",
        "Product question",
        "Return label",
        "Voucher code not working",
    ],
    "de": [
        "Wo bleibt meine Bestellung",
        "Rückerstattung",
        "Falscher Artikel geliefert",
        "Frage zur Rechnung",
        "Anmeldung nicht möglich",
        "Paket beschädigt",
        "Lieferadresse ändern",
        "Abo kündigen",
        "Doppelt abgebucht",
        "Frage zum Artikel",
        "Rücksendeschein",
        "Gutschein funktioniert nicht",
    ],
    "hu": [
        "Hol van a rendelésem",
        "Visszatérítési kérelem",
        "Rossz terméket kaptam",
        "Kérdés a számláról",
        "Nem tudok bejelentkezni",
        "Sérült csomag",
        "Szállítási cím módosítása",
        "Előfizetés lemondása",
        "Kétszer terheltek",
        "Kérdés a termékről",
        "Visszaküldési címke",
        "Nem működik a kuponkód",
    ],
}

_VOCAB = {"en": EN, "de": DE, "hu": HU}


def _weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank + 1) ** s for rank in range(n)]


_CUM = {lang: list(itertools.accumulate(_weights(len(words)))) for lang, words in _VOCAB.items()}
LANGS = ("en", "de", "hu")
LANG_WEIGHTS = (0.5, 0.3, 0.2)


class TextGen:
    """Random but reproducible (seeded) support mails."""

    def __init__(self, seed: int = 42, rare_rate: float = 0.0005) -> None:
        self.rng = random.Random(seed)
        self.rare_rate = rare_rate

    def language(self) -> str:
        return self.rng.choices(LANGS, LANG_WEIGHTS)[0]

    def name(self, lang: str) -> str:
        first, last = {"en": (FIRST_EN, LAST_EN), "de": (FIRST_DE, LAST_DE), "hu": (FIRST_HU, LAST_HU)}[lang]
        a, b = self.rng.choice(first), self.rng.choice(last)
        return f"{b} {a}" if lang == "hu" else f"{a} {b}"

    def subject(self, lang: str) -> str:
        base = self.rng.choice(SUBJECTS[lang])
        if self.rng.random() < 0.3:
            base += f" {self.order_number()}"
        return base

    def order_number(self) -> str:
        return f"ORD-{self.rng.randrange(100000, 999999)}"

    def body(self, lang: str, chars: int) -> str:
        """About ``chars`` characters of sentences in ``lang`` (with a sprinkle of English)."""
        rng = self.rng
        words, cum = _VOCAB[lang], _CUM[lang]
        out: list[str] = []
        size = 0
        while size < chars:
            n = rng.randint(5, 16)
            if lang != "en" and rng.random() < 0.1:
                sentence = rng.choices(EN, cum_weights=_CUM["en"], k=n)
            else:
                sentence = rng.choices(words, cum_weights=cum, k=n)
            if rng.random() < 0.08:
                sentence.insert(rng.randrange(len(sentence)), self.order_number())
            if rng.random() < self.rare_rate:
                sentence.insert(rng.randrange(len(sentence)), rng.choice(RARE))
            text = " ".join(sentence)
            text = text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", "!"))
            out.append(text)
            size += len(text) + 1
            if rng.random() < 0.15:
                out.append("\n\n")
        return " ".join(out).replace(" \n\n ", "\n\n").strip()
