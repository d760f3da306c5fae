package mysql

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"pipeline/engine/port"
)

// Option defaults.
const (
	DefaultHost     = "127.0.0.1:3306" // server address when neither dsn nor host is set
	DefaultUser     = "root"           // user when neither dsn nor user is set
	DefaultDatabase = "pipeline"       // database when neither dsn nor database names one
	defaultPort     = "3306"
	dialTimeout     = 2 * time.Second // per connection attempt, unless the dsn sets timeout
)

// sessionParams are session variables set on every new connection unless the
// dsn sets them: strict mode turns silent truncation (of too-long strings,
// out-of-range numbers, impossible dates) into errors, and a UTC session
// time zone keeps TIMESTAMP columns of existing tables in UTC like DATETIME.
var sessionParams = map[string]string{
	"sql_mode":  "'TRADITIONAL'",
	"time_zone": "'+00:00'",
}

// driverConfig builds the driver configuration from the connector's options:
// dsn wins when set; otherwise host, user, password and database. A dsn
// without a database gets the database option. It forces the settings the
// connector relies on: parsed times in UTC, server-side parameters (never
// interpolated into the SQL text) and one statement per query.
func driverConfig(cfg port.Config) (*mysql.Config, error) {
	var mc *mysql.Config
	if dsn := cfg.Get("dsn", ""); dsn != "" {
		var err error
		mc, err = parseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("mysql connector %s: option dsn: %w", cfg.Name, err)
		}
		if mc.DBName == "" {
			mc.DBName = cfg.Get("database", DefaultDatabase)
		}
	} else {
		mc = mysql.NewConfig()
		mc.User = cfg.Get("user", DefaultUser)
		mc.Passwd = cfg.Get("password", "")
		mc.Net, mc.Addr = hostAddr(cfg.Get("host", DefaultHost))
		mc.DBName = cfg.Get("database", DefaultDatabase)
	}
	if err := checkIdent(mc.DBName); err != nil {
		return nil, fmt.Errorf("mysql connector %s: database: %w", cfg.Name, err)
	}
	mc.ParseTime = true
	mc.Loc = time.UTC
	mc.InterpolateParams = false
	mc.MultiStatements = false
	if mc.Timeout == 0 {
		mc.Timeout = dialTimeout
	}
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	for k, v := range sessionParams {
		if _, set := mc.Params[k]; !set {
			mc.Params[k] = v
		}
	}
	return mc, nil
}

// dsnForms are the forms a dsn may take, for messages.
const dsnForms = "write user:password@tcp(host:3306)/database?param=value, or mysql://user:password@host:3306/database?param=value with the password URL-escaped"

// parseDSN reads dsn in the driver's form (user:password@tcp(host:3306)/db)
// or as a URL (mysql://user:password@host:3306/db?params, the password
// URL-escaped; mariadb:// too; the port is 3306 when omitted). Its errors
// never repeat the dsn, so they cannot show the password, and they say the
// forms it takes.
func parseDSN(dsn string) (*mysql.Config, error) {
	scheme, _, isURL := strings.Cut(dsn, "://")
	if !isURL {
		mc, err := mysql.ParseDSN(dsn)
		if err != nil {
			// The driver's message does not repeat the DSN.
			return nil, fmt.Errorf("%w (%s)", err, dsnForms)
		}
		return mc, nil
	}
	if s := strings.ToLower(scheme); s != "mysql" && s != "mariadb" {
		return nil, fmt.Errorf("a URL with scheme %q, not mysql:// (%s)", scheme, dsnForms)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password and all
		}
		return nil, fmt.Errorf("not a valid URL: %v (%s)", err, dsnForms)
	}
	if u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("not a valid URL: unexpected %q (%s)", "#", dsnForms)
	}
	// The query goes through the driver, which checks its parameters.
	mc, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, dsnForms)
	}
	mc.User = u.User.Username()
	mc.Passwd, _ = u.User.Password()
	mc.Net, mc.Addr = hostAddr(u.Host)
	mc.DBName = strings.TrimPrefix(u.Path, "/")
	if strings.Contains(mc.DBName, "/") {
		return nil, fmt.Errorf("the URL's path names more than a database (%s)", dsnForms)
	}
	// Through the driver's form once more, so that it derives what it
	// derives from the address (a TLS server name, for instance).
	mc, err = mysql.ParseDSN(mc.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, dsnForms)
	}
	return mc, nil
}

// hostAddr returns the network and address of host: a path is a unix socket,
// anything else a TCP address that gets port 3306 when it has none.
func hostAddr(host string) (network, addr string) {
	host = strings.TrimSpace(host)
	if host == "" {
		host = DefaultHost
	}
	if strings.HasPrefix(host, "/") {
		return "unix", host
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return "tcp", host
	}
	return "tcp", net.JoinHostPort(strings.Trim(host, "[]"), defaultPort)
}

// where describes the server and database of mc for messages, as
// user@address/database: never with the password.
func where(mc *mysql.Config) string {
	addr := mc.Addr
	if addr == "" {
		addr = DefaultHost
	}
	return mc.User + "@" + addr + "/" + mc.DBName
}

// redacted is an error whose message has a secret replaced by ***; Unwrap
// still reaches the cause.
type redacted struct {
	err    error
	secret string
}

func (e *redacted) Error() string { return strings.ReplaceAll(e.err.Error(), e.secret, "***") }
func (e *redacted) Unwrap() error { return e.err }

// redact returns err with every occurrence of secret hidden from its message.
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redacted{err: err, secret: secret}
}
