package analytics

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Building is one row of a CQD building file: a network and the building
// it is in ("Upload tenant and building data", CQD).
type Building struct {
	Network            netip.Prefix // NetworkIP/NetworkRange
	NetworkName        string
	BuildingName       string
	OwnershipType      string
	BuildingType       string
	BuildingOfficeType string
	City, ZipCode      string
	Country, State     string
	Region             string
	InsideCorp         bool
	ExpressRoute       bool
	VPN                bool // the network's addresses are matched one by one (/32), as CQD expands VPN subnets
	Line               int
}

// Buildings is a parsed building file: networks that do not overlap, in
// address order.
type Buildings struct {
	list []Building
}

// Len returns how many networks the file has.
func (b *Buildings) Len() int {
	if b == nil {
		return 0
	}
	return len(b.list)
}

// All returns the networks in address order.
func (b *Buildings) All() []Building {
	if b == nil {
		return nil
	}
	return b.list
}

// hasVPN reports whether a network of the file is a VPN one.
func (b *Buildings) hasVPN() bool {
	if b == nil {
		return false
	}
	for i := range b.list {
		if b.list[i].VPN {
			return true
		}
	}
	return false
}

// Find returns the building of an endpoint by its subnet, as CQD joins the
// file on First/Second Subnet; a VPN network matches the endpoint's IP
// address instead. It returns nil when no network holds it.
func (b *Buildings) Find(subnet, ip string) *Building {
	if b.Len() == 0 {
		return nil
	}
	if bl := b.find(subnet); bl != nil && !bl.VPN {
		return bl
	}
	if bl := b.find(ip); bl != nil && bl.VPN {
		return bl
	}
	return nil
}

func (b *Buildings) find(addr string) *Building {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil
	}
	a = a.Unmap()
	// The last network that starts at or before a.
	i := sort.Search(len(b.list), func(i int) bool { return b.list[i].Network.Addr().Compare(a) > 0 }) - 1
	if i >= 0 && b.list[i].Network.Contains(a) {
		return &b.list[i]
	}
	return nil
}

// FileError lists what is wrong with an uploaded file, line by line.
type FileError struct {
	Problems []string // "line N: …"
}

func (e *FileError) Error() string {
	const shown = 20
	p := e.Problems
	more := ""
	if len(p) > shown {
		more = fmt.Sprintf("; and %d more", len(p)-shown)
		p = p[:shown]
	}
	return strings.Join(p, "; ") + more
}

// readRows reads a CSV or TSV file without a header (a tab in the first
// line makes it TSV), skipping blank lines.
func readRows(body []byte) ([][]string, []int, error) {
	first, _, _ := bytes.Cut(body, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))))
	if bytes.IndexByte(first, '\t') >= 0 {
		r.Comma = '\t'
	}
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var rows [][]string
	var lines []int
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, lines, nil
		} else if err != nil {
			return nil, nil, &FileError{Problems: []string{err.Error()}}
		}
		line, _ := r.FieldPos(0)
		rows, lines = append(rows, rec), append(lines, line)
	}
}

// The columns of CQD's building file, in order. VPN, the fifteenth, may be
// left out (0).
var buildingColumns = []string{"NetworkIP", "NetworkName", "NetworkRange", "BuildingName", "OwnershipType", "BuildingType",
	"BuildingOfficeType", "City", "ZipCode", "Country", "State", "Region", "InsideCorp", "ExpressRoute", "VPN"}

