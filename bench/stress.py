"""A second synthetic consortium, written apart from `braid demo`, to check
that linkage quality is not tuned to one generator.

`braid demo` (pipeline/src/demo) is what the linkage model was developed
on. This generator was written separately, with its own name lists, its
own household structure and its own rates for each kind of variation, so
that a score on it says how braid does on data it was not tuned on. It
writes five partners' CSV files, a consortium configuration and a truth
file (`partner,record_id,entity`) for `braid link evaluate`:

    python3 bench/stress.py OUT_DIR [--people N] [--seed S]

What varies between a person's records (rates per record unless said):

* spelling: transliteration variants of Arabic, Somali, Afghan, Ukrainian
  and Chinese names (15%); typos (6% per name field: a letter dropped,
  doubled, swapped with its neighbour or replaced by a keyboard neighbour);
* order: given and family name swapped (12% for Vietnamese and Chinese
  names, 2% otherwise); a middle name kept in the given-name field or not;
* surnames: one or both of a Hispanic person's two surnames, or both
  hyphenated; the father's given name as the surname (Arabic, Somali,
  Afghan; 15%); a married woman's maiden name (30% of her records); FNU
  and a mononym for a third of Afghan people; an adopted English given
  name for some Vietnamese and Chinese people; nicknames;
* birth dates: 1 January for refugees whose real date is unknown (in 60%
  of their records), a mistyped digit (3%), day and month swapped (3%),
  the year one off (1%);
* contact: a new phone (25%), a household phone shared by the family, an
  old address (20%), street abbreviations, missing fields;
* people who are not the same: households sharing an address, phone,
  surname and sometimes e-mail; twins (same birth date and surname);
  common names drawn again and again (namesakes).
"""

import argparse
import datetime
import csv
import pathlib
import random
import string

# Name lists: each entry is one name, its spellings separated by "|"; the
# first spelling is the most common.
HISPANIC_M = ["Jose", "Juan", "Luis", "Carlos", "Jorge", "Miguel", "Pedro", "Francisco", "Javier", "Manuel", "Ricardo",
              "Alejandro", "Fernando", "Roberto", "Eduardo", "Raul", "Sergio", "Oscar", "Hector", "Mario", "Rafael",
              "Victor", "Arturo", "Ramon", "Enrique", "Ernesto", "Armando", "Alfredo", "Guillermo", "Joaquin"]
HISPANIC_F = ["Maria", "Guadalupe", "Ana", "Rosa", "Carmen", "Juana", "Veronica", "Patricia", "Elena", "Leticia",
              "Alejandra", "Gabriela", "Claudia", "Adriana", "Silvia", "Teresa", "Yolanda", "Martha", "Lucia", "Sofia",
              "Isabel", "Beatriz", "Marisol", "Esperanza", "Graciela", "Norma", "Dolores", "Josefina", "Araceli", "Lorena"]
HISPANIC_FAM = ["Garcia", "Hernandez", "Martinez", "Lopez", "Gonzalez", "Rodriguez", "Perez", "Sanchez", "Ramirez",
                "Flores", "Cruz", "Morales", "Reyes", "Gutierrez", "Ortiz", "Chavez", "Ruiz", "Jimenez", "Mendoza",
                "Alvarez", "Castillo", "Vasquez|Vazquez", "Romero", "Herrera", "Medina", "Aguilar", "Vargas", "Guzman",
                "Salazar", "Rojas", "Estrada", "Contreras", "Dominguez", "Cervantes", "Velazquez", "Orozco"]
