package yamldoc

import (
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// secretWords mark the names of variables that hold secrets (in any case).
var secretWords = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "API_KEY", "ACCESS_KEY"}

// IsSecret reports whether the variable called name holds a secret: its
// name contains PASSWORD, PASSWD, SECRET, TOKEN, CREDENTIAL, PRIVATE_KEY,
// API_KEY or ACCESS_KEY, in any case.
func IsSecret(name string) bool {
	name = strings.ToUpper(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// Hidden is what Redactor shows instead of a secret.
const Hidden = "***"

// minAnywhere is the length from which a secret is hidden wherever it
// appears in a text. A shorter one is hidden only where it stands alone
// (between characters that are not letters or digits): hidden everywhere,
// a one-letter password would blank that letter out of every message.
const minAnywhere = 4

// Redactor hides the values of secret variables in text meant for people:
// errors and logs. A nil *Redactor hides nothing.
type Redactor struct {
	anywhere *strings.Replacer
	alone    []string // short secrets, hidden where they stand alone
}

// Redactor returns a Redactor for the env's secrets: the values of its
// secret variables (IsSecret), and the passwords in URLs
// (scheme://user:password@host) and in DSNs of variables whose name says
// DSN (user:password@tcp(host)/db). Each is hidden as
// written and as Go quotes it (%q, log values), so a value holding quotes
// or backslashes is hidden in quoted text too. It returns nil when there
// is no secret.
func (e Env) Redactor() *Redactor {
	var secrets []string
	for name, v := range e.vars {
		if v == "" {
			continue
		}
		if IsSecret(name) {
			secrets = append(secrets, v)
		}
		if pw := dsnPassword(name, v); pw != "" {
			secrets = append(secrets, pw)
			// A URL's password may be escaped (p%40ss): hide it decoded too.
			if plain, err := url.PathUnescape(pw); err == nil && plain != pw {
				secrets = append(secrets, plain)
			}
		}
	}
	return newRedactor(secrets)
}

// NewRedactor returns a Redactor that hides the given secrets (for tests
// and for secrets that come from elsewhere than variables); nil when there
// are none.
func NewRedactor(secrets ...string) *Redactor { return newRedactor(secrets) }

func newRedactor(secrets []string) *Redactor {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms, s)
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			forms = append(forms, q[1:len(q)-1])
		}
	}
	if len(forms) == 0 {
		return nil
	}
	// Longest first: a secret that holds another is hidden whole.
	slices.SortFunc(forms, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	forms = slices.Compact(forms)
	r := &Redactor{}
	var pairs []string
	for _, f := range forms {
		if len(f) >= minAnywhere {
			pairs = append(pairs, f, Hidden)
		} else {
			r.alone = append(r.alone, f)
		}
	}
	if len(pairs) > 0 {
		r.anywhere = strings.NewReplacer(pairs...)
	}
	return r
}

// Redact returns s with every secret replaced by Hidden.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	if r.anywhere != nil {
		s = r.anywhere.Replace(s)
	}
	for _, short := range r.alone {
		s = hideAlone(s, short)
	}
	return s
}

// hideAlone replaces the occurrences of secret in s that stand alone.
func hideAlone(s, secret string) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for from := 0; ; {
		i := strings.Index(s[from:], secret)
		if i < 0 {
			break
		}
		i += from
		j := i + len(secret)
		if (i == 0 || !wordByte(s[i-1])) && (j == len(s) || !wordByte(s[j])) {
			b.WriteString(s[done:i])
			b.WriteString(Hidden)
			done = j
		}
		from = j
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// wordByte reports whether c is an ASCII letter or digit, or part of a
// character beyond ASCII.
func wordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// Writer returns a writer that writes to w what it is given with the
// secrets hidden. Each Write is redacted on its own, so a secret split
// over two writes is not hidden: loggers and fmt.Fprint* write a line or
// a record at once. A nil Redactor returns w.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	if r == nil {
		return w
	}
	return &redactWriter{w: w, r: r}
}

type redactWriter struct {
	w io.Writer
	r *Redactor
}

// Write writes p with the secrets hidden, and reports all of p written
// when the redacted text was.
func (rw *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// dsnPassword returns the password in the value v of the variable called
// name when it is a URL with one (scheme://user:password@host/path) or,
// when the name says DSN, a DSN with one (user:password@tcp(host)/db); else "".
func dsnPassword(name, v string) string {
	if _, after, ok := strings.Cut(v, "://"); ok {
		host, _, _ := strings.Cut(after, "/")
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			_, pw, _ := strings.Cut(host[:at], ":")
			return pw
		}
		return ""
	}
	if !strings.Contains(strings.ToUpper(name), "DSN") {
		return ""
	}
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		_, pw, _ := strings.Cut(v[:at], ":")
		return pw
	}
	return ""
}
