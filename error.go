package callvault

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to a Graph status and error code in
// one table (graph/errors.go); nothing else decides statuses.
const (
	EINVALID        = "invalid"         // bad input: 400
	EUNAUTHORIZED   = "unauthorized"    // no or bad credentials: 401
	EFORBIDDEN      = "forbidden"       // valid credentials, not allowed: 403
	ENOTFOUND       = "not_found"       // no such resource (for this tenant): 404
	ENOTIMPLEMENTED = "not_implemented" // a Graph feature callvault does not serve yet: 501
	EINTERNAL       = "internal"        // a bug or a failing dependency: 500
	EFULL           = "storage_full"    // the store has no room left (a full disk, SQLITE_FULL, PostgreSQL 53100): 507
	EUNAVAILABLE    = "unavailable"     // the database is not reachable for now (a failover, a restart): 503 with Retry-After
)

// ErrStorageFull is the error a store wraps a write refused for lack of
// room in, beside the driver's own error (fmt.Errorf("…: %w: %w",
// ErrStorageFull, err)), so that the log keeps the cause and the caller gets
// a message it can act on.
var ErrStorageFull error = &Error{Code: EFULL, Message: "The server's storage is full, so the write could not be made. " +
	"Send the request again once an operator has freed space: call records are stored whole or not at all, and sending them again is safe."}

// ErrUnavailable is the error a store wraps a failure to reach its
// database in (a connection refused or cut, a server shutting down, a
// primary that became read-only in a failover), beside the driver's error:
// the request was not answered, and the same request later may be.
var ErrUnavailable error = &Error{Code: EUNAVAILABLE, Message: "The database is not reachable for now (a failover or a restart), so the request was not answered. " +
	"Send it again after the time in Retry-After: a write that got this answer may or may not have been stored, and sending it again is safe."}

// Error is an application error whose message is safe to show to the caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("callvault error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err; internal errors get a
// generic text so that no detail of the server leaks.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "An internal server error occurred."
}
