// Package ingest validates call records in Graph's wire shape against the
// schema and turns them into callvault's stored form (see callvault.Record).
package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/edm"
	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/schema"
)

// Limits that keep one bad record from costing the server too much.
const (
	MaxIDLength = 1024
	maxDepth    = 32
)

// Error is a validation failure at a JSON path of one record.
type Error struct {
	Path   string // e.g. $.sessions[3].segments[0].media[0].streams[1].averageJitter
	Reason string

	segs []string // path segments, innermost first, while the error travels up
}

func (e *Error) Error() string { return e.Path + ": " + e.Reason }

func invalid(format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// at prepends a path segment as the error travels up the value tree, so
// paths cost nothing when the record is valid.
func (e *Error) at(seg string) *Error {
	e.segs = append(e.segs, seg)
	return e
}

func (e *Error) finish() *Error {
	var b strings.Builder
	b.WriteString("$")
	for i := len(e.segs) - 1; i >= 0; i-- {
		b.WriteString(e.segs[i])
	}
	e.Path, e.segs = b.String(), nil
	return e
}

func key(name string) string { return "." + name }
func index(i int) string     { return "[" + strconv.Itoa(i) + "]" }

// Normalizer validates records against the beta model (the superset of
// v1.0) and writes their canonical form. It keeps scratch space between
// records, so one Normalizer serves one goroutine.
type Normalizer struct {
	model                                       *schema.Model
	record, session, segment, participant, orgz *schema.Type
	seen                                        map[string]struct{}
	candidatesOf                                map[*schema.Type][]*schema.Type // see candidates
	ordered                                     bool                            // see NewNormalizer
	follow                                      map[*schema.Type][]int32        // see after
	named                                       map[string]*schema.Type         // see typeNamed
	lenient                                     bool                            // see Lenient
	drift                                       []callvault.SchemaDrift         // of the record being walked

	// Scratch space of each level of nesting.
	slots   [maxDepth][]field // by property index; valEnd 0 when absent
	members [maxDepth][]field
	dynamic [maxDepth][]field
	navs    [maxDepth][]navValue

	sc  scanner
	doc []byte // the record being walked, as sc has scanned it
}

// NewNormalizer returns a Normalizer for the beta model.
func NewNormalizer() *Normalizer {
	m := schema.MustLoad(schema.Beta)
	t := func(n string) *schema.Type { return m.Type(schema.CallRecordsNamespace + "." + n) }
	n := &Normalizer{
		model: m, record: t("callRecord"), session: t("session"), segment: t("segment"),
		participant: t("participant"), orgz: t("organizer"), seen: map[string]struct{}{},
		candidatesOf: map[*schema.Type][]*schema.Type{}, ordered: true, follow: map[*schema.Type][]int32{},
		named: map[string]*schema.Type{},
	}
	// Finding a member's property by position (object's guesses) gives
	// what Property gives only when each name has one property, Index is
	// the position and no name holds an '@' or a backslash: check it
	// rather than assume it.
	for _, ty := range m.Types() {
		for i, p := range ty.Properties {
			if p.Index != i || ty.Property(p.Name) != p || strings.ContainsAny(p.Name, `@\`) {
				n.ordered = false
			}
		}
	}
	return n
}

// Lenient makes n keep what a record holds that the schema does not
// declare, rather than refuse the record: a property of a closed type is
// kept as a dynamic property would be (after the declared ones), an
// unknown enum member as written, each when its name is an OData
// identifier; the record's Drift lists them. It is for records from a
// source whose schema is newer than callvault's (the mirror); files made
// by hand stay strict unless asked.
func (n *Normalizer) Lenient() { n.lenient = true }

// noteDrift adds a name to the record's drift, once.
func (n *Normalizer) noteDrift(kind, typ, name string) {
	d := callvault.SchemaDrift{Kind: kind, Type: typ, Name: name}
	for _, x := range n.drift {
		if x == d {
			return
		}
	}
	n.drift = append(n.drift, d)
}

// Record validates one call record and returns it in stored form for tenant.
// A record is valid or not as a whole; the error is an *Error naming the
// JSON path and the reason.
func (n *Normalizer) Record(tenant string, raw []byte) (*callvault.Record, error) {
	if err := n.checkSyntax(raw); err != nil {
		return nil, err
	}
	return n.checkedRecord(tenant, raw)
}

// checkSyntax rejects text that is not UTF-8 JSON. The scan that checks
// the syntax also indexes the containers of raw, so that checkedRecord,
// called next on the same raw, reads the record only once more.
func (n *Normalizer) checkSyntax(raw []byte) *Error {
	if !n.sc.scan(raw, true) {
		return syntaxError(raw)
	}
	return nil
}

// checkedRecord is Record for raw that n.checkSyntax has just passed.
func (n *Normalizer) checkedRecord(tenant string, raw []byte) (*callvault.Record, error) {
	n.doc = raw
	defer func() { n.doc = nil }()
	return n.walkRecord(tenant, raw)
}

// walkRecord is Record for raw that n.sc has just scanned.
func (n *Normalizer) walkRecord(tenant string, raw []byte) (*callvault.Record, error) {
	r := &callvault.Record{Tenant: tenant}
	n.drift = nil
	// One buffer holds every body of the record; each body is a capped
	// sub-slice, so later appends never touch it.
	buf := make([]byte, 0, len(raw))
	nav := func(p *schema.Property, v []byte) *Error {
		if jsonx.IsNull(v) {
			return nil
		}
		switch p.Name {
		case "sessions":
			return n.sessions(r, v, &buf)
		case "participants_v2":
			return n.participants(r, v, &buf)
		case "organizer_v2":
			body, err := n.entity(n.orgz, v, &buf, 1, nil)
			if err != nil {
				return err.at(key(p.Name))
			}
			r.Organizer = body
			return nil
		}
		return invalid("navigation property '%s' cannot be imported", p.Name).at(key(p.Name))
	}
	body, err := n.entity(n.record, raw, &buf, 0, nav)
	if err != nil {
		return nil, err.finish()
	}
	r.Body = body
	if err := n.recordHeader(r); err != nil {
		return nil, err.finish()
	}
	r.Drift = n.drift
	return r, nil
}

// checkSyntax rejects text that is not UTF-8 JSON, before anything walks it.
func checkSyntax(raw []byte) *Error {
	if valid(raw) {
		return nil
	}
	return syntaxError(raw)
}

// syntaxError says why raw, which the scanner refused, is not UTF-8 JSON,
// in encoding/json's words.
func syntaxError(raw []byte) *Error {
	if !utf8.Valid(raw) {
		return (&Error{Reason: "the record is not valid UTF-8"}).finish()
	}
	var v json.RawMessage
	err := json.Unmarshal(raw, &v)
	return (&Error{Reason: "invalid JSON: " + strings.TrimPrefix(fmt.Sprint(err), "json: ")}).finish()
}

// walk starts a walk over v, an object when open is '{' or an array when
// it is '['; ok is false when v is not one.
func (n *Normalizer) walk(v []byte, open byte) (w walker, ok bool) {
	i := jsonx.SkipSpace(v, 0)
	if i >= len(v) || v[i] != open {
		return walker{}, false
	}
	return walker{b: v, i: i + 1, off: n.offset(v), spans: n.sc.spans}, true
}

// offset returns the offset of v in the scanned record, or -1 when v is
// not part of it (report rows, stored bodies). A sub-slice shares the
// record's array up to its end, so the capacities tell the offset.
func (n *Normalizer) offset(v []byte) int {
	off := cap(n.doc) - cap(v)
	if len(v) == 0 || off < 0 || off >= len(n.doc) || &n.doc[off] != &v[0] {
		return -1
	}
	return off
}

// recordHeader copies the properties the store indexes out of the body.
func (n *Normalizer) recordHeader(r *callvault.Record) *Error {
	o, _ := jsonx.NewObject(r.Body)
	for m, ok := o.Next(); ok; m, ok = o.Next() {
		switch string(m.Key) {
		case "id":
			r.ID = unquote(m.Value)
		case "version":
			r.Version, _ = strconv.ParseInt(string(m.Value), 10, 64)
		case "startDateTime":
			r.StartDateTime, _ = time.Parse(time.RFC3339Nano, unquote(m.Value))
			if err := indexable(r.StartDateTime, m.Value); err != nil {
				return err.at(key("startDateTime"))
			}
		case "endDateTime":
			r.EndDateTime, _ = time.Parse(time.RFC3339Nano, unquote(m.Value))
			if err := indexable(r.EndDateTime, m.Value); err != nil {
				return err.at(key("endDateTime"))
			}
		}
	}
	if r.Version < 0 {
		return invalid("must not be negative").at(key("version"))
	}
	return nil
}

// indexable refuses a date-time the stores cannot index, v its JSON text.
func indexable(t time.Time, v []byte) *Error {
	if edm.Indexable(t) {
		return nil
	}
	return invalid("%s is outside the date-times callvault stores, %s up to %s", clip([]byte(unquote(v))),
		edm.FormatDateTimeOffset(edm.MinIndexedTime), edm.FormatDateTimeOffset(edm.MaxIndexedTime))
}

func (n *Normalizer) sessions(r *callvault.Record, v []byte, buf *[]byte) *Error {
	if jsonx.IsNull(v) {
		return nil
	}
	arr, ok := n.walk(v, '[')
	if !ok {
		return invalid("expected an array of microsoft.graph.callRecords.session").at(key("sessions"))
	}
	clear(n.seen)
	i := 0
	for el, ok := arr.element(); ok; el, ok = arr.element() {
		r.Sessions = append(r.Sessions, callvault.Session{})
		s := &r.Sessions[len(r.Sessions)-1]
		segNav := func(p *schema.Property, v []byte) *Error { return n.segments(s, v, buf) }
		body, err := n.entity(n.session, el, buf, 1, segNav)
		if err != nil {
			return err.at(index(i)).at(key("sessions"))
		}
		s.Body = body
		s.ID = entityID(s.Body)
		if _, dup := n.seen[s.ID]; dup {
			return invalid("duplicate session id %q", s.ID).at(key("id")).at(index(i)).at(key("sessions"))
		}
		n.seen[s.ID] = struct{}{}
		i++
	}
	return nil
}

func (n *Normalizer) segments(s *callvault.Session, v []byte, buf *[]byte) *Error {
	if jsonx.IsNull(v) {
		return nil
	}
	arr, ok := n.walk(v, '[')
	if !ok {
		return invalid("expected an array of microsoft.graph.callRecords.segment").at(key("segments"))
	}
	i := 0
	for el, ok := arr.element(); ok; el, ok = arr.element() {
		body, err := n.entity(n.segment, el, buf, 2, nil)
		if err != nil {
			return err.at(index(i)).at(key("segments"))
		}
		id := entityID(body)
		for _, other := range s.Segments {
			if other.ID == id {
				return invalid("duplicate segment id %q in this session", id).at(key("id")).at(index(i)).at(key("segments"))
			}
		}
		s.Segments = append(s.Segments, callvault.Segment{ID: id, Body: body})
		i++
	}
	return nil
}

func (n *Normalizer) participants(r *callvault.Record, v []byte, buf *[]byte) *Error {
	if jsonx.IsNull(v) {
		return nil
	}
	arr, ok := n.walk(v, '[')
	if !ok {
		return invalid("expected an array of microsoft.graph.callRecords.participant").at(key("participants_v2"))
	}
	i := 0
	for el, ok := arr.element(); ok; el, ok = arr.element() {
		body, err := n.entity(n.participant, el, buf, 1, nil)
		if err != nil {
			return err.at(index(i)).at(key("participants_v2"))
		}
		r.Participants = append(r.Participants, callvault.Participant{ID: entityID(body), Body: body})
		i++
	}
	return nil
}

// navFunc takes the value of a navigation property of an entity.
type navFunc func(*schema.Property, []byte) *Error

type navValue struct {
	p *schema.Property
	v []byte
}

// entity appends the canonical body of an entity to buf and returns it.
// Navigation properties are not part of a body: once the body is complete
// they go to nav (nil: none are allowed).
func (n *Normalizer) entity(t *schema.Type, v []byte, buf *[]byte, depth int, nav navFunc) ([]byte, *Error) {
	start := len(*buf)
	navs, err := n.object(t, v, buf, depth, nav != nil)
	if err != nil {
		return nil, err
	}
	body := (*buf)[start:len(*buf):len(*buf)]
	for _, x := range navs {
		if err := nav(x.p, x.v); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// object writes the canonical form of a structured value of declared type t
// and returns the values of its navigation properties when withNav allows
// them.
func (n *Normalizer) object(t *schema.Type, v []byte, buf *[]byte, depth int, withNav bool) ([]navValue, *Error) {
	if depth >= maxDepth {
		return nil, invalid("nested more than %d levels deep", maxDepth)
	}
	o, ok := n.walk(v, '{')
	if !ok {
		return nil, invalid("expected an object of type %s", t.Name)
	}
	// One pass over the object's members: the runtime type and the
	// properties both come from it, so each level scans its value once.
	members := n.members[depth][:0]
	for m, ok := o.member(); ok; m, ok = o.member() {
		members = append(members, m)
	}
	n.members[depth] = members
	rt, err := n.runtimeType(t, v, members)
	if err != nil {
		return nil, err
	}
	slots := n.slots[depth][:0]
	slots = slices.Grow(slots, len(rt.Properties))[:len(rt.Properties)]
	clear(slots)
	n.slots[depth] = slots
	dynamic := n.dynamic[depth][:0]
	// Keys are looked up as bytes; names become strings only for errors.
	// Writers keep to one order of members, so the property that followed
	// the previous one last time is a good first guess (cheaper than a map
	// lookup); after[0] guesses the first member, after[i+1] the one after
	// Properties[i].
	after := n.after(rt)
	prev := 0
	for _, m := range members {
		k := m.keyIn(v)
		var p *schema.Property
		if g := after[prev]; g >= 0 && rt.Properties[g].Name == string(k) {
			p = rt.Properties[g] // a name: no '@', no escape
		} else {
			at, escaped := keyMarks(k)
			if at {
				continue // @odata.type is read above; other annotations are the server's to write
			}
			if !escaped {
				p = rt.Property(string(k))
			} else {
				p = rt.Property(keyName(k))
			}
			if p != nil && n.ordered {
				after[prev] = int32(p.Index)
			}
		}
		if p != nil {
			prev = p.Index + 1
		}
		if p == nil {
			if !rt.Open {
				name := keyName(k)
				if !n.lenient || !schema.IsIdentifier(name) {
					return nil, invalid("unknown property '%s' on type %s", name, rt.Name).at(key(name))
				}
				n.noteDrift(callvault.DriftProperty, rt.Name, name)
			}
			for _, d := range dynamic {
				if bytes.Equal(d.keyIn(v), k) {
					return nil, invalid("duplicate property '%s'", keyName(k)).at(key(keyName(k)))
				}
			}
			dynamic = append(dynamic, m)
			continue
		}
		if slots[p.Index].valEnd != 0 {
			return nil, invalid("duplicate property '%s'", keyName(k)).at(key(keyName(k)))
		}
		slots[p.Index] = m
	}
	n.dynamic[depth] = dynamic
	if id := rt.Property("id"); id != nil && t.Kind == schema.Entity {
		if id := slots[id.Index].valueIn(v); len(id) < 3 || id[0] != '"' { // absent, null, "" or not a string
			return nil, invalid("missing id: every %s needs a non-empty string id", rt.ShortName()).at(key("id"))
		} else if len(id) > MaxIDLength {
			return nil, invalid("id is longer than %d bytes", MaxIDLength).at(key("id"))
		}
	}

	*buf = append(*buf, '{')
	first := true
	var navs []navValue
	if withNav {
		navs = n.navs[depth][:0]
	}
	if rt != t {
		*buf = append(*buf, `"@odata.type":"#`...) // rt.TypeName()
		*buf = append(*buf, rt.Name...)
		*buf = append(*buf, '"')
		first = false
	}
	for i, p := range rt.Properties {
		if slots[i].valEnd == 0 {
			continue
		}
		val := slots[i].valueIn(v)
		if p.Navigation {
			if !withNav {
				return nil, invalid("navigation property '%s' cannot be imported here", p.Name).at(key(p.Name))
			}
			navs = append(navs, navValue{p, val})
			continue
		}
		if jsonx.IsNull(val) {
			if p.Nullable || p.Collection {
				continue // absent and null are one thing in stored form
			}
			return nil, invalid("must not be null (%s is not nullable)", p.Name).at(key(p.Name))
		}
		if !first {
			*buf = append(*buf, ',')
		}
		first = false
		*buf = append(*buf, '"')
		*buf = append(*buf, p.Name...)
		*buf = append(*buf, '"', ':')
		if err := n.property(p, val, buf, depth+1); err != nil {
			return nil, err.at(key(p.Name))
		}
	}
	for _, d := range dynamic {
		if err := loneSurrogate(d.keyIn(v)); err != nil {
			return nil, err.at(key(keyName(d.keyIn(v))))
		}
		if err := loneSurrogate(d.valueIn(v)); err != nil {
			return nil, err.at(key(keyName(d.keyIn(v))))
		}
		if !first {
			*buf = append(*buf, ',')
		}
		first = false
		*buf = append(*buf, '"')
		*buf = append(*buf, d.keyIn(v)...)
		*buf = append(*buf, '"', ':')
		*buf = appendCompact(*buf, d.valueIn(v))
	}
	*buf = append(*buf, '}')
	if withNav {
		n.navs[depth] = navs
	}
	return navs, nil
}

// after returns the guesses of object for members of t.
func (n *Normalizer) after(t *schema.Type) []int32 {
	a, ok := n.follow[t]
	if !ok {
		a = make([]int32, len(t.Properties)+1)
		for i := range a {
			a[i] = -1
		}
		n.follow[t] = a
	}
	return a
}

// keyMarks reports whether a raw key holds an '@' (an annotation) or a
// backslash (an escape).
func keyMarks(k []byte) (at, escaped bool) {
	for _, c := range k {
		switch c {
		case '@':
			at = true
		case '\\':
			escaped = true
		}
	}
	return at, escaped
}

// keyName is the name a raw member key spells.
func keyName(k []byte) string {
	if bytes.IndexByte(k, '\\') < 0 {
		return string(k)
	}
	return unquote(append(append([]byte{'"'}, k...), '"'))
}

// runtimeType is the type named by @odata.type, or, when there is none, the
// declared type or the one subtype whose properties the object uses.
func (n *Normalizer) runtimeType(t *schema.Type, obj []byte, members []field) (*schema.Type, *Error) {
	for _, m := range members {
		if string(m.keyIn(obj)) == "@odata.type" {
			rt := n.typeNamed(m.valueIn(obj))
			if rt == nil || !rt.IsStructured() {
				return nil, invalid("unknown type '%s'", unquote(m.valueIn(obj))).at(key("@odata.type"))
			}
			if !rt.DerivesFrom(t) {
				return nil, invalid("type %s is not %s or derived from it", rt.Name, t.Name).at(key("@odata.type"))
			}
			if rt.Abstract {
				return nil, invalid("type %s is abstract", rt.Name).at(key("@odata.type"))
			}
			return rt, nil
		}
	}
	if len(t.Derived) == 0 {
		if t.Abstract {
			return nil, invalid("type %s is abstract and has no subtypes", t.Name)
		}
		return t, nil
	}
	// The candidates are t and its subtypes, depth first; the first that
	// fits wins when it is t, else exactly one must fit.
	var first *schema.Type
	fits := 0
	for _, c := range n.candidates(t) {
		if usesOnly(c, obj, members) {
			if fits == 0 {
				first = c
			}
			fits++
		}
	}
	switch {
	case fits > 0 && first == t:
		return t, nil
	case fits == 1:
		return first, nil
	}
	var names []string
	for _, d := range t.Derived {
		names = append(names, d.TypeName())
	}
	if fits == 0 {
		return nil, invalid("the properties fit no type derived from %s; set @odata.type to one of %s", t.Name, strings.Join(names, ", "))
	}
	return nil, invalid("%s is abstract: set @odata.type to one of %s", t.Name, strings.Join(names, ", "))
}

// typeNamed returns the type an @odata.type value names, or nil.
func (n *Normalizer) typeNamed(v []byte) *schema.Type {
	if rt, ok := n.named[string(v)]; ok {
		return rt
	}
	rt := n.model.Type(strings.TrimPrefix(unquote(v), "#"))
	if _, plain := plainString(v); plain && rt != nil {
		n.named[string(v)] = rt // a spelling of one of the model's types: few
	}
	return rt
}

// candidates returns the types an object of declared type t without
// @odata.type may be: t and its subtypes, depth first, less the abstract.
func (n *Normalizer) candidates(t *schema.Type) []*schema.Type {
	if c, ok := n.candidatesOf[t]; ok {
		return c
	}
	var c []*schema.Type
	var walk func(x *schema.Type)
	walk = func(x *schema.Type) {
		if !x.Abstract {
			c = append(c, x)
		}
		for _, d := range x.Derived {
			walk(d)
		}
	}
	walk(t)
	n.candidatesOf[t] = c
	return c
}

// usesOnly reports whether t declares every member of the object but its
// annotations (raw keys: an escaped key matches nothing).
func usesOnly(t *schema.Type, obj []byte, members []field) bool {
	if t.Open {
		return true
	}
	for _, m := range members {
		if k := m.keyIn(obj); bytes.IndexByte(k, '@') < 0 && t.Property(string(k)) == nil {
			return false
		}
	}
	return true
}

// property writes the canonical form of a non-null property value.
func (n *Normalizer) property(p *schema.Property, v []byte, buf *[]byte, depth int) *Error {
	if !p.Collection {
		return n.value(p.Type, v, buf, depth)
	}
	arr, ok := n.walk(v, '[')
	if !ok {
		return invalid("expected an array of %s", p.Type.Name)
	}
	*buf = append(*buf, '[')
	i := 0
	for el, ok := arr.element(); ok; el, ok = arr.element() {
		if i > 0 {
			*buf = append(*buf, ',')
		}
		if jsonx.IsNull(el) {
			if !p.Nullable || p.Type.IsStructured() {
				return invalid("null is not allowed in this collection").at(index(i))
			}
			*buf = append(*buf, "null"...)
		} else if err := n.value(p.Type, el, buf, depth); err != nil {
			return err.at(index(i))
		}
		i++
	}
	*buf = append(*buf, ']')
	return nil
}

// value writes the canonical form of one non-null value of type t.
func (n *Normalizer) value(t *schema.Type, v []byte, buf *[]byte, depth int) *Error {
	switch t.Kind {
	case schema.Complex, schema.Entity:
		_, err := n.object(t, v, buf, depth, false)
		return err
	case schema.Enum:
		if v[0] != '"' {
			return invalid("expected a member of enum %s as a string", t.ShortName())
		}
		if name, ok := plainString(v); ok && printableASCII(name) {
			// Quoting such a name gives v back: no decoding, no allocation.
			if t.Member(string(name)) >= 0 {
				*buf = append(*buf, v...)
				return nil
			}
		}
		name := unquote(v)
		if t.Member(name) < 0 && n.lenient && schema.IsIdentifier(name) {
			n.noteDrift(callvault.DriftMember, t.Name, name)
		} else if t.Member(name) < 0 {
			return invalid("'%s' is not a member of enum %s (%s)", name, t.ShortName(), memberList(t))
		}
		*buf = strconv.AppendQuote(*buf, name)
		return nil
	}
	switch t.Name {
	case schema.EdmString:
		if v[0] != '"' {
			return invalid("expected a string")
		}
		if err := loneSurrogate(v); err != nil {
			return err
		}
		*buf = append(*buf, v...)
	case schema.EdmBoolean:
		if string(v) != "true" && string(v) != "false" {
			return invalid("expected true or false")
		}
		*buf = append(*buf, v...)
	case schema.EdmInt32, schema.EdmInt64:
		bits := 32
		if t.Name == schema.EdmInt64 {
			bits = 64
		}
		if _, err := edm.ParseInt(v, bits); err != nil {
			return invalid("expected an integer that fits %s, got %s", t.Name, clip(v))
		}
		*buf = append(*buf, v...)
	case schema.EdmSingle, schema.EdmDouble, schema.EdmDecimal:
		if v[0] == '"' {
			if s := unquote(v); t.Name != schema.EdmDecimal && (s == "NaN" || s == "INF" || s == "-INF") {
				*buf = append(*buf, v...)
				return nil
			}
			return invalid("expected a number, got a string")
		}
		if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			return invalid("expected a number, got %s", clip(v))
		}
		if err := floatInRange(t, v); err != nil {
			return err
		}
		*buf = append(*buf, v...)
	case schema.EdmDateTimeOffset:
		if canonicalDateTime(v) {
			*buf = append(*buf, v...) // as AppendDateTimeOffset would write it
			return nil
		}
		tm, err := edm.ParseDateTimeOffset(stringValue(v))
		if v[0] != '"' || err != nil {
			return invalid("expected an RFC 3339 date-time such as 2020-02-25T18:52:21.2169889Z, got %s", clip(v))
		}
		*buf = append(*buf, '"')
		*buf = edm.AppendDateTimeOffset(*buf, tm)
		*buf = append(*buf, '"')
	case schema.EdmDuration:
		if s, ok := plainString(v); ok && edm.ValidDuration(string(s)) {
			*buf = append(*buf, v...)
			return nil
		}
		if v[0] != '"' || !edm.ValidDuration(unquote(v)) {
			return invalid("expected an ISO 8601 duration such as PT0.016S, got %s", clip(v))
		}
		*buf = append(*buf, v...)
	case schema.EdmDate:
		if _, err := time.Parse("2006-01-02", stringValue(v)); v[0] != '"' || err != nil {
			return invalid("expected a date such as 2020-02-25, got %s", clip(v))
		}
		*buf = append(*buf, v...)
	case schema.EdmGuid:
		if s, ok := plainString(v); ok && isGUID(s) {
			*buf = append(*buf, v...)
			return nil
		}
		if s := stringValue(v); v[0] != '"' || !isGUID([]byte(s)) {
			return invalid("expected a GUID, got %s", clip(v))
		}
		*buf = append(*buf, v...)
	default:
		return invalid("values of type %s cannot be imported", t.Name)
	}
	return nil
}

// loneSurrogate refuses JSON text that escapes half of a UTF-16 surrogate
// pair without the other half (\ud800): JSON's grammar allows it, but it is
// no character, decoders differ on it (Go's makes it U+FFFD, others fail),
// and what is stored is served as it is.
func loneSurrogate(v []byte) *Error {
	if bytes.IndexByte(v, '\\') < 0 {
		return nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			continue
		}
		if v[i+1] != 'u' || i+6 > len(v) {
			i++ // another escape: skip its second byte, which may be a backslash
			continue
		}
		r, err := strconv.ParseUint(string(v[i+2:i+6]), 16, 32)
		if err != nil || r < 0xD800 || r > 0xDFFF {
			i += 5
			continue
		}
		if r <= 0xDBFF && i+12 <= len(v) && v[i+6] == '\\' && v[i+7] == 'u' {
			if lo, err := strconv.ParseUint(string(v[i+8:i+12]), 16, 32); err == nil && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11 // a whole pair
				continue
			}
		}
		return invalid("the string holds %s, half of a UTF-16 surrogate pair without its other half, which is not a character", v[i:i+6])
	}
	return nil
}

