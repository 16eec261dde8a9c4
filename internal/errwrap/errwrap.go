// Package errwrap gives a store's errors the context of the operation that
// failed, once, at the operation's entry (defer errwrap.Wrap(&err, …)), as
// the stores of callvault do.
package errwrap

import (
	"errors"
	"fmt"

	"github.com/callvault/callvault"
)

// Wrap prefixes *errp, when it is an internal error, with the operation
// format and args describe. A *callvault.Error passes through as it is: its
// message is for the caller. kind, when not nil, names the callvault error
// an internal one stands for (callvault.ErrStorageFull,
// callvault.ErrUnavailable), or returns nil; that error is wrapped beside
// the internal one, so that errors.Is finds both.
func Wrap(errp *error, kind func(error) error, format string, args ...any) {
	var e *callvault.Error
	if *errp == nil || errors.As(*errp, &e) {
		return
	}
	if kind != nil {
		if k := kind(*errp); k != nil {
			*errp = fmt.Errorf(format+": %w: %w", append(args, k, *errp)...)
			return
		}
	}
	*errp = fmt.Errorf(format+": %w", append(args, *errp)...)
}
