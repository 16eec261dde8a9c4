package odata

import (
	"strings"

	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/schema"
)

// Codec writes stored bodies (callvault.Record) as one version of Graph
// serves them. Its plans are built once from the schema; a Codec is
// read-only and safe for concurrent use.
type Codec struct {
	Model *schema.Model
	beta  *schema.Model
	plans map[*schema.Type]*plan

	render renderState // render.go: built on first use
}

// plan is what the encoder needs of one structured type, computed once.
type plan struct {
	t          *schema.Type
	stored     *schema.Type // the same type in the beta model, which bodies are stored in
	props      []*schema.Property
	keys       [][]byte // `"name":` for each of props
	nullValue  [][]byte // what an absent value is written as: null, or [] for a non-nullable collection
	annotation []byte   // `"@odata.type":"#name"`

	// The single pass (merge) needs props in the order of the stored
	// type's properties, which bodies follow; when this version orders them
	// otherwise, merge is false and Object indexes the members first.
	merge       bool
	commaKeys   [][]byte // `,"name":` for each of props
	nulls       []byte   // `,"name":null` (or []) for each of props, one after another
	nullAt      []int    // where each of props starts in nulls, and the end
	storedNames []string // the stored type's structural properties, in stored order
	at          []int    // for each of props, its index in storedNames
	values      []valuePlan
	// derived maps the runtime type names a stored "@odata.type" may carry
	// (as Model.Type reads them, aliases included) to their plans: the
	// subtypes of t in this version.
	derived map[string]*plan
}

// valuePlan says how the value of one property is written.
type valuePlan struct {
	kind       valueKind
	collection bool
	t          *schema.Type // the property's type
	sub        *plan        // its plan, for structured types
	evolvable  []string     // for enums: the members past the unknownFutureValue sentinel
}

type valueKind uint8

const (
	copyValue       valueKind = iota // primitives are stored as Graph writes them
	enumValue                        // an enum with evolvable members
	structuredValue                  // a complex or entity type: written by its plan
)

// NewCodec returns the codec of a model.
func NewCodec(m *schema.Model) *Codec {
	c := &Codec{Model: m, beta: schema.MustLoad(schema.Beta), plans: map[*schema.Type]*plan{}}
	for _, t := range m.Types() {
		if !t.IsStructured() {
			continue
		}
		p := &plan{t: t, stored: c.beta.Type(t.Name), annotation: []byte(`"@odata.type":"` + t.TypeName() + `"`)}
		for _, prop := range t.Properties {
			if prop.Navigation {
				continue
			}
			p.props = append(p.props, prop)
			p.keys = append(p.keys, []byte(`"`+prop.Name+`":`))
			if prop.Collection && !prop.Nullable {
				p.nullValue = append(p.nullValue, []byte("[]"))
			} else {
				p.nullValue = append(p.nullValue, []byte("null"))
			}
		}
		c.plans[t] = p
	}
	for _, p := range c.plans {
		c.prepareMerge(p)
	}
	return c
}