ARABIC_M = ["Mohammed|Muhammad|Mohamed|Mohamad|Muhammed", "Ahmed|Ahmad", "Ali", "Omar|Umar", "Hassan|Hasan",
            "Hussein|Hussain|Husain|Husayn", "Khalid|Khaled", "Yusuf|Yousef|Youssef|Yousif", "Ibrahim|Ebrahim",
            "Abdullah|Abdallah", "Mustafa|Mostafa", "Mahmoud|Mahmood|Mahmud", "Karim|Kareem", "Samir|Sameer",
            "Tariq|Tarek|Tareq", "Walid|Waleed", "Jamal|Gamal", "Faisal|Faysal", "Nabil|Nabeel", "Rami|Ramy",
            "Bashir|Basheer", "Said|Saeed|Sayed", "Abdulrahman|Abdul Rahman|Abdelrahman", "Anas", "Ziad|Ziyad"]
ARABIC_F = ["Fatima|Fatimah|Fatma", "Aisha|Aysha|Aicha", "Mariam|Maryam|Meryem", "Zainab|Zaynab|Zeinab", "Nour|Noor|Nur",
            "Layla|Leila|Laila", "Huda|Hoda", "Amina|Aminah|Ameena", "Rania|Ranya", "Samira|Sameera", "Yasmin|Yasmeen|Jasmin",
            "Hanan", "Salma|Selma", "Rasha", "Dina|Deena", "Lina|Leena", "Asma|Asmaa", "Heba|Hiba", "Reem|Rim", "Safa|Safaa"]
ARABIC_FAM = ["Al-Ahmad|Alahmad|Ahmad", "Haddad", "Khoury|Khouri|Al-Khoury", "Hamdan", "Nasser|Nasir|Naser",
              "Saleh|Salih", "Abdullah|Abdallah", "Al-Hassan|Alhassan|Hassan", "Mansour|Mansur", "Yousef|Yusuf|Youssef",
              "Aziz", "Darwish|Darweesh", "Ibrahim", "Khalil|Khaleel", "Qasim|Kassem|Kasim", "Jaber|Jabir",
              "Al-Rashid|Alrashid|Rashid", "Sabbagh", "Hijazi|Hejazi", "Othman|Osman|Uthman", "Al-Masri|Almasri|Masri"]
SOMALI_M = ["Abdi", "Mohamed|Mohammed|Maxamed", "Ahmed|Axmed", "Hassan|Xasan", "Omar|Cumar", "Abdirahman|Abdurahman",
            "Abdullahi|Cabdullahi", "Ismail|Ismaaciil", "Yusuf|Yuusuf", "Farah|Faarax", "Ali|Cali", "Osman|Cusmaan",
            "Mahad", "Abdiaziz", "Said|Siciid", "Warsame", "Guled", "Bashir"]
SOMALI_F = ["Fadumo|Faduma|Fatuma", "Hodan", "Amina|Aamina", "Sahra|Sahro", "Ayan|Ayaan", "Halima|Xaliimo", "Hawa|Xawa",
            "Asha|Aasha", "Ifrah", "Nasra", "Deeqa|Deka", "Muna", "Sagal", "Ubah|Ubax", "Filsan"]
AFGHAN_M = ["Ahmad|Ahmed", "Mohammad|Mohammed|Muhammad", "Abdul", "Ghulam|Gholam", "Najibullah|Najib", "Habibullah|Habib",
            "Zabihullah|Zabiullah", "Mirwais", "Farid|Fareed", "Jawed|Javed|Javid", "Rahim|Raheem", "Wahid|Waheed",
            "Hamid|Hameed", "Noorullah|Nurullah", "Sayed|Sayyid|Said", "Bilal", "Khalil|Khaleel", "Shafiq|Shafeeq"]
AFGHAN_F = ["Fatima|Fatema", "Zahra|Zahara", "Maryam|Mariam", "Marzia|Marziya", "Nilofar|Nilufar", "Shabnam", "Freshta|Fereshta",
            "Parwana|Parvana", "Sima|Seema", "Roya", "Zarghona|Zarghuna", "Laila|Leila", "Mursal", "Sadia|Sadiya"]
