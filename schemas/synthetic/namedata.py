"""Name pools and variant tables used only to *generate* synthetic records.

These tables are deliberately independent of ``analyzers`` (the matcher's own variant groups):
a generator that shared the matcher's tables would only ever test the matcher against itself.

Each entry is a tuple of spellings of one name; the first is the form held in the "truth", the
others are transliterations, anglicisations or spelling variants another agency may record.
Polish and Romanian canonical forms carry diacritics; agencies whose systems drop them are
simulated by :func:`drop_diacritics`.
"""

from __future__ import annotations

import unicodedata

Spellings = tuple[str, ...]

# --- British / Irish: spelling variants seen across agencies (Kayleigh/Kayley ...) -----------
BRITISH_FEMALE_VARIANTS: tuple[Spellings, ...] = (
    ("Kayleigh", "Kayley", "Kaylee", "Kayly"),
    ("Hayley", "Haley", "Hailey"),
    ("Ashleigh", "Ashley"),
    ("Leah", "Lea"),
    ("Isobel", "Isabel", "Isabelle"),
    ("Sophie", "Sophy"),
    ("Rebecca", "Rebekah"),
    ("Catherine", "Katherine", "Kathryn", "Katharine"),
    ("Aimee", "Amie", "Aimée"),
    ("Lacey", "Lacie", "Lacy"),
    ("Courtney", "Kourtney"),
    ("Chloe", "Chloë"),
    ("Zoe", "Zoë"),
    ("Mollie", "Molly"),
    ("Maisie", "Maisy", "Maizie"),
    ("Ellie-Mae", "Ellie-May", "Elliemae", "Ellie Mae"),
    ("Leanne", "Leigh-Ann", "Leeann"),
    ("Jade", "Jayde"),
    ("Cerys", "Carys", "Ceris"),
    ("Niamh", "Neve", "Neave"),
    ("Keira", "Kiera", "Kira"),
    ("Layla", "Leila", "Laila", "Lailah"),
    ("Tia", "Tiah"),
    ("Evie", "Evey"),
)
BRITISH_MALE_VARIANTS: tuple[Spellings, ...] = (
    ("Jayden", "Jaden", "Jaiden", "Jaydon"),
    ("Callum", "Calum"),
    ("Connor", "Conor"),
    ("Rhys", "Reece", "Reese"),
    ("Sean", "Shaun", "Shawn"),
    ("Stephen", "Steven"),
    ("Philip", "Phillip"),
    ("Jaxon", "Jackson", "Jaxson"),
    ("Mackenzie", "McKenzie"),
    ("Leighton", "Layton"),
    ("Carl", "Karl"),
    ("Matthew", "Mathew"),
    ("Aiden", "Aidan", "Ayden"),
    ("Riley", "Ryley", "Rylee"),
    ("Tyler", "Tylor"),
    ("Dylan", "Dillon"),
    ("Alfie", "Alfy"),
    ("Robert",),
    ("William",),
    ("Thomas",),
    ("Joseph",),
    ("Daniel",),
)
BRITISH_SURNAME_VARIANTS: tuple[Spellings, ...] = (
    ("Thompson", "Thomson"),
    ("McDonald", "MacDonald", "Macdonald"),
    ("Reid", "Reed", "Read"),
    ("Phillips", "Philips"),
    ("Stephenson", "Stevenson"),
    ("Clarke", "Clark"),
    ("Browne", "Brown"),
    ("Gray", "Grey"),
    ("Matthews", "Mathews"),
    ("O'Neill", "ONeill", "O Neill", "Oneill"),
    ("O'Brien", "OBrien", "O Brien"),
    ("McCarthy", "MacCarthy", "Mccarthy"),
    ("Davies", "Davis"),
    ("Macintosh", "McIntosh", "Mackintosh"),
)

