// Package reporttest opens reports in a real browser for tests: headless
// Chromium, driven with chromedp. Only tests import it.
package reporttest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Open starts a headless Chromium for the test, loads the HTML file at
// path and waits until its heading shows; the browser ends with the test.
// Without Chromium the test is skipped with how to install it, unless
// PIPELINE_CI=1 (set by .ci/run, which installs it) makes that a failure.
func Open(t *testing.T, path string) context.Context {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("PIPELINE_CI") == "1" {
			t.Fatal("Chromium is not installed (apt-get install chromium); .ci/run installs it")
		}
		t.Skip("Chromium is not installed: apt-get install chromium to run the browser tests (.ci/run does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests may run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatalf("opening %s in Chromium: %v", path, err)
	}
	return ctx
}

// Screenshot returns the whole page as PNG.
func Screenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}

// Eval evaluates a JavaScript expression in the page and decodes its value into T.
func Eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}
