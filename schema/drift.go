package schema

import "slices"

// Drift is what a source of call records sent that the embedded CSDL does
// not declare yet: Graph adds properties and enum members every few months,
// and a mirror keeps them rather than refuse the record (docs/mirror.md,
// Schema drift).
type Drift struct {
	// Properties lists, by qualified structured type, the names of
	// properties seen on it that it does not declare.
	Properties map[string][]string
	// Members lists, by qualified enum type, the members seen that it does
	// not declare.
	Members map[string][]string
}

// Empty reports whether d holds nothing.
func (d Drift) Empty() bool { return len(d.Properties) == 0 && len(d.Members) == 0 }

// WithDrift returns a new model of version, built from the embedded CSDL,
// that serves what d holds:
//
//   - each structured type with drifted properties, and its subtypes, is
//     open: the properties kept in stored bodies (as dynamic properties,
//     after the declared ones) are written back after the declared ones,
//     as Graph writes an open type's;
//   - each drifted enum member is appended past the enum's
//     unknownFutureValue sentinel, so clients see it only when they prefer
//     include-unknown-enum-members, as Graph shows members newer than the
//     client's schema.
//
// Properties apply to the beta model only (Graph adds them there first);
// members to both. Names d holds that the model already declares, and
// types it does not have, are left alone. With an empty d it returns
// Load's shared model.
func WithDrift(version string, d Drift) (*Model, error) {
	if d.Empty() {
		return Load(version)
	}
	m, err := build(version)
	if err != nil {
		return nil, err
	}
	if version == Beta {
		for name, props := range d.Properties {
			t := m.Type(name)
			if t == nil || !t.IsStructured() || len(props) == 0 {
				continue
			}
			open(t)
		}
	}
	for name, members := range d.Members {
		t := m.Type(name)
		if t == nil || t.Kind != Enum {
			continue
		}
		members = slices.Clone(members)
		slices.Sort(members) // stable whatever order the store kept
		for _, member := range members {
			if t.Member(member) >= 0 || !IsIdentifier(member) {
				continue
			}
			var next int64
			for _, x := range t.Members {
				next = max(next, x.Value+1)
			}
			t.byMember[member] = len(t.Members)
			t.Members = append(t.Members, Member{Name: member, Value: next})
		}
	}
	return m, nil
}

// open makes t and its subtypes open types.
func open(t *Type) {
	t.Open = true
	for _, d := range t.Derived {
		open(d)
	}
}

// IsIdentifier reports whether s is an OData simple identifier as Graph
// spells property and enum member names: a letter or underscore, then
// letters, digits and underscores, at most 128 of them. A drifted name
// must be one before it is kept, so that nothing else enters the schema.
func IsIdentifier(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
