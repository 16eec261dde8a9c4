package odata

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/schema"
)

// Render scripts. For the default request (no $select, Options{}, the
// object closed) Object's output for a stored body never changes, so the
// importer compiles it once into a script stored beside the body, and
// serving it is a few copies instead of a merge.
//
// A script is:
//
//	count        byte      how many fingerprints follow (at least one)
//	fingerprint  [8]byte   each codec the script is for (renderState.fp)
//	uvarint                the length of the body it was compiled from
//	uvarint                the length of the output
//	op*                    until the end of the script
//
// The lengths make a script refuse another body and catch one cut short.
// An op starts with a uvarint a:
//
//	a&3 == 0   COPY: copy the next a>>2 bytes of the body
//	a&3 == 2   COPY: skip a>>2 bytes of the body, then copy the next n
//	a&1 == 1   CONST: copy n bytes of the dictionary from offset a>>1
//
// where n is a second uvarint. The body cursor only moves forward. The
// compiler coalesces contiguous copies, and contiguous constants, into one
// op, so ops mostly alternate: a run of the body, a run of absent
// properties.
//
// The dictionary holds the constant bytes the merge writes: a few
// literals, then for each plan its "@odata.type" annotation, its null run
// (plan.nulls, which also holds every key with and without its comma) and
// a closing brace, so that an object ending in absent properties takes one
// op for its nulls and its brace. One dictionary serves v1.0 and beta, so
// that a body both versions write alike (most) compiles to the same ops,
// which CompileAll stores once, with both fingerprints.
//
// CompileAll's blob is a sequence of uvarint length, script, and last the
// body's member table (members.go).

// scriptFormat is hashed into every fingerprint: bump it whenever the
// script format, the dictionary or what Object writes changes, so that
// old scripts are refused (and bodies merged) rather than misread.
const scriptFormat = "callvault render script 1"

const fpLen = 8

// literals are the constants the merge writes that no plan holds.
const literals = `[]{},:null"unknownFutureValue"`

// dictionary is the constants of every version's scripts.
type dictionary struct {
	b  []byte
	at map[string]int // where each plan's entry starts, by entryKey
}

func entryKey(p *plan) string { return string(p.annotation) + "\x00" + string(p.nulls) }

// sharedDictionary is built from the plans of v1.0 then beta, each in
// type name order: the same bytes in every process of one build.
var sharedDictionary = sync.OnceValue(func() *dictionary {
	d := &dictionary{b: []byte(literals), at: map[string]int{}}
	for _, v := range []string{schema.V1, schema.Beta} {
		c := NewCodec(schema.MustLoad(v))
		for _, t := range c.Model.Types() {
			p := c.plans[t]
			if p == nil || !p.merge {
				continue
			}
			if _, ok := d.at[entryKey(p)]; ok {
				continue // the same in both versions
			}
			d.at[entryKey(p)] = len(d.b)
			d.b = append(d.b, p.annotation...)
			d.b = append(d.b, p.nulls...)
			d.b = append(d.b, '}')
		}
	}
	return d
})

// renderState is what scripts need of a codec beyond its plans, built on
// first use: NewCodec stays cheap for codecs that never render.
type renderState struct {
	once   sync.Once
	fp     [fpLen]byte
	dict   []byte
	planAt map[*plan]int // where each plan's entry starts in dict
}

func (c *Codec) renderState() *renderState {
	rs := &c.render
	rs.once.Do(func() { c.buildRenderState(rs) })
	return rs
}

func (c *Codec) buildRenderState(rs *renderState) {
	d := sharedDictionary()
	rs.dict = d.b
	rs.planAt = map[*plan]int{}
	for _, p := range c.plans {
		if at, ok := d.at[entryKey(p)]; ok && p.merge {
			rs.planAt[p] = at
		}
	}
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte(scriptFormat))
	field([]byte(c.Model.Version))
	for _, v := range []string{c.Model.Version, schema.Beta} {
		files, err := schema.CSDL(v)
		if err != nil {
			panic(err) // embedded: a build defect, as in schema.MustLoad
		}
		for _, f := range files {
			field(f)
		}
	}
	field(schema.Annotations())
	field(rs.dict) // covers how the plans were built
	copy(rs.fp[:], h.Sum(nil))
}

