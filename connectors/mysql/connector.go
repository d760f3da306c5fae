package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// KindName is the name the mysql kind is registered under.
const KindName = "mysql"

// Connection pool limits of a connector.
const (
	maxOpenConns    = 16
	maxIdleConns    = 8
	connMaxLifetime = 30 * time.Minute // well below the server's wait_timeout (8 hours by default)
	connMaxIdleTime = 5 * time.Minute
)

// connectHint follows every error of New that comes from not reaching the server.
const connectHint = "hint: start MariaDB (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) or set MYSQL_DSN"

// Kind returns the mysql connector kind, to register in a port.Registry. It
// is a service: dry-run replaces it with the memory kind.
func Kind() port.Kind {
	return port.Kind{
		Name:    KindName,
		Doc:     "Keyed tables in a MySQL or MariaDB database; stream batches are committed atomically with their consumer offsets (effectively-once).",
		Service: true,
		Commits: true,
		Options: []port.Option{
			{Name: "dsn", Doc: "go-sql-driver data source name, e.g. user:password@tcp(127.0.0.1:3306)/pipeline, or a URL mysql://user:password@127.0.0.1:3306/pipeline?param=value (password URL-escaped); when set it wins over host, user, password and database (database only fills in a dsn without one)", Default: "built from host, user, password and database"},
			{Name: "host", Doc: "server address host[:port] (port 3306 when omitted), or the path of a unix socket", Default: DefaultHost},
			{Name: "user", Doc: "user name", Default: DefaultUser},
			{Name: "password", Doc: "password; never shown in messages", Default: "empty"},
			{Name: "database", Doc: "database (schema) holding the tables; created when missing", Default: DefaultDatabase},
		},
		New: func(ctx context.Context, cfg port.Config) (port.Connector, error) {
			c, err := New(ctx, cfg)
			if err != nil {
				return nil, err // not a nil *Connector in a non-nil interface
			}
			return c, nil
		},
	}
}

// Connector is a pool of connections to one MySQL or MariaDB database. It
// implements port.Tables, port.Committer and port.Transactor and is safe for
// concurrent use.
type Connector struct {
	db          *sql.DB
	where       string // user@address/database, for messages
	database    string // the database's name, for lock names
	packetLimit int    // the largest packet a statement may be sent in (see readPacketLimit); 0 if unknown

	mu             sync.Mutex
	tables         map[string]*Table    // by name, as opened by Table; Commit writes to these
	offsetsReady   bool                 // the offsets table exists
	offsetIDsReady bool                 // the offsets table has its topic_id column
	versionsReady  bool                 // the versions table exists
	stateReady     bool                 // the state table exists
	outboxReady    bool                 // the outbox table exists
	stmts          map[string]*sql.Stmt // prepared statements by SQL text (see prepared)
}

// Compile-time checks of the interfaces Connector implements.
var (
	_ port.Tables     = (*Connector)(nil)
	_ port.Committer  = (*Connector)(nil)
	_ port.Transactor = (*Connector)(nil)
	_ port.Locker     = (*Connector)(nil)
)

// New connects to the server cfg describes (see Kind for the options and
// their defaults), creates the database when missing and checks that it can
// be reached, retrying for about 5 seconds while the server is unreachable.
// Errors name user@address/database, never the password.
func New(ctx context.Context, cfg port.Config) (*Connector, error) {
	mc, err := driverConfig(cfg)
	if err != nil {
		return nil, redact(err, cfg.Get("password", ""))
	}
	c := &Connector{where: where(mc), database: mc.DBName, tables: map[string]*Table{}, stmts: map[string]*sql.Stmt{}}
	deadline := time.Now().Add(connectBudget)
	if err := createDatabase(ctx, mc); err != nil {
		return nil, c.connectError(err, mc.Passwd)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, c.connectError(err, mc.Passwd)
	}
	c.db = sql.OpenDB(conn)
	c.db.SetMaxOpenConns(maxOpenConns)
	c.db.SetMaxIdleConns(maxIdleConns)
	c.db.SetConnMaxLifetime(connMaxLifetime)
	c.db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := retry(ctx, time.Until(deadline), c.db.PingContext); err != nil {
		c.db.Close()
		return nil, c.connectError(err, mc.Passwd)
	}
	if err := c.readPacketLimit(ctx, mc); err != nil {
		c.db.Close()
		return nil, c.connectError(err, mc.Passwd)
	}
	return c, nil
}

