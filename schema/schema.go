// Package schema loads the Microsoft Graph callRecords CSDL into an in-memory
// model: the one source of property names, types, enums, derived types and
// navigation properties for validation, encoding and $metadata.
package schema

import "strings"

// Namespaces of the types the model holds.
const (
	CallRecordsNamespace = "microsoft.graph.callRecords"
	GraphNamespace       = "microsoft.graph"
)

// Versions callvault serves.
const (
	V1   = "v1.0"
	Beta = "beta"
)

// Kind classifies a Type.
type Kind int

const (
	Primitive Kind = iota + 1
	Enum
	Complex
	Entity
)

// Primitive kinds of EDM types the callRecords namespace uses.
const (
	EdmString         = "Edm.String"
	EdmBoolean        = "Edm.Boolean"
	EdmInt32          = "Edm.Int32"
	EdmInt64          = "Edm.Int64"
	EdmSingle         = "Edm.Single"
	EdmDouble         = "Edm.Double"
	EdmDecimal        = "Edm.Decimal"
	EdmDateTimeOffset = "Edm.DateTimeOffset"
	EdmDuration       = "Edm.Duration"
	EdmDate           = "Edm.Date"
	EdmGuid           = "Edm.Guid"
)

// Type is a primitive, enum, complex or entity type of one version's model.
type Type struct {
	Name     string // qualified, e.g. "microsoft.graph.callRecords.session"
	Kind     Kind
	Base     *Type
	Abstract bool
	Open     bool // an open type keeps dynamic properties

	// Properties holds the structural and navigation properties, the base
	// type's first, each list in CSDL order.
	Properties []*Property
	Derived    []*Type // direct subtypes, in CSDL order
	// Unserved names the navigation properties the CSDL declares to types
	// this model does not hold (communications' calls, presences…).
	Unserved []string

	// Enum members, in CSDL order, and the index of the unknownFutureValue
	// sentinel (-1 when the enum has none). Members after the sentinel are
	// evolvable: clients see them only when they ask.
	Members  []Member
	Sentinel int

	byName   map[string]*Property
	byMember map[string]int
}

// Member is one member of an enum type.
type Member struct {
	Name  string
	Value int64
}

// Property is a structural or navigation property.
type Property struct {
	Name           string
	Type           *Type
	Collection     bool
	Nullable       bool
	Navigation     bool
	ContainsTarget bool
	AutoExpand     bool   // Org.OData.Core.V1.AutoExpand: written without $expand
	Deprecated     string // the deprecation note, when the property is deprecated
	Index          int    // position in the owner's Properties
}

// TypeName is the name a payload gives the type in "@odata.type": "#" and
// the qualified name.
func (t *Type) TypeName() string { return "#" + t.Name }

// ShortName is the name without the namespace.
func (t *Type) ShortName() string { return t.Name[strings.LastIndexByte(t.Name, '.')+1:] }

// Property returns the property of that name, declared here or on a base
// type, or nil.
func (t *Type) Property(name string) *Property { return t.byName[name] }

// Member returns the index of the enum member of that name, or -1.
func (t *Type) Member(name string) int {
	if i, ok := t.byMember[name]; ok {
		return i
	}
	return -1
}

// Evolvable reports whether enum member i lies past the unknownFutureValue
// sentinel, so that it is hidden unless the client prefers
// include-unknown-enum-members.
func (t *Type) Evolvable(i int) bool { return t.Sentinel >= 0 && i > t.Sentinel }

// IsStructured reports whether values of t are JSON objects.
func (t *Type) IsStructured() bool { return t.Kind == Complex || t.Kind == Entity }

// DerivesFrom reports whether t is base or one of its subtypes.
func (t *Type) DerivesFrom(base *Type) bool {
	for x := t; x != nil; x = x.Base {
		if x == base {
			return true
		}
	}
	return false
}

// Model is the callRecords schema as one version of Graph serves it.
type Model struct {
	Version   string
	types     map[string]*Type
	order     []*Type // every non-primitive type, by name
	functions []*Function
}

// Type returns the type of that qualified name, or nil. The alias "graph."
// of the microsoft.graph namespace is accepted too.
func (m *Model) Type(name string) *Type {
	if t, ok := m.types[name]; ok {
		return t
	}
	return m.types[qualify(name)]
}

// Types returns every enum, complex and entity type of the model.
func (m *Model) Types() []*Type { return m.order }

// qualify resolves the CSDL alias "graph" of the microsoft.graph namespace.
func qualify(name string) string {
	if rest, ok := strings.CutPrefix(name, "graph."); ok {
		return GraphNamespace + "." + rest
	}
	return name
}
