package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"pipeline/engine/metrics"
	"pipeline/engine/stage"
)

// Running as a service: logs as text or JSON lines at a level, and an
// HTTP server of metrics, health and readiness (engine/metrics). See the
// README's "Running it as a service".

// UsualHTTPAddr is the address documented for --http (Benthos' port).
const UsualHTTPAddr = "127.0.0.1:4195"

// logFlags are the flags that shape the logs, given to the app and to the
// commands that run as services, so that they work before or after the command.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "write logs to stderr as `FORMAT`: text (key=value) or json (one object a line)"},
		&cli.StringFlag{Name: "log-level", Usage: "log at `LEVEL` and above: debug, info, warn or error (default warn; info with -v, --follow or --http)"},
	}
}

// httpFlag is --http of run and broker.
func httpFlag() cli.Flag {
	return &cli.StringFlag{Name: "http", Usage: "serve /metrics, /healthz and /readyz (/ping, /ready) on `ADDR`, usually " + UsualHTTPAddr + " (port 0 picks a free port, logged); default off"}
}

// flagValue returns the value of the named string flag as the innermost
// command that was given it says, or def when none was.
func flagValue(c *cli.Context, name, def string) string {
	for _, x := range c.Lineage() {
		if x.IsSet(name) {
			return x.String(name)
		}
	}
	return def
}

// service reports whether the command runs as a service: following
// topics, or serving HTTP.
func service(c *cli.Context) bool {
	for _, x := range c.Lineage() {
		if x.IsSet("http") || x.IsSet("follow") {
			return true
		}
	}
	return false
}

// logLevel is the level --log-level, -v and the mode ask for.
func logLevel(c *cli.Context) (slog.Level, error) {
	level := slog.LevelWarn
	if c.Bool("verbose") || service(c) || (c.Command != nil && c.Command.Name == "broker") {
		level = slog.LevelInfo
	}
	if v := flagValue(c, "log-level", ""); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return level, cli.Exit(fmt.Sprintf("--log-level %q: want debug, info, warn or error", v), 2)
		}
	}
	return level, nil
}

// newLogger returns the logger --log-format and the level ask for,
// writing to the app's error output (stderr, with secrets hidden).
func newLogger(c *cli.Context) (*slog.Logger, error) {
	level, err := logLevel(c)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	w := errWriter(c.App)
	switch f := strings.ToLower(flagValue(c, "log-format", "text")); f {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, cli.Exit(fmt.Sprintf("--log-format %q: want text or json", f), 2)
	}
}

// jsonLogs reports whether logs are JSON lines, which a plain progress
// line would break.
func jsonLogs(c *cli.Context) bool {
	return strings.EqualFold(flagValue(c, "log-format", "text"), "json")
}

// serveHTTP starts the server of --http, when given, for m with the
// readiness ready, logs where it listens and returns the function that
// stops it.
func serveHTTP(c *cli.Context, log *slog.Logger, m *metrics.Metrics, ready metrics.ReadyFunc) (stop func(), err error) {
	addr := c.String("http")
	if addr == "" {
		return func() {}, nil
	}
	srv, err := metrics.Serve(addr, m.Handler(ready))
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("pipeline: %v", err), 1)
	}
	log.Info("serving /metrics, /healthz and /readyz on http://"+srv.Addr, "addr", srv.Addr)
	return func() {
		if err := srv.Close(); err != nil {
			log.Warn("stopping the HTTP server", "error", err.Error())
		}
	}, nil
}

// statusEvery is --status-every, or the default.
func statusEvery(c *cli.Context) time.Duration {
	if d := c.Duration("status-every"); d > 0 {
		return d
	}
	return stage.DefaultStatusEvery
}

// readiness is the readiness of a run: the services of the connectors it
// opened answer, and its stages are ready (metrics.Metrics.Problems).
func readiness(ping func(context.Context) []string, m *metrics.Metrics) metrics.ReadyFunc {
	return func(ctx context.Context) []string {
		return append(ping(ctx), m.Problems()...)
	}
}
