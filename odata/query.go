package odata

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/schema"
)

// systemOptions are the OData system query options, each with the name
// ASP.NET OData's AllowedQueryOptions gives it ("" for those it has none
// for). An option that starts with '$' and is not among them is a client
// error.
var systemOptions = map[string]string{
	"$select": "Select", "$expand": "Expand", "$filter": "Filter", "$orderby": "OrderBy", "$top": "Top", "$skip": "Skip",
	"$count": "Count", "$search": "Search", "$format": "Format", "$skiptoken": "SkipToken", "$deltatoken": "DeltaToken",
	"$apply": "Apply", "$compute": "Compute", "$index": "", "$levels": "", "$id": "", "$schemaversion": "",
}

// AllowedQueryOption returns the name ASP.NET OData's AllowedQueryOptions
// gives the system query option name ("$select", in any case): "Select".
// Graph's services built on it quote that name when they refuse an
// option. It is "" for any other name.
func AllowedQueryOption(name string) string { return systemOptions[strings.ToLower(name)] }

// Rules say which query options a resource takes.
type Rules struct {
	Resource  string          // how messages name the resource, e.g. "/communications/callRecords/{id}/sessions"
	Select    bool            // $select of the resource's own properties
	Expand    map[string]bool // navigation properties $expand may name (nested: any of the expanded type's)
	SkipToken bool
	Count     bool // $count=true
	Filter    bool // $filter, parsed by the caller from Query.Filter
	Skip      bool // $skip
	// ExpandHint follows the 400 of a navigation property the resource
	// does not expand: where to get it instead.
	ExpandHint string
}

// Query holds the parsed query options of one request.
type Query struct {
	Select    *Selection // nil: every property
	Expand    []Expand
	SkipToken string
	Count     bool   // $count=true
	Filter    string // the $filter expression, decoded ('+' read as a space)
	Skip      int    // $skip

	// Raw holds the options in request order as name=value pairs, still
	// escaped, for next links.
	Raw []RawOption
}

// RawOption is one name=value pair of a query string, as it was sent.
type RawOption struct {
	Name    string // the canonical name, e.g. "$select"
	RawPair string // the pair exactly as sent
}

// Selection is a parsed $select.
type Selection struct {
	Props []*schema.Property // in request order
	Star  bool
	index map[*schema.Property]bool
}

// Has reports whether p is selected.
func (s *Selection) Has(p *schema.Property) bool {
	if s == nil || s.Star {
		return true
	}
	// A merge asks for every member of every body: a few pointer compares
	// cost less than hashing (4 % of a $select page in process).
	if len(s.Props) <= 8 {
		for _, q := range s.Props {
			if q == p {
				return true
			}
		}
		return false
	}
	return s.index[p]
}

// Expand is one item of $expand, with its nested $select and $expand.
type Expand struct {
	Property *schema.Property
	Select   *Selection
	Expand   []Expand
}

