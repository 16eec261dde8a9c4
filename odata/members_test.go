package odata_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// TestObjectStoredIsObject holds ObjectStored, which skips values by the
// member table stored with the scripts, to Object's bytes: every stored
// session and segment of the meeting and of synth's mix, both versions,
// each property selected alone and in pairs, with and without the Prefer
// options, with the table, without it, and with tables that do not fit.
func TestObjectStoredIsObject(t *testing.T) {
	bodies, err := storedBodies()
	if err != nil {
		t.Fatal(err)
	}
	cs := codecs()
	opts := []odata.Options{{}, {OmitNulls: true}, {IncludeUnknownEnums: true}}
	tables := 0
	for _, b := range bodies {
		if b.typ != "session" && b.typ != "segment" {
			continue
		}
		name := schema.CallRecordsNamespace + "." + b.typ
		blob := odata.CompileAll(cs, name, b.body)
		if blob == nil {
			t.Fatalf("no scripts for a stored %s", b.typ)
		}
		// The table is the blob's last entry; cut, or saying another
		// body's length, it must be refused, never misread.
		cut := blob[:len(blob)-1]
		other := bytes.Clone(blob)
		at := len(other) - lastEntryLen(other)
		_, w := binary.Uvarint(other[at:])
		if other[at+w] != 0 || other[at+w+1] != 'm' {
			t.Fatalf("the blob's last entry is not a member table: % x", other[at:])
		}
		other[at+w+2] ^= 1 // the body's length, one more or one less
		for _, c := range cs {
			typ := c.Model.Type(name)
			var props []*schema.Property
			for _, p := range typ.Properties {
				if !p.Navigation {
					props = append(props, p)
				}
			}
			var sels []string
			for i, p := range props {
				sels = append(sels, p.Name, p.Name+","+props[(i+3)%len(props)].Name)
			}
			sels = append(sels, "id,startDateTime", "*")
			for _, sel := range sels {
				q, err := odata.ParseQuery("$select="+sel, c.Model.Version, typ, odata.Rules{Select: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range opts {
					want := c.Object(nil, typ, b.body, q.Select, o, false)
					for _, scripts := range [][]byte{blob, nil, cut, other} {
						if got := c.ObjectStored(nil, typ, b.body, scripts, q.Select, o); !bytes.Equal(got, want) {
							t.Fatalf("%s %s $select=%s %+v (scripts of %d bytes):\n got %s\nwant %s", c.Model.Version, b.typ, sel, o, len(scripts), got, want)
						}
					}
				}
			}
		}
		tables++
	}
	if tables < 100 {
		t.Errorf("only %d sessions and segments", tables)
	}
}

// TestMemberTablesAreSmall keeps the tables' cost in bytes in view: they
// add to every stored session and segment.
func TestMemberTablesAreSmall(t *testing.T) {
	bodies, err := storedBodies()
	if err != nil {
		t.Fatal(err)
	}
	var bodyBytes, withBytes, withoutBytes int
	for _, b := range bodies {
		if b.typ != "session" && b.typ != "segment" {
			continue
		}
		name := schema.CallRecordsNamespace + "." + b.typ
		blob := odata.CompileAll(codecs(), name, b.body)
		bodyBytes += len(b.body)
		withBytes += len(blob)
		// The scripts alone: RenderStored stops at the first entry it takes,
		// so strip the last entry by re-reading the blob.
		withoutBytes += len(blob) - lastEntryLen(blob)
	}
	t.Logf("member tables: %.2f%% of the bodies' bytes (scripts %.2f%%)",
		100*float64(withBytes-withoutBytes)/float64(bodyBytes), 100*float64(withoutBytes)/float64(bodyBytes))
	if 100*(withBytes-withoutBytes) > bodyBytes {
		t.Errorf("member tables are more than 1%% of the bodies")
	}
}

// lastEntryLen returns the length, with its uvarint, of a blob's last entry.
func lastEntryLen(blob []byte) int {
	last := 0
	for len(blob) > 0 {
		n, w := binary.Uvarint(blob)
		if w <= 0 {
			return 0
		}
		last = w + int(n)
		blob = blob[last:]
	}
	return last
}
