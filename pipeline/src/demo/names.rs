//! Name pools for the synthetic demo consortium, by origin. Invented
//! combinations of common names; no real person is described.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Mexican,
    CentralAmerican,
    Arab,
    Afghan,
    Somali,
    Vietnamese,
    Chinese,
    Ukrainian,
    Haitian,
    Burmese,
    UsBorn,
}

impl Origin {
    /// (origin, weight) of the demo population.
    pub const MIX: &'static [(Origin, u32)] = &[
        (Origin::Mexican, 22),
        (Origin::CentralAmerican, 13),
        (Origin::Arab, 9),
        (Origin::Afghan, 8),
        (Origin::Somali, 5),
        (Origin::Vietnamese, 8),
        (Origin::Chinese, 6),
        (Origin::Ukrainian, 8),
        (Origin::Haitian, 5),
        (Origin::Burmese, 3),
        (Origin::UsBorn, 13),
    ];

    pub fn country(self) -> &'static [&'static str] {
        match self {
            Origin::Mexican => &["Mexico"],
            Origin::CentralAmerican => &["Guatemala", "El Salvador", "Honduras"],
            Origin::Arab => &["Syria", "Iraq", "Yemen", "Sudan"],
            Origin::Afghan => &["Afghanistan"],
            Origin::Somali => &["Somalia"],
            Origin::Vietnamese => &["Vietnam"],
            Origin::Chinese => &["China"],
            Origin::Ukrainian => &["Ukraine"],
            Origin::Haitian => &["Haiti", "DR Congo"],
            Origin::Burmese => &["Myanmar"],
            Origin::UsBorn => &["United States"],
        }
    }

    pub fn language(self) -> &'static str {
        match self {
            Origin::Mexican | Origin::CentralAmerican => "spanish",
            Origin::Arab => "arabic",
            Origin::Afghan => "dari",
            Origin::Somali => "somali",
            Origin::Vietnamese => "vietnamese",
            Origin::Chinese => "chinese",
            Origin::Ukrainian => "ukrainian",
            Origin::Haitian => "haitian_creole",
            Origin::Burmese => "burmese",
            Origin::UsBorn => "english",
        }
    }

    /// Share of people of this origin who arrived through humanitarian
    /// programs (refugee, asylee, SIV, parolee).
    pub fn humanitarian(self) -> f64 {
        match self {
            Origin::Arab | Origin::Afghan | Origin::Somali | Origin::Burmese => 0.8,
            Origin::Ukrainian => 0.7,
            Origin::Haitian => 0.4,
            Origin::CentralAmerican => 0.25,
            Origin::Mexican | Origin::Vietnamese | Origin::Chinese => 0.05,
            Origin::UsBorn => 0.0,
        }
    }

    pub fn given(self, female: bool) -> &'static [&'static str] {
        match (self, female) {
            (Origin::Mexican | Origin::CentralAmerican, false) => &[
                "José", "Juan", "Luis", "Carlos", "Jesús", "Francisco", "Miguel", "Alejandro", "Javier", "Manuel", "Jorge",
                "Eduardo", "Roberto", "Fernando", "Ricardo", "Antonio", "Ignacio", "Guillermo", "Rafael", "Enrique", "Pedro",
                "Santiago", "Óscar", "Raúl", "Héctor", "Mario", "Sergio", "Víctor", "Arturo", "Alberto", "Edgar", "Iván",
            ],
            (Origin::Mexican | Origin::CentralAmerican, true) => &[
                "María", "Guadalupe", "Juana", "Margarita", "Verónica", "Rosa", "Leticia", "Alejandra", "Gabriela", "Patricia",
                "Elizabeth", "Teresa", "Adriana", "Araceli", "Yesenia", "Claudia", "Silvia", "Dolores", "Rosario", "Isabel",
                "Lucía", "Ana", "Ximena", "Sofía", "Fernanda", "Carmen", "Mercedes", "Concepción", "Josefina", "Graciela",
            ],
            (Origin::Arab, false) => &[
                "Mohammed", "Ahmed", "Mahmoud", "Mustafa", "Hussein", "Hassan", "Ali", "Omar", "Khalid", "Yusuf", "Ibrahim",
                "Abdullah", "Abdulrahman", "Tariq", "Walid", "Rashid", "Karim", "Jamal", "Nasser", "Samir", "Bilal", "Faisal",
                "Ismail", "Said", "Hamid", "Majid", "Suleiman", "Yahya", "Zakaria", "Idris",
            ],
            (Origin::Arab, true) => &[
                "Fatima", "Aisha", "Khadija", "Maryam", "Zainab", "Amina", "Layla", "Noor", "Huda", "Samira", "Yasmin", "Rania",
                "Hana", "Salma", "Reem", "Dalia", "Safiya", "Lina", "Nadia", "Mona", "Iman", "Rasha", "Hiba", "Asma",
            ],
            (Origin::Afghan, false) => &[
                "Mohammad", "Ahmad", "Abdul", "Farid", "Wahid", "Zahir", "Navid", "Jawad", "Hamid", "Nasrullah", "Ghulam",
                "Rahmatullah", "Shafiq", "Karim", "Mirwais", "Hekmat", "Sayed", "Ajmal", "Naveed", "Rahim",
            ],
            (Origin::Afghan, true) => &[
                "Fatima", "Zahra", "Farzana", "Nazanin", "Marzia", "Sima", "Shabnam", "Mariam", "Hosai", "Freshta", "Parwana",
                "Laila", "Nargis", "Shakila", "Soraya", "Roya",
            ],
            (Origin::Somali, false) => &[
                "Mohamed", "Abdi", "Ahmed", "Abdirahman", "Abdullahi", "Hassan", "Ali", "Omar", "Yusuf", "Ismail", "Farah",
                "Abdikadir", "Osman", "Hussein", "Mahad", "Liban",
            ],
            (Origin::Somali, true) => &[
                "Fadumo", "Hodan", "Sahra", "Halima", "Hawa", "Amina", "Ayan", "Khadija", "Maryan", "Asha", "Ifrah", "Nimco",
                "Deeqa", "Sagal",
            ],
            (Origin::Vietnamese, false) => &[
                "An", "Minh", "Tuan", "Hung", "Dung", "Long", "Quang", "Thanh", "Duc", "Hieu", "Khoa", "Phuc", "Nam", "Vinh",
                "Bao", "Huy", "Trung", "Son",
            ],
            (Origin::Vietnamese, true) => &[
                "Lan", "Mai", "Huong", "Linh", "Trang", "Thao", "Ngoc", "Hoa", "Phuong", "Anh", "Thuy", "Hanh", "Nhung", "Yen",
                "Dung", "Tam",
            ],
            (Origin::Chinese, false) => &[
                "Wei", "Jun", "Lei", "Hao", "Ming", "Jie", "Tao", "Bin", "Qiang", "Yong", "Jian", "Peng", "Chao", "Gang", "Kai",
            ],
            (Origin::Chinese, true) => &[
                "Fang", "Li", "Na", "Jing", "Ying", "Xiu", "Mei", "Yan", "Hui", "Juan", "Xia", "Ling", "Hong", "Qing",
            ],
            (Origin::Ukrainian, false) => &[
                "Oleksandr", "Serhiy", "Andriy", "Dmytro", "Volodymyr", "Mykola", "Yuriy", "Oleh", "Ihor", "Viktor", "Yevhen",
                "Vasyl", "Taras", "Bohdan", "Maksym", "Artem",
            ],
            (Origin::Ukrainian, true) => &[
                "Olena", "Natalia", "Tetiana", "Iryna", "Svitlana", "Olha", "Yulia", "Kateryna", "Halyna", "Mariia", "Oksana",
                "Viktoriia", "Anastasia", "Liudmyla",
            ],
            (Origin::Haitian, false) => &[
                "Jean", "Pierre", "Jean-Pierre", "Jean-Claude", "Emmanuel", "Joseph", "Wilner", "Jacques", "Ricardo", "Frantz",
                "Patrick", "Reginald", "Mukendi", "Kabila",
            ],
            (Origin::Haitian, true) => &[
                "Marie", "Marie-Claire", "Nadège", "Guerline", "Roseline", "Fabienne", "Mirlande", "Jessica", "Esther",
                "Claudette", "Nathalie", "Immaculée",
            ],
            (Origin::Burmese, false) => &["Htoo", "Saw", "Eh", "Paw", "Ko", "Aung", "Kyaw", "Zaw", "Min", "Thura", "Lwin"],
            (Origin::Burmese, true) => &["Naw", "Paw", "Mu", "Htay", "Thida", "Khin", "Moe", "Ei", "Nwe", "Aye"],
            (Origin::UsBorn, false) => &[
                "William", "Robert", "Richard", "James", "John", "Michael", "Christopher", "Thomas", "Joseph", "Charles",
                "Daniel", "Matthew", "Anthony", "Andrew", "Edward", "Alexander", "Samuel", "Benjamin", "Nicholas", "Kenneth",
            ],
            (Origin::UsBorn, true) => &[
                "Elizabeth", "Margaret", "Catherine", "Jennifer", "Susan", "Patricia", "Deborah", "Rebecca", "Victoria",
                "Abigail", "Jessica", "Stephanie", "Samantha", "Christina", "Dorothy", "Barbara", "Ann",
            ],
        }
    }

    pub fn family(self) -> &'static [&'static str] {
        match self {
            Origin::Mexican | Origin::CentralAmerican => &[
                "García", "Hernández", "López", "Martínez", "González", "Rodríguez", "Pérez", "Sánchez", "Ramírez", "Cruz",
                "Flores", "Gómez", "Morales", "Vázquez", "Jiménez", "Reyes", "Díaz", "Torres", "Gutiérrez", "Ruiz", "Mendoza",
                "Aguilar", "Ortiz", "Castillo", "Moreno", "Romero", "Álvarez", "Chávez", "Ramos", "de la Cruz", "Rivera",
                "Juárez", "Domínguez", "Herrera", "Medina", "Castro", "Vargas", "Guzmán", "Velásquez", "Contreras",
            ],
            Origin::Arab => &[
                "Al-Hassan", "Haddad", "Khalil", "Saleh", "Abdullah", "Al-Ahmad", "Mansour", "Nasser", "Hamdan", "Qasim",
                "Al-Sayed", "Darwish", "Ibrahim", "Jaber", "Khoury", "Said", "Yousef", "Al-Obaidi", "Al-Jubouri", "Othman",
            ],
            Origin::Afghan => &[
                "Ahmadi", "Rahimi", "Noori", "Karimi", "Hakimi", "Sultani", "Popal", "Wardak", "Safi", "Stanikzai", "Hashimi",
                "Mohammadi", "Amiri", "Azizi", "Nazari", "Rezaei",
            ],
            Origin::Somali => &[
                "Mohamed", "Ahmed", "Ali", "Hassan", "Abdi", "Omar", "Farah", "Warsame", "Jama", "Osman", "Aden", "Hussein",
                "Yusuf", "Ibrahim",
            ],
            Origin::Vietnamese => &[
                "Nguyen", "Tran", "Le", "Pham", "Hoang", "Huynh", "Vu", "Vo", "Dang", "Bui", "Do", "Ho", "Ngo", "Duong", "Ly",
            ],
            Origin::Chinese => &[
                "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu",
                "Guo", "Lin", "He",
            ],
            Origin::Ukrainian => &[
                "Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kravchenko", "Oliynyk", "Melnyk", "Boyko", "Koval",
                "Moroz", "Lysenko", "Marchenko", "Rudenko", "Savchenko", "Petrenko", "Klymenko",
            ],
            Origin::Haitian => &[
                "Jean-Baptiste", "Pierre", "Joseph", "Louis", "Charles", "Saint-Fleur", "Desir", "Etienne", "Francois",
                "Augustin", "Mukendi", "Kabongo", "Ilunga", "Tshibangu",
            ],
            Origin::Burmese => &["Htoo", "Paw", "Moo", "Say", "Lah", "Win", "Oo", "Thein", "Naing", "Soe"],
            Origin::UsBorn => &[
                "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas",
                "Moore", "Jackson", "White", "Harris", "Martin", "Thompson", "Clark", "Lewis", "Walker", "Hall", "Young",
            ],
        }
    }
}

