package analytics

import (
	"strings"
	"testing"
)

// CQD's sample row ("Upload tenant and building data").
const cqdSample = "192.168.1.0,USA/Seattle/SEATTLE-SEA-1,26,SEATTLE-SEA-1,Contoso,IT Termination,Engineering,Seattle,98001,US,WA,MSUS,1,0,0\n"

func TestParseBuildingsTakesCQDsFiles(t *testing.T) {
	b, err := ParseBuildings([]byte(cqdSample + "10.10.0.0,VPN pool,16,VPN,Contoso,,,,,,,,1,0,1\n" +
		"172.16.4.0,No VPN column,24,Branch,Contoso,Office,Sales,Lyon,69001,FR,,EMEA,0,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 {
		t.Fatalf("%d networks", b.Len())
	}
	for _, tt := range []struct{ subnet, ip, want string }{
		{"192.168.1.0", "192.168.1.7", "SEATTLE-SEA-1"},
		{"192.168.1.0", "", "SEATTLE-SEA-1"},
		{"192.168.1.64", "", ""},          // outside the /26
		{"10.10.3.0", "10.10.3.9", "VPN"}, // a VPN network is matched by address
		{"10.10.3.0", "", ""},
		{"172.16.4.0", "", "Branch"},
		{"", "", ""},
		{"not an address", "", ""},
	} {
		got := ""
		if bl := b.Find(tt.subnet, tt.ip); bl != nil {
			got = bl.BuildingName
		}
		if got != tt.want {
			t.Errorf("Find(%q, %q) = %q, want %q", tt.subnet, tt.ip, got, tt.want)
		}
	}
	tsv := strings.ReplaceAll(cqdSample, ",", "\t")
	if b, err := ParseBuildings([]byte(tsv)); err != nil || b.Len() != 1 || !b.All()[0].InsideCorp {
		t.Errorf("TSV: %v, %v", b, err)
	}
}

func TestParseBuildingsRefusesWithClearErrors(t *testing.T) {
	for _, tt := range []struct{ name, file, want string }{
		{"overlapping ranges", cqdSample + "192.168.0.0,Wide,16,HQ,,,,,,,,,0,0,0\n", "line 1: network 192.168.1.0/26 overlaps 192.168.0.0/16 of line 2"},
		{"a header row", "NetworkIP,NetworkName,NetworkRange,BuildingName,OwnershipType,BuildingType,BuildingOfficeType,City,ZipCode,Country,State,Region,InsideCorp,ExpressRoute,VPN\n", `line 1: NetworkIP "NetworkIP" is not an IPv4 address`},
		{"too few columns", "10.0.0.0,A,24\n", "line 1: 3 columns, want 15"},
		{"a range out of bounds", "10.0.0.0,A,7,B,,,,,,,,,0,0,0\n", `line 1: NetworkRange "7" is not a prefix length from 8 to 32`},
		{"an address inside its network", "10.0.0.5,A,24,B,,,,,,,,,0,0,0\n", "line 1: NetworkIP 10.0.0.5 is not the first address of its /24 network (10.0.0.0/24)"},
		{"a flag that is not 0 or 1", "10.0.0.0,A,24,B,,,,,,,,,yes,0,0\n", `line 1: InsideCorp "yes" is not 0 or 1`},
	} {
		_, err := ParseBuildings([]byte(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	e, err := ParseEndpoints([]byte("LAPTOP-1,Surface Laptop 5,Laptop,IT,Floor 2,\nROOM-1,Teams Room,Room,,,\n"))
	if err != nil || len(e) != 2 || e["LAPTOP-1"].Model != "Surface Laptop 5" {
		t.Fatalf("%v %v", e, err)
	}
	for _, tt := range []struct{ file, want string }{
		{"A,B,C\n", "line 1: 3 columns, want 6"},
		{"A,,,,,\nA,,,,,\n", `line 2: EndpointName "A" is already on line 1`},
		{"A," + strings.Repeat("m", 65) + ",,,,\n", "line 1: column 2 is 65 characters long, more than 64"},
	} {
		if _, err := ParseEndpoints([]byte(tt.file)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.file, err, tt.want)
		}
	}
}
