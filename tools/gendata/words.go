package main

// Word lists for names, merchants and addresses. They imitate the Faker
// en_US provider that produced dataset_16; none of them may contain a digit,
// so the ZIP stays the only 5-digit number in an address.

var firstNames = []string{
	"Aaron", "Adam", "Alex", "Alexander", "Alicia", "Allison", "Amanda", "Amber",
	"Amy", "Andrea", "Andrew", "Angela", "Anna", "Anthony", "Arthur", "Ashley",
	"Audrey", "Autumn", "Barbara", "Benjamin", "Bobby", "Brandon", "Brian", "Brittney",
	"Bruce", "Bryce", "Carl", "Caroline", "Catherine", "Charles", "Chelsea", "Christina",
	"Christopher", "Cody", "Connor", "Crystal", "Cynthia", "Daniel", "Danielle", "Darren",
	"David", "Deborah", "Dennis", "Diana", "Donald", "Douglas", "Dylan", "Edward",
	"Elizabeth", "Emily", "Eric", "Erin", "Evelyn", "Frank", "Gary", "George",
	"Gregory", "Hannah", "Heather", "Isaac", "Jacob", "James", "Jamie", "Jasmine",
	"Jason", "Jeffrey", "Jennifer", "Jeremy", "Jessica", "Joel", "John", "Jonathan",
	"Jonathon", "Jose", "Joseph", "Joshua", "Justin", "Karen", "Karina", "Katherine",
	"Kathryn", "Kelly", "Kendra", "Kenneth", "Kevin", "Kimberly", "Krista", "Kristy",
	"Kyle", "Laura", "Lauren", "Linda", "Lisa", "Maria", "Mario", "Mark",
	"Matthew", "Maurice", "Megan", "Melissa", "Melvin", "Meghan", "Michael", "Michelle",
	"Nancy", "Natalie", "Nathan", "Nicholas", "Nicole", "Olivia", "Patrick", "Paul",
	"Rachel", "Raymond", "Rebecca", "Regina", "Richard", "Robert", "Ronald", "Ryan",
	"Samantha", "Samuel", "Sandra", "Sarah", "Scott", "Sean", "Shannon", "Stephanie",
	"Stephen", "Steven", "Susan", "Tammy", "Teresa", "Terri", "Thomas", "Timothy",
	"Tracey", "Tracy", "Trevor", "Tyler", "Valerie", "Victoria", "Vincent", "Walter",
	"Wendy", "William", "Zachary",
}

var lastNames = []string{
	"Acosta", "Adkins", "Allen", "Alvarez", "Anderson", "Archer", "Armstrong", "Austin",
	"Baker", "Barnes", "Barnett", "Barrera", "Baxter", "Bell", "Bender", "Bennett",
	"Benson", "Bentley", "Berry", "Blackwell", "Bowen", "Boyd", "Braun", "Briggs",
	"Brooks", "Brown", "Bryan", "Buchanan", "Buckley", "Butler", "Campbell", "Carr",
	"Castillo", "Castro", "Chang", "Clark", "Cline", "Cobb", "Coleman", "Collins",
	"Cook", "Cooper", "Costa", "Cox", "Crawford", "Cummings", "Cunningham", "Daniels",
	"Davenport", "Davis", "Delgado", "Dennis", "Dickson", "Dixon", "Dorsey", "Durham",
	"Edwards", "Elliott", "Evans", "Fernandez", "Fisher", "Ford", "Foster", "Fox",
	"Franklin", "Freeman", "French", "Frost", "Fuentes", "Galloway", "Garcia", "Garrett",
	"George", "Gibson", "Gilbert", "Giles", "Gilmore", "Gonzales", "Gonzalez", "Gordon",
	"Graves", "Green", "Griffith", "Guzman", "Hahn", "Hall", "Hamilton", "Hampton",
	"Hardy", "Harmon", "Harper", "Harris", "Harrison", "Hawkins", "Hays", "Henderson",
	"Henry", "Herman", "Hernandez", "Hickman", "Hicks", "Hill", "Hinton", "Hodges",
	"Hoffman", "Hogan", "Howell", "Hughes", "Hunt", "Hurst", "Huynh", "Jackson",
	"James", "Jenkins", "Jimenez", "Johns", "Johnson", "Jones", "Joseph", "Kaiser",
	"Keller", "Kelly", "Key", "Kim", "King", "Kirby", "Lane", "Lang",
	"Lawrence", "Lee", "Lewis", "Little", "Long", "Lopez", "Lutz", "Lynch",
	"Maldonado", "Manning", "Marshall", "Martin", "Martinez", "Massey", "Mccall", "Mccarty",
	"Mcclure", "Mckenzie", "Medina", "Mejia", "Melendez", "Mendez", "Miller", "Miranda",
	"Mitchell", "Molina", "Moore", "Moreno", "Murphy", "Nelson", "Ochoa", "Odonnell",
	"Oneill", "Ortiz", "Owens", "Palmer", "Parker", "Parks", "Patel", "Peck",
	"Perez", "Perry", "Phillips", "Pierce", "Pineda", "Pollard", "Poole", "Powell",
	"Price", "Prince", "Ramirez", "Reed", "Reid", "Reyes", "Reynolds", "Richardson",
	"Riggs", "Riley", "Robbins", "Roberts", "Robinson", "Robles", "Rodriguez", "Rogers",
	"Rose", "Ross", "Rowland", "Russell", "Salas", "Salinas", "Sanchez", "Sanders",
	"Santos", "Schneider", "Schwartz", "Scott", "Sexton", "Shaw", "Simpson", "Sims",
	"Smith", "Stanley", "Stokes", "Stone", "Strickland", "Summers", "Sutton", "Swanson",
	"Taylor", "Thomas", "Thompson", "Tran", "Trujillo", "Tucker", "Valdez", "Vargas",
	"Vasquez", "Vaughan", "Vega", "Velazquez", "Velez", "Waller", "Wallace", "Walker",
	"Walters", "Warner", "Washington", "Waters", "Watkins", "Weber", "Webster", "Welch",
	"Werner", "West", "White", "Wiley", "Williams", "Williamson", "Willis", "Wilson",
	"Wright", "Young", "Yu", "Zavala",
}