/// More names per origin, so that a 20,000-person population has the long
/// tail of names a real one has.
pub fn extra_given(o: Origin, female: bool) -> &'static [&'static str] {
    match (o, female) {
        (Origin::Mexican | Origin::CentralAmerican, false) => &[
            "Adrián", "Agustín", "Armando", "Benjamín", "César", "Cristian", "Daniel", "David", "Diego", "Efraín", "Emilio",
            "Ernesto", "Esteban", "Felipe", "Gerardo", "Gilberto", "Gonzalo", "Gustavo", "Hugo", "Isidro", "Jaime", "Joaquín",
            "Julio", "Leonardo", "Lorenzo", "Marco", "Martín", "Mauricio", "Moisés", "Nicolás", "Octavio", "Pablo", "Ramiro",
            "Rodrigo", "Rogelio", "Rubén", "Salvador", "Samuel", "Tomás", "Ulises", "Wilfredo", "Yahir",
        ],
        (Origin::Mexican | Origin::CentralAmerican, true) => &[
            "Alicia", "Andrea", "Angélica", "Beatriz", "Blanca", "Brenda", "Carolina", "Cecilia", "Cristina", "Daniela",
            "Diana", "Elena", "Esperanza", "Estela", "Eva", "Flor", "Gloria", "Irma", "Jazmín", "Karina", "Laura", "Liliana",
            "Lorena", "Marisol", "Martha", "Mayra", "Mónica", "Norma", "Paola", "Raquel", "Rocío", "Sandra", "Susana", "Valeria",
            "Wendy", "Yolanda", "Zulema", "Marlene", "Nayeli", "Itzel",
        ],
        (Origin::UsBorn, false) => &[
            "Brian", "Kevin", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Eric", "Stephen", "Jonathan", "Larry", "Justin",
            "Scott", "Brandon", "Frank", "Gregory", "Raymond", "Patrick", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "Henry",
            "Douglas", "Peter", "Adam", "Nathan", "Zachary", "Walter", "Kyle", "Harold", "Carl", "Jeremy", "Keith", "Roger",
        ],
        (Origin::UsBorn, true) => &[
            "Mary", "Linda", "Sarah", "Karen", "Nancy", "Lisa", "Betty", "Sandra", "Ashley", "Kimberly", "Emily", "Donna",
            "Michelle", "Carol", "Amanda", "Melissa", "Laura", "Sharon", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley",
            "Brenda", "Pamela", "Nicole", "Helen", "Anna", "Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn",
        ],
        (Origin::Arab, false) => &[
            "Adnan", "Amir", "Anas", "Ayman", "Bashar", "Fadi", "Fouad", "Ghassan", "Hani", "Haytham", "Imad", "Issa", "Jihad",
            "Kamal", "Louay", "Mazen", "Marwan", "Muhannad", "Nabil", "Osama", "Qais", "Raed", "Sami", "Tamer", "Wael", "Ziad",
            "Yasser", "Hazem", "Firas", "Munir",
        ],
        (Origin::Arab, true) => &[
            "Abeer", "Alaa", "Amal", "Basma", "Dina", "Duaa", "Farah", "Ghada", "Hanan", "Heba", "Jana", "Lama", "Lubna",
            "Maha", "Manal", "Nada", "Nisreen", "Rawan", "Ruba", "Sahar", "Samar", "Suha", "Wafa", "Yara", "Zeina", "Shaima",
        ],
        (Origin::Afghan, false) => &[
            "Abdullah", "Basir", "Bilal", "Dawood", "Fawad", "Habib", "Haroon", "Idrees", "Jamil", "Khalid", "Mansoor",
            "Masoud", "Mujtaba", "Nasir", "Omid", "Qasim", "Rashid", "Rohullah", "Samiullah", "Sharif", "Tamim", "Wais", "Yama",
            "Zabihullah", "Zalmai",
        ],
        (Origin::Afghan, true) => &[
            "Aziza", "Benafsha", "Diba", "Fariba", "Gulalai", "Homa", "Jamila", "Karima", "Latifa", "Madina", "Nazifa",
            "Nilofar", "Pari", "Rahila", "Samira", "Shukria", "Tahmina", "Wahida", "Yalda", "Zarghona",
        ],
        (Origin::Somali, false) => &[
            "Abdiaziz", "Abdiwali", "Abdulkadir", "Bashir", "Dahir", "Guled", "Hamza", "Jibril", "Khalif", "Mukhtar", "Nur",
            "Sharmarke", "Warsame", "Yonis", "Zakariye", "Awil", "Bile", "Cabdi", "Daud", "Gedi",
        ],
        (Origin::Somali, true) => &[
            "Anab", "Asli", "Bilan", "Fartun", "Hibo", "Idil", "Khadra", "Layla", "Muna", "Nasra", "Qamar", "Ruqiya", "Samira",
            "Sucdi", "Ubah", "Warda", "Zamzam", "Hinda", "Iqra", "Najma",
        ],
        (Origin::Ukrainian, false) => &[
            "Anatoliy", "Borys", "Denys", "Dmytro", "Fedir", "Hryhoriy", "Ivan", "Kostiantyn", "Leonid", "Mykhailo", "Nazar",
            "Pavlo", "Petro", "Roman", "Ruslan", "Stepan", "Vitaliy", "Yaroslav", "Zakhar", "Oleksiy",
        ],
        (Origin::Ukrainian, true) => &[
            "Alina", "Daria", "Ganna", "Inna", "Khrystyna", "Larysa", "Lesia", "Nadiia", "Polina", "Solomiia", "Uliana",
            "Valentyna", "Yana", "Zoriana", "Lyubov", "Sofiia",
        ],
        (Origin::Haitian, false) => &[
            "Alexandre", "Clervil", "Dieudonné", "Fritznel", "Guy", "Jean-Robert", "Jean-Marc", "Kenson", "Lesly", "Louis-Marie",
            "Mackenson", "Peterson", "Ronel", "Serge", "Stanley", "Wilson", "Yvon", "Kalala", "Ngoy", "Tshisekedi",
        ],
        (Origin::Haitian, true) => &[
            "Anne-Marie", "Bernadette", "Carline", "Darline", "Edeline", "Fabiola", "Ginette", "Jacqueline", "Lovely",
            "Magalie", "Medjine", "Natacha", "Rose-Marie", "Sabine", "Vanessa", "Wislande", "Mbuyi", "Kapinga",
        ],
        _ => &[],
    }
}

