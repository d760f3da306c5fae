package explain

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"pipeline/engine/stage"
)

// Write writes one evaluation of a record for people.
func Write(w io.Writer, t stage.Trace) {
	x := t.Explanation
	where := "stage " + t.Stage
	if t.Step != "" {
		where += ", step " + t.Step
	}
	if t.Shadow {
		where += ", shadow (decided beside the live rules; changes nothing)"
	}
	fmt.Fprintf(w, "%s: %s\n", where, t.Source)
	fmt.Fprintf(w, "ruleset %s version %d, hash %s (%s)\n", x.Ruleset, x.Version, x.Hash, x.Path)
	writeWindows(w, t.Windows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(x.Fields) > 0 {
		fmt.Fprintln(tw, "  values read:")
		for _, v := range x.Fields {
			fmt.Fprintf(tw, "    %s\t= %s\n", v.Name, v)
		}
	}
	if len(x.Lets) > 0 {
		fmt.Fprintln(tw, "  let:")
		for _, v := range x.Lets {
			fmt.Fprintf(tw, "    %s\t= %s\n", v.Name, v)
		}
	}
	if len(x.Rules) > 0 {
		fmt.Fprintln(tw, "  rules, in order (the first that holds decides):")
		decided := false
		for _, r := range x.Rules {
			when := r.When
			if when == "" {
				when = "(default)"
			}
			mark := ""
			switch {
			case r.Decided:
				mark = "\t<- decides"
				if r.Outcome != "" {
					mark += ": " + r.Outcome
				}
				decided = true
			case decided:
				mark = "\t(not reached)"
			}
			fmt.Fprintf(tw, "    %s\tline %d\t%s\t%s%s\n", r.ID, r.Line, when, r.Result, mark)
		}
	}
	tw.Flush()
	if x.Err != nil {
		fmt.Fprintf(w, "  error: %v (the record goes to the dead letters)\n", x.Err)
		return
	}
	d := x.Decision
	if d.Rule == "" {
		fmt.Fprintln(w, "  decision: no rule holds and there is no default")
		return
	}
	if d.Outcome != "" {
		fmt.Fprintf(w, "  decision: %s by %s", d.Outcome, d.Rule)
	} else {
		fmt.Fprintf(w, "  decided by %s", d.Rule)
	}
	if d.Reason != "" {
		fmt.Fprintf(w, ": %s", d.Reason)
	}
	fmt.Fprintln(w)
	if len(x.Sets) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if t.Shadow {
			fmt.Fprintln(tw, "  would set (on copies; nothing is kept):")
		} else {
			fmt.Fprintln(tw, "  set:")
		}
		for _, v := range x.Sets {
			fmt.Fprintf(tw, "    %s\t= %s\n", v.Name, v)
		}
		tw.Flush()
	}
}

// maxWindowRecords is how many of a window's records explain lists.
const maxWindowRecords = 20

// writeWindows prints what each window of a stream stage held for the
// record: its values and the records they were made of.
func writeWindows(w io.Writer, ws []stage.WindowTrace) {
	for _, wt := range ws {
		fmt.Fprintf(w, "  window %s (key %s, span %s up to %s): %s decided before this one\n",
			wt.Name, wt.Key, spanText(wt.Span), wt.Time.Format(time.DateTime), records(len(wt.Records)))
		for _, v := range wt.Values {
			fmt.Fprintf(w, "    %s = %s\n", v.Name, v)
		}
		for i, r := range wt.Records {
			if i == maxWindowRecords {
				fmt.Fprintf(w, "    ... and %d more\n", len(wt.Records)-i)
				break
			}
			fmt.Fprintf(w, "    record %s at %s\n", r.ID, r.Time.Format(time.DateTime))
		}
	}
}

// spanText writes a span as a spec would: 10m, 24h, 7d, 1h30m.
func spanText(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// records returns "1 record" or "N records".
func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return fmt.Sprintf("%d records", n)
}