// Compile returns the script that renders body, a stored body of type t
// (of this codec's model), as c.Object(nil, t, body, nil, Options{},
// false) writes it; or nil when it cannot: body not in stored form, or a
// type the single pass does not take. A script is checked against Object
// before it is returned, so that it never writes other bytes than Object,
// whatever body is (FuzzCompile).
func (c *Codec) Compile(t *schema.Type, body []byte) []byte {
	// Object, which the script is checked against, assumes a type of its
	// model and valid JSON, as stored bodies are.
	if c.plans[t] == nil || !json.Valid(body) {
		return nil
	}
	bp, op := scratch.Get().(*[]byte), scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	defer scratch.Put(op)
	want, ops, ok := c.compile((*bp)[:0], (*op)[:0], t, body, nil)
	*bp, *op = want, ops
	if !ok {
		return nil
	}
	rest := c.renderState().script(body, want, ops)
	if rest == nil {
		return nil
	}
	fp := c.renderState().fp
	return append(append(append(make([]byte, 0, 1+fpLen+len(rest)), 1), fp[:]...), rest...)
}

// scratch holds the buffers scripts are checked in.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// seenScratch holds the member ends CompileValid notes.
var seenScratch = sync.Pool{New: func() any { s := make([]int, 0, 32); return &s }}

// compile writes body as Object does for the default request (sel nil,
// Options{}, closed), appending it to buf as want, in one walk of merge
// that records the ops of the script that writes it, appended to ops. ok
// is false when no script can: the body is not in stored form, and want
// is then Object's indexed output. ends, when noting, gets the ends of the
// top-level members.
func (c *Codec) compile(buf, ops []byte, t *schema.Type, body []byte, ends *memberEnds) (want, _ []byte, ok bool) {
	pl := c.plans[t]
	i := jsonx.SkipSpace(body, 0)
	if pl == nil || i >= len(body) || body[i] != '{' {
		return c.Object(buf, t, body, nil, Options{}, false), ops, false
	}
	k := compiler{rs: c.renderState(), v: body, ops: ops}
	want, _, ok = c.merge(buf, pl, body, i, nil, Options{}, false, &k, ends)
	if !ok {
		return c.indexed(buf, t, body, nil, Options{}, false), k.ops, false
	}
	k.flush()
	return want, k.ops, !k.failed
}

// script returns the script, past its fingerprints, of ops that write
// want of body, once it has run them and found that they do; else nil.
func (rs *renderState) script(body, want, ops []byte) []byte {
	rest := make([]byte, 0, 2*binary.MaxVarintLen64+len(ops))
	rest = binary.AppendUvarint(rest, uint64(len(body)))
	rest = binary.AppendUvarint(rest, uint64(len(want)))
	rest = append(rest, ops...)
	if !rs.writes(rest, body, want) {
		return nil
	}
	return rest
}

// writes reports whether s, a script past its fingerprints, writes want
// of body.
func (rs *renderState) writes(s, body, want []byte) bool {
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	out, ok := rs.run((*bp)[:0], s, body)
	*bp = out
	return ok && bytes.Equal(out, want)
}

// forCodec reports whether script names the codec of fingerprint fp, and
// returns the rest of it, past the fingerprints.
func forCodec(script []byte, fp *[fpLen]byte) ([]byte, bool) {
	if len(script) == 0 {
		return nil, false
	}
	n := int(script[0])
	if n == 0 || len(script) < 1+n*fpLen {
		return nil, false
	}
	for i := 1; i < 1+n*fpLen; i += fpLen {
		if string(script[i:i+fpLen]) == string(fp[:]) {
			return script[1+n*fpLen:], true
		}
	}
	return nil, false
}

