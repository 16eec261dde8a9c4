package quality_test

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"

	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/quality"
	"github.com/callvault/callvault/synth"
)

func TestRecordDecodesAsEncodingJSON(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.Config{Tenant: "t", Seed: 9, Records: 300}); err != nil {
		t.Fatal(err)
	}
	n := ingest.NewNormalizer()
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 64<<20)
	records, streams := 0, 0
	for sc.Scan() {
		r, err := n.Record("t", sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got, want := quality.Record(r), quality.DecodedWithEncodingJSON(t, r)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %s: the hand decoder differs from encoding/json", r.ID)
		}
		records++
		streams += len(got.Streams)
	}
	if records == 0 || streams == 0 {
		t.Fatalf("%d records, %d streams: the generator wrote nothing to compare", records, streams)
	}
}

func TestStrAndNum(t *testing.T) {
	for in, want := range map[string]string{`"a"`: "a", `"a\"b\u00e9"`: "a\"bé", `null`: "", `12`: ""} {
		if got := quality.Str([]byte(in)); got != want {
			t.Errorf("str(%s) = %q, want %q", in, got, want)
		}
	}
	if v := quality.Num([]byte("0.07")); v == nil || *v != 0.07 {
		t.Errorf("num(0.07) = %v", v)
	}
	for _, in := range []string{"null", `"1"`, "true", ""} {
		if v := quality.Num([]byte(in)); v != nil {
			t.Errorf("num(%s) = %v, want nil", in, *v)
		}
	}
}