AFGHAN_FAM = ["Ahmadzai", "Popal", "Stanikzai", "Mohammadi|Muhammadi", "Rahimi|Raheemi", "Hakimi", "Sultani", "Karimi",
              "Noori|Nuri", "Azizi", "Haidari|Haideri|Heydari", "Sadat|Saadat", "Yusufzai|Yousafzai", "Wardak",
              "Hashimi|Hashemi", "Rezaie|Rezai|Rezaei", "Amiri", "Jalali"]
VIET_FAM = ["Nguyen", "Tran", "Le", "Pham", "Hoang|Huynh", "Phan", "Vu|Vo", "Dang", "Bui", "Do", "Ho", "Ngo", "Duong", "Ly"]
VIET_MID_M = ["Van", "Duc", "Minh", "Quoc", "Huu", "Thanh"]
VIET_MID_F = ["Thi", "Ngoc", "Thu", "Kim", "Thanh"]
VIET_GIVEN_M = ["Minh", "Tuan", "Hung", "Dung", "Nam", "Long", "Phuc", "Khoa", "Bao", "Huy", "Thanh", "Quang", "Hai",
                "Son", "Trung", "Vinh", "Duc", "Hieu", "Tam", "Thang"]
VIET_GIVEN_F = ["Lan", "Huong", "Mai", "Linh", "Trang", "Hoa", "Ngoc", "Thao", "Anh", "Hanh", "Phuong", "Thuy", "Nga",
                "Loan", "Hien", "Yen", "Tuyet", "Van", "Hang", "Dao"]
CHINESE_FAM = ["Wang", "Li|Lee", "Zhang|Chang", "Liu|Lau", "Chen|Chan", "Yang|Yeung", "Huang|Wong", "Zhao|Chiu", "Wu|Ng",
               "Zhou|Chow", "Xu|Hsu", "Sun", "Ma", "Zhu|Chu", "Hu|Woo", "Guo|Kwok", "Lin|Lam", "He|Ho", "Gao|Ko", "Luo|Law"]
CHINESE_SYL = ["Wei", "Jun", "Hui", "Ming", "Li", "Xiao", "Yan", "Hong", "Jian", "Ling", "Mei", "Hua", "Jie", "Xin", "Yu",
               "Fang", "Lei", "Qiang", "Ying", "Jing", "Tao", "Bo", "Chen", "Yi", "Na", "Zhi", "Feng", "Lin", "Hao", "Xue"]
ENGLISH_ADOPTED_M = ["Kevin", "David", "Peter", "Tony", "Jimmy", "Michael", "Eric", "Steven", "Andy", "Vincent"]
ENGLISH_ADOPTED_F = ["Lisa", "Jenny", "Amy", "Tina", "Helen", "Linda", "Cindy", "Vivian", "Grace", "Annie"]
HAITIAN_M = ["Jean", "Pierre", "Jean-Baptiste|Jean Baptiste", "Jacques", "Wilner", "Frantz|Franz", "Jean-Claude|Jean Claude",
             "Emmanuel", "Ricardo", "Fritz", "Guerline", "Reginald", "Stanley", "Wilson", "Evens"]
HAITIAN_F = ["Marie", "Rose", "Guerline", "Nadege|Nadège", "Roseline", "Mirlande", "Fabiola", "Wideline", "Jesula|Jesulah",
             "Marie-Carmel|Marie Carmel", "Lourdes", "Yvette", "Micheline", "Sherline"]
HAITIAN_FAM = ["Jean-Louis|Jean Louis|Jeanlouis", "Pierre", "Joseph", "Charles", "Louis", "Baptiste", "Desir|Désir", "Francois|François",
               "Augustin", "Dorvil", "Etienne|Étienne", "Celestin|Célestin", "Jeune", "Noel|Noël", "Saint-Fleur|St Fleur|Saintfleur"]
UKR_M = ["Oleksandr|Aleksandr|Alexander|Olexandr", "Serhii|Sergei|Serhiy|Sergiy", "Andrii|Andriy|Andrey", "Mykola|Nikolai|Mykhola",
         "Volodymyr|Vladimir", "Dmytro|Dmitry|Dmitri", "Yurii|Yuriy|Yuri", "Ihor|Igor", "Vasyl|Vasiliy|Vasili", "Petro|Petr"]
