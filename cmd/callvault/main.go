// Command callvault serves the Microsoft Graph callRecords API from its own
// store. Run "callvault help" for the commands.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usage is the top-level help.
const usage = `callvault serves the Microsoft Graph callRecords API (microsoft.graph.callRecords)
from its own store, wire-compatible with Graph: point a Graph client at it by
changing only the base URL and the token.

Usage:
  callvault <command> [flags]

Commands:
  serve    run the API server (try: callvault serve --demo)
  import   load call records in Graph's JSON shape into the store
  generate write realistic call records for testing (JSON Lines)
  token    print an access token the server accepts
  app      register apps that get tokens from the development issuer
  keys     rotate the development issuer's signing keys
  ca       print the path of the local CA of serve --tls auto
  migrate  bring the database's schema up to date
  mirror   copy a tenant's call records from Microsoft Graph, and keep them
  buildings load a tenant's building or endpoint file in CQD's format
  ui       print a one-time sign-in link to the web view of serve
  export   write classified streams as CSV, or the records as a re-importable archive
  version  print the build's version, revision and Go version (also: callvault --version)
  help     show this help, or a command's: callvault help <command>

Every flag can also be set by an environment variable: CALLVAULT_ and the
flag's name in capitals with '-' as '_' (--public-url: CALLVAULT_PUBLIC_URL).
A flag on the command line wins over the variable.
`

// command is one subcommand: its flags and what it does with them.
type command struct {
	name, summary string
	flags         func(fs *flag.FlagSet) func(ctx context.Context, args []string, stdio stdio) error
}

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = []command{serveCommand, importCommand, generateCommand, tokenCommand, migrateCommand, appCommand, keysCommand, caCommand, mirrorCommand, buildingsCommand, uiCommand, exportCommand, schemaCommand, versionCommand}

// errUsage marks an error in how the command was called: exit status 2.
var errUsage = errors.New("usage")

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = append([]string{"version"}, args[1:]...)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, in, out, errw)
		}
		fmt.Fprint(out, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("callvault "+c.name, flag.ContinueOnError)
		// What parsing prints waits: --help is shown once, on standard output.
		var parseOut bytes.Buffer
		fs.SetOutput(&parseOut)
		do := c.flags(fs)
		if err := parseFlags(fs, args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				fs.Usage()
				return 0
			}
			errw.Write(parseOut.Bytes())
			return 2
		}
		fs.SetOutput(errw)
		err := do(ctx, fs.Args(), stdio{in: in, out: out, err: errw})
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(errw, "callvault %s: %v\nRun 'callvault help %s' for the flags.\n", c.name, err, c.name)
			return 2
		case errors.Is(err, errRejected):
			return 1
		default:
			fmt.Fprintf(errw, "callvault %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(errw, "callvault: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// parseFlags parses the command line, then fills every flag it did not set
// from its CALLVAULT_ environment variable.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
	}
	return err
}

func envName(flagName string) string {
	return "CALLVAULT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// describe writes a command's help: what it does, then its flags with their
// environment variables.
func describe(fs *flag.FlagSet, synopsis, text string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(text))
		fs.VisitAll(func(f *flag.Flag) {
			name, help := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s %s\n    \t%s", f.Name, name, strings.ReplaceAll(help, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
			fmt.Fprintf(w, "\n    \tenvironment: %s\n", envName(f.Name))
		})
	}
}
