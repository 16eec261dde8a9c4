package callvault

import "context"

// Pinger is a Store that can check cheaply that its database answers and
// holds every migration of this build. The server's GET /readyz uses it;
// for a Store without it, /readyz reads one absent record instead, which
// proves the database answers but says nothing of its schema.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReplicaReporter is a Store that sends reads to replicas (postgres with
// serve --db-read). /readyz counts the replicas in rotation beside its
// status; a replica out of rotation does not make the server unready, as
// the primary takes its reads.
type ReplicaReporter interface {
	Replicas() []ReplicaStatus
}

// ReplicaStatus is the state of one read replica.
type ReplicaStatus struct {
	Name       string // its URL, password masked
	InRotation bool   // it takes reads
	Reason     string // why it is out of rotation; "" when in
}
