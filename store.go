package callvault

import "context"

// The optional capabilities of a Store.
//
// Store is what every store must do. A store may do more, and callvault
// uses that more when it is there: each extra is an interface of its own,
// declared in this package beside Store, whose doc comment says what
// callvault does with a store that lacks it — as database/sql/driver
// declares driver.Pinger or driver.QueryerContext beside driver.Conn.
// Callers find a capability by a type assertion on one of these interfaces,
// never on an interface of their own: a method asserted but not declared
// here is a hidden contract.
//
// The capabilities, with the stores of callvault that have them
// (package storetest runs each on every store that has it):
//
//	BatchStore              PutRecords                 SQLite, PostgreSQL
//	BulkLoader              BeginBulk                  SQLite
//	SessionPageVisitor      VisitSessions              SQLite, PostgreSQL
//	ScriptCompiler          CompileScripts             SQLite, PostgreSQL
//	SecretUpdater           UpdateSecret, …            PostgreSQL
//	MigrationReporter       Applied                    SQLite
//	Pinger                  Ping                       SQLite, PostgreSQL
//	ReplicaReporter         Replicas                   PostgreSQL (serve --db-read)
//	BucketStore             TakeBuckets                PostgreSQL
//	MirrorStore             EnqueueMirror, …           SQLite, PostgreSQL
//	MirrorListingStore      EnqueueMirrorListed        SQLite, PostgreSQL
//	QualityStore            FillQuality, …             SQLite, PostgreSQL
//	QualityAggregator       AggregateQuality           SQLite, PostgreSQL
//	QualityCallVisitor      VisitQualityStreamsByCall  SQLite, PostgreSQL
//	QualityRollupRefresher  RefreshQualityRollup       SQLite, PostgreSQL
//	SubscriptionStore       CreateSubscription, …      SQLite, PostgreSQL
//	Outbox                  ClaimNotifications, …      SQLite, PostgreSQL
//	DriftStore              NoteDrift, Drift           SQLite, PostgreSQL
//
// A type that embeds a Store to change one of its methods (a test's
// wrapper, a middleware) has Store's methods and no more: it drops every
// capability of the store it wraps, and callvault then takes the
// fallbacks. A wrapper that should not change what callvault does forwards
// the capabilities it means to keep, or says in its doc comment which it
// drops; storetest.Capabilities lists what a store has.

// BatchStore is a Store that can store many records in one transaction,
// each record still whole or not at all. ingest.Importer (callvault import,
// POST /ingest, the mirror) stores batches of about 8 MiB with it; without
// it, it calls PutRecord for each record, one transaction each: the same
// outcome, several times slower.
type BatchStore interface {
	// PutRecords stores records as PutRecord would, in one transaction.
	// errs[i] says why records[i] alone was refused (nothing of it is
	// written); err is a failure of the whole batch, of which nothing is
	// then stored.
	PutRecords(ctx context.Context, records []*Record) (outcomes []PutOutcome, errs []error, err error)
}

// BulkLoader is a Store that stores a large import faster by putting off
// the upkeep of what it can rebuild at the end, such as an index written at
// random places. ingest.Importer begins a bulk load once an import has
// stored Importer.BulkAfter batches (ingest.DefaultBulkAfter: 64 MiB of
// input), and ends it when the import ends;
// without it, every batch keeps every index as it goes: the same records,
// slower.
type BulkLoader interface {
	// BeginBulk puts off what the store chooses to, and returns end, which
	// restores it (once; the Importer calls it however the import ends).
	// Between the two every read still answers right, some more slowly,
	// and a process that stops before end leaves the store to restore it
	// when it is next opened. A store may decline, when its size makes the
	// rebuild cost more than it saves: then end is nil.
	BeginBulk(ctx context.Context) (end func(context.Context) error, err error)
}

// SessionPageVisitor is a Store that hands a page of sessions to a
// SessionVisitor as it reads them, sparing a copy of each body. The server
// uses it for the pages it writes from render scripts; without it, it
// reads the page with ListSessions and writes it from the copy: the same
// bytes, one copy more.
type SessionPageVisitor interface {
	// VisitSessions reads the page q asks for, calling v for each session
	// (and each of its segments when q.Segments) in order, and reports
	// whether sessions follow. It returns an ENOTFOUND *Error when the
	// tenant has no such record, and the first error v returns.
	VisitSessions(ctx context.Context, q SessionQuery, v SessionVisitor) (more bool, err error)
}

// ScriptCompiler is a Store that can give its stored sessions and segments
// new render scripts (callvault migrate --scripts). Without it, migrate
// --scripts refuses to run, and rows keep the scripts they were stored
// with (a session without scripts is merged from its body: the same bytes,
// slower).
type ScriptCompiler interface {
	// CompileScripts calls fn for every stored session and segment, of
	// every tenant, and writes the scripts fn says changed, in short
	// transactions, reporting progress after each (progress may be nil).
	// It can be run again after an interruption.
	CompileScripts(ctx context.Context, fn ScriptFunc, progress func(ScriptStats)) (ScriptStats, error)
}

// MigrationReporter is a Store that migrates its schema when it is opened,
// and says which migrations that applied (callvault migrate prints them).
// A store without it is migrated by a step of its own (postgres.Migrate),
// which reports them.
type MigrationReporter interface {
	// Applied returns the names of the migrations that opening the store
	// applied, oldest first; none when its schema was up to date.
	Applied() []string
}
