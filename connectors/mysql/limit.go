package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"pipeline/engine/port"
)

// packetMargin is what a statement's packet holds besides its values (the
// header, the null bitmap, the parameter types), kept free under the
// packet limit.
const packetMargin = 4 << 10

// readPacketLimit reads the server's max_allowed_packet once, for the
// pool's life, and keeps the smaller of it and the driver's own limit (the
// dsn's maxAllowedPacket, 64 MiB unless set; 0 there means the server's):
// no packet of a statement may be larger. Rows whose values do not fit in
// it are rejected before anything is sent (see rejectOversize), since a
// server sent a larger packet drops the connection, and a retry would only
// do it again.
func (c *Connector) readPacketLimit(ctx context.Context, mc *mysql.Config) error {
	var limit int64
	err := retry(ctx, connectBudget, func(ctx context.Context) error {
		return c.db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&limit)
	})
	if err != nil {
		return fmt.Errorf("reading max_allowed_packet: %w", err)
	}
	if mc.MaxAllowedPacket > 0 && int64(mc.MaxAllowedPacket) < limit {
		limit = int64(mc.MaxAllowedPacket)
	}
	c.packetLimit = int(limit)
	return nil
}

// writeBudget returns the most bytes of values one INSERT statement may
// carry: maxWriteBytes, or less when the packet limit is smaller.
func (c *Connector) writeBudget() int {
	if c.packetLimit <= 0 {
		return maxWriteBytes
	}
	return max(1, min(maxWriteBytes, c.packetLimit-packetMargin))
}

// valueBytes returns about how many bytes v, a statement parameter, takes
// in a statement's packet: a string's length and its length prefix, or a
// fixed size for the rest.
func valueBytes(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 9
	case []byte:
		return len(x) + 9
	}
	return fixedValueBytes
}

// rejectOversize returns a *port.RejectedRows naming every row of args
// (the values of rows of cols columns, one after the other) that is too
// big to be sent in one statement, even alone; nil when every row fits.
func (c *Connector) rejectOversize(args []any, cols int) error {
	if c.packetLimit <= 0 || cols <= 0 {
		return nil
	}
	most := c.packetLimit - packetMargin
	var rej *port.RejectedRows
	for r := 0; r*cols < len(args); r++ {
		size := 0
		for _, v := range args[r*cols : (r+1)*cols] {
			size += valueBytes(v)
		}
		if size <= most {
			continue
		}
		if rej == nil {
			rej = &port.RejectedRows{}
		}
		rej.Rows = append(rej.Rows, port.RejectedRow{Index: r, Err: fmt.Errorf(
			"row is %d bytes, more than the %d bytes the MySQL server takes in one statement (max_allowed_packet %d, less %d for the statement)",
			size, most, c.packetLimit, packetMargin)})
	}
	if rej == nil {
		return nil
	}
	return rej
}

var _ port.GroupsLister = (*Connector)(nil)

// CommittedGroups returns every consumer group with committed offsets of
// topic in this database, with the sum of its next offsets. It implements
// port.GroupsLister.
func (c *Connector) CommittedGroups(ctx context.Context, topic string) (map[string]int64, error) {
	if err := c.ensureOffsets(ctx); err != nil {
		return nil, fmt.Errorf("mysql offsets of topic %s on %s: %w", topic, c.where, err)
	}
	out, err := readMap(ctx, c, "SELECT group_name, SUM(next_offset) FROM `"+OffsetsTable+"` WHERE topic = ? GROUP BY group_name", []any{topic},
		func(rows *sql.Rows) (g string, n int64, err error) {
			err = rows.Scan(&g, &n)
			return g, n, err
		})
	if err != nil {
		return nil, fmt.Errorf("mysql offsets of topic %s on %s: %w", topic, c.where, err)
	}
	return out, nil
}
