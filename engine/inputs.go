package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// checkInputs checks the input files of the stages of run
// (stage.InputChecker) before any of them runs. It returns one positioned
// error per file that cannot be read, at the place the spec names it, or
// nil.
func (p *Pipeline) checkInputs(ctx context.Context, rt *stage.Runtime, run []stage.Runner) error {
	var errs yamldoc.Errors
	for _, r := range run {
		ic, ok := r.(stage.InputChecker)
		if !ok {
			continue
		}
		for _, err := range ic.CheckInputs(ctx, rt) {
			var ie *stage.InputError
			if !errors.As(err, &ie) {
				errs = append(errs, &yamldoc.Error{Pos: yamldoc.Pos{File: p.plan.Spec.File.Path}, Msg: err.Error(), Err: err})
				continue
			}
			e := p.plan.Spec.File.Errorf(ie.File.Pos, "%v%s", ie, variableHint(p.plan.Spec.File.Line(ie.File.Pos.Line), ie.File.Pos.Col))
			e.Err = ie
			errs = append(errs, e)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(errs) > 0 {
		errs[len(errs)-1].Msg += "; no stage was run"
	}
	return errs.Err()
}

// varRE matches a variable reference of a spec: $NAME or ${NAME...}.
var varRE = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// variableHint says which variables the scalar at column col of line (a
// spec's source line, before variables are expanded) uses, to point at
// them when the path they make names no readable file; "" when none.
func variableHint(line string, col int) string {
	if col < 1 || col > len(line) {
		return ""
	}
	text := line[col-1:]
	if q := text[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(text[1:], q); end >= 0 {
			text = text[1 : end+1]
		}
	} else if end := strings.IndexAny(text, ",}]#"); end >= 0 {
		text = text[:end]
	}
	var names []string
	for _, m := range varRE.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (the path comes from the variable %s: check its value)", names[0])
	}
	return fmt.Sprintf(" (the path comes from the variables %s: check their values)", strings.Join(names, ", "))
}