// prepareMerge fills in what the single pass needs of p, once every plan
// exists.
func (c *Codec) prepareMerge(p *plan) {
	for k, prop := range p.props {
		p.commaKeys = append(p.commaKeys, append([]byte{','}, p.keys[k]...))
		p.nullAt = append(p.nullAt, len(p.nulls))
		p.nulls = append(append(append(p.nulls, ','), p.keys[k]...), p.nullValue[k]...)
		v := valuePlan{collection: prop.Collection, t: prop.Type}
		switch {
		case prop.Type.IsStructured():
			v.kind, v.sub = structuredValue, c.plans[prop.Type]
		case prop.Type.Kind == schema.Enum && prop.Type.Sentinel >= 0:
			for _, m := range prop.Type.Members[prop.Type.Sentinel+1:] {
				v.evolvable = append(v.evolvable, m.Name)
			}
			if len(v.evolvable) > 0 {
				v.kind = enumValue // else every member is written as it is
			}
		}
		p.values = append(p.values, v)
	}
	p.nullAt = append(p.nullAt, len(p.nulls))
	for _, rt := range c.Model.Types() {
		if rt == p.t || !rt.IsStructured() || !rt.DerivesFrom(p.t) {
			continue
		}
		if p.derived == nil {
			p.derived = map[string]*plan{}
		}
		p.derived[rt.Name] = c.plans[rt]
		if rest, ok := strings.CutPrefix(rt.Name, schema.GraphNamespace+"."); ok {
			p.derived["graph."+rest] = c.plans[rt] // Model.Type reads the alias too
		}
	}
	if p.stored == nil {
		return
	}
	index := map[string]int{}
	for _, sp := range p.stored.Properties {
		if !sp.Navigation {
			index[sp.Name] = len(p.storedNames)
			p.storedNames = append(p.storedNames, sp.Name)
		}
	}
	p.merge = true
	last := -1
	for _, prop := range p.props {
		i, ok := index[prop.Name]
		if !ok || i <= last {
			p.merge = false // a property the stored type lacks, or out of its order
			break
		}
		p.at = append(p.at, i)
		last = i
	}
	for _, prop := range p.props {
		if prop.Type.IsStructured() && c.plans[prop.Type] == nil {
			p.merge = false
		}
	}
}

// Options are the per-request choices the encoder applies as it writes.
type Options struct {
	OmitNulls           bool
	IncludeUnknownEnums bool
}

// maxMembers is how many members of one object the encoder indexes on the
// stack; larger objects (rare: open types) spill to the heap.
const maxMembers = 48

// Object appends the stored body v, of declared type t of this codec's
// model, to buf. sel limits the properties written (nil: all). Navigation
// properties are the caller's to write: Object leaves the object open when
// open is true, so that the caller can append them and close it.
//
// Stored bodies follow the stored type's property order, so Object merges
// them with this version's properties in one pass over v. A body that
// strays from the stored form (members out of order, or repeated) is
// written all the same, by indexing its members first.
func (c *Codec) Object(buf []byte, t *schema.Type, v []byte, sel *Selection, o Options, open bool) []byte {
	if i := jsonx.SkipSpace(v, 0); i < len(v) && v[i] == '{' {
		if out, _, ok := c.merge(buf, c.plans[t], v, i, sel, o, open, nil, nil); ok {
			return out
		}
	}
	return c.indexed(buf, t, v, sel, o, open)
}

