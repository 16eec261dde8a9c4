package errwrap

import (
	"errors"
	"io"
	"testing"

	"github.com/callvault/callvault"
)

func TestWrap(t *testing.T) {
	full := func(err error) error {
		if errors.Is(err, io.ErrShortWrite) {
			return callvault.ErrStorageFull
		}
		return nil
	}
	op := func(err error, kind func(error) error) (out error) {
		defer Wrap(&out, kind, "sqlite: put %s", "r1")
		return err
	}
	if err := op(nil, full); err != nil {
		t.Errorf("nil became %v", err)
	}
	mine := callvault.Errorf(callvault.EINVALID, "The id is missing.")
	if err := op(mine, full); err != mine {
		t.Errorf("a *callvault.Error became %v", err)
	}
	if err := op(io.EOF, full); err == nil || err.Error() != "sqlite: put r1: EOF" || !errors.Is(err, io.EOF) {
		t.Errorf("an internal error became %v", err)
	}
	if err := op(io.EOF, nil); err == nil || err.Error() != "sqlite: put r1: EOF" {
		t.Errorf("without kind: %v", err)
	}
	err := op(io.ErrShortWrite, full)
	if !errors.Is(err, callvault.ErrStorageFull) || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("a full disk became %v, which is not both", err)
	}
}
