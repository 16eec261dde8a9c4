package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/callvault/callvault"
)

var schemaCommand = command{
	name:    "schema",
	summary: "list the schema drift kept: names a source sent that the schema does not declare",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &schemaConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose database is read")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.BoolVar(&c.json, "json", false, "print JSON Lines instead of a table")
		describe(fs, "callvault schema drift [--json]", `
Lists the schema drift the store keeps: each property or enum member that a
lenient import (callvault mirror, or callvault import --lenient) found in a
record although callvault's schema does not declare it, with how many records
held it, when it was first and last seen, and the last record that did.

Graph adds properties and enum members every few months. callvault keeps them
rather than refuse the record, and serve writes them back: a property after
the declared ones (beta only), an enum member past unknownFutureValue, shown
to clients that send Prefer: include-unknown-enum-members, as Graph does for
members newer than a client's schema. serve notices new drift within 30
seconds.

To declare them, update the CSDL embedded in callvault (schema/csdl/, from
Graph's https://graph.microsoft.com/beta/$metadata, see schema/csdl/README.md)
and rebuild: declared names are no longer drift, and records already stored
are served through the declared types.`)
		return c.run
	},
}

type schemaConfig struct {
	fs       *flag.FlagSet
	data, db string
	json     bool
}

func (c *schemaConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 || args[0] != "drift" {
		return fmt.Errorf("%w: name what to list: drift", errUsage)
	}
	if err := c.fs.Parse(args[1:]); err != nil { // the verb's own flags may follow it
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(c.fs.Args()) != 0 {
		return fmt.Errorf("%w: drift takes no arguments", errUsage)
	}
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	ds, ok := store.(callvault.DriftStore)
	if !ok {
		return fmt.Errorf("the %T store keeps no schema drift", store)
	}
	seen, err := ds.Drift(ctx)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(std.out)
		for _, d := range seen {
			if err := enc.Encode(map[string]any{"kind": d.Kind, "type": d.Type, "name": d.Name, "count": d.Count,
				"firstSeen": d.FirstSeen, "lastSeen": d.LastSeen, "tenant": d.Tenant, "recordId": d.RecordID}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(seen) == 0 {
		fmt.Fprintln(std.out, "no schema drift: every record stored uses only what the schema declares")
		return nil
	}
	tw := tabwriter.NewWriter(std.out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTYPE\tNAME\tRECORDS\tFIRST SEEN\tLAST SEEN\tLAST RECORD")
	for _, d := range seen {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.Kind, d.Type, d.Name, d.Count,
			d.FirstSeen.Format(time.RFC3339), d.LastSeen.Format(time.RFC3339), d.RecordID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(std.out, "\n%d names kept and served back; see callvault schema --help to declare them.\n", len(seen))
	return nil
}
