package schema

import "sort"

// Function is a bound OData function, such as getPstnCalls.
type Function struct {
	Name        string
	Bound       bool
	BindingType string // e.g. "Collection(microsoft.graph.callRecords.callRecord)"
	Parameters  []Parameter
	ReturnType  string
}

// Parameter is a function parameter other than the binding parameter.
type Parameter struct {
	Name string
	Type string
}

// Function returns the function of that name, or nil.
func (m *Model) Function(name string) *Function {
	for _, f := range m.functions {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Functions returns every function of the model.
func (m *Model) Functions() []*Function { return m.functions }

// sortTypes orders types by name, so listings do not depend on load order.
func sortTypes(ts []*Type) {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
}
