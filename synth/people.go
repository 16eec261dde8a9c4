package synth

import (
	"strconv"
	"strings"
)

// kind is what a participant is to the tenant.
type kind uint8

const (
	member    kind = iota // a user of the tenant
	external              // a federated user of another tenant
	anonymous             // an unauthenticated meeting guest
	acsUser               // an Azure Communication Services user
	phone                 // a PSTN dial-in
)

// person is one participant of a call.
type person struct {
	kind   kind
	id     string // user object id, ACS id, or E.164 number for a phone
	name   string // displayName, any script
	upn    string // members only
	tenant string // members and externals
	ascii  string // an ASCII first name, for machine names
}

// romanized is a name in its own script with the romanised form UPNs use.
type romanized struct{ native, roman string }

// Latin-script names, diacritics included; romanised by foldASCII.
var (
	latinFirst = []string{
		"Abbie", "Owen", "Zoë", "Renée", "Søren", "José", "María", "Łukasz", "Chloé",
		"Jürgen", "Anaïs", "Björn", "Siobhán", "Ingrid", "Mateus", "Aoife", "Kofi",
		"Amara", "Priya", "Arjun", "Daichi", "Anette", "François", "Noémie", "Thandiwe",
		"Oluwaseun", "Camila", "Mikael", "Isabela", "Ahmet", "Emma", "Liam", "Olivia",
		"Noah", "Sophia", "Lucas", "Mia", "Ethan", "Ava", "Mason", "Grace", "Henry",
		"Hannah", "Samuel", "Leah", "Daniel", "Chiara", "Matteo", "Agnieszka", "Tomás",
	}
	latinLast = []string{
		"Wilkins", "Franklin", "Åkesson", "O'Brien", "Kierkegård", "Álvarez", "Wróbel",
		"Müller", "Ødegaard", "Núñez", "Dubois", "Thomsen", "Maruyama", "Nakamura",
		"Okafor", "Mensah", "Patel", "Sharma", "García", "Nguyễn", "Szabó", "Çelik",
		"Yılmaz", "Kowalczyk", "Dvořák", "Jónsdóttir", "Lefèvre", "Smith", "Johnson",
		"Brown", "Taylor", "Anderson", "Thomas", "Martin", "Lee", "Walker", "Hall",
		"Young", "King", "Wright", "Lopez", "Hill", "Scott", "Green", "Adams", "Baker",
		"Rossi", "Ferrari", "Jensen", "Virtanen", "de Vries", "Van der Berg",
	}
	// Chinese and Korean names are written surname first without a space.
	zhSurname = []romanized{{"李", "li"}, {"王", "wang"}, {"张", "zhang"}, {"刘", "liu"}, {"陈", "chen"}, {"杨", "yang"}, {"黄", "huang"}, {"赵", "zhao"}}
	zhGiven   = []romanized{{"雷", "lei"}, {"伟", "wei"}, {"芳", "fang"}, {"娜", "na"}, {"静", "jing"}, {"敏", "min"}, {"磊", "lei"}, {"洋", "yang"}, {"艳", "yan"}, {"杰", "jie"}}
	koSurname = []romanized{{"김", "kim"}, {"이", "lee"}, {"박", "park"}, {"최", "choi"}}
	koGiven   = []romanized{{"민준", "minjun"}, {"서연", "seoyeon"}, {"지훈", "jihoon"}, {"하은", "haeun"}}
	// Japanese names are written surname first with a space.
	jaSurname = []romanized{{"山田", "yamada"}, {"佐藤", "sato"}, {"鈴木", "suzuki"}, {"高橋", "takahashi"}, {"田中", "tanaka"}, {"丸山", "maruyama"}}
	jaGiven   = []romanized{{"太郎", "taro"}, {"花子", "hanako"}, {"大地", "daichi"}, {"結衣", "yui"}, {"翔", "sho"}, {"美咲", "misaki"}}
	// Scripts whose surnames agree with the given name are kept whole.
	wholeNames = []romanized{
		{"Анна Шевченко", "anna.shevchenko"}, {"Дмитрий Ковальчук", "dmitry.kovalchuk"},
		{"Ольга Мельник", "olga.melnyk"}, {"Сергей Бондаренко", "sergey.bondarenko"},
		{"Ελένη Παπαδοπούλου", "eleni.papadopoulou"}, {"Νίκος Γεωργίου", "nikos.georgiou"},
		{"محمد العلي", "mohammed.alali"}, {"ليلى حداد", "layla.haddad"}, {"عمر خليل", "omar.khalil"},
		{"נועה כהן", "noa.cohen"}, {"דוד לוי", "david.levi"},
		{"Nguyễn Thị Ngọc", "ngoc.nguyen"}, {"Trần Văn Minh", "minh.tran"},
	}
	// Anonymous guests type whatever they like.
	guestNames = []string{
		"Guest", "Maria (external)", "Interviewer 🎧", "Conference Room B", "jdoe",
		"Zoë (mobile)", "Phone user", "Gast 2", "访客", "Invité",
	}
)

