package edm

import (
	"testing"
	"time"
)

func TestDateTimeOffsetIsWrittenAsGraphWritesIt(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2020-02-25T18:52:21.2169889Z", "2020-02-25T18:52:21.2169889Z"},
		{"2020-02-25T19:00:24.582757Z", "2020-02-25T19:00:24.582757Z"},
		{"2019-11-01T00:00:25.105Z", "2019-11-01T00:00:25.105Z"},
		{"2023-09-25T10:36:40Z", "2023-09-25T10:36:40Z"},
		{"2023-09-25T10:36:40.000Z", "2023-09-25T10:36:40Z"},
		{"2023-09-25T12:36:40.5+02:00", "2023-09-25T10:36:40.5Z"},
		{"2023-09-25T10:36:40.123456789Z", "2023-09-25T10:36:40.1234567Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
	} {
		tm, err := ParseDateTimeOffset(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := FormatDateTimeOffset(tm); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
	if _, err := ParseDateTimeOffset("2023-09-25 10:36:40"); err == nil {
		t.Error("a date-time without T and zone is not an Edm.DateTimeOffset")
	}
	_ = time.UTC
}

func TestValidDuration(t *testing.T) {
	for s, want := range map[string]bool{
		"PT0.016S": true, "PT1M2.5S": true, "P1D": true, "P1DT2H": true, "-PT5S": true, "PT10H": true, "PT0S": true,
		"P": false, "PT": false, "PT.5S": false, "PT1.S": false, "P1Y": false, "PT5": false, "1S": false, "": false, "PT1S2": false, "PT1M1H": false,
	} {
		if got := ValidDuration(s); got != want {
			t.Errorf("ValidDuration(%q) = %v, want %v", s, got, want)
		}
	}
}