UKR_F = ["Olena|Elena|Olena", "Tetiana|Tetyana|Tatiana", "Nataliia|Natalia|Nataliya", "Iryna|Irina", "Svitlana|Svetlana",
         "Yuliia|Yulia|Iuliia", "Oksana", "Halyna|Galina|Halina", "Kateryna|Ekaterina|Katerina", "Liudmyla|Lyudmila|Ludmila"]
UKR_FAM = ["Kovalenko", "Shevchenko|Shevchenco", "Bondarenko", "Tkachenko|Tkachenco", "Kravchenko", "Melnyk|Melnik",
           "Boiko|Boyko", "Koval", "Oliinyk|Oleynik|Oliynyk", "Shevchuk", "Polishchuk|Polischuk", "Lysenko|Lisenko",
           "Moroz", "Marchenko", "Savchenko", "Rudenko", "Kuzmenko|Kuzmenco", "Pavlenko"]
CONGO_M = ["Jean-Pierre|Jean Pierre", "Patrick", "Emmanuel", "Joseph", "Espoir", "Dieudonne|Dieudonné", "Christian", "Bienvenu",
           "Fiston", "Bahati", "Faustin", "Mapendo"]
CONGO_F = ["Furaha", "Neema", "Esperance|Espérance", "Solange", "Aline", "Bora", "Riziki", "Francine", "Mapendo", "Zawadi"]
CONGO_FAM = ["Mukendi", "Kabila", "Ngalula", "Tshibangu|Chibangu", "Mbuyi|Mbuyu", "Ilunga", "Kasongo", "Mutombo", "Banza",
             "Kalala", "Nshimiyimana", "Habimana", "Niyonzima", "Bizimana", "Uwimana"]
ANGLO_M = ["James", "Robert", "John", "William", "Michael", "David", "Richard", "Thomas", "Daniel", "Matthew", "Christopher"]
ANGLO_F = ["Mary", "Elizabeth", "Jennifer", "Linda", "Patricia", "Susan", "Jessica", "Sarah", "Karen", "Nancy", "Margaret"]
ANGLO_FAM = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas",
             "Moore", "Jackson", "White", "Harris", "Clark", "Lewis", "Young", "Walker", "Allen"]
NICKNAMES = {"Robert": ["Bob", "Rob", "Bobby"], "William": ["Bill", "Will", "Billy"], "Elizabeth": ["Liz", "Beth", "Betty"],
             "Michael": ["Mike"], "Richard": ["Rick", "Dick"], "Thomas": ["Tom", "Tommy"], "Daniel": ["Dan", "Danny"],
             "Matthew": ["Matt"], "Christopher": ["Chris"], "James": ["Jim", "Jimmy"], "Margaret": ["Maggie", "Peggy"],
             "Jennifer": ["Jen", "Jenny"], "Patricia": ["Pat", "Patty"], "Susan": ["Sue"], "Jessica": ["Jess"],
             "Jose": ["Pepe"], "Francisco": ["Paco", "Pancho"], "Guadalupe": ["Lupe"], "Alejandro": ["Alex"],
             "Alejandra": ["Alex"], "Manuel": ["Manny"], "Roberto": ["Beto"], "Eduardo": ["Lalo"], "Dolores": ["Lola"],
             "Josefina": ["Josie"], "Ricardo": ["Ricky"], "Guillermo": ["Memo"], "Enrique": ["Kike"]}