pub fn extra_family(o: Origin) -> &'static [&'static str] {
    match o {
        Origin::Mexican | Origin::CentralAmerican => &[
            "Acosta", "Alvarado", "Arellano", "Ávila", "Barrera", "Benítez", "Bautista", "Cabrera", "Calderón", "Campos",
            "Cardenas", "Carrillo", "Cervantes", "Delgado", "Escobar", "Espinoza", "Estrada", "Fuentes", "Galván", "Guerrero",
            "Ibarra", "Lara", "León", "Luna", "Maldonado", "Marín", "Mejía", "Miranda", "Molina", "Montes", "Navarro",
            "Núñez", "Ochoa", "Orozco", "Padilla", "Pacheco", "Palacios", "Peña", "Quintero", "Rangel", "Ríos", "Rosales",
            "Salazar", "Sandoval", "Santos", "Serrano", "Solís", "Soto", "Suárez", "Tapia", "Trejo", "Valencia", "Valdez",
            "Vega", "Villanueva", "Zamora", "Zúñiga",
        ],
        Origin::UsBorn => &[
            "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts",
            "Carter", "Phillips", "Evans", "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook",
            "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox", "Richardson",
            "Wood", "Watson", "Brooks", "Bennett", "Gray", "James", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross",
            "Foster", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Fisher", "Henderson", "Coleman", "Patterson",
        ],
        Origin::Arab => &[
            "Abboud", "Al-Ali", "Al-Amin", "Al-Bakri", "Al-Hashimi", "Al-Khatib", "Al-Masri", "Al-Najjar", "Al-Rashid",
            "Al-Shami", "Al-Tamimi", "Al-Zoubi", "Awad", "Azzam", "Barakat", "Bitar", "Chami", "Daher", "Fares", "Ghanem",
            "Habib", "Halabi", "Issa", "Kassab", "Khalaf", "Maalouf", "Nassar", "Rahal", "Sabbagh", "Shaheen", "Sleiman",
            "Zaki", "Zayed", "Hamoud", "Suleiman", "Murad", "Taha", "Odeh",
        ],
        Origin::Afghan => &[
            "Ahmadzai", "Alizai", "Barakzai", "Durrani", "Faizi", "Ghani", "Habibi", "Haidari", "Jalali", "Kakar", "Kohistani",
            "Mangal", "Mohseni", "Naseri", "Niazi", "Qaderi", "Rasuli", "Sadat", "Samadi", "Shinwari", "Tokhi", "Yousufzai",
            "Zazai", "Zaheer",
        ],
        Origin::Haitian => &[
            "Alexis", "Bastien", "Beauvais", "Celestin", "Dorcé", "Exantus", "Fils-Aimé", "Guerrier", "Hyppolite", "Jeune",
            "Laguerre", "Lafontant", "Michel", "Noël", "Paul", "Pierre-Louis", "Remy", "Thermidor", "Valcin", "Zephir",
            "Kalonji", "Lumumba", "Mutombo", "Nkulu",
        ],
        _ => &[],
    }
}

