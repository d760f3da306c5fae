package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"pipeline/connectors/csv"
	"pipeline/engine"
	"pipeline/engine/metrics"
	enginespec "pipeline/engine/spec"
	"pipeline/engine/stage"
	"pipeline/engine/stats"
	"pipeline/engine/yamldoc"
)

func dryRunCommand() *cli.Command {
	return command("dry-run", "SPEC", "run a spec offline: MySQL and Kafka replaced by in-memory tables and topics",
		`Runs every stage of SPEC with the same stage code and rules as 'run', but
every service connector (mysql, kafka) is replaced by the memory kind, so
no server is needed. Result files go where the spec's export stages say, or
into --out.

With --stats it counts, per stream stage and batch step with rules, the
records each rule decided, those where its condition held (fired) even
when an earlier rule decided, the sum of the stage's measure (the spec's
measure: tx.amount) over them, and the outcome totals; it prints them after
the summary, and --stats-json writes them as JSON. --report writes them as
one HTML file of bar charts, which opens in any browser with no network.

Examples:
   pipeline dry-run configs/NAME.yaml --out /tmp/results
   pipeline dry-run configs/NAME.yaml --stats --stats-json /tmp/stats.json
   pipeline dry-run configs/NAME.yaml --report /tmp/report.html
   DATASET=/data/big pipeline dry-run configs/NAME.yaml`, cli.Command{
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write exported files into `DIR` instead of the spec's paths"},
				stageFlag(),
				strictFlag(),
				&cli.BoolFlag{Name: "stats", Usage: "print per-rule statistics after the summary"},
				&cli.StringFlag{Name: "stats-json", Usage: "write per-rule statistics as JSON to `FILE`"},
				&cli.StringFlag{Name: "report", Usage: "write per-rule statistics as an HTML report to `FILE` (charts, no network needed to view it)"},
			},
			Action: func(c *cli.Context) error {
				tuneGC(dryRunGCPercent)
				return runSpec(c, engine.Options{DryRun: true, ExportDir: c.String("out")})
			},
		})
}

// dryRunGCPercent is the garbage collector's target for dry-runs, unless
// GOGC says otherwise. A dry-run keeps every table and topic in memory and
// mostly adds to it, so collecting at 100% growth rescans a heap that is
// nearly all live again and again. On 1M records, user+sys of runs
// interleaved: 6.8 s at 100 against 5.8 s at 400 (3 runs each), and 5.4 s
// at 400 against 4.8 s at 800 (5 runs each), where the last collection, of
// ~750 MB live, is no longer needed; peak RSS 1.3, 1.87 and 1.9 GB.
const dryRunGCPercent = 800

// runGCPercent is the garbage collector's target for `pipeline run`, unless
// GOGC says otherwise. A run keeps a few hundred MB live (the embedded
// broker's log, the stream's caches and batches, the pages an export
// holds) while allocating several GB of short-lived rows and statement
// arguments, so at 100% the collector marks the same live heap over and
// over: on 1M records it took about 2 of the pipeline's 12 s of CPU, and
// user+sys fell from 11.9 to 9.8 s at 400 (runs back to back).
const runGCPercent = 400

// dryRunMemoryShare is the share of the machine's memory past which the
// collector works to keep a dry-run's heap, unless GOMEMLIMIT is set: with
// collections this far apart, garbage alone could otherwise outgrow the
// machine on a big input.
const dryRunMemoryShare = 0.75

// tuneGC sets the collector's target to percent and its soft memory limit
// to dryRunMemoryShare of the machine's memory, unless GOGC or GOMEMLIMIT
// say otherwise.
func tuneGC(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if data, err := os.ReadFile("/proc/meminfo"); err == nil {
			if total := memTotal(string(data)); total > 0 {
				debug.SetMemoryLimit(int64(float64(total) * dryRunMemoryShare))
			}
		}
	}
}

// memTotal returns the MemTotal of a /proc/meminfo text in bytes, or 0.
func memTotal(meminfo string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && kb > 0 && kb < 1<<53 {
				return kb << 10
			}
		}
		return 0
	}
	return 0
}

