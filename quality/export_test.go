package quality

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// DecodedWithEncodingJSON classifies r as Record does, but decodes each
// body whole with encoding/json: the plain reading Record's hand decoder
// must agree with.
func DecodedWithEncodingJSON(t *testing.T, r *callvault.Record) *callvault.RecordQuality {
	t.Helper()
	q := &callvault.RecordQuality{}
	var rec wireRecord
	if err := json.Unmarshal(r.Body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.StartDateTime.IsZero() {
		rec.StartDateTime = r.StartDateTime
	}
	for i, ses := range r.Sessions {
		var s struct {
			StartDateTime time.Time `json:"startDateTime"`
		}
		if err := json.Unmarshal(ses.Body, &s); err != nil {
			t.Fatal(err)
		}
		for j, seg := range ses.Segments {
			var g wireSegment
			if err := json.Unmarshal(seg.Body, &g); err != nil {
				t.Fatal(err)
			}
			at := firstTime(g.StartDateTime, s.StartDateTime, rec.StartDateTime)
			q.Streams = appendSegment(q.Streams, r.ID, rec.Type, i+1, j+1, at, &g)
		}
	}
	return q
}

// Str and Num are the hand decoder's readers of a string and a number.
var Str, Num = str, num
