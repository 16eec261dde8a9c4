package callvault

import "context"

// Pinger is a Store that can check cheaply that its database answers and
// holds every migration of this build. The server's GET /readyz uses it;
// for a Store without it, /readyz reads one absent record instead, which
// proves the database answers but says nothing of its schema.
type Pinger interface {
	Ping(ctx context.Context) error
}
