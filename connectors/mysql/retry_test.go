package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, true},
		{fmt.Errorf("upsert: %w", &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}), true},
		{&mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{&mysql.MySQLError{Number: 1045, Message: "Access denied"}, false},
		{driver.ErrBadConn, true},
		{mysql.ErrInvalidConn, true},
		{errors.New("invalid connection"), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{io.EOF, true},
		{io.ErrUnexpectedEOF, true},
		{context.Canceled, false},
		{fmt.Errorf("%w: invalid connection", context.DeadlineExceeded), false},
		{errors.New("a string value does not fit a money column"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if err := markTransient(io.EOF); !isMarked(err) || !errors.Is(err, io.EOF) {
		t.Errorf("markTransient(EOF) = %#v", err)
	}
	if err := markTransient(errors.New("x")); isMarked(err) {
		t.Errorf("markTransient marked a logic error")
	}
}

func TestRetry(t *testing.T) {
	ctx := context.Background()
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}
	calls := 0
	start := time.Now()
	err := retry(ctx, time.Minute, func(context.Context) error {
		calls++
		if calls < 4 {
			return deadlock
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("retry: %v after %d calls", err, calls)
	}
	if d := time.Since(start); d < 350*time.Millisecond { // 50 + 100 + 200 ms
		t.Errorf("three retries took %v, want backoff of at least 350ms", d)
	}

	calls = 0
	logic := errors.New("bad row")
	if err := retry(ctx, time.Minute, func(context.Context) error { calls++; return logic }); err != logic || calls != 1 {
		t.Errorf("retry of a logic error: %v after %d calls", err, calls)
	}

	calls = 0
	if err := retry(ctx, time.Minute, func(context.Context) error { calls++; return &stopRetry{io.EOF} }); err != io.EOF || calls != 1 {
		t.Errorf("retry of stopRetry: %v after %d calls", err, calls)
	}

	calls = 0
	start = time.Now()
	err = retry(ctx, 300*time.Millisecond, func(context.Context) error { calls++; return deadlock })
	if !isMarked(err) || !errors.Is(err, deadlock) || time.Since(start) > time.Second {
		t.Errorf("retry past its budget: %v after %v", err, time.Since(start))
	}

	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = retry(cctx, time.Minute, func(context.Context) error { return deadlock })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, deadlock) || isMarked(err) {
		t.Errorf("retry with an ending context: %v", err)
	}
}