// merge writes the object that starts at v[i] with plan pl in one pass, and
// returns buf and the index just past the object. ok is false, with buf
// to be cut back by the caller, when the object is not in stored form.
//
// rec, when not nil, records what merge writes, each piece with where in v
// it could be copied from: the render-script compiler (render.go), which
// is given the default request (sel nil, Options{}, open false). It fails
// where merge would write part of the object otherwise than by this walk
// (by indexing it).
//
// ends, when not nil, is the member table of the object (members.go): where
// each member's value ends, so that a value merge does not write is not
// read.
func (c *Codec) merge(buf []byte, pl *plan, v []byte, i int, sel *Selection, o Options, open bool, rec *compiler, ends *memberEnds) (_ []byte, end int, ok bool) {
	if !pl.merge {
		return buf, 0, false
	}
	declared := pl
	at := i // the object's brace
	ann := -1
	i = jsonx.SkipSpace(v, i+1)
	// "@odata.type" comes first when the runtime type is not the declared
	// one: keep it when this version has the type, else the declared type
	// is all this version can say.
	if i < len(v) && v[i] == '"' && hasKey(v, i, "@odata.type") {
		vs := valueStart(v, i+len(`"@odata.type"`))
		if rec != nil && vs >= len(v) {
			rec.failed = true
		}
		ve := valueEnd(v, vs, ends.take(v, vs))
		if ve-vs >= 3 && v[vs] == '"' {
			if rt := pl.derived[string(v[vs+2:ve-1])]; rt != nil {
				if !rt.merge {
					return buf, 0, false
				}
				pl = rt
			}
		}
		ann = i
		ends.note(ve)
		i = next(v, ve)
	}
	buf = append(buf, '{')
	if rec != nil {
		rec.open(pl, at)
	}
	first := true
	if pl != declared {
		buf = append(buf, pl.annotation...)
		if rec != nil {
			rec.annotation(pl, ann)
		}
		first = false
	}
	k := 0  // the next of pl.props to write
	si := 0 // stored properties before si are behind
	// Members written as they are stored (a primitive value under its own
	// key) are not appended one by one: consecutive ones make a run of the
	// body, v[rs:re], appended whole before anything else is written.
	rs, re := 0, 0
	for i < len(v) && v[i] == '"' {
		// Which stored property is this member? Almost always the next one.
		j := si
		for j < len(pl.storedNames) && !hasKey(v, i, pl.storedNames[j]) {
			j++
		}
		if j == len(pl.storedNames) {
			break // not a declared property after the last: dynamic, or not in stored form
		}
		si = j + 1
		ke := i + len(pl.storedNames[j]) + 2 // just past the key's closing quote
		vs := ke + 1
		if vs >= len(v) || v[ke] != ':' || v[vs] <= ' ' {
			vs = valueStart(v, ke)
		}
		if rec != nil && vs >= len(v) {
			rec.failed = true
		}
		te := ends.take(v, vs) // -1 without a member table
		// Properties before this one are absent from the body.
		if k < len(pl.props) && pl.at[k] < j {
			m := k + 1
			for m < len(pl.props) && pl.at[m] < j {
				m++
			}
			if !o.OmitNulls {
				buf = append(buf, v[rs:re]...)
				rs, re = 0, 0
				if rec != nil {
					rec.nulls(pl, k, m, first)
				}
				buf, first = pl.appendNulls(buf, k, m, sel, first)
			}
			k = m
		}
		var ve int
		if k < len(pl.props) && pl.at[k] == j {
			if sel == nil || sel.Has(pl.props[k]) {
				vp := &pl.values[k]
				if vp.kind != structuredValue && !vp.collection && vs == ke+1 {
					ve = valueEnd(v, vs, te)
					if vp.kind == copyValue || o.IncludeUnknownEnums || !vp.hides(v[vs:ve]) {
						// Written as stored: extend the run.
						start := i
						if !first {
							if v[i-1] == ',' {
								start = i - 1
							} else {
								buf = append(buf, v[rs:re]...)
								rs, re = 0, 0
								buf = append(buf, ',')
								if rec != nil {
									rec.literal(",", -1)
								}
							}
						}
						if rec != nil {
							rec.copy(start, ve)
						}
						if re == 0 || re != start {
							buf = append(buf, v[rs:re]...)
							rs = start
						}
						re = ve
						first = false
						k++
						ends.note(ve)
						if i = ve + 1; ve+1 >= len(v) || v[ve] != ',' || v[ve+1] != '"' {
							i = next(v, ve)
						}
						continue
					}
				}
				buf = append(buf, v[rs:re]...)
				rs, re = 0, 0
				if rec != nil {
					rec.key(pl, k, first, i)
				}
				if first {
					buf = append(buf, pl.keys[k]...)
				} else {
					buf = append(buf, pl.commaKeys[k]...)
				}
				first = false
				if buf, ve, ok = c.mergeValue(buf, vp, v, vs, o, rec); !ok {
					return buf, 0, false
				}
			} else {
				ve = valueEnd(v, vs, te) // not selected
			}
			k++
		} else {
			ve = valueEnd(v, vs, te) // not in this version
		}
		ends.note(ve)
		i = next(v, ve)
	}
	buf = append(buf, v[rs:re]...)
	if k < len(pl.props) && !o.OmitNulls {
		if rec != nil {
			rec.nulls(pl, k, len(pl.props), first)
		}
		buf, first = pl.appendNulls(buf, k, len(pl.props), sel, first)
	}
	// Dynamic properties of open types follow the declared ones.
	for i < len(v) && v[i] == '"' {
		ke := jsonx.StringEnd(v, i)
		key := v[i+1 : ke-1]
		if pl.stored.Property(string(key)) != nil {
			return buf, 0, false // a declared property out of order: not stored form
		}
		vs := valueStart(v, ke)
		if rec != nil && vs >= len(v) {
			rec.failed = true
		}
		ve := valueEnd(v, vs, ends.take(v, vs))
		if pl.t.Open && sel == nil && !(o.OmitNulls && jsonx.IsNull(v[vs:ve])) {
			if rec != nil {
				rec.dynamic(first, i, ke, vs, ve)
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, '"')
			buf = append(buf, key...)
			buf = append(buf, '"', ':')
			buf = appendDynamic(buf, v[vs:ve], o.OmitNulls)
		}
		ends.note(ve)
		i = next(v, ve)
	}
	if i >= len(v) || v[i] != '}' {
		return buf, 0, false
	}
	if !open {
		buf = append(buf, '}')
	}
	if rec != nil {
		rec.close(open, i)
	}
	return buf, i + 1, true
}