# --- origins with transliteration variants -------------------------------------------------
SOUTH_ASIAN_MALE: tuple[Spellings, ...] = (
    ("Muhammad", "Mohammed", "Mohammad", "Mohamed", "Muhammed"),
    ("Ahmed", "Ahmad"),
    ("Yusuf", "Yousef", "Yusef", "Yousuf"),
    ("Ibrahim", "Ebrahim"),
    ("Hamza", "Hamzah"),
    ("Ali",),
    ("Umar", "Omar"),
    ("Zain", "Zayn", "Zane"),
    ("Ayaan", "Ayan"),
    ("Abdullah", "Abdallah"),
    ("Hassan", "Hasan"),
    ("Bilal",),
    ("Imran",),
    ("Rayhan", "Rehan", "Raihan"),
    ("Faisal", "Faysal"),
    ("Usman", "Osman", "Uthman"),
)
SOUTH_ASIAN_FEMALE: tuple[Spellings, ...] = (
    ("Aisha", "Ayesha", "Aysha", "Aishah"),
    ("Fatima", "Fatimah", "Fatma"),
    ("Zainab", "Zaynab", "Zeinab"),
    ("Maryam", "Mariam", "Mariyam"),
    ("Amina", "Aminah", "Ameena"),
    ("Hafsa", "Hafsah"),
    ("Inaya", "Inayah"),
    ("Khadija", "Khadijah", "Khadeeja"),
    ("Noor", "Nur"),
    ("Sana", "Sanaa"),
    ("Zahra", "Zara", "Zarah"),
    ("Aaliyah", "Aliyah", "Alia"),
    ("Yasmin", "Yasmeen"),
)
SOUTH_ASIAN_SURNAMES: tuple[Spellings, ...] = (
    ("Khan",),
    ("Ahmed", "Ahmad"),
    ("Hussain", "Hussein", "Husain", "Hossain"),
    ("Ali",),
    ("Rahman", "Rehman"),
    ("Iqbal",),
    ("Akhtar", "Akhter"),
    ("Shah",),
    ("Mahmood", "Mahmud", "Mehmood"),
    ("Chowdhury", "Choudhury", "Chaudhry", "Chaudhary"),
    ("Islam",),
    ("Miah", "Mia"),
    ("Uddin", "Udin"),
    ("Malik",),
    ("Qureshi", "Kureshi"),
    ("Siddiqui", "Siddiqi"),
)

POLISH_MALE: tuple[Spellings, ...] = (
    ("Łukasz", "Lukas"),
    ("Paweł", "Pawel", "Paul"),
    ("Michał", "Michal", "Michael"),
    ("Wojciech",),
    ("Jakub", "Jacob"),
    ("Kacper", "Casper"),
    ("Mikołaj", "Nicholas"),
    ("Aleksander", "Alexander"),
    ("Krzysztof", "Christopher"),
    ("Grzegorz", "Gregory"),
    ("Tomasz", "Thomas"),
    ("Bartłomiej", "Bartek"),
    ("Szymon", "Simon"),
    ("Filip", "Philip"),
)
POLISH_FEMALE: tuple[Spellings, ...] = (
    ("Małgorzata", "Malgosia"),
    ("Zofia", "Sofia", "Zophia"),
    ("Agnieszka",),
    ("Katarzyna", "Katarina"),
    ("Zuzanna", "Susanna", "Zuzana"),
    ("Łucja", "Lucia"),
    ("Wiktoria", "Victoria"),
    ("Joanna",),
    ("Magdalena",),
    ("Agata", "Agatha"),
    ("Natalia",),
    ("Oliwia", "Olivia"),
)
# (masculine form, feminine form)
POLISH_SURNAMES: tuple[tuple[str, str], ...] = (
    ("Wiśniewski", "Wiśniewska"),
    ("Wójcik", "Wójcik"),
    ("Kowalczyk", "Kowalczyk"),
    ("Lewandowski", "Lewandowska"),
    ("Dąbrowski", "Dąbrowska"),
    ("Zieliński", "Zielińska"),
    ("Kamiński", "Kamińska"),
    ("Szymański", "Szymańska"),
    ("Woźniak", "Woźniak"),
    ("Kozłowski", "Kozłowska"),
    ("Nowak", "Nowak"),
    ("Kowalski", "Kowalska"),
    ("Mazur", "Mazur"),
    ("Jabłoński", "Jabłońska"),
    ("Król", "Król"),
    ("Pawłowski", "Pawłowska"),
)

