package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
)

var buildingsCommand = command{
	name:    "buildings",
	summary: "load a tenant's building or endpoint file in CQD's format",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &buildingsConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose database keeps the file (created if missing)")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` the file is for (required)")
		fs.BoolVar(&c.endpoints, "endpoints", false, "the file is an endpoint file (6 columns) rather than a building file")
		describe(fs, "callvault buildings import --tenant TENANT_ID [--endpoints] FILE", `
Validates a building file (or, with --endpoints, an endpoint file) in the
format of Microsoft's Call Quality Dashboard and makes it the tenant's active
one, replacing the one before, as CQD keeps one of each. FILE is - for
standard input.

A building file is CSV or TSV without a header, 15 columns: NetworkIP,
NetworkName, NetworkRange, BuildingName, OwnershipType, BuildingType,
BuildingOfficeType, City, ZipCode, Country, State, Region, InsideCorp,
ExpressRoute, VPN (VPN may be left out). Overlapping networks are refused, as
CQD refuses them. An endpoint file has 6 columns: EndpointName,
EndpointModel, EndpointType, EndpointLabel1-3. The analytics API and the web
view then slice by building, network, city… of each endpoint's subnet.
The same files can be uploaded with PUT /analytics/v1/buildings and
/analytics/v1/endpoints.`)
		return c.run
	},
}

type buildingsConfig struct {
	fs               *flag.FlagSet
	data, db, tenant string
	endpoints        bool
}

func (c *buildingsConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 || args[0] != "import" {
		return fmt.Errorf("%w: name what to do: import FILE", errUsage)
	}
	// The verb's own flags may follow it.
	if err := c.fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	args = c.fs.Args()
	if len(args) != 1 {
		return fmt.Errorf("%w: import takes one FILE", errUsage)
	}
	if c.tenant == "" {
		return fmt.Errorf("%w: --tenant is required", errUsage)
	}
	var body []byte
	var err error
	if args[0] == "-" {
		body, err = io.ReadAll(std.in)
	} else {
		body, err = os.ReadFile(args[0])
	}
	if err != nil {
		return err
	}
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	qs, ok := store.(callvault.QualityStore)
	if !ok {
		return fmt.Errorf("the %T store keeps no files", store)
	}
	kind := callvault.FileBuildings
	if c.endpoints {
		kind = callvault.FileEndpoints
	}
	n, err := analytics.ImportFile(ctx, qs, c.tenant, kind, body)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	fmt.Fprintf(std.out, "the %s file of tenant %s is now %s: %d rows\n", kind[:len(kind)-1], c.tenant, args[0], n)
	return nil
}
