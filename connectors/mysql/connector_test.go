package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestKind(t *testing.T) {
	k := Kind()
	if k.Name != "mysql" || !k.Service || k.New == nil {
		t.Fatalf("Kind() = %+v, want name mysql, a service, with New", k)
	}
	want := map[string]string{"dsn": "", "host": "127.0.0.1:3306", "user": "root", "password": "empty", "database": "pipeline"}
	if len(k.Options) != len(want) {
		t.Fatalf("options %v, want %v", k.Options, want)
	}
	for _, o := range k.Options {
		def, ok := want[o.Name]
		if !ok || o.Doc == "" || (def != "" && o.Default != def) {
			t.Errorf("option %+v: want a documented option with default %q", o, def)
		}
	}
}

func TestDriverConfig(t *testing.T) {
	tests := []struct {
		name      string
		opts      map[string]string
		wantWhere string
		wantNet   string
		wantErr   string
		wantPass  string // checked when not empty
	}{
		{"defaults", nil, "root@127.0.0.1:3306/pipeline", "tcp", "", ""},
		{"options", map[string]string{"host": "db.example", "user": "app", "password": "s3cret", "database": "banking_system"},
			"app@db.example:3306/banking_system", "tcp", "", ""},
		{"host with port", map[string]string{"host": "10.0.0.1:3307"}, "root@10.0.0.1:3307/pipeline", "tcp", "", ""},
		{"ipv6 host", map[string]string{"host": "::1"}, "root@[::1]:3306/pipeline", "tcp", "", ""},
		{"unix socket", map[string]string{"host": "/run/mysqld/mysqld.sock"}, "root@/run/mysqld/mysqld.sock/pipeline", "unix", "", ""},
		{"dsn wins", map[string]string{"dsn": "u:s3cret@tcp(h:1)/banking_system?parseTime=false&interpolateParams=true&multiStatements=true", "host": "other", "user": "x", "database": "y"},
			"u@h:1/banking_system", "tcp", "", ""},
		{"dsn without database", map[string]string{"dsn": "u@tcp(h:1)/", "database": "mine"}, "u@h:1/mine", "tcp", "", ""},
		{"bad dsn", map[string]string{"dsn": "u:s3cret@tcp(h:1"}, "", "", "invalid DSN", ""},
		{"bad database", map[string]string{"database": "x; DROP DATABASE y"}, "", "", "invalid identifier", ""},
		{"url", map[string]string{"dsn": "mysql://app:s3cret@db.example:3307/banking_system"}, "app@db.example:3307/banking_system", "tcp", "", "s3cret"},
		{"url without port", map[string]string{"dsn": "mysql://app:s3cret@db.example/banking_system"}, "app@db.example:3306/banking_system", "tcp", "", "s3cret"},
		{"url without database", map[string]string{"dsn": "mysql://app@db.example:1/", "database": "mine"}, "app@db.example:1/mine", "tcp", "", ""},
		{"url without host", map[string]string{"dsn": "mysql://app:s3cret@/banking_system"}, "app@127.0.0.1:3306/banking_system", "tcp", "", "s3cret"},
		{"url ipv6", map[string]string{"dsn": "mysql://app:s3cret@[::1]:3307/x"}, "app@[::1]:3307/x", "tcp", "", "s3cret"},
		{"mariadb url", map[string]string{"dsn": "mariadb://app:s3cret@h/x"}, "app@h:3306/x", "tcp", "", "s3cret"},
		{"url escaped password", map[string]string{"dsn": "mysql://app:s3cret%40%3A%2F%3F%28%29%25%20x@h:1/x"}, "app@h:1/x", "tcp", "", "s3cret@:/?()% x"},
		{"url escaped user", map[string]string{"dsn": "mysql://a%40pp:s3cret@h:1/x"}, "a@pp@h:1/x", "tcp", "", "s3cret"},
		{"url bad port", map[string]string{"dsn": "mysql://app:s3cret@h:port/x"}, "", "", "mysql://user:password@host:3306/database", ""},
		{"url bad escape", map[string]string{"dsn": "mysql://app:s3cret%zz@h/x"}, "", "", "not a valid URL", ""},
		{"url bad param", map[string]string{"dsn": "mysql://app:s3cret@h/x?timeout=soon"}, "", "", "invalid duration \"soon\"", ""},
		{"url other scheme", map[string]string{"dsn": "postgres://app:s3cret@h/x"}, "", "", "scheme \"postgres\", not mysql://", ""},
		{"url path too long", map[string]string{"dsn": "mysql://app:s3cret@h/x/y"}, "", "", "more than a database", ""},
		{"bad dsn shows the forms", map[string]string{"dsn": "app:s3cret@h:1/x"}, "", "", "mysql://user:password@host:3306/database", ""},
	}
	// A URL's parameters reach the driver as the driver's form's do.
	mc, err := driverConfig(port.Config{Name: "db", Options: map[string]string{"dsn": "mysql://u@h/x?timeout=5s&sql_mode=%27ANSI%27&collation=utf8mb4_bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if mc.Timeout != 5*time.Second || mc.Params["sql_mode"] != "'ANSI'" || mc.Collation != "utf8mb4_bin" {
		t.Errorf("url parameters: timeout %v, params %v; want 5s, sql_mode 'ANSI', collation utf8mb4_bin", mc.Timeout, mc.Params)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mc, err := driverConfig(port.Config{Name: "db", Options: tc.opts})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err = %v, want one containing %q and no password", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := where(mc); got != tc.wantWhere || mc.Net != tc.wantNet {
				t.Errorf("where = %s net %s, want %s net %s", got, mc.Net, tc.wantWhere, tc.wantNet)
			}
			if !mc.ParseTime || mc.InterpolateParams || mc.MultiStatements || mc.Loc != time.UTC {
				t.Errorf("parseTime %v interpolateParams %v multiStatements %v loc %v: want true false false UTC",
					mc.ParseTime, mc.InterpolateParams, mc.MultiStatements, mc.Loc)
			}
			if strings.Contains(where(mc), "s3cret") {
				t.Errorf("where %q shows the password", where(mc))
			}
			if tc.wantPass != "" && mc.Passwd != tc.wantPass {
				t.Errorf("password %q, want %q", mc.Passwd, tc.wantPass)
			}
		})
	}
}