// createDatabase runs CREATE DATABASE IF NOT EXISTS over a connection
// without a database, retrying while the server cannot be reached. A user
// not allowed to create databases is not an error here: the database may
// exist, and connecting to it will tell.
func createDatabase(ctx context.Context, mc *mysql.Config) error {
	noDB := mc.Clone()
	noDB.DBName = ""
	conn, err := mysql.NewConnector(noDB)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	err = retry(ctx, connectBudget, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quote(mc.DBName)+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
		return err
	})
	if mysqlErrNo(err) == errAccessDeniedDB {
		return nil
	}
	return err
}

// connectError explains that the server could not be reached, with a hint
// that depends on why.
func (c *Connector) connectError(err error, password string) error {
	hint := connectHint
	if mysqlErrNo(err) != 0 {
		hint = "hint: check the user, password and database of the connector (option dsn, or user, password and database), or set MYSQL_DSN"
	}
	return redact(fmt.Errorf("cannot connect to MySQL at %s: %w\n%s", c.where, err, hint), password)
}

// Table returns the table named s.Name with schema s. It creates the table
// when missing (CREATE TABLE IF NOT EXISTS; InnoDB, utf8mb4 with binary
// collation so keys compare and sort like Go strings), adds the nullable
// columns of s an existing table lacks (ALTER TABLE), and fails when an
// existing table differs otherwise, naming each column and the difference.
//
// Column types: int BIGINT, decimal(N) DECIMAL(30,N), decimal DECIMAL(38,10)
// (values come back without trailing zeros), string VARCHAR(255) for the key
// and VARCHAR(2048) otherwise (TEXT when 8 or more of those would not fit
// in a MySQL row), char(N) CHAR(N), date DATE, datetime DATETIME, bool BOOLEAN;
// NOT NULL unless nullable; the key column is the primary key, so s must
// have one. Names must match ^[A-Za-z_][A-Za-z0-9_]*$.
//
// Every call with the same name and schema returns the same *Table; a call
// whose columns or key differ from a table already opened is an error.
// Commit writes to the tables opened here. Table never joins a tx
// of ctx: DDL would commit it.
func (c *Connector) Table(ctx context.Context, s *schema.Schema) (port.Table, error) {
	return c.table(ctx, s)
}

func (c *Connector) table(ctx context.Context, s *schema.Schema) (*Table, error) {
	if err := checkSchema(s); err != nil {
		name := "?"
		if s != nil {
			name = fmt.Sprintf("%q", s.Name)
		}
		return nil, fmt.Errorf("mysql table %s on %s: %w", name, c.where, err)
	}
	c.mu.Lock()
	t, ok := c.tables[s.Name]
	c.mu.Unlock()
	if ok {
		if !t.schema.Equal(s) {
			return nil, fmt.Errorf("mysql table %s on %s: already open with columns %s key %s, not %s key %s",
				s.Name, c.where, t.schema.String(), t.schema.KeyName(), s.String(), s.KeyName())
		}
		return t, nil
	}
	var places []int
	err := retry(ctx, retryBudget, func(ctx context.Context) error {
		var err error
		places, err = ensureTable(ctx, c.db, s)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mysql table %s on %s: %w", s.Name, c.where, err)
	}
	if err := c.ensureVersionRow(ctx, s.Name); err != nil {
		return nil, fmt.Errorf("mysql table %s on %s: %w", s.Name, c.where, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tables[s.Name]; ok { // opened meanwhile by another goroutine
		if !t.schema.Equal(s) {
			return nil, fmt.Errorf("mysql table %s on %s: already open with columns %s key %s, not %s key %s",
				s.Name, c.where, t.schema.String(), t.schema.KeyName(), s.String(), s.KeyName())
		}
		return t, nil
	}
	t = newTable(c, s, places)
	c.tables[s.Name] = t
	return t, nil
}

// lookup returns the table opened under name.
func (c *Connector) lookup(name string) (*Table, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tables[name]
	return t, ok
}

var _ port.Pinger = (*Connector)(nil)

// Ping checks that the server answers. It implements port.Pinger.
func (c *Connector) Ping(ctx context.Context) error {
	if err := c.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mysql on %s does not answer: %w", c.where, err)
	}
	return nil
}

// Close closes the connection pool. Tables of the connector are unusable afterwards.
func (c *Connector) Close() error {
	if c.db == nil {
		return nil
	}
	c.closeStmts()
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("mysql connector on %s: close: %w", c.where, err)
	}
	return nil
}

// Where names the database and the server: "MySQL database D at
// user@host:port". It implements port.Located.
func (c *Connector) Where() string {
	at, _ := strings.CutSuffix(c.where, "/"+c.database)
	return "MySQL database " + c.database + " at " + at
}

var _ port.Located = (*Connector)(nil)