// Render appends what script writes of body to buf. ok is false, with buf
// as it was, when the script is not this codec's or is corrupt.
func (c *Codec) Render(buf, script, body []byte) ([]byte, bool) {
	rs := c.renderState()
	s, ok := forCodec(script, &rs.fp)
	if !ok {
		return buf, false
	}
	return rs.run(buf, s, body)
}

// run is Render for s, a script past its fingerprints.
func (rs *renderState) run(buf, s, body []byte) ([]byte, bool) {
	size, i := binary.Uvarint(s)
	if i <= 0 || size != uint64(len(body)) {
		return buf, false
	}
	want, w := binary.Uvarint(s[i:])
	if w <= 0 {
		return buf, false
	}
	i += w
	mark := len(buf)
	dict := rs.dict
	pos := 0 // the body cursor
	for i < len(s) {
		// Uvarints of one or two bytes, mostly.
		a := uint64(s[i])
		i++
		if a >= 0x80 {
			if a, i = uvarint(s, i, a); i < 0 {
				return buf[:mark], false
			}
		}
		if a&3 == 0 { // COPY, no skip
			if n := a >> 2; n > uint64(len(body)-pos) {
				return buf[:mark], false
			}
			from := pos
			pos += int(a >> 2)
			buf = append(buf, body[from:pos]...)
			continue
		}
		if i >= len(s) {
			return buf[:mark], false
		}
		n := uint64(s[i])
		i++
		if n >= 0x80 {
			if n, i = uvarint(s, i, n); i < 0 {
				return buf[:mark], false
			}
		}
		if a&1 == 0 { // COPY after a skip
			rest := uint64(len(body) - pos)
			if skip := a >> 2; skip > rest || n > rest-skip {
				return buf[:mark], false
			}
			from := pos + int(a>>2)
			pos = from + int(n)
			buf = append(buf, body[from:pos]...)
			continue
		}
		if off := a >> 1; off > uint64(len(dict)) || n > uint64(len(dict))-off {
			return buf[:mark], false
		}
		buf = append(buf, dict[a>>1:a>>1+n]...)
	}
	if uint64(len(buf)-mark) != want {
		return buf[:mark], false
	}
	return buf, true
}

// uvarint finishes reading the uvarint whose first byte, x (>= 0x80), is
// just before s[i]. It returns -1 for i when the uvarint is cut short or
// too long.
func uvarint(s []byte, i int, x uint64) (uint64, int) {
	x &= 0x7f
	for shift := uint(7); shift < 64; shift += 7 {
		if i >= len(s) {
			return 0, -1
		}
		b := s[i]
		i++
		if b < 0x80 {
			if shift == 63 && b > 1 {
				return 0, -1
			}
			return x | uint64(b)<<shift, i
		}
		x |= uint64(b&0x7f) << shift
	}
	return 0, -1
}

// CompileAll compiles body, of the type named typeName (qualified, as
// "microsoft.graph.callRecords.session"), for each codec that has the type,
// and returns their scripts as one blob for RenderStored; nil when no
// codec compiled it. Codecs whose scripts are the same but for their
// fingerprints share one.
func CompileAll(codecs []*Codec, typeName string, body []byte) []byte {
	if !json.Valid(body) {
		return nil
	}
	return CompileValid(codecs, typeName, body)
}

