package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

var versionCommand = command{
	name:    "version",
	summary: "print the build's version",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		var asJSON bool
		fs.BoolVar(&asJSON, "json", false, "print it as one JSON object, for scripts")
		describe(fs, "callvault version [flags]", `
Prints the module version of this build (a release tag, or a pseudo-version
when built from a commit), the version control revision, its time and whether
the work tree had changes, and the Go version it was built with, as the Go
toolchain recorded them in the binary. 'callvault --version' is the same.`)
		return func(ctx context.Context, args []string, std stdio) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
			}
			v := readBuild()
			if asJSON {
				return json.NewEncoder(std.out).Encode(v)
			}
			_, err := fmt.Fprintln(std.out, v)
			return err
		}
	},
}

// buildVersion is what the toolchain recorded of a build.
type buildVersion struct {
	Version  string `json:"version"`            // the main module's: v1.2.3, a pseudo-version, or (devel)
	Revision string `json:"revision,omitempty"` // vcs.revision
	Time     string `json:"time,omitempty"`     // vcs.time, the commit's
	Modified bool   `json:"modified,omitempty"` // vcs.modified: built from a work tree with changes
	Go       string `json:"go"`
	Platform string `json:"platform"` // GOOS/GOARCH
}

// readBuild reads the binary's build information; a binary without any
// (built by a tool that records none) still reports its Go version.
func readBuild() buildVersion {
	v := buildVersion{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one line 'callvault version' prints.
func (v buildVersion) String() string {
	s := "callvault " + v.Version
	if v.Revision != "" {
		s += " (" + v.Revision
		if v.Time != "" {
			s += " " + v.Time
		}
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + v.Go + " " + v.Platform
}