/// Syllables for names built from parts (Vietnamese, Chinese, Burmese) and
/// roots for Ukrainian family names.
pub const VIET_SYLLABLES: &[&str] = &[
    "An", "Bao", "Binh", "Chau", "Chi", "Cuong", "Dat", "Diep", "Dung", "Duy", "Giang", "Ha", "Hai", "Hanh", "Hau", "Hien",
    "Hoa", "Hoai", "Hung", "Huong", "Khanh", "Khoa", "Kim", "Lam", "Lan", "Linh", "Loc", "Long", "Mai", "Minh", "My", "Nam",
    "Nga", "Nghia", "Ngoc", "Nhan", "Nhi", "Nhung", "Phat", "Phong", "Phuc", "Phuong", "Quan", "Quang", "Quynh", "Sang",
    "Son", "Tai", "Tam", "Tan", "Thanh", "Thao", "Thien", "Thinh", "Thu", "Thuy", "Tien", "Toan", "Trang", "Tri", "Trinh",
    "Trung", "Tu", "Tuan", "Tung", "Uyen", "Van", "Viet", "Vinh", "Vy", "Xuan", "Yen",
];
pub const CHINESE_SYLLABLES: &[&str] = &[
    "Wei", "Ming", "Jun", "Hao", "Lei", "Jie", "Tao", "Bin", "Qiang", "Yong", "Jian", "Peng", "Chao", "Gang", "Kai", "Fang",
    "Li", "Na", "Jing", "Ying", "Xiu", "Mei", "Yan", "Hui", "Xia", "Ling", "Hong", "Qing", "Xiao", "Yu", "Zhi", "Hua", "Guo",
    "Dong", "Feng", "Lin", "Rui", "Xin", "Yi", "Zhen", "Chen", "Bo", "Ning", "Shan", "Ting", "Wen", "Xue", "Yun",
];
pub const BURMESE_SYLLABLES: &[&str] = &[
    "Htoo", "Paw", "Eh", "Say", "Moo", "Lah", "Wah", "Soe", "Win", "Aung", "Kyaw", "Zaw", "Thu", "Min", "Nyein", "Hsa",
    "Blu", "Ku", "Mya", "Nwe", "Thin", "Khin", "Tun", "Naing", "Lwin", "Myat", "Thet", "Aye",
];
pub const UKRAINIAN_ROOTS: &[&str] = &[
    "Shevch", "Koval", "Bondar", "Tkach", "Kravch", "Melnych", "Boych", "Moroz", "Lys", "March", "Ruden", "Savch", "Petr",
    "Klym", "Hnat", "Dan", "Ivan", "Lytvyn", "Hrytsen", "Ostap", "Pavl", "Semen", "Sydor", "Taras", "Fedor", "Yurch",
    "Zakharch", "Kuzm", "Levch", "Myrosh", "Nazar", "Onyshch", "Prokop", "Romaniuk", "Stepan", "Tymosh", "Vasyl", "Zinch",
];
pub const UKRAINIAN_SUFFIXES: &[&str] = &["enko", "uk", "yk", "ko", "ak", "ets", "ovych", "ynskyi"];

