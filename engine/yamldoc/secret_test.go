package yamldoc

import (
	"bytes"
	"fmt"
	"testing"
)

func TestIsSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"MYSQL_PASSWORD": true, "password": true, "DB_PASSWD": true, "CLIENT_SECRET": true,
		"GITHUB_TOKEN": true, "aws_secret_access_key": true, "AWS_ACCESS_KEY_ID": true, "API_KEY": true,
		"GOOGLE_CREDENTIALS": true, "SSH_PRIVATE_KEY": true,
		"MYSQL_HOST": false, "MYSQL_USER": false, "MYSQL_DSN": false, "KAFKA_BROKERS": false, "PWD": false, "KEY": false,
	} {
		if got := IsSecret(name); got != want {
			t.Errorf("IsSecret(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestRedactor: the values of secret variables, and passwords in DSNs and
// URLs, are hidden wherever they appear, as written and quoted; short ones
// only where they stand alone; nothing else changes.
func TestRedactor(t *testing.T) {
	env := MapEnv(map[string]string{
		"MYSQL_PASSWORD": `s3cret "pw"!`,
		"API_TOKEN":      "tok",
		"MYSQL_DSN":      "app:dsn-pw@tcp(db:3306)/x",
		"BROKER_URL":     "sasl://user:url-pw@broker:9092/",
		"MYSQL_HOST":     "db-host",
		"EMPTY_SECRET":   "",
		"PLAIN":          "a:b@c",
	})
	r := env.Redactor()
	for _, tc := range []struct{ in, want string }{
		{`spec.yaml:3:5: "s3cret \"pw\"!" is not a whole number`, `spec.yaml:3:5: "***" is not a whole number`},
		{`dial tcp: lookup s3cret "pw"!: no such host`, `dial tcp: lookup ***: no such host`},
		{`msg="stage failed" error="lookup s3cret \"pw\"!:3306"`, `msg="stage failed" error="lookup ***:3306"`},
		{"token tok, tok:1, [tok]", "token ***, ***:1, [***]"},
		{"stock toktok tokens", "stock toktok tokens"}, // a short secret inside words stays
		{"connect app:dsn-pw@tcp(db:3306)", "connect app:***@tcp(db:3306)"},
		{"broker user:url-pw@broker", "broker user:***@broker"},
		{"host db-host, a:b@c", "host db-host, a:b@c"},
		{"", ""},
	} {
		if got := r.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	var buf bytes.Buffer
	w := r.Writer(&buf)
	if n, err := fmt.Fprintf(w, "password %q\n", `s3cret "pw"!`); err != nil || n != len(`password "s3cret \"pw\"!"`)+1 {
		t.Errorf("Fprintf through Writer: %d, %v", n, err)
	}
	if got := buf.String(); got != "password \"***\"\n" {
		t.Errorf("Writer wrote %q", got)
	}

	var none *Redactor
	if none.Redact("x") != "x" || none.Writer(&buf) != &buf {
		t.Error("a nil Redactor changes text")
	}
	if MapEnv(map[string]string{"MYSQL_HOST": "h", "MYSQL_PASSWORD": ""}).Redactor() != nil {
		t.Error("an env without secrets has a Redactor")
	}
	if got := NewRedactor("ab", "abcdef").Redact("abcdef ab abc"); got != "*** *** abc" {
		t.Errorf("NewRedactor: got %q", got)
	}
}
