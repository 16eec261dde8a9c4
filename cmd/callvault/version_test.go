package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionPrintsTheBuildAndGoVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errs, status := runCLI(t, "", args...)
		if status != 0 || !strings.HasPrefix(out, "callvault ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("%v: status %d, %q %s", args, status, out, errs)
		}
	}
	out, _, status := runCLI(t, "", "version", "--json")
	var v buildVersion
	if err := json.Unmarshal([]byte(out), &v); status != 0 || err != nil || v.Go != runtime.Version() || v.Version == "" || v.Platform == "" {
		t.Errorf("version --json: status %d, %v, %q", status, err, out)
	}
	if _, _, status := runCLI(t, "", "version", "extra"); status != 2 {
		t.Errorf("version with an argument exits %d, want 2", status)
	}
}