/// Spelling variants a partner's staff might use for a name.
pub fn variants(name: &str) -> &'static [&'static str] {
    match name {
        "Mohammed" => &["Mohammed", "Muhammad", "Mohamed", "Mohamad", "Mohammad"],
        "Mohammad" => &["Mohammad", "Mohammed", "Muhammad", "Mohamad"],
        "Mohamed" => &["Mohamed", "Mohammed", "Maxamed", "Mohamud"],
        "Ahmed" => &["Ahmed", "Ahmad", "Ahmet"],
        "Ahmad" => &["Ahmad", "Ahmed"],
        "Mahmoud" => &["Mahmoud", "Mahmud", "Mahmood"],
        "Mustafa" => &["Mustafa", "Mostafa", "Moustafa"],
        "Hussein" => &["Hussein", "Husain", "Hussain", "Hossein"],
        "Hassan" => &["Hassan", "Hasan"],
        "Omar" => &["Omar", "Umar"],
        "Khalid" => &["Khalid", "Khaled"],
        "Yusuf" => &["Yusuf", "Yousef", "Youssef"],
        "Ibrahim" => &["Ibrahim", "Ebrahim"],
        "Abdullah" => &["Abdullah", "Abdallah", "Abdulla"],
        "Abdulrahman" => &["Abdulrahman", "Abdelrahman", "Abdul Rahman", "Abdurrahman"],
        "Abdirahman" => &["Abdirahman", "Abdulrahman", "Abdi Rahman"],
        "Tariq" => &["Tariq", "Tarek"],
        "Walid" => &["Walid", "Waleed"],
        "Rashid" => &["Rashid", "Rasheed"],
        "Karim" => &["Karim", "Kareem"],
        "Said" => &["Said", "Saeed"],
        "Suleiman" => &["Suleiman", "Sulaiman", "Sulayman"],
        "Fatima" => &["Fatima", "Fatimah", "Fatma"],
        "Aisha" => &["Aisha", "Ayesha", "Aysha"],
        "Khadija" => &["Khadija", "Khadijah", "Kadija"],
        "Maryam" => &["Maryam", "Mariam"],
        "Zainab" => &["Zainab", "Zaynab", "Zeinab"],
        "Layla" => &["Layla", "Leila", "Laila"],
        "Noor" => &["Noor", "Nour", "Nur"],
        "Fadumo" => &["Fadumo", "Fatuma", "Faadumo"],
        "Sahra" => &["Sahra", "Zahra"],
        "Abdikadir" => &["Abdikadir", "Abdulkadir", "Abdiqadir"],
        "Oleksandr" => &["Oleksandr", "Aleksandr", "Alexander", "Oleksander"],
        "Serhiy" => &["Serhiy", "Sergey", "Serhii", "Sergei"],
        "Andriy" => &["Andriy", "Andrii", "Andrey"],
        "Dmytro" => &["Dmytro", "Dmitry", "Dmitriy"],
        "Volodymyr" => &["Volodymyr", "Vladimir"],
        "Mykola" => &["Mykola", "Nikolai"],
        "Yuriy" => &["Yuriy", "Yurii", "Yuri"],
        "Yevhen" => &["Yevhen", "Evgeny", "Yevgeniy"],
        "Olena" => &["Olena", "Elena"],
        "Natalia" => &["Natalia", "Natalya", "Nataliia"],
        "Tetiana" => &["Tetiana", "Tatiana", "Tatyana"],
        "Iryna" => &["Iryna", "Irina"],
        "Svitlana" => &["Svitlana", "Svetlana"],
        "Olha" => &["Olha", "Olga"],
        "Yulia" => &["Yulia", "Yuliia", "Julia"],
        "Kateryna" => &["Kateryna", "Ekaterina", "Katerina"],
        "Shevchenko" => &["Shevchenko", "Schevchenko"],
        "Oliynyk" => &["Oliynyk", "Oleinik", "Oliinyk"],
        "Zhang" => &["Zhang", "Chang"],
        "Chen" => &["Chen", "Chan"],
        "Wang" => &["Wang", "Wong"],
        "Liu" => &["Liu", "Lau"],
        "Zhou" => &["Zhou", "Chou"],
        "Huynh" => &["Huynh", "Hoang"],
        "Vo" => &["Vo", "Vu"],
        "Al-Hassan" => &["Al-Hassan", "Alhassan", "Hassan", "El Hassan"],
        "Al-Ahmad" => &["Al-Ahmad", "Alahmad", "Ahmad"],
        "Al-Sayed" => &["Al-Sayed", "Alsayed", "Sayed", "El-Sayed"],
        "Al-Obaidi" => &["Al-Obaidi", "Alobaidi", "Obaidi"],
        "Al-Jubouri" => &["Al-Jubouri", "Aljubouri", "Jubouri"],
        "Yousef" => &["Yousef", "Yusuf", "Youssef"],
        "de la Cruz" => &["de la Cruz", "De La Cruz", "Delacruz", "Cruz"],
        "Jean-Baptiste" => &["Jean-Baptiste", "Jean Baptiste", "Jeanbaptiste"],
        "Saint-Fleur" => &["Saint-Fleur", "St Fleur", "Saint Fleur"],
        "Jean-Pierre" => &["Jean-Pierre", "Jean Pierre"],
        "Marie-Claire" => &["Marie-Claire", "Marie Claire"],
        _ => &[],
    }
}