# origin: (weight, male given, female given, family, refugee share)
ORIGINS = {
    "hispanic": (0.28, HISPANIC_M, HISPANIC_F, HISPANIC_FAM, 0.05),
    "arabic": (0.14, ARABIC_M, ARABIC_F, ARABIC_FAM, 0.6),
    "somali": (0.06, SOMALI_M, SOMALI_F, None, 0.7),
    "afghan": (0.09, AFGHAN_M, AFGHAN_F, AFGHAN_FAM, 0.8),
    "vietnamese": (0.10, VIET_GIVEN_M, VIET_GIVEN_F, VIET_FAM, 0.1),
    "chinese": (0.07, None, None, CHINESE_FAM, 0.02),
    "haitian": (0.06, HAITIAN_M, HAITIAN_F, HAITIAN_FAM, 0.3),
    "ukrainian": (0.07, UKR_M, UKR_F, UKR_FAM, 0.7),
    "congolese": (0.06, CONGO_M, CONGO_F, CONGO_FAM, 0.9),
    "anglo": (0.07, ANGLO_M, ANGLO_F, ANGLO_FAM, 0.0),
}
STREETS = ["Maple", "Oak", "International", "Foothill", "MacArthur", "Fruitvale", "Seminary", "Bancroft", "Telegraph",
           "Shattuck", "San Pablo", "Broadway", "Market", "Mission", "El Camino Real", "Monterey", "King", "Story",
           "Tully", "Capitol", "Alum Rock", "Santa Clara", "Hillsdale", "Lakeshore", "Park", "Cedar", "Willow", "Pine",
           "Sunset", "Hayward", "Mowry", "Fremont", "Decoto", "Tennyson", "Harder", "Jackson", "Winton", "Mack"]
STREET_TYPES = [("Street", "St"), ("Avenue", "Ave"), ("Boulevard", "Blvd"), ("Road", "Rd"), ("Drive", "Dr"),
                ("Way", "Way"), ("Court", "Ct")]
PLACES = [("Oakland", "946"), ("Hayward", "945"), ("San Jose", "951"), ("Fremont", "945"), ("Richmond", "948"),
          ("San Leandro", "945"), ("Union City", "945"), ("Concord", "945"), ("Daly City", "940"), ("Santa Clara", "950")]
PARTNERS = ["adult_ed", "college", "workforce", "resettlement", "wages"]
KEYBOARD = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm", ["wa", "qe", "wr", "et", "ry", "tu", "yi", "uo", "ip", "o",
                                                                  "qs", "ad", "sf", "dg", "fh", "gj", "hk", "jl", "k",
                                                                  "x", "zc", "xv", "cb", "vn", "bm", "n"])}


def zipf(r, items, s=0.9):
    w = [1 / (k + 1) ** s for k in range(len(items))]
    return r.choices(items, weights=w)[0]


def spellings(name):
    return name.split("|")


def typo(r, s):
    if len(s) < 3:
        return s
    i = r.randrange(1, len(s))
    kind = r.random()
    if kind < 0.3:
        return s[:i] + s[i + 1:]
    if kind < 0.5:
        return s[:i] + s[i] + s[i:]
    if kind < 0.7 and i < len(s) - 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    c = s[i].lower()
    if c in KEYBOARD:
        n = r.choice(KEYBOARD[c])
        return s[:i] + (n.upper() if s[i].isupper() else n) + s[i + 1:]
    return s


USED_EMAILS = set()


def unique_email(r, user, domain):
    """An address nobody else has: a number is added until it is free."""
    while f"{user}@{domain}" in USED_EMAILS:
        user = f"{user.rstrip(string.digits)}{r.randint(1, 999)}"
    USED_EMAILS.add(f"{user}@{domain}")
    return user


class Person:
    pass


