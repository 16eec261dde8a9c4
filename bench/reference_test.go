package bench

import (
	"bytes"

	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// refCodec is the encoder as it was before the single-pass merge (commit
// b7bb9df): it indexes every member of an object, then matches each
// property by name. The tests hold the codec to its output.
type refCodec struct {
	Model *schema.Model
	beta  *schema.Model
	plans map[*schema.Type]*refPlan
}

// plan is what the encoder needs of one structured type, computed once.
type refPlan struct {
	t          *schema.Type
	stored     *schema.Type // the same type in the beta model, which bodies are stored in
	props      []*schema.Property
	keys       [][]byte // `"name":` for each of props
	nullValue  [][]byte // what an absent value is written as: null, or [] for a non-nullable collection
	annotation []byte   // `"@odata.type":"#name"`
}

// newRefCodec returns the reference codec of a model.
func newRefCodec(m *schema.Model) *refCodec {
	c := &refCodec{Model: m, beta: schema.MustLoad(schema.Beta), plans: map[*schema.Type]*refPlan{}}
	for _, t := range m.Types() {
		if !t.IsStructured() {
			continue
		}
		p := &refPlan{t: t, stored: c.beta.Type(t.Name), annotation: []byte(`"@odata.type":"` + t.TypeName() + `"`)}
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
	return c
}

// refMaxMembers is how many members of one object the encoder indexes on the
// stack; larger objects (rare: open types) spill to the heap.
const refMaxMembers = 48

// Object appends the stored body v, of declared type t of this codec's
// model, to buf. sel limits the properties written (nil: all). Navigation
// properties are the caller's to write: Object leaves the object open when
// open is true, so that the caller can append them and close it.
func (c *refCodec) Object(buf []byte, t *schema.Type, v []byte, sel *odata.Selection, o odata.Options, open bool) []byte {
	var stack [refMaxMembers]refMember
	members := stack[:0]
	obj, _ := refNewObject(v)
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
			if o.OmitNulls && refIsNull(m.Value) {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, '"')
			buf = append(buf, m.Key...)
			buf = append(buf, '"', ':')
			buf = refAppendDynamic(buf, m.Value, o.OmitNulls)
		}
	}
	if !open {
		buf = append(buf, '}')
	}
	return buf
}

// value appends one stored, non-null property value.
func (c *refCodec) value(buf []byte, p *schema.Property, v []byte, o odata.Options) []byte {
	if !p.Collection {
		return c.single(buf, p.Type, v, o)
	}
	arr, _ := refNewArray(v)
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

func (c *refCodec) single(buf []byte, t *schema.Type, v []byte, o odata.Options) []byte {
	switch t.Kind {
	case schema.Complex, schema.Entity:
		if refIsNull(v) {
			return append(buf, "null"...)
		}
		return c.Object(buf, t, v, nil, o, false)
	case schema.Enum:
		if !o.IncludeUnknownEnums && t.Sentinel >= 0 && len(v) > 2 {
			if i := t.Member(string(v[1 : len(v)-1])); t.Evolvable(i) {
				return append(buf, `"unknownFutureValue"`...)
			}
		}
	}
	return append(buf, v...) // primitives are stored as Graph writes them
}

// appendDynamic copies the value of a dynamic property, dropping
// null-valued properties at every depth when omitNulls asks.
func refAppendDynamic(buf, v []byte, omitNulls bool) []byte {
	if !omitNulls || (v[0] != '{' && v[0] != '[') {
		return append(buf, v...)
	}
	if v[0] == '[' {
		arr, _ := refNewArray(v)
		buf = append(buf, '[')
		i := 0
		for el, ok := arr.Next(); ok; el, ok = arr.Next() {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = refAppendDynamic(buf, el, omitNulls)
			i++
		}
		return append(buf, ']')
	}
	obj, _ := refNewObject(v)
	buf = append(buf, '{')
	first := true
	for m, ok := obj.Next(); ok; m, ok = obj.Next() {
		if refIsNull(m.Value) {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, '"')
		buf = append(buf, m.Key...)
		buf = append(buf, '"', ':')
		buf = refAppendDynamic(buf, m.Value, omitNulls)
	}
	return append(buf, '}')
}

// The JSON walker as it was (internal/jsonx at commit b7bb9df).

// refSkipSpace returns the index of the first non-space byte at or after i.
func refSkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// refValueEnd returns the index just past the value that starts at b[i].
func refValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return refStringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = refStringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// refStringEnd returns the index just past the string that starts at b[i].
// It jumps from quote to quote (IndexByte is vectorised): strings are most
// of the bytes of a stored body.
func refStringEnd(b []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// refMember is one member of an object: Key is the raw key text between the
// quotes (escapes left as they are), Value the raw value.
type refMember struct {
	Key   []byte
	Value []byte
}

// refObject walks the members of a JSON object.
type refObject struct {
	b []byte
	i int
}

// refNewObject starts a walk over the object b; ok is false when b is not an
// object.
func refNewObject(b []byte) (o refObject, ok bool) {
	i := refSkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return refObject{}, false
	}
	return refObject{b: b, i: i + 1}, true
}

// Next returns the next member, and false after the last.
func (o *refObject) Next() (refMember, bool) {
	i := refSkipSpace(o.b, o.i)
	if i < len(o.b) && o.b[i] == ',' {
		i = refSkipSpace(o.b, i+1)
	}
	if i >= len(o.b) || o.b[i] != '"' {
		o.i = len(o.b)
		return refMember{}, false
	}
	ke := refStringEnd(o.b, i)
	key := o.b[i+1 : ke-1]
	i = refSkipSpace(o.b, ke)
	i = refSkipSpace(o.b, i+1) // past ':'
	ve := refValueEnd(o.b, i)
	o.i = ve
	return refMember{Key: key, Value: o.b[i:ve]}, true
}

// refArray walks the elements of a JSON array.
type refArray struct {
	b []byte
	i int
}

// refNewArray starts a walk over the array b; ok is false when b is not an
// array.
func refNewArray(b []byte) (a refArray, ok bool) {
	i := refSkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return refArray{}, false
	}
	return refArray{b: b, i: i + 1}, true
}

// Next returns the next element, and false after the last.
func (a *refArray) Next() ([]byte, bool) {
	i := refSkipSpace(a.b, a.i)
	if i < len(a.b) && a.b[i] == ',' {
		i = refSkipSpace(a.b, i+1)
	}
	if i >= len(a.b) || a.b[i] == ']' {
		a.i = len(a.b)
		return nil, false
	}
	e := refValueEnd(a.b, i)
	a.i = e
	return a.b[i:e], true
}

// refIsNull reports whether the raw value v is the literal null.
func refIsNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }
