package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// ReadyFunc returns what keeps the process from being ready, one line
// each (a service that does not answer, a stage without partitions);
// none when it is ready.
type ReadyFunc func(ctx context.Context) []string

// Handler serves the metrics and the process's health:
//
//	/metrics            the registry, in Prometheus' text format
//	/healthz, /ping     200 "ok" while the process serves at all
//	/readyz, /ready     200 "ready" when ready returns nothing, else 503
//	                    with one line per problem
//
// A nil ready counts as always ready.
func (m *Metrics) Handler(ready ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	}
	mux.HandleFunc("/healthz", health)
	mux.HandleFunc("/ping", health)
	readiness := func(w http.ResponseWriter, r *http.Request) {
		var problems []string
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			problems = ready(ctx)
			cancel()
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready:\n%s\n", strings.Join(problems, "\n"))
			return
		}
		fmt.Fprintln(w, "ready")
	}
	mux.HandleFunc("/readyz", readiness)
	mux.HandleFunc("/ready", readiness)
	return mux
}

// Server is an HTTP server of a Handler.
type Server struct {
	// Addr is the address it listens on, with the port it was given
	// when the one asked for was 0.
	Addr string
	srv  *http.Server
	done chan error
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves h
// until Close.
func Serve(addr string, h http.Handler) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	s := &Server{Addr: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Close stops the server, letting requests in progress finish for up to 5 seconds.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