// ParseQuery parses a raw query string for a resource of entity type t.
// Every problem is a 400 *Error that names it. On beta the '$' prefix of
// system query options is optional, as on Graph.
func ParseQuery(rawQuery, version string, t *schema.Type, rules Rules) (*Query, error) {
	q := &Query{}
	seen := map[string]bool{}
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return nil, callvault.Errorf(callvault.EINVALID, "The query string is not properly percent-encoded near '%s'.", clip(pair))
		}
		lower := strings.ToLower(strings.TrimSpace(name))
		if !strings.HasPrefix(lower, "$") {
			if _, ok := systemOptions["$"+lower]; ok && version == schema.Beta {
				lower = "$" + lower
			} else {
				q.Raw = append(q.Raw, RawOption{Name: name, RawPair: pair})
				continue // not an OData option: Graph ignores it
			}
		}
		if _, ok := systemOptions[lower]; !ok {
			return nil, callvault.Errorf(callvault.EINVALID, "'%s' is not an OData query option. The options of %s are: %s.", clip(name), rules.Resource, rules.list())
		}
		if seen[lower] {
			return nil, callvault.Errorf(callvault.EINVALID, "Query option '%s' was specified more than once, but it must be specified at most once.", clip(lower))
		}
		seen[lower] = true
		q.Raw = append(q.Raw, RawOption{Name: lower, RawPair: pair})
		switch {
		case lower == "$select" && rules.Select:
			if q.Select, err1 = parseSelect(value, t); err1 != nil {
				return nil, err1
			}
		case lower == "$expand" && len(rules.Expand) > 0:
			if q.Expand, err1 = parseExpand(value, t, rules); err1 != nil {
				return nil, err1
			}
		case lower == "$skiptoken" && rules.SkipToken:
			if value == "" {
				return nil, callvault.Errorf(callvault.EINVALID, "The $skiptoken query option is empty. Follow the @odata.nextLink exactly as it was returned.")
			}
			q.SkipToken = value
		case lower == "$count" && rules.Count:
			switch strings.ToLower(value) {
			case "true":
				q.Count = true
			case "false":
			default:
				return nil, callvault.Errorf(callvault.EINVALID, "The $count query option takes true or false; got '%s'.", clip(value))
			}
		case lower == "$filter" && rules.Filter:
			// '+' is a space here, as in every option and on Graph:
			// clients that encode a space as '+' (Python's requests, Java's
			// URLEncoder) must work; an offset's plus is sent as %2B.
			if strings.TrimSpace(value) == "" {
				return nil, callvault.Errorf(callvault.EINVALID, "The $filter query option is empty.")
			}
			q.Filter = value
		case lower == "$format":
			// Graph lists $format among its options; JSON is all it answers.
			if f, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(value)), ";"); f != "json" && f != "application/json" {
				return nil, callvault.Errorf(callvault.EINVALID, "The $format query option takes json; got '%s'. Responses are JSON only.", clip(value))
			}
		case lower == "$skip" && rules.Skip:
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, callvault.Errorf(callvault.EINVALID, "The $skip query option takes a whole number of rows, 0 or more; got '%s'.", clip(value))
			}
			q.Skip = n
		default:
			return nil, callvault.Errorf(callvault.EINVALID, "Query option '%s' is not supported on %s. Its options are: %s.", clip(lower), rules.Resource, rules.list())
		}
	}
	return q, nil
}

func (r Rules) list() string {
	var opts []string
	if r.Select {
		opts = append(opts, "$select")
	}
	if len(r.Expand) > 0 {
		opts = append(opts, "$expand")
	}
	if r.Filter {
		opts = append(opts, "$filter")
	}
	if r.Count {
		opts = append(opts, "$count")
	}
	if r.Skip {
		opts = append(opts, "$skip (from @odata.nextLink)")
	}
	if r.SkipToken {
		opts = append(opts, "$skiptoken (from @odata.nextLink)")
	}
	if len(opts) == 0 {
		return "none"
	}
	return strings.Join(opts, ", ")
}

func parseSelect(value string, t *schema.Type) (*Selection, error) {
	s := &Selection{index: map[*schema.Property]bool{}}
	if strings.TrimSpace(value) == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "The $select query option is empty; name one or more properties of %s, separated by commas.", t.Name)
	}
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			s.Star = true
			continue
		}
		p := lookup(t, item)
		if p == nil {
			return nil, callvault.Errorf(callvault.EINVALID, "Could not find a property named '%s' on type '%s'.", clip(item), t.Name)
		}
		if p.Navigation {
			return nil, callvault.Errorf(callvault.EINVALID, "'%s' is a navigation property of '%s' and cannot be selected; use $expand=%s to include it.", p.Name, t.Name, p.Name)
		}
		if !s.index[p] {
			s.index[p] = true
			s.Props = append(s.Props, p)
		}
	}
	return s, nil
}