def make_name(r, origin, female):
    """(given spellings, middle spellings, family spellings, father's name)."""
    _, males, females, fams, _ = ORIGINS[origin]
    middle = None
    father = spellings(zipf(r, (males or ANGLO_M)))
    if origin == "chinese":
        a = zipf(r, CHINESE_SYL)
        given = [a] if r.random() < 0.4 else [a + zipf(r, CHINESE_SYL).lower()]
        if len(given[0]) > len(a):
            given.append(given[0][:len(a)] + " " + given[0][len(a):].capitalize())
            given.append(given[0][:len(a)] + "-" + given[0][len(a):])
        fam = spellings(zipf(r, CHINESE_FAM))
    elif origin == "vietnamese":
        given = [zipf(r, VIET_GIVEN_F if female else VIET_GIVEN_M)]
        middle = [zipf(r, VIET_MID_F if female else VIET_MID_M)]
        fam = spellings(zipf(r, VIET_FAM, 0.5))
    elif origin == "somali":
        given = spellings(zipf(r, females if female else males))
        fam = father  # the father's given name serves as the surname
        middle = father
    else:
        given = spellings(zipf(r, females if female else males))
        if origin == "hispanic" and r.random() < 0.3:
            middle = spellings(zipf(r, females if female else males))
        fam = spellings(zipf(r, fams, 0.7))
        if origin == "hispanic":
            fam = [fam[0], zipf(r, HISPANIC_FAM, 0.7).split("|")[0]]  # paternal, maternal surname
    return given, middle, fam, father


