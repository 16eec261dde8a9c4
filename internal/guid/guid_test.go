package guid

import (
	"regexp"
	"testing"
)

func TestNewIsARandomVersion4GUID(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		g := New()
		if !form.MatchString(g) {
			t.Fatalf("%q is not a version 4 GUID", g)
		}
		if seen[g] {
			t.Fatalf("%q twice", g)
		}
		seen[g] = true
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New()
	}
}
