package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Retry timing: the first wait, and how long one operation keeps retrying.
const (
	firstBackoff  = 50 * time.Millisecond
	retryBudget   = 30 * time.Second // operations on a connected server
	connectBudget = 5 * time.Second  // New, while the server may still be starting
)

// MySQL and MariaDB error numbers that are worth retrying.
const (
	errLockDeadlock   = 1213 // deadlock found; the server rolled the tx back
	errLockWaitTimout = 1205 // lock wait timeout; only the statement was rolled back
	errServerShutdown = 1053 // server shutdown in progress
	errConnKilled     = 1927 // MariaDB: connection was killed
	errAccessDeniedDB = 1044 // access denied to a database (e.g. for CREATE DATABASE)
	errDupKey         = 1062 // duplicate entry for a key
	errNoSuchTable    = 1146 // table doesn't exist
	errDupColumn      = 1060 // duplicate column name
)

// transientError marks an error from the database that a retry of the whole
// operation (or tx) may cure: a deadlock, a lock wait timeout, a
// lost or refused connection. Its message is the cause's.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// stopRetry makes retry return err at once, transient or not.
type stopRetry struct{ err error }

func (e *stopRetry) Error() string { return e.err.Error() }

// markTransient wraps err in a transientError when it is one; other errors
// (and nil) are returned as they are.
func markTransient(err error) error {
	if err == nil || isMarked(err) || !transient(err) {
		return err
	}
	return &transientError{err: err}
}

// isMarked reports whether err is, or wraps, a transientError.
func isMarked(err error) bool {
	var te *transientError
	return errors.As(err, &te)
}

// transient reports whether err is a database failure worth retrying.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case errLockDeadlock, errLockWaitTimout, errServerShutdown, errConnKilled:
			return true
		}
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"invalid connection", "connection refused", "broken pipe", "connection reset", "bad connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// mysqlErrNo returns the MySQL error number err wraps, or 0.
func mysqlErrNo(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// retry runs op until it succeeds, fails with an error that is not
// transient, op returns a *stopRetry (whose error it returns), ctx ends, or
// budget has passed; it waits 50 ms after the first
// failure and twice as long after each next one (never past the budget). It
// returns op's last error, marked transient when it is one, or ctx's error
// wrapped together with it (not marked: a retry cannot cure an ended ctx).
func retry(ctx context.Context, budget time.Duration, op func(ctx context.Context) error) error {
	deadline := time.Now().Add(budget)
	wait := firstBackoff
	for {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var stop *stopRetry
		if errors.As(err, &stop) {
			return stop.err
		}
		if !transient(err) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return markTransient(err)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait *= 2
	}
}
