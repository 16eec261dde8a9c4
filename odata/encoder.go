package odata

import (
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
}

// plan is what the encoder needs of one structured type, computed once.
type plan struct {
	t          *schema.Type
	stored     *schema.Type // the same type in the beta model, which bodies are stored in
	props      []*schema.Property
	keys       [][]byte // `"name":` for each of props
	nullValue  [][]byte // what an absent value is written as: null, or [] for a non-nullable collection
	annotation []byte   // `"@odata.type":"#name"`
}

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
	return c
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
func (c *Codec) Object(buf []byte, t *schema.Type, v []byte, sel *Selection, o Options, open bool) []byte {
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