// Fold maps the diacritics in the name pools to ASCII for UPNs.
var fold = strings.NewReplacer(
	"ë", "e", "é", "e", "è", "e", "ï", "i", "í", "i", "ı", "i", "å", "a", "á", "a",
	"ä", "a", "ø", "o", "ó", "o", "ö", "o", "ü", "u", "ú", "u", "ñ", "n", "ç", "c",
	"ł", "l", "ş", "s", "ğ", "g", "ř", "r", "ễ", "e", "Å", "a", "Á", "a", "Ø", "o",
	"Ç", "c", "Ł", "l", "'", "", " ", "",
)

func foldASCII(s string) string { return fold.Replace(strings.ToLower(s)) }

// drawName returns a display name, its UPN local part and an ASCII first
// name. Most names are Latin script; about a fifth are CJK, Cyrillic,
// Greek, Arabic, Hebrew or Vietnamese.
func drawName(r rng) (display, local, first string) {
	switch x := r.Float64(); {
	case x < 0.80:
		f, l := pick(r, latinFirst), pick(r, latinLast)
		return f + " " + l, foldASCII(f) + "." + foldASCII(l), foldASCII(f)
	case x < 0.87:
		s, g := pick(r, zhSurname), pick(r, zhGiven)
		return s.native + g.native, g.roman + "." + s.roman, g.roman
	case x < 0.91:
		s, g := pick(r, jaSurname), pick(r, jaGiven)
		return s.native + " " + g.native, g.roman + "." + s.roman, g.roman
	case x < 0.93:
		s, g := pick(r, koSurname), pick(r, koGiven)
		return s.native + g.native, g.roman + "." + s.roman, g.roman
	default:
		n := pick(r, wholeNames)
		first, _, _ := strings.Cut(n.roman, ".")
		return n.native, n.roman, first
	}
}

// newDirectory draws the tenant's users. featured people come first, as
// given; UPNs are made unique with a number, as admins do.
func newDirectory(r rng, tenant, domain string, size int, featured []person) []person {
	dir := make([]person, 0, max(size, len(featured)))
	seen := make(map[string]bool, cap(dir))
	for _, p := range featured {
		dir = append(dir, p)
		seen[p.upn] = true
	}
	for len(dir) < size {
		display, local, first := drawName(r)
		upn := local + "@" + domain
		for n := 2; seen[upn]; n++ {
			upn = local + strconv.Itoa(n) + "@" + domain
		}
		seen[upn] = true
		dir = append(dir, person{kind: member, id: r.uuid(), name: display, upn: upn, tenant: tenant, ascii: first})
	}
	return dir
}

// phoneNumber returns a number from ranges reserved for fiction (NANP
// 555-01xx, Ofcom's 020 7946 0xxx, ACMA's 0491 570 xxx).
func phoneNumber(r rng) string {
	switch r.IntN(3) {
	case 0:
		return "+1425555" + "01" + r.digits(2)
	case 1:
		return "+44207946" + "0" + r.digits(3)
	default:
		return "+61491570" + strconv.Itoa(r.intBetween(110, 159))
	}
}