def household(r, hid, origin):
    """People of one household: adults and children who share an address,
    a home phone and, in this family, the surname."""
    people = []
    size = r.choices([1, 2, 3, 4, 5, 6], weights=[30, 22, 18, 15, 10, 5])[0]
    city, zip3 = r.choice(PLACES)
    addr = (r.randint(100, 9999), r.choice(STREETS), r.choice(STREET_TYPES), city, zip3 + f"{r.randint(0, 99):02d}",
            r.choice([None, None, None, f"{r.randint(1, 40)}"]))
    phone = f"{r.choice(['510', '408', '650', '925', '415'])}{r.randint(2000000, 9999999)}"
    refugee = r.random() < ORIGINS[origin][4]
    head_female = r.random() < 0.4
    base_year = r.randint(1952, 2004)
    for k in range(size):
        p = Person()
        p.household, p.origin, p.refugee = hid, origin, refugee
        p.maiden, p.twin = None, False
        p.female = head_female if k == 0 else (not head_female if k == 1 else r.random() < 0.5)
        p.given, p.middle, p.fam, p.father = make_name(r, origin, p.female)
        if k == 0:
            year = base_year
        elif k == 1:
            year = base_year + r.randint(-6, 6)
        else:
            year = base_year + r.randint(18, 40)
        month, day = r.randint(1, 12), r.randint(1, 28 if r.random() < 0.1 else 31)
        while True:
            try:
                p.dob = datetime.date(year, month, day)
                break
            except ValueError:
                day -= 1
        people.append(p)
    # Family names: children take the head's (and, for Hispanic families,
    # the paternal surname of one and the maternal of the other); a spouse
    # may have kept a maiden name.
    head = people[0]
    for k, p in enumerate(people[1:], start=1):
        if origin == "somali":
            if k >= 2:
                p.fam = head.given if not head.female else p.fam
                p.middle = p.fam
        elif origin == "hispanic":
            if k >= 2:
                p.fam = [head.fam[0], people[1].fam[0]]
        elif origin in ("arabic", "afghan"):
            if k >= 2:
                p.fam = head.fam
                p.father = head.given
        else:
            if k >= 2 or r.random() < 0.6:
                p.maiden = p.fam if p.female and k == 1 else None
                p.fam = head.fam
    # Twins: two children born the same day.
    if len(people) >= 4 and r.random() < 0.15:
        people[3].dob = people[2].dob
        people[3].fam = people[2].fam
        people[2].twin = people[3].twin = True
    # Parents do not give two of their children one name.
    for k, p in enumerate(people):
        for _ in range(20):
            if all(p.given[0] != q.given[0] for q in people[:k]):
                break
            p.given = make_name(r, origin, p.female)[0]
    for p in people:
        p.address, p.home_phone = addr, phone
        p.phone = phone if r.random() < 0.4 else f"{r.choice(['510', '408', '650', '669', '341'])}{r.randint(2000000, 9999999)}"
        p.email_user = None
        if r.random() < 0.55:
            g, f = p.given[0].split(" ")[0].lower(), p.fam[0].split(" ")[0].lower()
            p.email_user = r.choice([f"{g}.{f}", f"{g}{f}", f"{g}{f}{r.randint(1, 99)}", f"{g[0]}{f}{r.randint(1, 999)}"])
            p.email_user = "".join(c for c in p.email_user if c.isalnum() or c == ".")
        p.email_domain = r.choice(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"])
        if p.email_user:
            p.email_user = unique_email(r, p.email_user, p.email_domain)
        p.dob_unknown = p.refugee and r.random() < 0.25
        p.mononym = origin == "afghan" and r.random() < 0.33
        p.adopted = None
        if origin in ("vietnamese", "chinese") and r.random() < 0.12:
            p.adopted = r.choice(ENGLISH_ADOPTED_F if p.female else ENGLISH_ADOPTED_M)
        p.spelling = {}
    if r.random() < 0.2 and len(people) >= 2:
        # a family e-mail used by every member
        fam = people[0]
        user = unique_email(r, "".join(c for c in f"{fam.fam[0].lower()}family" if c.isalnum()), "gmail.com")
        for p in people:
            p.email_user, p.email_domain = user, "gmail.com"
    return people


def observe(r, p, partner):
    """One partner record of a person."""
    def spell(opts, key):
        # a person's usual spelling, and sometimes another one
        if key not in p.spelling:
            p.spelling[key] = 0 if r.random() < 0.7 else r.randrange(len(opts))
        if len(opts) > 1 and r.random() < 0.15:
            return r.choice(opts)
        return opts[p.spelling[key]]

    given = spell(p.given, "given")
    if p.adopted and r.random() < 0.4:
        given = p.adopted
    elif given in NICKNAMES and r.random() < 0.15:
        given = r.choice(NICKNAMES[given])
    middle = spell(p.middle, "middle") if p.middle else ""
    fam_parts = p.fam if p.origin == "hispanic" else [spell(p.fam, "fam")]
    if p.origin == "hispanic":
        x = r.random()
        family = fam_parts[0] if x < 0.4 else (f"{fam_parts[0]}-{fam_parts[1]}" if x < 0.5 else
                                               (fam_parts[1] if x < 0.53 else f"{fam_parts[0]} {fam_parts[1]}"))
    else:
        family = fam_parts[0]
    if p.maiden and r.random() < 0.3:
        family = spell(p.maiden, "maiden")
    if p.origin in ("arabic", "somali", "afghan") and r.random() < 0.15:
        family = spell(p.father, "father")
    if p.origin == "somali" and middle and r.random() < 0.5:
        middle = ""
    if p.mononym:
        x = r.random()
        given, family = (("FNU", given) if x < 0.5 else ((given, "FNU") if x < 0.7 else (given, given)))
    if middle and r.random() < 0.25 and given != "FNU":
        given = f"{given} {middle}"
        middle = ""
    elif r.random() < 0.5:
        middle = ""
    if r.random() < 0.06:
        given = typo(r, given)
    if r.random() < 0.06:
        family = typo(r, family)
    swap = 0.12 if p.origin in ("vietnamese", "chinese") else 0.02
    if r.random() < swap:
        given, family = family, given
    case = r.random()
    if case < 0.3:
        given, family, middle = given.upper(), family.upper(), middle.upper()

    dob = p.dob
    placeholder = p.dob_unknown and (partner == "resettlement" or r.random() < 0.6)
    y, m, d = dob.year, dob.month, dob.day
    if placeholder:
        m, d = 1, 1
    else:
        x = r.random()
        if x < 0.03 and d <= 12:
            m, d = d, m
        elif x < 0.06:
            which = r.randrange(3)
            if which == 0:
                d = min(28, max(1, d + r.choice([-10, -1, 1, 10])))
            elif which == 1:
                m = min(12, max(1, m + r.choice([-1, 1])))
            else:
                y = y + r.choice([-10, 10])
        elif x < 0.07:
            y += r.choice([-1, 1])
    dob_s = "" if r.random() < 0.03 else f"{y:04d}-{m:02d}-{d:02d}"

    sex = "" if r.random() < 0.1 else ("F" if p.female else "M")
    if r.random() < 0.005:
        sex = "M" if p.female else "F"
    phone = p.phone if r.random() < 0.75 else f"{r.choice(['510', '408', '669'])}{r.randint(2000000, 9999999)}"
    if r.random() < 0.5 and r.random() < 0.5:
        phone = p.home_phone
    if r.random() < 0.15:
        phone = ""
    elif r.random() < 0.5:
        phone = f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"
    email = ""
    if p.email_user and r.random() < 0.8:
        email = f"{p.email_user}@{p.email_domain}"
        if r.random() < 0.2:
            email = email.upper()
    number, street, (stype, sabbr), city, zip5, apt = p.address
    if r.random() < 0.2:
        # an old address
        number, street = r.randint(100, 9999), r.choice(STREETS)
        city, zip3 = r.choice(PLACES)
        zip5, apt = zip3 + f"{r.randint(0, 99):02d}", None
    line = f"{number} {street} {sabbr if r.random() < 0.6 else stype}"
    if apt:
        line += r.choice([f" Apt {apt}", f" #{apt}", f" Apartment {apt}", f" Unit {apt}", ""])
    if r.random() < 0.03:
        line = typo(r, line)
    if r.random() < 0.08:
        line, city, zip5 = "", "", ""
    return {"given_name": given, "middle_name": middle, "family_name": family, "birth_date": dob_s, "sex": sex,
            "phone": phone, "email": email, "street": line, "city": city, "zip": zip5}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--people", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    r = random.Random(args.seed)
    names, weights = zip(*((k, v[0]) for k, v in ORIGINS.items()))
    people = []
    hid = 0
    while len(people) < args.people:
        hid += 1
        people.extend(household(r, hid, r.choices(names, weights=weights)[0]))
    people = people[: args.people]
    rows = {p: [] for p in PARTNERS}
    truth = []
    for eid, p in enumerate(people):
        age = 2026 - p.dob.year
        if age < 16:
            continue
        # Which partners serve this person: one to four of them.
        chance = {"adult_ed": 0.45, "college": 0.25, "workforce": 0.3,
                  "resettlement": 0.85 if p.refugee else 0.02, "wages": 0.45 if age < 66 else 0.05}
        served = [q for q in PARTNERS if r.random() < chance[q]]
        if not served:
            served = [r.choice(PARTNERS[:3])]
        for q in served:
            copies = 2 if r.random() < 0.03 else 1  # enrolled twice under two record ids
            for _ in range(copies):
                rec = observe(r, p, q)
                rec["record_id"] = f"{q[:2].upper()}{len(rows[q]) + 1:07d}"
                rows[q].append(rec)
                truth.append((q, rec["record_id"], f"E{eid}"))
    out = args.out
    inputs = out / "inputs"
    for q, recs in rows.items():
        d = inputs / q
        d.mkdir(parents=True, exist_ok=True)
        r.shuffle(recs)
        with open(d / f"{q}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["record_id", "given_name", "middle_name", "family_name", "birth_date", "sex",
                                              "phone", "email", "street", "city", "zip"])
            w.writeheader()
            w.writerows(recs)
    with open(out / "people.csv", "w", newline="") as f:
        # for reading errors: each entity's household and origin
        w = csv.writer(f)
        w.writerow(["entity", "household", "origin", "birth_date", "twin"])
        for eid, p in enumerate(people):
            w.writerow([f"E{eid}", p.household, p.origin, p.dob.isoformat(), int(p.twin)])
    with open(out / "truth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["partner", "record_id", "entity"])
        w.writerows(truth)
    print(f"{len(people)} people, {len(truth)} records in {sum(1 for v in rows.values() if v)} partners")


if __name__ == "__main__":
    main()