// TestConnectErrorHidesPassword needs no server: nothing listens on port 1.
func TestConnectErrorHidesPassword(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]string
		at   string
	}{
		{"dsn", map[string]string{"dsn": "root:s3cret@tcp(127.0.0.1:1)/banking_system"}, "root@127.0.0.1:1/banking_system"},
		{"options", map[string]string{"host": "127.0.0.1:1", "password": "s3cret"}, "root@127.0.0.1:1/pipeline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c, err := New(context.Background(), port.Config{Name: "db", Kind: KindName, Options: tc.opts})
			if err == nil {
				c.Close()
				t.Fatal("New succeeded on a port nothing listens on")
			}
			msg := err.Error()
			if strings.Contains(msg, "s3cret") {
				t.Fatalf("error shows the password: %s", msg)
			}
			for _, want := range []string{"cannot connect to MySQL at " + tc.at + ": ", "connection refused", "\nhint: start MariaDB", "MYSQL_DSN"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if d := time.Since(start); d < 3*time.Second || d > 15*time.Second {
				t.Errorf("New gave up after %v, want about 5s of retries", d)
			}
		})
	}
}

func TestWrongPasswordHidden(t *testing.T) {
	needServer(t)
	_, err := New(context.Background(), port.Config{Name: "db", Kind: KindName, Options: map[string]string{
		"dsn": "nosuchuser_pipeline:s3cret@tcp(" + testServerAddr(t) + ")/pipeline"}})
	if err == nil {
		t.Fatal("New succeeded for an unknown user")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret") || !strings.Contains(msg, "cannot connect to MySQL at nosuchuser_pipeline@") ||
		!strings.Contains(msg, "hint: check the user, password") {
		t.Fatalf("error %q: want the user and address, a hint, and no password", msg)
	}
}

func TestNewCreatesDatabase(t *testing.T) {
	c, dsn := openTest(t)
	var name string
	if err := c.db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "pipeline_test_") || !strings.Contains(dsn, name) {
		t.Fatalf("connected to database %q, want the test's new one", name)
	}
	// A second connector on the existing database works too.
	openDSN(t, dsn)
}

func TestIdentifiers(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	bad := []*schema.Schema{
		schema.MustNew("cards; DROP TABLE x", []schema.Column{{Name: "id", Type: schema.IntType}}, "id"),
		schema.MustNew("t", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "a`b", Type: schema.StringType}}, "id"),
		schema.MustNew("t", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "1a", Type: schema.StringType}}, "id"),
		schema.MustNew("", []schema.Column{{Name: "id", Type: schema.IntType}}, "id"),
		schema.MustNew("nokey", []schema.Column{{Name: "id", Type: schema.IntType}}, ""),
		nil,
	}
	for _, s := range bad {
		if _, err := c.Table(ctx, s); err == nil {
			t.Errorf("Table(%v) succeeded", s)
		} else if s != nil && s.Name == "nokey" && !strings.Contains(err.Error(), "no key column") {
			t.Errorf("Table(nokey): %v, want a missing key error", err)
		}
	}
	var n int
	if err := c.db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables created: %d (%v), want 0", n, err)
	}

	// Values travel as parameters: they are stored exactly as given.
	s := schema.MustNew("notes", []schema.Column{
		{Name: "id", Type: schema.StringType},
		{Name: "body", Type: schema.StringType},
	}, "id")
	tb := openTable(t, c, s)
	evil := []schema.Row{
		{"'); DROP TABLE t; --", `'); DROP TABLE notes; -- \ " ` + "`"},
		{`\'`, "naïve ☃ 😀"},
	}
	upsert(t, ctx, tb, evil...)
	got, err := tb.Get(ctx, []any{evil[0][0], evil[1][0]})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "Get", got, evil)
}

func testServerAddr(t testing.TB) string {
	mc, _ := driverConfig(port.Config{Options: map[string]string{"dsn": testServerDSN()}})
	return mc.Addr
}