func runCommand() *cli.Command {
	return command("run", "SPEC", "run a spec's stages against its connectors (Kafka, MySQL, files)",
		`Runs the stages of SPEC in order, or only those named with --stage, so a
workflow can run one step per command. Stream stages stop when their topic is
drained, or with --follow keep consuming until interrupted (Ctrl-C or
SIGTERM finishes and commits the batch in hand first).

Under --follow, the rule files of the stream stages (rules: and shadow:) are
watched: a change is linted with the spec and its tests are run, and only if
both pass is it taken, between two batches; otherwise the stage goes on with
the rules it has and the reason is logged. Every decision records the
version and content hash of the rule file that made it. -v logs each reload.

As a service (see the README, "Running it as a service"): --http ADDR
serves Prometheus metrics on /metrics, /healthz (alive) and /readyz (200 once
connected to the broker and the database with partitions assigned, else 503
saying what is missing), with /ping and /ready as aliases; the address it
listens on is logged. Logs go to stderr, as text or JSON lines
(--log-format), at info level under --follow or --http; a following stage
logs its lag and idle time every --status-every while idle or behind.

MySQL: MYSQL_DSN (or MYSQL_HOST, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE),
default root at 127.0.0.1:3306; the database and tables are created when
missing. Kafka: KAFKA_BROKERS, default an embedded broker with its data under
.pipeline/. Variables may also come from .env.

Examples:
   pipeline run configs/NAME.yaml
   pipeline run configs/NAME.yaml --stage validate --follow
   pipeline run configs/NAME.yaml --stage validate --follow --http 127.0.0.1:4195 --log-format json
   KAFKA_BROKERS=127.0.0.1:9092 pipeline run configs/NAME.yaml --stage publish`, cli.Command{
			Flags: []cli.Flag{
				stageFlag(),
				strictFlag(),
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep stream and rekey stages consuming until interrupted"},
				&cli.StringFlag{Name: "group", Usage: "consumer group `NAME` for stream and rekey stages", DefaultText: "each stage's group: in the spec"},
				&cli.BoolFlag{Name: "reload", Value: true, Usage: "with --follow, watch the stream stages' rule files and take a changed one between two batches, once it lints and passes its tests (--reload=false: never)"},
				httpFlag(),
				&cli.DurationFlag{Name: "status-every", Value: stage.DefaultStatusEvery, Usage: "with --follow, log each following stage's lag and idle time every `DURATION` while it is idle or behind"},
				logFlags()[0],
				logFlags()[1],
			},
			Action: func(c *cli.Context) error {
				tuneGC(runGCPercent)
				return runSpec(c, engine.Options{Follow: c.Bool("follow"), Group: c.String("group"), Reload: c.Bool("reload"), StatusEvery: statusEvery(c)})
			},
		})
}

func stageFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "stage", Aliases: []string{"s"}, Usage: "run only the stage `NAME` (repeatable); default every stage"}
}

func strictFlag() cli.Flag {
	return &cli.BoolFlag{Name: "strict", Usage: "fail (exit 1) when any record went to the dead letters"}
}

// runSpec opens the spec's pipeline with opts and runs the chosen stages.
func runSpec(c *cli.Context, opts engine.Options) error {
	plan, err := loadPlan(c)
	if err != nil {
		return err
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if opts.DryRun && opts.ExportDir == "" {
		if dirs := resultFolders(plan, c.StringSlice("stage")); len(dirs) > 0 {
			fmt.Fprintf(errWriter(c.App), "dry-run: writing result files into %s, as the spec says (--out DIR writes them elsewhere)\n", strings.Join(dirs, ", "))
		}
	}
	opts.Registry = registry()
	opts.Log = logger(c)
	opts.Progress = os.Stderr
	opts.Fault = faultHook(os.Getenv("PIPELINE_FAULT"), os.Stderr)
	if jsonLogs(c) {
		opts.Progress = nil // a plain line among JSON lines; the stage lines say as much
	}
	var m *metrics.Metrics
	if c.String("http") != "" {
		m = metrics.New()
		opts.Monitor = m
	}
	var collect *stats.Collector
	if c.Bool("stats") || c.String("stats-json") != "" || c.String("report") != "" {
		collect = stats.New(plan)
		opts.Observe = collect.Observe
	}
	p, err := engine.Open(c.Context, plan, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	if m != nil {
		stop, err := serveHTTP(c, log, m, readiness(p.Ping, m))
		if err != nil {
			return err
		}
		defer stop()
	}
	sum, err := p.Run(c.Context, c.StringSlice("stage"))
	printSummary(c.App.Writer, sum)
	if err != nil {
		if !opts.DryRun {
			err = withGoOn(c, err)
		}
		return err
	}
	if collect != nil {
		if err := writeStats(c, collect.Report(c.Args().First())); err != nil {
			return err
		}
	}
	if c.Bool("strict") && sum.Dead() > 0 {
		return cli.Exit(fmt.Sprintf("%s went to the dead letters (--strict)", plural(sum.Dead(), "record")), 1)
	}
	return nil
}

// resultFolders returns the folders the chosen stages (all when none is
// named) export files into, and the folder of each dead-letter file, as
// paths relative to the working directory when they are below it, with a
// trailing slash: "results/". A file path is resolved against its
// connector's dir option, itself resolved against the spec's folder, as
// the csv kind does.
func resultFolders(plan *stage.Plan, only []string) []string {
	s := plan.Spec
	folder := func(v yamldoc.String) string {
		ref, err := enginespec.ParseRef(v)
		if err != nil {
			return ""
		}
		c, ok := s.Connectors.Get(ref.Connector)
		if !ok || c.Kind.Value != csv.Kind().Name {
			return ""
		}
		dir := filepath.Dir(s.File.Path)
		if o, ok := c.Options.Get("dir"); ok && o.Value != "" {
			if filepath.IsAbs(o.Value) {
				dir = o.Value
			} else {
				dir = filepath.Join(dir, o.Value)
			}
		}
		path := ref.Name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		path = filepath.Dir(path)
		if wd, err := os.Getwd(); err == nil {
			if abs, err := filepath.Abs(path); err == nil {
				if rel, err := filepath.Rel(wd, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
					path = rel
				}
			}
		}
		return strings.TrimSuffix(path, "/") + "/"
	}
	var dirs []string
	add := func(d string) {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, st := range s.Stages {
		if st.Kind.Value != enginespec.KindExport || (len(only) > 0 && !slices.Contains(only, st.Name.Value)) {
			continue
		}
		for _, cp := range st.Copy {
			add(folder(cp.To))
		}
	}
	for _, d := range s.DeadLetters {
		add(folder(d))
	}
	return dirs
}
