package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// lockPoll is how long one GET_LOCK call waits before Lock checks its
// context again.
const lockPoll = 2 * time.Second

// maxLockName is the longest lock name the server takes.
const maxLockName = 64

// Lock takes the server-wide named lock "pipeline:<database>:<name>" with
// GET_LOCK on a connection of its own, which holds it until release is
// called or the process ends (the server frees the locks of a closed
// connection). While another session holds it, Lock calls waiting once with
// who that is and waits, until ctx ends. It implements port.Locker.
func (c *Connector) Lock(ctx context.Context, name string, waiting func(holder string)) (release func(), err error) {
	full := lockName(c.database, name)
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql lock %q on %s: %w", name, c.where, err)
	}
	told := false
	for {
		var got sql.NullInt64
		wait := 0
		if told {
			wait = int(lockPoll / time.Second)
		}
		err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", full, wait).Scan(&got)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("mysql lock %q on %s: %w", name, c.where, err)
		}
		if got.Valid && got.Int64 == 1 {
			break
		}
		if !told {
			told = true
			if waiting != nil {
				waiting(c.holder(ctx, conn, full))
			}
		}
		if err := ctx.Err(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("mysql lock %q on %s: %w", name, c.where, err)
		}
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "DO RELEASE_LOCK(?)", full) // closing the connection frees it anyway
		conn.Close()
	}, nil
}

// holder describes the session holding the lock called full, as well as the
// server tells.
func (c *Connector) holder(ctx context.Context, conn *sql.Conn, full string) string {
	var id sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", full).Scan(&id); err != nil || !id.Valid {
		return "another session"
	}
	var host string
	var secs sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = ?", id.Int64).Scan(&host, &secs)
	if err != nil {
		return fmt.Sprintf("connection %d", id.Int64)
	}
	return fmt.Sprintf("connection %d from %s, busy for %ds", id.Int64, host, secs.Int64)
}

// lockName returns the server-wide name of the lock name of database db,
// shortened with a hash when longer than the server allows.
func lockName(db, name string) string {
	full := "pipeline:" + db + ":" + name
	if len(full) <= maxLockName {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	return full[:maxLockName-17] + ":" + hex.EncodeToString(sum[:8])
}
