package yamldoc

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/joho/godotenv"
)

// Env resolves ${VAR} references. The zero Env resolves nothing.
type Env struct {
	vars map[string]string
}

// NewEnv returns an Env over the process environment, with the variables of
// the .env file at dotenv (when it exists) filling in what the process does
// not set. An empty dotenv path reads no file.
func NewEnv(dotenv string) (Env, error) {
	vars := map[string]string{}
	if dotenv != "" {
		file, err := godotenv.Read(dotenv)
		switch {
		case err == nil:
			vars = file
		case errors.Is(err, os.ErrNotExist):
		default:
			return Env{}, fmt.Errorf("reading %s: %w", dotenv, err)
		}
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return Env{vars: vars}, nil
}

// MapEnv returns an Env over the given variables only (for tests).
func MapEnv(vars map[string]string) Env { return Env{vars: vars} }

// Lookup returns the variable's value and whether it is set and not empty.
func (e Env) Lookup(name string) (string, bool) {
	v, ok := e.vars[name]
	return v, ok && v != ""
}

// Expand replaces ${VAR} and ${VAR:-default} in s; a default may itself
// hold references (${A:-${B:-x}}). $$ stands for a literal $. A variable
// that is unset (or empty) and has no default is an error that names it;
// the returned int is the byte offset of the reference in s.
func (e Env) Expand(s string) (string, int, error) {
	if !strings.Contains(s, "$") {
		return s, 0, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := closingBrace(s, i+2)
		if end < 0 {
			return "", i, fmt.Errorf("unclosed ${ in %q", s)
		}
		ref := s[i+2 : end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validName(name) {
			return "", i, fmt.Errorf("bad variable name %q in ${%s}", name, ref)
		}
		v, ok := e.Lookup(name)
		switch {
		case ok:
			b.WriteString(v)
		case hasDef:
			d, off, err := e.Expand(def)
			if err != nil {
				return "", i + 2 + len(name) + 2 + off, err
			}
			b.WriteString(d)
		default:
			return "", i, fmt.Errorf("variable %s is not set and has no default (set it, put it in .env, or write ${%s:-default})", name, name)
		}
		i = end
	}
	return b.String(), 0, nil
}

// closingBrace returns the index of the } that closes a ${ whose body starts at from.
func closingBrace(s string, from int) int {
	depth := 1
	for j := from; j < len(s); j++ {
		switch {
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '$': // an escaped $, as Expand reads it
			j++
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '{':
			depth++
			j++
		case s[j] == '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