ROMANIAN_MALE: tuple[Spellings, ...] = (
    ("Ștefan", "Stefan", "Stephen"),
    ("Mihai", "Mihail"),
    ("Alexandru", "Alexander"),
    ("Andrei", "Andrew"),
    ("Răzvan",),
    ("Bogdan",),
    ("Ionuț",),
    ("Florin",),
    ("Gheorghe", "George"),
    ("Ioan", "Ion"),
    ("Cătălin",),
    ("Constantin",),
)
ROMANIAN_FEMALE: tuple[Spellings, ...] = (
    ("Andreea", "Andrea"),
    ("Ioana",),
    ("Cătălina",),
    ("Mădălina",),
    ("Elena",),
    ("Alexandra",),
    ("Bianca",),
    ("Irina",),
    ("Georgiana",),
    ("Ștefania", "Stefania"),
    ("Daria",),
)
ROMANIAN_SURNAMES: tuple[Spellings, ...] = (
    ("Popescu",),
    ("Ionescu",),
    ("Rădulescu",),
    ("Dumitru",),
    ("Stănescu",),
    ("Munteanu",),
    ("Țurcanu",),
    ("Constantinescu",),
    ("Lăzărescu",),
    ("Popa",),
    ("Stoica",),
    ("Sârbu",),
    ("Mureșan",),
    ("Niță",),
)

UKRAINIAN_MALE: tuple[Spellings, ...] = (
    ("Oleksandr", "Aleksandr", "Alexander", "Olexander"),
    ("Dmytro", "Dmitri", "Dmitry"),
    ("Yuriy", "Yuri", "Iurii"),
    ("Andriy", "Andrii", "Andrey"),
    ("Serhiy", "Sergey", "Serhii", "Sergei"),
    ("Mykola", "Nikolai"),
    ("Maksym", "Maxim", "Maksim"),
    ("Artem", "Artyom"),
)
UKRAINIAN_FEMALE: tuple[Spellings, ...] = (
    ("Olena", "Elena", "Yelena"),
    ("Yuliia", "Yulia", "Iuliia", "Yuliya"),
    ("Kateryna", "Ekaterina", "Katerina"),
    ("Nataliia", "Natalia", "Natalya"),
    ("Anastasiia", "Anastasia", "Anastasiya"),
    ("Tetiana", "Tatiana", "Tatyana"),
    ("Sofiia", "Sofia", "Sofiya"),
    ("Viktoriia", "Viktoria", "Victoria"),
)
UKRAINIAN_SURNAMES: tuple[Spellings, ...] = (
    ("Shevchenko",),
    ("Kovalenko",),
    ("Bondarenko",),
    ("Tkachenko",),
    ("Kravchenko",),
    ("Melnyk", "Melnik"),
    ("Boiko", "Boyko"),
    ("Kovalchuk", "Kovalczuk"),
    ("Lysenko", "Lisenko"),
)

WEST_AFRICAN_MALE: tuple[Spellings, ...] = (
    ("Chukwuemeka",), ("Oluwaseun",), ("Oluwatobi",), ("Adebayo",), ("Kwame",),
    ("Kofi",), ("Chinedu",), ("Olumide",), ("Babajide",), ("Oluwafemi",),
)
WEST_AFRICAN_FEMALE: tuple[Spellings, ...] = (
    ("Chiamaka",), ("Oluwadamilola",), ("Adaeze",), ("Abena",), ("Folasade",),
    ("Temitope",), ("Ngozi",), ("Funmilayo",), ("Ifeoma",), ("Ama",),
)
WEST_AFRICAN_SURNAMES: tuple[Spellings, ...] = (
    ("Okonkwo",), ("Adeyemi",), ("Mensah",), ("Okafor",), ("Boateng",), ("Asante",),
    ("Owusu",), ("Nwosu",), ("Olawale",), ("Eze",), ("Ogunleye",), ("Afolabi",),
)
# Short forms used by family and police for long West African given names.
WEST_AFRICAN_SHORT: dict[str, str] = {
    "Chukwuemeka": "Emeka", "Oluwaseun": "Seun", "Oluwatobi": "Tobi", "Babajide": "Jide",
    "Oluwafemi": "Femi", "Chiamaka": "Amaka", "Oluwadamilola": "Dami", "Adaeze": "Ada",
    "Folasade": "Sade", "Temitope": "Tope", "Funmilayo": "Funmi", "Ifeoma": "Ife",
}