// ParseBuildings reads a building file in CQD's format: CSV or TSV, no
// header, 15 columns (14 without VPN). NetworkIP must be the first address
// of its network, NetworkRange 8 to 32, the flags 0 or 1; networks that
// overlap are refused, as CQD refuses them.
func ParseBuildings(body []byte) (*Buildings, error) {
	if !utf8.Valid(body) {
		return nil, &FileError{Problems: []string{"the file is not UTF-8 text"}}
	}
	rows, lines, err := readRows(body)
	if err != nil {
		return nil, err
	}
	var bad []string
	problem := func(line int, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
	}
	out := &Buildings{}
	for i, row := range rows {
		line := lines[i]
		if len(row) != 14 && len(row) != 15 {
			problem(line, "%d columns, want 15 (%s; VPN may be left out)", len(row), strings.Join(buildingColumns, ", "))
			continue
		}
		b := Building{Line: line, NetworkName: row[1], BuildingName: row[3], OwnershipType: row[4], BuildingType: row[5],
			BuildingOfficeType: row[6], City: row[7], ZipCode: row[8], Country: row[9], State: row[10], Region: row[11]}
		ok := true
		ip, err := netip.ParseAddr(strings.TrimSpace(row[0]))
		if err != nil || !ip.Is4() {
			problem(line, "NetworkIP %q is not an IPv4 address", row[0])
			ok = false
		}
		bits, err := strconv.Atoi(strings.TrimSpace(row[2]))
		if err != nil || bits < 8 || bits > 32 {
			problem(line, "NetworkRange %q is not a prefix length from 8 to 32", row[2])
			ok = false
		}
		if ok {
			b.Network = netip.PrefixFrom(ip, bits)
			if b.Network.Masked().Addr() != ip {
				problem(line, "NetworkIP %s is not the first address of its /%d network (%s)", ip, bits, b.Network.Masked())
				ok = false
			}
		}
		flags := []*bool{&b.InsideCorp, &b.ExpressRoute, &b.VPN}
		for j := 12; j < len(row); j++ {
			switch strings.TrimSpace(row[j]) {
			case "1":
				*flags[j-12] = true
			case "0", "":
			default:
				problem(line, "%s %q is not 0 or 1", buildingColumns[j], row[j])
				ok = false
			}
		}
		if ok {
			out.list = append(out.list, b)
		}
	}
	sort.SliceStable(out.list, func(i, j int) bool { return out.list[i].Network.Addr().Less(out.list[j].Network.Addr()) })
	for i := 1; i < len(out.list); i++ {
		a, b := out.list[i-1], out.list[i]
		if a.Network.Overlaps(b.Network) {
			problem(b.Line, "network %s overlaps %s of line %d: CQD refuses overlapping ranges", b.Network, a.Network, a.Line)
		}
	}
	if len(bad) > 0 {
		return nil, &FileError{Problems: bad}
	}
	return out, nil
}

// Endpoint is one row of a CQD endpoint file.
type Endpoint struct {
	Name, Model, Type      string
	Label1, Label2, Label3 string
}

// Endpoints is a parsed endpoint file, by EndpointName.
type Endpoints map[string]Endpoint

// ParseEndpoints reads an endpoint file in CQD's format: CSV or TSV, no
// header, 6 columns (EndpointName, EndpointModel, EndpointType,
// EndpointLabel1, EndpointLabel2, EndpointLabel3), each at most 64
// characters, EndpointName unique.
func ParseEndpoints(body []byte) (Endpoints, error) {
	if !utf8.Valid(body) {
		return nil, &FileError{Problems: []string{"the file is not UTF-8 text"}}
	}
	rows, lines, err := readRows(body)
	if err != nil {
		return nil, err
	}
	var bad []string
	out := Endpoints{}
	first := map[string]int{}
	for i, row := range rows {
		line := lines[i]
		if len(row) != 6 {
			bad = append(bad, fmt.Sprintf("line %d: %d columns, want 6 (EndpointName, EndpointModel, EndpointType, EndpointLabel1, EndpointLabel2, EndpointLabel3)", line, len(row)))
			continue
		}
		ok := true
		for j, v := range row {
			if utf8.RuneCountInString(v) > 64 {
				bad = append(bad, fmt.Sprintf("line %d: column %d is %d characters long, more than 64", line, j+1, utf8.RuneCountInString(v)))
				ok = false
			}
		}
		if row[0] == "" {
			bad = append(bad, fmt.Sprintf("line %d: EndpointName is empty", line))
			ok = false
		} else if l, dup := first[row[0]]; dup {
			bad = append(bad, fmt.Sprintf("line %d: EndpointName %q is already on line %d: names must be unique", line, row[0], l))
			ok = false
		}
		if ok {
			first[row[0]] = line
			out[row[0]] = Endpoint{row[0], row[1], row[2], row[3], row[4], row[5]}
		}
	}
	if len(bad) > 0 {
		return nil, &FileError{Problems: bad}
	}
	return out, nil
}
