package spec

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"pipeline/engine/yamldoc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// load writes src to s.yaml in a new directory and loads it with env.
func load(t *testing.T, src string, env map[string]string) (*Spec, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, yamldoc.MapEnv(env))
	if err != nil {
		// Positions name the file by its path; tests compare them as s.yaml.
		return s, fmt.Errorf("%s", strings.ReplaceAll(err.Error(), path, "s.yaml"))
	}
	return s, nil
}

// errText returns the text of err, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var (
	stringType = reflect.TypeOf(yamldoc.String{})
	posType    = reflect.TypeOf(yamldoc.Pos{})
	fileType   = reflect.TypeOf((*yamldoc.File)(nil))
)

// dump shows a decoded spec as indented text: every value that is set,
// with the line:col it came from. Maps keep their order.
func dump(s *Spec) string {
	var b strings.Builder
	dumpValue(&b, "", "spec", reflect.ValueOf(*s))
	return b.String()
}

func at(p yamldoc.Pos) string {
	if p.Line == 0 {
		return ""
	}
	return fmt.Sprintf(" @%d:%d", p.Line, p.Col)
}

func dumpValue(b *strings.Builder, indent, name string, v reflect.Value) {
	switch {
	case v.Type() == stringType:
		if s := v.Interface().(yamldoc.String); s.Set() {
			fmt.Fprintf(b, "%s%s: %q%s\n", indent, name, s.Value, at(s.Pos))
		}
		return
	case v.Type() == posType, v.Type() == fileType:
		return // shown with what holds them
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			dumpValue(b, indent, name, v.Elem())
		}
	case reflect.Struct:
		pos := ""
		if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
			pos = at(f.Interface().(yamldoc.Pos))
		}
		fmt.Fprintf(b, "%s%s%s\n", indent, name, pos)
		for i := 0; i < v.NumField(); i++ {
			dumpValue(b, indent+"  ", v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		if strings.HasPrefix(v.Type().Elem().Name(), "Entry[") {
			fmt.Fprintf(b, "%s%s\n", indent, name)
			for i := 0; i < v.Len(); i++ {
				e := v.Index(i)
				key := e.Field(0).String()
				if p := at(e.Field(1).Interface().(yamldoc.Pos)); p != "" {
					key += " (key" + p + ")"
				}
				if e.Field(2).Type() == stringType {
					s := e.Field(2).Interface().(yamldoc.String)
					fmt.Fprintf(b, "%s  %s = %q%s\n", indent, key, s.Value, at(s.Pos))
					continue
				}
				dumpValue(b, indent+"  ", key, e.Field(2))
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			dumpValue(b, indent, fmt.Sprintf("%s[%d]", name, i), v.Index(i))
		}
	default:
		if !v.IsZero() {
			fmt.Fprintf(b, "%s%s: %v\n", indent, name, v.Interface())
		}
	}
}
