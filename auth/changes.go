package auth

import (
	"path/filepath"
	"sync/atomic"
	"time"
)

// The key file is checked for a change on every token. A stat per token was
// a system call per request (about 4 % of a small request's CPU under load
// on an AMD EPYC VM), so a Signer instead reads a counter that the commands
// which change the file (keys rotate, keys remove) increase after they
// replace it: the file ChangesFile beside it, eight bytes mapped shared by
// every process on the data directory, so that reading it is a load from
// memory and a change made by a command that has returned is seen by the
// next token. A file changed by other means (an operator's editor, a copy,
// a build of callvault from before the counter) is still noticed by a stat,
// which a Signer makes at most every statEvery. Where the counter cannot be
// mapped (Windows, a read-only directory) every token stats the file, as
// before.

// ChangesFile is the name, in the data directory, of the counter of the key
// file's changes.
const ChangesFile = "signing-key.changes"

// statEvery bounds how long a change the counter does not tell of goes
// unnoticed (nanoseconds; the tests shorten it).
var statEvery atomic.Int64

func init() { statEvery.Store(int64(time.Second)) }

// changeCounter is the mapped counter; nil when there is none.
type changeCounter struct {
	word *atomic.Uint64 // in the shared mapping
}

func (c *changeCounter) load() uint64 { return c.word.Load() }

// noteChange increases the counter of the key file at path, so that every
// Signer on it reads the file again at its next token. It is best effort:
// without it, Signers notice the change within statEvery.
func noteChange(path string) {
	c, release := openCounter(path)
	if c != nil {
		c.word.Add(1)
		release()
	}
}

// counterPath is the counter's file of the key file at path.
func counterPath(keyFile string) string { return filepath.Join(filepath.Dir(keyFile), ChangesFile) }