// CompileValid is CompileAll for a body known to be valid JSON, as every
// body package ingest writes is: the check costs a third of compiling.
func CompileValid(codecs []*Codec, typeName string, body []byte) []byte {
	// An import compiles every body it stores: what would be a handful of
	// small allocations a body is kept on the stack or in scratch.
	var restBuf [4][]byte
	rests := restBuf[:0] // the distinct scripts, past their fingerprints
	var ofBuf [4]int
	of := ofBuf[:0] // for each codec, the index of its script in rests, or -1
	bp, op := scratch.Get().(*[]byte), scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	defer scratch.Put(op)
	sp := seenScratch.Get().(*[]int)
	defer seenScratch.Put(sp)
	ends := memberEnds{seen: (*sp)[:0]} // noting: not nil
	noted := false
	for _, c := range codecs {
		of = append(of, -1)
		t := c.Model.Type(typeName)
		if c.plans[t] == nil {
			continue
		}
		rs := c.renderState()
		if len(rests) > 0 {
			// The dictionary is shared: a script of another version that
			// writes this version's output serves both, without recording
			// another.
			want := c.Object((*bp)[:0], t, body, nil, Options{}, false)
			*bp = want
			for j, r := range rests {
				if rs.writes(r, body, want) {
					of[len(of)-1] = j
					break
				}
			}
			if of[len(of)-1] >= 0 {
				continue
			}
		}
		// The first walk notes the members' ends for the member table.
		var note *memberEnds
		if !noted {
			noted, note = true, &ends
		}
		want, ops, ok := c.compile((*bp)[:0], (*op)[:0], t, body, note)
		*bp, *op = want, ops
		if ok {
			if rest := rs.script(body, want, ops); rest != nil {
				of[len(of)-1] = len(rests)
				rests = append(rests, rest)
			}
		}
	}
	var out []byte
	for j, rest := range rests {
		n := 0
		for _, x := range of {
			if x == j {
				n++
			}
		}
		for n > 0 { // a count byte says at most 255 fingerprints
			k := min(n, 255)
			if out == nil {
				// Room for the member table too: a few bytes a member.
				out = make([]byte, 0, len(rests)*(binary.MaxVarintLen64+1+len(codecs)*fpLen+len(rest))+
					3*binary.MaxVarintLen64+3*len(ends.seen))
			}
			out = binary.AppendUvarint(out, uint64(1+k*fpLen+len(rest)))
			out = append(out, byte(k))
			for i, x := range of {
				if x == j && k > 0 {
					fp := codecs[i].renderState().fp
					out = append(out, fp[:]...)
					of[i], k, n = -1, k-1, n-1
				}
			}
			out = append(out, rest...)
		}
	}
	if out != nil {
		out = appendMemberTable(out, body, ends.seen) // for the merges of $select (members.go)
	}
	*sp = ends.seen[:0]
	return out
}

// RenderStored finds this codec's script in scripts, a blob CompileAll
// wrote, and renders body with it. ok is false, with buf as it was, when
// the blob holds no script of this codec or is corrupt: then the caller
// writes body with Object.
//
// The output is the closed object; Entity's open form, for a caller that
// appends navigation properties, is all of it but the final '}'.
func (c *Codec) RenderStored(buf, scripts, body []byte) ([]byte, bool) {
	rs := c.renderState()
	for len(scripts) > 0 {
		n, w := binary.Uvarint(scripts)
		if w <= 0 || n > uint64(len(scripts)-w) {
			return buf, false
		}
		if s, ok := forCodec(scripts[w:w+int(n)], &rs.fp); ok {
			return rs.run(buf, s, body)
		}
		scripts = scripts[w+int(n):]
	}
	return buf, false
}

// compiler writes the ops of one script from what merge writes of the
// default request (merge's rec): each piece a copy of the body where the
// body holds it at that place, else of the dictionary. The op being built is
// kept open so that what follows contiguously extends it.
type compiler struct {
	rs     *renderState
	v      []byte // the body
	ops    []byte
	failed bool

	kind     byte // 0: no open op, 'b': a body copy, 'd': a dictionary copy
	from, to int  // the open op's range, in v or in the dictionary
	pos      int  // the body cursor: the end of the last copy flushed

	pl    *plan // the plan whose dictionary entry was looked up last
	entry int   // where its constants start in the dictionary
}

func (k *compiler) flush() {
	switch k.kind {
	case 'b':
		skip := k.from - k.pos
		k.pos = k.to
		if skip == 0 {
			k.ops = binary.AppendUvarint(k.ops, uint64(k.to-k.from)<<2)
			k.kind = 0
			return
		}
		k.ops = binary.AppendUvarint(k.ops, uint64(skip)<<2|2)
	case 'd':
		k.ops = binary.AppendUvarint(k.ops, uint64(k.from)<<1|1)
	default:
		return
	}
	k.ops = binary.AppendUvarint(k.ops, uint64(k.to-k.from))
	k.kind = 0
}