/// A nickname or everyday form staff might record.
pub fn nickname(name: &str) -> Option<&'static str> {
    Some(match name {
        "William" => "Bill",
        "Robert" => "Bob",
        "Richard" => "Rick",
        "James" => "Jim",
        "Michael" => "Mike",
        "Christopher" => "Chris",
        "Thomas" => "Tom",
        "Joseph" => "Joe",
        "Charles" => "Charlie",
        "Daniel" => "Dan",
        "Matthew" => "Matt",
        "Anthony" => "Tony",
        "Andrew" => "Andy",
        "Edward" => "Ed",
        "Alexander" => "Alex",
        "Samuel" => "Sam",
        "Benjamin" => "Ben",
        "Nicholas" => "Nick",
        "Kenneth" => "Ken",
        "Elizabeth" => "Liz",
        "Margaret" => "Maggie",
        "Catherine" => "Kate",
        "Jennifer" => "Jenny",
        "Susan" => "Sue",
        "Patricia" => "Patty",
        "Deborah" => "Debbie",
        "Rebecca" => "Becky",
        "Victoria" => "Vicky",
        "Abigail" => "Abby",
        "Jessica" => "Jess",
        "Stephanie" => "Steph",
        "José" => "Pepe",
        "Francisco" => "Paco",
        "Guadalupe" => "Lupe",
        "Jesús" => "Chuy",
        "Ignacio" => "Nacho",
        "Alejandro" => "Alex",
        "Alejandra" => "Ale",
        "Roberto" => "Beto",
        "Alberto" => "Beto",
        "Enrique" => "Kike",
        "Manuel" => "Manolo",
        "Eduardo" => "Lalo",
        "Guillermo" => "Memo",
        "Rafael" => "Rafa",
        "Rosario" => "Chayo",
        "Dolores" => "Lola",
        "Concepción" => "Concha",
        "Josefina" => "Pepa",
        "Natalia" => "Natasha",
        "Tetiana" => "Tanya",
        "Volodymyr" => "Volodya",
        "Oleksandr" => "Sasha",
        "Dmytro" => "Dima",
        _ => return None,
    })
}