// maxExpandDepth bounds nested $expand: callRecord → sessions → segments.
const maxExpandDepth = 2

func parseExpand(value string, t *schema.Type, rules Rules) ([]Expand, error) {
	return parseExpandAt(value, t, rules, 1)
}

func parseExpandAt(value string, t *schema.Type, rules Rules, depth int) ([]Expand, error) {
	if depth > maxExpandDepth {
		return nil, callvault.Errorf(callvault.EINVALID, "$expand is nested more than %d levels deep.", maxExpandDepth)
	}
	if strings.TrimSpace(value) == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "The $expand query option is empty; name a navigation property to expand.")
	}
	var out []Expand
	items, ok := splitTopLevel(value)
	if !ok {
		return nil, callvault.Errorf(callvault.EINVALID, "The $expand value '%s' has unbalanced parentheses.", clip(value))
	}
	for _, item := range items {
		item = strings.TrimSpace(item)
		name, nested, hasNested := strings.Cut(item, "(")
		name = strings.TrimSpace(name)
		if name == "*" {
			if hasNested {
				return nil, callvault.Errorf(callvault.EINVALID, "$expand=* takes no nested options; name the navigation property to give it $select or $expand, as in $expand=sessions($select=id).")
			}
			for _, p := range t.Properties {
				if p.Navigation && (depth > 1 || rules.Expand[p.Name]) {
					out = append(out, Expand{Property: p})
				}
			}
			continue
		}
		p := lookup(t, name)
		switch {
		case p == nil:
			return nil, callvault.Errorf(callvault.EINVALID, "Could not find a property named '%s' on type '%s'.", clip(name), t.Name)
		case !p.Navigation:
			return nil, callvault.Errorf(callvault.EINVALID, "Property '%s' on type '%s' is not a navigation property. Only navigation properties can be expanded.", p.Name, t.Name)
		case depth == 1 && !rules.Expand[p.Name]:
			return nil, callvault.Errorf(callvault.EINVALID, "Expanding '%s' is not supported on %s.%s", p.Name, rules.Resource, rules.ExpandHint)
		}
		e := Expand{Property: p}
		if hasNested {
			inner := strings.TrimSuffix(strings.TrimSpace(nested), ")")
			opts, ok := splitTopLevelBy(inner, ';')
			if !ok {
				return nil, callvault.Errorf(callvault.EINVALID, "The $expand value '%s' has unbalanced parentheses.", clip(value))
			}
			seen := map[string]bool{}
			for _, opt := range opts {
				if strings.TrimSpace(opt) == "" {
					continue
				}
				oname, ovalue, _ := strings.Cut(opt, "=")
				lower := strings.ToLower(strings.TrimSpace(oname))
				if seen[lower] {
					// As at the top level: a repeated option is a 400.
					return nil, callvault.Errorf(callvault.EINVALID, "Query option '%s' was specified more than once inside $expand=%s(...), but it must be specified at most once.", clip(lower), p.Name)
				}
				seen[lower] = true
				switch lower {
				case "$select":
					sel, err := parseSelect(ovalue, p.Type)
					if err != nil {
						return nil, err
					}
					e.Select = sel
				case "$expand":
					nested, err := parseExpandAt(ovalue, p.Type, rules, depth+1)
					if err != nil {
						return nil, err
					}
					e.Expand = nested
				default:
					return nil, callvault.Errorf(callvault.EINVALID, "Query option '%s' is not supported inside $expand=%s(...); only $select and $expand are.", clip(strings.TrimSpace(oname)), p.Name)
				}
			}
		}
		dup := false
		for _, x := range out {
			dup = dup || x.Property == p
		}
		if dup {
			return nil, callvault.Errorf(callvault.EINVALID, "'%s' appears more than once in $expand.", p.Name)
		}
		out = append(out, e)
	}
	return out, nil
}