var streetSuffixes = []string{
	"Alley", "Avenue", "Bridge", "Brook", "Camp", "Causeway", "Center", "Centers",
	"Circle", "Circles", "Common", "Corner", "Course", "Courts", "Creek", "Crescent",
	"Crossing", "Crossroad", "Curve", "Dam", "Drive", "Estate", "Estates", "Extensions",
	"Flats", "Forest", "Freeway", "Glen", "Green", "Grove", "Harbor", "Haven",
	"Heights", "Highway", "Hill", "Hollow", "Inlet", "Island", "Islands", "Junction",
	"Keys", "Knoll", "Lake", "Land", "Lane", "Light", "Loaf", "Lock",
	"Lodge", "Manors", "Meadow", "Mill", "Mission", "Mountain", "Mountains", "Neck",
	"Oval", "Park", "Parkway", "Path", "Pike", "Pine", "Plain", "Plains",
	"Points", "Port", "Radial", "Ramp", "Rapid", "Rest", "Ridges", "Road",
	"Route", "Row", "Shoals", "Shores", "Spurs", "Square", "Station", "Street",
	"Summit", "Terrace", "Trail", "Underpass", "Valley", "Views", "Ville", "Well",
}

// nyCities are the customers' home towns; every customer lives in NY with a
// ZIP starting with 1, as in dataset_16.
var nyCities = []string{
	"Albany", "Binghamton", "Bronx", "Brooklyn", "Buffalo", "Cheektowaga", "Ithaca",
	"Mount Vernon", "New Rochelle", "New York", "Niagara Falls", "Queens", "Rochester",
	"Schenectady", "Staten Island", "Syracuse", "Troy", "Utica", "White Plains", "Yonkers",
}

// outOfState are the states of far-away merchants with their weight in
// dataset_16 and the first digit of their ZIPs. PA shares NY's first digit,
// so its merchants are out of state without being "far".
var outOfState = []struct {
	code   string
	weight int
	digit  byte
}{
	{"FL", 8, '3'}, {"TX", 6, '7'}, {"CA", 5, '9'}, {"PA", 5, '1'}, {"MA", 4, '0'},
	{"CT", 3, '0'}, {"VT", 3, '0'}, {"IL", 2, '6'}, {"NJ", 1, '0'},
}

var cityPrefixes = []string{"East", "Lake", "New", "North", "Port", "South", "West"}

var citySuffixes = []string{
	"berg", "borough", "burgh", "bury", "chester", "fort", "furt", "haven",
	"land", "mouth", "port", "shire", "side", "stad", "ton", "town", "view", "ville",
}

var companySuffixes = []string{"Group", "Inc", "LLC", "Ltd", "PLC"}

var emailDomains = []string{"example.com", "example.com", "example.net", "example.org", "example.org"}

// cardPrefixes are first groups of card numbers; "xx" is replaced by random
// digits.
var cardPrefixes = []string{
	"51xx", "52xx", "52xx", "53xx", "53xx", "53xx", "54xx", "55xx", "55xx",
	"34xx", "37xx", "4xxx", "4xxx", "6011", "64xx", "65xx",
}