// appendNulls writes properties k to m-1 (those sel selects), which the
// body lacks: each as null, or [] for a collection that cannot be null.
func (pl *plan) appendNulls(buf []byte, k, m int, sel *Selection, first bool) ([]byte, bool) {
	if sel == nil {
		from := pl.nullAt[k]
		if first {
			from++ // no comma
		}
		return append(buf, pl.nulls[from:pl.nullAt[m]]...), false
	}
	for ; k < m; k++ {
		if !sel.Has(pl.props[k]) {
			continue
		}
		from := pl.nullAt[k]
		if first {
			from++
		}
		buf = append(buf, pl.nulls[from:pl.nullAt[k+1]]...)
		first = false
	}
	return buf, first
}

// hides reports whether the enum value v is a member past the
// unknownFutureValue sentinel (what hidden says when the client did not ask
// for them).
func (vp *valuePlan) hides(v []byte) bool {
	if len(v) <= 2 {
		return false
	}
	name := v[1 : len(v)-1]
	for _, m := range vp.evolvable {
		if string(name) == m {
			return true
		}
	}
	return false
}

// hidden reports whether the enum value v is a member past the
// unknownFutureValue sentinel that the client did not ask to see.
func hidden(t *schema.Type, v []byte, o Options) bool {
	return !o.IncludeUnknownEnums && t.Sentinel >= 0 && len(v) > 2 && t.Evolvable(t.Member(string(v[1:len(v)-1])))
}

// mergeValue writes the value that starts at v[i] as vp says, and returns
// the index just past it.
func (c *Codec) mergeValue(buf []byte, vp *valuePlan, v []byte, i int, o Options, rec *compiler) ([]byte, int, bool) {
	if !vp.collection {
		return c.mergeSingle(buf, vp, v, i, o, rec)
	}
	if i >= len(v) || v[i] != '[' {
		// Not an array (a stored null): an empty collection, as ever.
		if rec != nil {
			rec.literal("[]", -1)
		}
		return append(buf, '[', ']'), jsonx.ValueEnd(v, i), true
	}
	buf = append(buf, '[')
	if rec != nil {
		rec.literal("[", i)
	}
	i = jsonx.SkipSpace(v, i+1)
	n := 0
	comma := -1 // where the comma before the next element is
	for i < len(v) && v[i] != ']' {
		if n > 0 {
			buf = append(buf, ',')
			if rec != nil {
				rec.literal(",", comma)
			}
		}
		var ok bool
		if buf, i, ok = c.mergeSingle(buf, vp, v, i, o, rec); !ok {
			return buf, 0, false
		}
		n++
		i = jsonx.SkipSpace(v, i)
		comma = -1
		if i < len(v) && v[i] == ',' {
			comma = i
			i = jsonx.SkipSpace(v, i+1)
		}
	}
	if i >= len(v) {
		return buf, 0, false
	}
	if rec != nil {
		rec.literal("]", i)
	}
	return append(buf, ']'), i + 1, true
}

