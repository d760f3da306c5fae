package mysql

import (
	"context"
	"fmt"

	"pipeline/engine/port"
)

// StateTable is the table, in the connector's database, that holds the
// keyed state of stream stages (port.Batch.State: window state), beside the
// offsets of their groups and written in the same commits. It is created on
// first use.
const StateTable = "_pipeline_state"

// stateColumns are the columns of the state table, after groupColumns.
const stateColumns = groupColumns + `
	state_key VARCHAR(255) NOT NULL,
	state MEDIUMTEXT NOT NULL,
	PRIMARY KEY (group_name, topic, state_key)`

// stateInsert upserts rows of the state table.
var stateInsert = newInsertSQL(StateTable, []string{"group_name", "topic", "state_key", "state"}, []string{"group_name", "topic", "state_key"})

// ensureState creates the state table once per connector.
func (c *Connector) ensureState(ctx context.Context) error {
	return c.ensureOnce(ctx, &c.stateReady, StateTable, stateColumns)
}

// writeState upserts the state entries of group, in q's tx.
func writeState(ctx context.Context, c *Connector, q querier, group string, entries []port.StateEntry) error {
	if len(entries) == 0 {
		return nil
	}
	args := make([]any, 0, 4*len(entries))
	for _, e := range entries {
		args = append(args, group, e.Topic, e.Key, e.Value)
	}
	if err := stateInsert.exec(ctx, c, q, args); err != nil {
		return fmt.Errorf("store state: %w", err)
	}
	return nil
}

// State returns the stored state of keys for group and topic, absent for
// keys with none: at most maxKeysPerGet keys a statement. It implements
// port.Committer.
func (c *Connector) State(ctx context.Context, group, topic string, keys []string) (map[string]string, error) {
	if err := c.ensureState(ctx); err != nil {
		return nil, fmt.Errorf("mysql state of group %q on %s: %w", group, c.where, err)
	}
	out := make(map[string]string, len(keys))
	err := c.run(ctx, func(ctx context.Context, q querier) error {
		clear(out)
		for start := 0; start < len(keys); start += maxKeysPerGet {
			chunk := keys[start:min(start+maxKeysPerGet, len(keys))]
			args := make([]any, 0, 2+len(chunk))
			args = append(args, group, topic)
			for _, k := range chunk {
				args = append(args, k)
			}
			rows, err := q.QueryContext(ctx, "SELECT state_key, state FROM `"+StateTable+
				"` WHERE group_name = ? AND topic = ? AND state_key IN ("+placeholders(len(chunk))+")", args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k, v string
				if err := rows.Scan(&k, &v); err != nil {
					rows.Close()
					return err
				}
				out[k] = v
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mysql state of group %q topic %s on %s: %w", group, topic, c.where, err)
	}
	return out, nil
}