// floatInRange refuses a number that a float of t's size cannot hold
// (Edm.Single: float32; Edm.Double and Edm.Decimal: float64), since values
// are served as written and clients such as Go's encoding/json could not
// decode them. Underflow is fine: it reads as zero.
func floatInRange(t *schema.Type, v []byte) *Error {
	bits, limit := 64, "±1.7976931348623157e+308"
	if t.Name == schema.EdmSingle {
		bits, limit = 32, "±3.4028235e+38"
	}
	// Without an exponent and with at most 38 digits before the point, a
	// number fits even a float32: no need to parse it.
	intDigits, short := 0, true
	for _, c := range v {
		if c == 'e' || c == 'E' || c == '.' {
			short = c == '.'
			break
		}
		if c != '-' {
			intDigits++
		}
	}
	if short && intDigits <= 38 {
		return nil
	}
	if _, err := strconv.ParseFloat(string(v), bits); err != nil {
		return invalid("%s is out of the range of %s (at most %s)", clip(v), t.Name, limit)
	}
	return nil
}

func memberList(t *schema.Type) string {
	names := make([]string, len(t.Members))
	for i, m := range t.Members {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// unquote decodes a JSON string value; it returns "" for anything else.
func unquote(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

func stringValue(v []byte) string { return unquote(v) }

// plainString returns the text of the JSON string v when it has no escapes,
// so that it reads as it is written.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

func printableASCII(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// canonicalDateTime reports whether v is a valid date-time already in the
// form edm.AppendDateTimeOffset writes, "2006-01-02T15:04:05.1234567Z" with
// trailing zeros of the fraction trimmed, so that it can be kept as it is.
// Anything else goes through time.Parse.
func canonicalDateTime(v []byte) bool {
	// "YYYY-MM-DDTHH:MM:SS[.F{1,7}]Z"
	if len(v) < 22 || v[0] != '"' || v[len(v)-1] != '"' || v[len(v)-2] != 'Z' {
		return false
	}
	d := v[1 : len(v)-2]
	if d[4] != '-' || d[7] != '-' || d[10] != 'T' || d[13] != ':' || d[16] != ':' {
		return false
	}
	num := func(i, n int) int {
		x := 0
		for _, c := range d[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			x = x*10 + int(c-'0')
		}
		return x
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	if day > 28 && day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return false
	}
	if frac := d[19:]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 8 || frac[0] != '.' || frac[len(frac)-1] == '0' || num(20, len(frac)-1) < 0 {
			return false
		}
	}
	return true
}

// entityID reads the id of a canonical entity body (id comes first: it is
// the first property of graph.entity).
func entityID(body []byte) string {
	o, _ := jsonx.NewObject(body)
	for m, ok := o.Next(); ok; m, ok = o.Next() {
		if string(m.Key) == "id" {
			return unquote(m.Value)
		}
	}
	return ""
}

// appendCompact appends a raw JSON value without insignificant space, as
// json.Compact would; v is valid, so strings are copied whole.
func appendCompact(b, v []byte) []byte {
	for i := 0; i < len(v); {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			e := jsonx.StringEnd(v, i)
			b = append(b, v[i:e]...)
			i = e
		default:
			b = append(b, c)
			i++
		}
	}
	return b
}

func clip(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "…"
	}
	return string(v)
}

func isGUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}