// mergeSingle writes one value (not a collection) that starts at v[i].
func (c *Codec) mergeSingle(buf []byte, vp *valuePlan, v []byte, i int, o Options, rec *compiler) ([]byte, int, bool) {
	if rec != nil && i >= len(v) {
		rec.failed = true
	}
	switch vp.kind {
	case structuredValue:
		if i < len(v) && v[i] == '{' {
			mark := len(buf)
			out, end, ok := c.merge(buf, vp.sub, v, i, nil, o, false, rec, nil)
			if ok {
				return out, end, true
			}
			// Not in stored form: write this object by indexing it.
			if rec != nil {
				rec.failed = true
			}
			end = jsonx.ValueEnd(v, i)
			return c.indexed(out[:mark], vp.t, v[i:end], nil, o, false), end, true
		}
		end := jsonx.ValueEnd(v, i)
		if jsonx.IsNull(v[i:end]) {
			if rec != nil {
				rec.literal("null", i)
			}
			return append(buf, "null"...), end, true
		}
		if rec != nil {
			rec.failed = true
		}
		return c.indexed(buf, vp.t, v[i:end], nil, o, false), end, true
	case enumValue:
		end := jsonx.ValueEnd(v, i)
		if !o.IncludeUnknownEnums && vp.hides(v[i:end]) {
			if rec != nil {
				rec.literal(`"unknownFutureValue"`, -1)
			}
			return append(buf, `"unknownFutureValue"`...), end, true
		}
		if rec != nil {
			rec.copy(i, end)
		}
		return append(buf, v[i:end]...), end, true
	}
	end := jsonx.ValueEnd(v, i)
	if rec != nil {
		rec.copy(i, end)
	}
	return append(buf, v[i:end]...), end, true
}

// hasKey reports whether the member that starts at v[i] (a quote) has the
// key name, written without escapes.
func hasKey(v []byte, i int, name string) bool {
	e := i + 1 + len(name)
	return e < len(v) && v[e] == '"' && string(v[i+1:e]) == name
}

// valueStart returns the start of the value after the key that ends at
// v[i-1]: past the colon and any space.
func valueStart(v []byte, i int) int {
	if i+1 < len(v) && v[i] == ':' && v[i+1] > ' ' {
		return i + 1 // stored form: no space
	}
	i = jsonx.SkipSpace(v, i)
	return jsonx.SkipSpace(v, i+1)
}

// next returns the start of the next member after a value that ends at
// v[i-1]: past the comma and any space, or at the closing brace.
func next(v []byte, i int) int {
	if i+1 < len(v) && v[i] == ',' && v[i+1] == '"' {
		return i + 1 // stored form
	}
	i = jsonx.SkipSpace(v, i)
	if i < len(v) && v[i] == ',' {
		i = jsonx.SkipSpace(v, i+1)
	}
	return i
}