// copy emits v[from:to].
func (k *compiler) copy(from, to int) {
	switch {
	case from == to:
	case k.kind == 'b' && k.to == from:
		k.to = to
	case from < k.pos || (k.kind == 'b' && from < k.to):
		k.failed = true // the cursor only moves forward
	default:
		k.flush()
		k.kind, k.from, k.to = 'b', from, to
	}
}

// dict emits n bytes of the dictionary from off.
func (k *compiler) dict(off, n int) {
	switch {
	case n == 0:
	case k.kind == 'd' && k.to == off:
		k.to += n
	default:
		k.flush()
		k.kind, k.from, k.to = 'd', off, off+n
	}
}

// lit emits s, which the dictionary holds at off: by extending the open
// dictionary copy when the dictionary goes on with s, else from the body
// when v[at:] starts with it (at < 0: nowhere), else from the dictionary.
func (k *compiler) lit(s []byte, at, off int) {
	d := k.rs.dict
	if k.kind == 'd' && bytes.HasPrefix(d[k.to:], s) {
		k.to += len(s)
		return
	}
	if at >= 0 && at <= len(k.v) && bytes.HasPrefix(k.v[at:], s) && at >= k.pos && (k.kind != 'b' || at >= k.to) {
		k.copy(at, at+len(s))
		return
	}
	k.dict(off, len(s))
}

// literal emits one of literals.
func (k *compiler) literal(s string, at int) {
	k.lit([]byte(s), at, bytes.Index([]byte(literals), []byte(s)))
}

// open records the brace that starts an object of plan pl at v[at]. A
// plan the dictionary lacks (a model of no version) fails the script.
func (k *compiler) open(pl *plan, at int) {
	if _, ok := k.entryOf(pl); !ok {
		k.failed = true
		return
	}
	k.literal("{", at)
}

// entryOf returns where pl's constants start in the dictionary.
func (k *compiler) entryOf(pl *plan) (int, bool) {
	if pl == k.pl {
		return k.entry, true
	}
	e, ok := k.rs.planAt[pl]
	if ok {
		k.pl, k.entry = pl, e
	}
	return e, ok
}

// annotation records pl's "@odata.type" member, which v holds at at.
func (k *compiler) annotation(pl *plan, at int) {
	e, ok := k.entryOf(pl)
	if !ok {
		k.failed = true
		return
	}
	k.lit(pl.annotation, at, e)
}

// key records the key of pl's property p (with its comma unless first),
// for the member of v at at.
func (k *compiler) key(pl *plan, p int, first bool, at int) {
	e, ok := k.entryOf(pl)
	if !ok {
		k.failed = true
		return
	}
	nulls := e + len(pl.annotation)
	if first {
		k.lit(pl.keys[p], at, nulls+pl.nullAt[p]+1)
	} else {
		k.lit(pl.commaKeys[p], at-1, nulls+pl.nullAt[p])
	}
}

// nulls records pl's properties p to m-1 as absent.
func (k *compiler) nulls(pl *plan, p, m int, first bool) {
	e, ok := k.entryOf(pl)
	if !ok {
		k.failed = true
		return
	}
	from := pl.nullAt[p]
	if first {
		from++ // no comma
	}
	k.dict(e+len(pl.annotation)+from, pl.nullAt[m]-from)
}

// dynamic records a dynamic property of an open type, v[i:ke] its quoted
// key and v[vs:ve] its value, copied as stored.
func (k *compiler) dynamic(first bool, i, ke, vs, ve int) {
	if !first {
		k.literal(",", i-1)
	}
	k.copy(i, ke)
	k.literal(":", ke)
	k.copy(vs, ve)
}

// close records the brace that ends an object at v[at]; an object left
// open is none of a script's.
func (k *compiler) close(open bool, at int) {
	if open {
		k.failed = true
		return
	}
	k.literal("}", at)
}