// lookup finds a property by name, exactly or, failing that, ignoring case
// as Graph does.
func lookup(t *schema.Type, name string) *schema.Property {
	if p := t.Property(name); p != nil {
		return p
	}
	for _, p := range t.Properties {
		if strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return nil
}

// splitTopLevel splits at commas outside parentheses.
func splitTopLevel(s string) ([]string, bool) { return splitTopLevelBy(s, ',') }

// splitTopLevelBy splits at sep outside parentheses.
func splitTopLevelBy(s string, sep byte) ([]string, bool) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, false
			}
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:]), depth == 0
}

// clip shortens a value quoted in a message to 60 bytes, so that an error
// never echoes a long input.
func clip(s string) string { return ClipTo(s, 60) }

// Clip is clip for other packages' messages.
func Clip(s string) string { return clip(s) }

// ClipTo shortens s to at most n bytes, on a character boundary, marking a
// cut with an ellipsis: for values such as paths, useful longer.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Clause is the select-and-expand part of a context URL, as in
// "(id,startDateTime,segments())", or "" when the query has neither. It
// also serves as the query shape a cursor is bound to.
func (q *Query) Clause() string {
	items := clauseItems(q.Select, q.Expand)
	if len(items) == 0 {
		return ""
	}
	return "(" + strings.Join(items, ",") + ")"
}

func clauseItems(sel *Selection, expand []Expand) []string {
	var items []string
	if sel != nil {
		if sel.Star {
			items = append(items, "*")
		}
		for _, p := range sel.Props {
			items = append(items, p.Name)
		}
	}
	for _, e := range expand {
		items = append(items, e.Property.Name+"("+strings.Join(clauseItems(e.Select, e.Expand), ",")+")")
	}
	return items
}

// Options writes an expansion's nested options as the query string of the
// collection it expands, for a next link that continues it:
// "$select=id&$expand=segments($select=id)".
func (e *Expand) Options() string {
	var parts []string
	if e.Select != nil {
		parts = append(parts, "$select="+selectText(e.Select))
	}
	if len(e.Expand) > 0 {
		parts = append(parts, "$expand="+expandText(e.Expand))
	}
	return strings.Join(parts, "&")
}

// Query returns the query an expansion's nested options make, as the
// collection's own endpoint would parse them.
func (e *Expand) Query() *Query { return &Query{Select: e.Select, Expand: e.Expand} }

func selectText(s *Selection) string {
	var names []string
	if s.Star {
		names = append(names, "*")
	}
	for _, p := range s.Props {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

func expandText(es []Expand) string {
	var items []string
	for _, e := range es {
		item := e.Property.Name
		var opts []string
		if e.Select != nil {
			opts = append(opts, "$select="+selectText(e.Select))
		}
		if len(e.Expand) > 0 {
			opts = append(opts, "$expand="+expandText(e.Expand))
		}
		if len(opts) > 0 {
			item += "(" + strings.Join(opts, ";") + ")"
		}
		items = append(items, item)
	}
	return strings.Join(items, ",")
}

// Expanded returns the expansion of the navigation property of that name,
// or nil.
func (q *Query) Expanded(name string) *Expand {
	for i := range q.Expand {
		if q.Expand[i].Property.Name == name {
			return &q.Expand[i]
		}
	}
	return nil
}

// NextQuery is the query string of a next link: every option as it was
// sent, but $skiptoken, which is replaced by token.
func (q *Query) NextQuery(token string) string { return q.next("$skiptoken", token) }

// NextSkip is the query string of a next link that pages with $skip.
func (q *Query) NextSkip(skip int) string { return q.next("$skip", strconv.Itoa(skip)) }

func (q *Query) next(option, value string) string {
	var b strings.Builder
	for _, o := range q.Raw {
		if o.Name == option {
			continue
		}
		b.WriteString(o.RawPair)
		b.WriteByte('&')
	}
	b.WriteString(option)
	b.WriteByte('=')
	b.WriteString(value)
	return b.String()
}
