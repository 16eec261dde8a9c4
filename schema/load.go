package schema

import (
	"embed"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:embed csdl/*.xml
var csdlFiles embed.FS

// Files of each version's model. Both versions take the referenced
// microsoft.graph types and the annotations from v1.0: no beta copy was
// extracted (csdl/README.md).
var versionFiles = map[string][]string{
	V1:   {"csdl/graph-referenced-types-v1.0.xml", "csdl/callrecords-v1.0.csdl.xml"},
	Beta: {"csdl/graph-referenced-types-v1.0.xml", "csdl/callrecords-beta.csdl.xml"},
}

const annotationsFile = "csdl/callrecords-v1.0.annotations.xml"

var (
	loadOnce sync.Once
	models   map[string]*Model
	loadErr  error
)

// Load returns the model of a version (V1 or Beta). Models are built once
// from the embedded CSDL and shared: they are read-only.
func Load(version string) (*Model, error) {
	loadOnce.Do(func() {
		models = make(map[string]*Model)
		for v := range versionFiles {
			m, err := build(v)
			if err != nil {
				loadErr = err
				return
			}
			models[v] = m
		}
	})
	if loadErr != nil {
		return nil, loadErr
	}
	m, ok := models[version]
	if !ok {
		return nil, fmt.Errorf("schema: no model for version %q", version)
	}
	return m, nil
}

// MustLoad is Load for callers that cannot go on without the model; the
// embedded CSDL is part of the binary, so an error is a build defect.
func MustLoad(version string) *Model {
	m, err := Load(version)
	if err != nil {
		panic(err)
	}
	return m
}

// CSDL returns the embedded CSDL files of a version, in load order.
func CSDL(version string) ([][]byte, error) {
	var out [][]byte
	for _, name := range versionFiles[version] {
		b, err := csdlFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Annotations returns the embedded vocabulary annotations (the
// <Annotations> elements, without their wrapper).
func Annotations() []byte {
	b, _ := csdlFiles.ReadFile(annotationsFile)
	s := string(b)
	if i := strings.Index(s, "<Annotations "); i >= 0 {
		s = s[i:]
	}
	if j := strings.LastIndex(s, "</Annotations>"); j >= 0 {
		s = s[:j+len("</Annotations>")]
	}
	return []byte(s)
}

type xSchema struct {
	Namespace string      `xml:"Namespace,attr"`
	Enums     []xEnum     `xml:"EnumType"`
	Complex   []xStruct   `xml:"ComplexType"`
	Entities  []xStruct   `xml:"EntityType"`
	Functions []xFunction `xml:"Function"`
}

type xEnum struct {
	Name    string `xml:"Name,attr"`
	Members []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:"Value,attr"`
	} `xml:"Member"`
}

type xStruct struct {
	Name       string      `xml:"Name,attr"`
	BaseType   string      `xml:"BaseType,attr"`
	Abstract   bool        `xml:"Abstract,attr"`
	OpenType   bool        `xml:"OpenType,attr"`
	Properties []xProperty `xml:"Property"`
	NavProps   []xProperty `xml:"NavigationProperty"`
}

type xProperty struct {
	Name           string `xml:"Name,attr"`
	Type           string `xml:"Type,attr"`
	Nullable       string `xml:"Nullable,attr"`
	ContainsTarget bool   `xml:"ContainsTarget,attr"`
}

type xFunction struct {
	Name       string `xml:"Name,attr"`
	IsBound    bool   `xml:"IsBound,attr"`
	Parameters []struct {
		Name string `xml:"Name,attr"`
		Type string `xml:"Type,attr"`
	} `xml:"Parameter"`
	ReturnType struct {
		Type string `xml:"Type,attr"`
	} `xml:"ReturnType"`
}

type xAnnotations struct {
	Annotations []struct {
		Target      string `xml:"Target,attr"`
		Annotations []struct {
			Term string `xml:"Term,attr"`
			Bool string `xml:"Bool,attr"`
			Raw  []byte `xml:",innerxml"`
		} `xml:"Annotation"`
	} `xml:"Annotations"`
}

// schemas finds the Schema elements of a file, whether it is a bare Schema
// or wrapped in Edmx/DataServices.
func schemas(b []byte) ([]xSchema, error) {
	var edmx struct {
		XMLName xml.Name
		Schemas []xSchema `xml:"DataServices>Schema"`
		xSchema
	}
	if err := xml.Unmarshal(b, &edmx); err != nil {
		return nil, err
	}
	if edmx.XMLName.Local == "Schema" {
		return []xSchema{edmx.xSchema}, nil
	}
	return edmx.Schemas, nil
}

// build loads the model of a version from its CSDL files, in three phases:
// declare every type and function the files name (declare), give each
// structured type its base and its own properties, now that every type
// they name is known (link), then lay out each type's properties, its
// base's first (inherit). Annotations come last, on the finished types.
func build(version string) (*Model, error) {
	m := &Model{Version: version, types: make(map[string]*Type)}
	for _, p := range []string{EdmString, EdmBoolean, EdmInt32, EdmInt64, EdmSingle, EdmDouble, EdmDecimal, EdmDateTimeOffset, EdmDuration, EdmDate, EdmGuid} {
		m.types[p] = &Type{Name: p, Kind: Primitive, Sentinel: -1}
	}
	structs, functions, err := m.declare(versionFiles[version])
	if err != nil {
		return nil, err
	}
	own, err := m.link(structs)
	if err != nil {
		return nil, err
	}
	m.inherit(structs, own)
	if err := m.annotate(); err != nil {
		return nil, err
	}
	for i := range functions {
		m.functions = append(m.functions, &functions[i])
	}
	return m, nil
}

// pendingStruct is a structured type declared but not yet linked: its
// type, and its CSDL element.
type pendingStruct struct {
	t  *Type
	xs xStruct
}

// declare adds to m the enums (whole), the complex and entity types (by
// name and kind only) of the CSDL files, in a stable order, and returns the
// structured types to link and the functions.
func (m *Model) declare(files []string) ([]pendingStruct, []Function, error) {
	var structs []pendingStruct
	var functions []Function
	for _, file := range files {
		b, err := csdlFiles.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		ss, err := schemas(b)
		if err != nil {
			return nil, nil, fmt.Errorf("schema: %s: %w", file, err)
		}
		for _, s := range ss {
			for _, e := range s.Enums {
				t, err := enumType(s.Namespace, e)
				if err != nil {
					return nil, nil, fmt.Errorf("schema: %s: %w", file, err)
				}
				m.add(t)
			}
			for kind, list := range map[Kind][]xStruct{Complex: s.Complex, Entity: s.Entities} {
				for _, xs := range list {
					t := &Type{Name: s.Namespace + "." + xs.Name, Kind: kind, Abstract: xs.Abstract, Open: xs.OpenType, Sentinel: -1}
					m.add(t)
					structs = append(structs, pendingStruct{t, xs})
				}
			}
			for _, f := range s.Functions {
				functions = append(functions, function(f))
			}
		}
	}
	// Map iteration above visits Complex and Entity in either order; fix the
	// order of m.order so that every listing is stable.
	sortTypes(m.order)
	return structs, functions, nil
}

// enumType is the enum type e of namespace ns, its unknownFutureValue
// member as its Sentinel.
func enumType(ns string, e xEnum) (*Type, error) {
	t := &Type{Name: ns + "." + e.Name, Kind: Enum, Sentinel: -1, byMember: map[string]int{}}
	for i, x := range e.Members {
		v, err := strconv.ParseInt(x.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("enum %s member %s: %w", t.Name, x.Name, err)
		}
		t.Members = append(t.Members, Member{Name: x.Name, Value: v})
		t.byMember[x.Name] = i
		if x.Name == "unknownFutureValue" {
			t.Sentinel = i
		}
	}
	return t, nil
}

// function is the Function that f declares.
func function(f xFunction) Function {
	fn := Function{Name: f.Name, Bound: f.IsBound}
	for _, p := range f.Parameters {
		if p.Name == "bindingParameter" {
			fn.BindingType = qualify(p.Type)
			continue
		}
		fn.Parameters = append(fn.Parameters, Parameter{Name: p.Name, Type: qualify(p.Type)})
	}
	fn.ReturnType = qualify(f.ReturnType.Type)
	return fn
}

// link gives each structured type its base, and returns the properties and
// navigation properties each declares itself (navigation properties to
// types not in the model left out).
func (m *Model) link(structs []pendingStruct) (map[*Type][]*Property, error) {
	own := make(map[*Type][]*Property)
	for _, p := range structs {
		if p.xs.BaseType != "" {
			base := m.Type(p.xs.BaseType)
			if base == nil {
				return nil, fmt.Errorf("schema: %s: unknown base type %s", p.t.Name, p.xs.BaseType)
			}
			p.t.Base = base
		}
		for _, xp := range p.xs.Properties {
			prop, err := m.property(xp, false)
			if err != nil {
				return nil, fmt.Errorf("schema: %s.%s: %w", p.t.Name, xp.Name, err)
			}
			own[p.t] = append(own[p.t], prop)
		}
		for _, xp := range p.xs.NavProps {
			if m.Type(strings.TrimSuffix(strings.TrimPrefix(xp.Type, "Collection("), ")")) == nil {
				// cloudCommunications leads to calls, presences…: not served
				// here, but named, so that a request for one is told so.
				p.t.Unserved = append(p.t.Unserved, xp.Name)
				continue
			}
			prop, err := m.property(xp, true)
			if err != nil {
				return nil, fmt.Errorf("schema: %s.%s: %w", p.t.Name, xp.Name, err)
			}
			own[p.t] = append(own[p.t], prop)
		}
	}
	return own, nil
}

// inherit lays out each structured type's properties, its base's (shared
// by pointer) then its own (indexed by their position), makes a type open
// when its base is, and lists each type's derived types in model order.
func (m *Model) inherit(structs []pendingStruct, own map[*Type][]*Property) {
	var resolve func(t *Type)
	resolve = func(t *Type) {
		if t.byName != nil {
			return
		}
		t.byName = make(map[string]*Property)
		if t.Base != nil {
			resolve(t.Base)
			t.Open = t.Open || t.Base.Open
			t.Properties = append(t.Properties, t.Base.Properties...)
		}
		t.Properties = append(t.Properties, own[t]...)
		for i, p := range t.Properties {
			if t.Base == nil || i >= len(t.Base.Properties) {
				p.Index = i
			}
			t.byName[p.Name] = p
		}
	}
	for _, p := range structs {
		resolve(p.t)
	}
	for _, t := range m.order {
		if t.Base != nil {
			t.Base.Derived = append(t.Base.Derived, t)
		}
	}
}

func (m *Model) add(t *Type) {
	m.types[t.Name] = t
	m.order = append(m.order, t)
}

func (m *Model) property(xp xProperty, nav bool) (*Property, error) {
	name, coll := xp.Type, false
	if inner, ok := strings.CutPrefix(name, "Collection("); ok {
		name, coll = strings.TrimSuffix(inner, ")"), true
	}
	t := m.Type(name)
	if t == nil {
		return nil, fmt.Errorf("unknown type %s", xp.Type)
	}
	return &Property{
		Name:           xp.Name,
		Type:           t,
		Collection:     coll,
		Nullable:       xp.Nullable != "false",
		Navigation:     nav,
		ContainsTarget: xp.ContainsTarget,
	}, nil
}

// annotate applies the vocabulary annotations callvault acts on.
func (m *Model) annotate() error {
	b, err := csdlFiles.ReadFile(annotationsFile)
	if err != nil {
		return err
	}
	var x xAnnotations
	if err := xml.Unmarshal(b, &x); err != nil {
		return fmt.Errorf("schema: %s: %w", annotationsFile, err)
	}
	for _, a := range x.Annotations {
		typeName, propName, ok := strings.Cut(a.Target, "/")
		if !ok {
			continue
		}
		t := m.Type(typeName)
		if t == nil || t.Property(propName) == nil {
			return fmt.Errorf("schema: annotation target %s not in the %s model", a.Target, m.Version)
		}
		p := t.Property(propName)
		for _, an := range a.Annotations {
			switch an.Term {
			case "Org.OData.Core.V1.AutoExpand":
				p.AutoExpand = an.Bool == "true"
			case "Org.OData.Core.V1.Revisions":
				if s := string(an.Raw); strings.Contains(s, "RevisionKind/Deprecated") {
					p.Deprecated = deprecationNote(s)
				}
			}
		}
	}
	return nil
}

// deprecationNote pulls the Description string out of a Revisions record.
func deprecationNote(raw string) string {
	const key = `Property="Description" String="`
	i := strings.Index(raw, key)
	if i < 0 {
		return "deprecated"
	}
	rest := raw[i+len(key):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return "deprecated"
}
