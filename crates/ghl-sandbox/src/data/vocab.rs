//! Word lists the seeded generator draws from, so that seeded data reads like a real CRM.

pub(super) const FIRST_NAMES: &[&str] = &[
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Priya", "Ashley",
    "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenji", "Carol",
    "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca",
    "Jason", "Sharon", "Edward", "Laura", "Ahmed", "Cynthia", "Ryan", "Fatima", "Jacob", "Amy",
    "Gary", "Angela", "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Brenda", "Stephen", "Pamela",
    "Larry", "Emma", "Justin", "Nicole", "Scott", "Helen", "Brandon", "Samantha", "Benjamin", "Katherine",
    "Raj", "Christine", "Samuel", "Debra", "Gregory", "Rachel", "Alexander", "Carolyn", "Mei", "Janet",
    "Patrick", "Catherine", "Frank", "Maria", "Raymond", "Heather", "Jack", "Diane", "Dennis", "Ruth",
];

pub(super) const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Kim", "O'Brien", "Chen", "Singh", "Tanaka", "Kowalski", "Murphy", "Cook", "Rogers",
    "Morgan", "Peterson", "Cooper", "Reed", "Bailey", "Bell", "Gomez", "Kelly", "Howard", "Ward",
];

pub(super) const EMAIL_DOMAINS: &[&str] =
    &["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me", "example.com"];

pub(super) const BUSINESS_NAMES: &[&str] = &[
    "Acme Plumbing", "Blue Ridge Dental", "Summit Realty Group", "Brightside Solar", "Harbor Fitness",
    "Maple Street Bakery", "Northwind Logistics", "Evergreen Landscaping", "Pinnacle Roofing",
    "Silverline Auto Repair", "Cedar Grove Chiropractic", "Lakeside Veterinary Clinic", "Urban Nest Interiors",
    "Redwood Legal Partners", "Golden Gate HVAC", "Coastal Insurance Agency", "Ironclad Security",
    "Sunrise Med Spa", "Riverbend Accounting", "Peak Performance Coaching", "Oak & Ember Catering",
    "Bluebird Daycare", "Stellar Marketing Co", "Granite State Movers",
];

pub(super) const STREETS: &[&str] = &[
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Blvd", "Lake Shore Dr",
    "Park Ave", "Sunset Blvd", "1st St N", "Broadway", "Highland Ave", "River Rd", "Hillcrest Dr",
];

/// (city, state, postal code prefix, timezone, area code)
pub(super) const CITIES: &[(&str, &str, &str, &str, &str)] = &[
    ("Austin", "TX", "787", "America/Chicago", "512"),
    ("Dallas", "TX", "752", "America/Chicago", "214"),
    ("Denver", "CO", "802", "America/Denver", "303"),
    ("Phoenix", "AZ", "850", "America/Phoenix", "602"),
    ("Seattle", "WA", "981", "America/Los_Angeles", "206"),
    ("Portland", "OR", "972", "America/Los_Angeles", "503"),
    ("San Diego", "CA", "921", "America/Los_Angeles", "619"),
    ("Chicago", "IL", "606", "America/Chicago", "312"),
    ("Miami", "FL", "331", "America/New_York", "305"),
    ("Atlanta", "GA", "303", "America/New_York", "404"),
    ("Boston", "MA", "021", "America/New_York", "617"),
    ("New York", "NY", "100", "America/New_York", "212"),
    ("Nashville", "TN", "372", "America/Chicago", "615"),
    ("Dolomite", "AL", "350", "America/Chicago", "205"),
    ("Columbus", "OH", "432", "America/New_York", "614"),
    ("Salt Lake City", "UT", "841", "America/Denver", "801"),
];

pub(super) const TAGS: &[&str] = &[
    "lead", "customer", "vip", "newsletter", "webinar", "referral", "facebook ad", "google ad",
    "follow up", "hot", "cold", "churned", "trial", "enterprise", "event 2024",
];

pub(super) const SOURCES: &[&str] = &["public api", "form", "import", "manual", "chat widget", "facebook", "calendar"];

pub(super) const TASK_TITLES: &[&str] = &[
    "Call back", "Send proposal", "Follow up on quote", "Schedule demo", "Confirm appointment",
    "Collect payment", "Send contract", "Ask for a review", "Check in after onboarding", "Renewal reminder",
    "Update billing details", "Prepare estimate", "Book site visit", "Send welcome pack",
];

pub(super) const TASK_BODIES: &[&str] = &[
    "Discuss pricing options and next steps.",
    "They asked to be contacted after 3pm.",
    "Mention the spring promotion.",
    "Left a voicemail last time; try email if no answer.",
    "Bring the signed paperwork.",
    "Customer prefers text messages.",
];

pub(super) const NOTE_TITLES: &[&str] = &["Call summary", "Follow-up summary", "Meeting notes", "Objections", "Preferences"];

pub(super) const NOTE_BODIES: &[&str] = &[
    "Spoke with the contact; interested in the premium plan.",
    "Requested a quote for next quarter.",
    "Not the decision maker; loop in their manager.",
    "Asked about financing options.",
    "Happy with the service so far, may refer a friend.",
    "Budget approved, waiting on legal review.",
    "Prefers morning calls, before 10am.",
    "Complained about response times; escalate if it happens again.",
];

pub(super) const NOTE_COLORS: &[&str] = &["#FFAA00", "#2E86DE", "#10AC84", "#EE5253"];

pub(super) const APPOINTMENT_TITLES: &[&str] = &[
    "Discovery call", "Product demo", "Consultation", "Site visit", "Quarterly review", "Onboarding session",
];

pub(super) const APPOINTMENT_STATUSES: &[&str] = &["booked", "confirmed", "showed", "noshow", "cancelled"];

/// (name, kind of values) of the custom fields every location defines.
pub(super) const CUSTOM_FIELDS: &[(&str, &[&str])] = &[
    ("lead_score", &["10", "25", "50", "75", "90"]),
    ("preferred_contact_method", &["Email", "Phone", "SMS"]),
    ("budget", &["1000", "5000", "10000", "25000"]),
    ("industry", &["Retail", "Healthcare", "Construction", "Hospitality", "Finance"]),
];