/// English names some people adopt (Vietnamese, Chinese).
pub const ADOPTED_MALE: &[&str] = &["David", "Kevin", "Andy", "Tony", "Peter", "Jason", "Eric", "Vincent", "Henry", "Steven"];
pub const ADOPTED_FEMALE: &[&str] = &["Linda", "Helen", "Amy", "Grace", "Lily", "Cindy", "Nancy", "Julie", "Emily", "Tina"];

pub const STREETS: &[&str] = &[
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "International", "Foothill",
    "MacArthur", "Fruitvale", "Mission", "El Camino Real", "San Pablo", "Broadway", "Grand", "Lincoln", "Jackson", "Bancroft",
    "Seminary", "Market", "Valley", "Sunset", "Alvarado", "Mowry", "Story", "King",
];
pub const STREET_TYPES: &[(&str, &str)] =
    &[("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"), ("Drive", "Dr"), ("Way", "Way"), ("Court", "Ct")];

/// (county, city, ZIP prefix) of the demo region.
pub const PLACES: &[(&str, &str, u32)] = &[
    ("Alameda", "Oakland", 94601),
    ("Alameda", "Hayward", 94541),
    ("Alameda", "Fremont", 94536),
    ("Contra Costa", "Richmond", 94801),
    ("Contra Costa", "Concord", 94518),
    ("Contra Costa", "Antioch", 94509),
    ("San Francisco", "San Francisco", 94110),
    ("San Mateo", "Daly City", 94014),
    ("San Mateo", "Redwood City", 94063),
    ("Santa Clara", "San Jose", 95116),
    ("Santa Clara", "Sunnyvale", 94085),
    ("Santa Clara", "Santa Clara", 95050),
];

pub const EMPLOYERS: &[&str] = &[
    "94-1234567", "94-2345678", "77-3456789", "68-4567890", "94-5678901", "77-6789012", "46-7890123", "94-8901234",
    "68-9012345", "33-0123456", "94-1122334", "77-2233445", "46-3344556", "94-4455667", "68-5566778", "33-6677889",
];
