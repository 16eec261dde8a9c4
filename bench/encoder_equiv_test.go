package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// TestCodecMatchesTheReference holds odata.Codec to the output of the
// encoder it replaced (refCodec) on stored bodies of every shape synth
// makes, in both versions, with every option and a few selections; and on
// the same bodies perturbed (members reordered, dynamic members and nulls
// inserted, values of the wrong kind, whitespace), which the stored form
// never has but which must come out the same all the same.
func TestCodecMatchesTheReference(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	var sessionBodies, segmentBodies [][]byte
	take := func(id string, every int) {
		var after int64
		for n := 0; ; n++ {
			p, err := f.db.ListSessions(ctx, callvault.SessionQuery{Tenant: tenant, RecordID: id, After: after, Limit: pageSize, Segments: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range p.Sessions {
				if (n*pageSize+i)%every != 0 {
					continue
				}
				sessionBodies = append(sessionBodies, s.Body)
				for _, seg := range s.Segments {
					segmentBodies = append(segmentBodies, seg.Body)
				}
			}
			if !p.More {
				return
			}
			after = p.Sessions[len(p.Sessions)-1].Seq
		}
	}
	// Records, their organizers and participants, of every record.
	var others []struct {
		typ  string
		body []byte
	}
	other := func(typ string, body []byte) {
		if body != nil {
			others = append(others, struct {
				typ  string
				body []byte
			}{typ, body})
		}
	}
	every := 1
	if raceEnabled || testing.Short() {
		every = 5
	}
	take(meeting, 40/every)
	for _, id := range append([]string{meeting}, f.records...) {
		if id != meeting {
			take(id, 3*every)
		}
		h, err := f.db.GetRecord(ctx, tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		other("callRecord", h.Body)
		other("organizer", h.Organizer)
		p, err := f.db.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: tenant, RecordID: id, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range p.Participants {
			other("participant", row.Body)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	var perturbed [][]byte
	for _, b := range sessionBodies {
		perturbed = append(perturbed, perturb(r, b))
	}
	for _, b := range segmentBodies[:len(segmentBodies)/2] {
		perturbed = append(perturbed, perturb(r, b))
	}
	for i := range others {
		if i%2 == 0 {
			others = append(others, struct {
				typ  string
				body []byte
			}{others[i].typ, perturb(r, others[i].body)})
		}
	}
	t.Logf("%d session bodies, %d segment bodies, %d perturbed, %d records, organizers and participants", len(sessionBodies), len(segmentBodies), len(perturbed), len(others))

	options := []odata.Options{{}, {OmitNulls: true}, {IncludeUnknownEnums: true}, {OmitNulls: true, IncludeUnknownEnums: true}}
	for _, v := range []string{schema.V1, schema.Beta} {
		m := schema.MustLoad(v)
		codec, ref := odata.NewCodec(m), newRefCodec(m)
		session := m.Type(schema.CallRecordsNamespace + ".session")
		segment := m.Type(schema.CallRecordsNamespace + ".segment")
		selections := []*odata.Selection{nil}
		for _, raw := range []string{"$select=id,startDateTime,caller", "$select=*", "$select=callee,failureInfo,modalities,isTest"} {
			q, err := odata.ParseQuery(raw, v, session, sessionRules)
			if err != nil {
				t.Fatal(err)
			}
			selections = append(selections, q.Select)
		}
		q, err := odata.ParseQuery("$expand=segments($select=id,media,caller)", v, session, sessionRules)
		if err != nil {
			t.Fatal(err)
		}
		segmentSelections := []*odata.Selection{nil, q.Expand[0].Select}

		check := func(what string, typ *schema.Type, body []byte, sel *odata.Selection, o odata.Options) {
			t.Helper()
			for _, open := range []bool{false, true} {
				got := codec.Object(nil, typ, body, sel, o, open)
				want := ref.Object(nil, typ, body, sel, o, open)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s %s %s, options %+v, open %v: the codec differs from the reference\nbody %s\n got %s\nwant %s\nfirst difference at byte %d",
						v, what, typ.Name, o, open, body, got, want, firstDiff(got, want))
				}
				if !open && !json.Valid(got) {
					t.Fatalf("%s %s: not JSON: %s", v, what, got)
				}
			}
		}
		for _, o := range options {
			for _, sel := range selections {
				for _, b := range sessionBodies {
					check("session", session, b, sel, o)
				}
				for _, b := range perturbed {
					check("perturbed session", session, b, sel, o)
				}
			}
			for _, x := range others {
				check(x.typ, m.Type(schema.CallRecordsNamespace+"."+x.typ), x.body, nil, o)
			}
			for _, sel := range segmentSelections {
				for _, b := range segmentBodies {
					check("segment", segment, b, sel, o)
				}
				for _, b := range perturbed {
					check("perturbed segment", segment, b, sel, o)
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// perturb rewrites an object at every depth, at random: members reversed,
// a dynamic member or a null or a duplicate inserted, a value replaced by one
// of another kind, whitespace added; most objects are left as they are.
func perturb(r *rand.Rand, v []byte) []byte {
	switch {
	case len(v) == 0:
		return v
	case v[0] == '[':
		var out []byte
		out = append(out, '[')
		arr, _ := refNewArray(v)
		i := 0
		for el, ok := arr.Next(); ok; el, ok = arr.Next() {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, perturb(r, el)...)
			i++
		}
		return append(out, ']')
	case v[0] != '{':
		return v
	}
	type member struct{ key, value []byte }
	var ms []member
	obj, _ := refNewObject(v)
	for m, ok := obj.Next(); ok; m, ok = obj.Next() {
		ms = append(ms, member{m.Key, perturb(r, m.Value)})
	}
	sep, colon := ",", ":"
	switch op := r.IntN(14); {
	case op == 0:
		for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
			ms[i], ms[j] = ms[j], ms[i]
		}
	case op == 1 && len(ms) > 1:
		i := r.IntN(len(ms) - 1)
		ms[i], ms[i+1] = ms[i+1], ms[i]
	case op == 2:
		i := r.IntN(len(ms) + 1)
		ms = append(ms[:i], append([]member{{[]byte("zDynamic"), []byte(`{"a":null,"b":[1,null,{"c":null}]}`)}}, ms[i:]...)...)
	case op == 3:
		ms = append(ms, member{[]byte("tenantId"), []byte("null")})
	case op == 4 && len(ms) > 0 && string(ms[0].key) != "@odata.type": // the reference assumes a string there
		i := r.IntN(len(ms))
		ms[i].value = [][]byte{[]byte("null"), []byte(`"x"`), []byte("[]"), []byte("{}"), []byte("1"), []byte(`[null,"y"]`)}[r.IntN(6)]
	case op == 5 && len(ms) > 0:
		i := r.IntN(len(ms))
		ms = append(ms, member{ms[i].key, []byte("null")})
	case op == 6:
		sep, colon = " , ", " : "
	}
	out := []byte("{")
	for i, m := range ms {
		if i > 0 {
			out = append(out, sep...)
		}
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"')
		out = append(out, colon...)
		out = append(out, m.value...)
	}
	return append(out, '}')
}