// indexed is Object for bodies that the single pass cannot take: it indexes
// the members of the object first, then finds each property among them.
func (c *Codec) indexed(buf []byte, t *schema.Type, v []byte, sel *Selection, o Options, open bool) []byte {
	var stack [maxMembers]jsonx.Member
	members := stack[:0]
	obj, _ := jsonx.NewObject(v)
	for m, ok := obj.Next(); ok; m, ok = obj.Next() {
		members = append(members, m)
	}
	pl := c.plans[t]
	if len(members) > 0 && string(members[0].Key) == "@odata.type" {
		// Keep the stored runtime type when this version has it; else the
		// declared type is all this version can say.
		name := string(members[0].Value[2 : len(members[0].Value)-1])
		if rt := c.Model.Type(name); rt != nil && rt != t && rt.DerivesFrom(t) {
			pl = c.plans[rt]
		}
		members = members[1:]
	}
	buf = append(buf, '{')
	first := true
	if pl.t != t {
		buf = append(buf, pl.annotation...)
		first = false
	}
	used := uint64(0) // members matched to declared properties (first 64)
	next := 0
	for i, p := range pl.props {
		if sel != nil && !sel.Has(p) {
			continue
		}
		// Stored members follow schema order, so the next one is usually it.
		j := -1
		for k := 0; k < len(members); k++ {
			at := (next + k) % len(members)
			if string(members[at].Key) == p.Name {
				j = at
				break
			}
		}
		if j < 0 {
			if o.OmitNulls {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, pl.keys[i]...)
			buf = append(buf, pl.nullValue[i]...)
			continue
		}
		next = j + 1
		if j < 64 {
			used |= 1 << j
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, pl.keys[i]...)
		buf = c.value(buf, p, members[j].Value, o)
	}
	if pl.t.Open && sel == nil {
		for j, m := range members {
			if j < 64 && used&(1<<j) != 0 {
				continue
			}
			if pl.stored != nil && pl.stored.Property(string(m.Key)) != nil {
				continue // declared in beta, absent from this version
			}
			if o.OmitNulls && jsonx.IsNull(m.Value) {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, '"')
			buf = append(buf, m.Key...)
			buf = append(buf, '"', ':')
			buf = appendDynamic(buf, m.Value, o.OmitNulls)
		}
	}
	if !open {
		buf = append(buf, '}')
	}
	return buf
}

// value appends one stored, non-null property value.
func (c *Codec) value(buf []byte, p *schema.Property, v []byte, o Options) []byte {
	if !p.Collection {
		return c.single(buf, p.Type, v, o)
	}
	arr, _ := jsonx.NewArray(v)
	buf = append(buf, '[')
	i := 0
	for el, ok := arr.Next(); ok; el, ok = arr.Next() {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = c.single(buf, p.Type, el, o)
		i++
	}
	return append(buf, ']')
}

func (c *Codec) single(buf []byte, t *schema.Type, v []byte, o Options) []byte {
	switch t.Kind {
	case schema.Complex, schema.Entity:
		if jsonx.IsNull(v) {
			return append(buf, "null"...)
		}
		return c.Object(buf, t, v, nil, o, false)
	case schema.Enum:
		return c.enum(buf, t, v, o)
	}
	return append(buf, v...) // primitives are stored as Graph writes them
}

// enum appends an enum value: a member past the unknownFutureValue
// sentinel is written as the sentinel unless the client asked for it.
func (c *Codec) enum(buf []byte, t *schema.Type, v []byte, o Options) []byte {
	if hidden(t, v, o) {
		return append(buf, `"unknownFutureValue"`...)
	}
	return append(buf, v...)
}

// appendDynamic copies the value of a dynamic property, dropping
// null-valued properties at every depth when omitNulls asks.
func appendDynamic(buf, v []byte, omitNulls bool) []byte {
	if !omitNulls || (v[0] != '{' && v[0] != '[') {
		return append(buf, v...)
	}
	if v[0] == '[' {
		arr, _ := jsonx.NewArray(v)
		buf = append(buf, '[')
		i := 0
		for el, ok := arr.Next(); ok; el, ok = arr.Next() {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendDynamic(buf, el, omitNulls)
			i++
		}
		return append(buf, ']')
	}
	obj, _ := jsonx.NewObject(v)
	buf = append(buf, '{')
	first := true
	for m, ok := obj.Next(); ok; m, ok = obj.Next() {
		if jsonx.IsNull(m.Value) {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, '"')
		buf = append(buf, m.Key...)
		buf = append(buf, '"', ':')
		buf = appendDynamic(buf, m.Value, omitNulls)
	}
	return append(buf, '}')
}
