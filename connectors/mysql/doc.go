// Package mysql serves keyed tables from MySQL or MariaDB and applies stream
// batches (rows and consumer offsets) atomically in one database tx.
package mysql