SOMALI_MALE: tuple[Spellings, ...] = (
    ("Abdirahman", "Abdurahman", "Abdulrahman"),
    ("Abdullahi", "Abdulahi"),
    ("Mohamed", "Mohammed", "Maxamed"),
    ("Ahmed", "Axmed"),
    ("Hassan", "Xasan"),
    ("Yusuf", "Yuusuf"),
    ("Mustafe", "Mustafa"),
)
SOMALI_FEMALE: tuple[Spellings, ...] = (
    ("Hodan",),
    ("Faduma", "Fadumo", "Fatuma"),
    ("Amina", "Aamina"),
    ("Hibo", "Hiba"),
    ("Ayan", "Ayaan"),
    ("Sagal",),
    ("Sahra", "Sahro"),
    ("Nasra",),
)
SOMALI_SURNAMES: tuple[Spellings, ...] = (
    ("Farah", "Faarax"),
    ("Warsame", "Warsama"),
    ("Hassan", "Xasan"),
    ("Ali", "Cali"),
    ("Mohamed", "Maxamed"),
    ("Abdi", "Cabdi"),
    ("Omar", "Cumar"),
    ("Jama", "Jaamac"),
    ("Osman", "Cismaan"),
)

# origin -> (weight, DfE ethnicity codes with weights)
ORIGINS: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {
    "british": (0.74, (("WBRI", 0.86), ("WIRI", 0.03), ("MWBC", 0.04), ("MOTH", 0.02),
                       ("BCRB", 0.02), ("NOBT", 0.03))),
    "south_asian": (0.08, (("APKN", 0.55), ("ABAN", 0.3), ("AIND", 0.1), ("AOTH", 0.05))),
    "polish": (0.05, (("WOTH", 0.95), ("NOBT", 0.05))),
    "romanian": (0.04, (("WOTH", 0.95), ("NOBT", 0.05))),
    "ukrainian": (0.02, (("WOTH", 1.0),)),
    "west_african": (0.04, (("BAFR", 0.9), ("MWBA", 0.1))),
    "somali": (0.03, (("BAFR", 0.9), ("BOTH", 0.1))),
}

# DfE main ethnicity code -> police "18+1" self-defined ethnicity code.
POLICE_ETHNICITY: dict[str, str] = {
    "WBRI": "W1", "WIRI": "W2", "WOTH": "W9", "MWBC": "M1", "MWBA": "M2", "MOTH": "M9",
    "AIND": "A1", "APKN": "A2", "ABAN": "A3", "AOTH": "A9", "BCRB": "B2", "BAFR": "B1",
    "BOTH": "B9", "NOBT": "NS",
}

STREET_SUFFIXES = (
    "Road", "Street", "Close", "Avenue", "Lane", "Drive", "Way", "Crescent", "Gardens",
    "Grove", "Court", "Place", "Terrace", "Walk", "Mews", "Rise", "View",
)
FLAT_PREFIXES = ("Flat", "Flat", "Flat", "Apartment", "Unit")
BUILDING_NAMES = (
    "Court", "House", "Lodge", "Tower", "Heights", "Point", "Mansions",
)

_SPECIAL = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D"})


def drop_diacritics(name: str) -> str:
    """What a system without Unicode support keeps of a name: ``Wiśniewska`` -> ``Wisniewska``."""
    if name.isascii():
        return name
    decomposed = unicodedata.normalize("NFKD", name.translate(_SPECIAL))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def has_diacritics(name: str) -> bool:
    return not name.isascii() and drop_diacritics(name) != name
