package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// rueidis closes the connections a cluster topology refresh
		// replaced five seconds later, on a goroutine of its own that
		// outlives the client (partitions_test.go's Redis Cluster).
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"))
}

// chromium finds the browser: $FANOUT_CHROMIUM, else Debian's chromium on
// the PATH. Without one the test skips, or fails under CI, where .ci/run
// installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FANOUT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: CI must install it (apt-get install -y chromium)")
	}
	t.Skip("chromium not found (apt-get install -y chromium, or set FANOUT_CHROMIUM)")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile for the test and
// returns its context; tabs are opened with newPage.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first action starts the browser; it lives as long as bctx.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// page is one tab of the browser.
type page struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	thrown []string // uncaught exceptions in the page
}

// newPage opens url in a new tab. The test fails if the page throws.
func newPage(t *testing.T, browser context.Context, url string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	p := &page{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.thrown {
			t.Errorf("the page threw: %s", e)
		}
	})
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			p.mu.Lock()
			d := e.ExceptionDetails
			msg := fmt.Sprintf("%s at %s:%d:%d", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if d.Exception != nil && d.Exception.Description != "" {
				msg += ": " + d.Exception.Description
			}
			p.thrown = append(p.thrown, msg)
			p.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p.do("open "+url, chromedp.Navigate(url))
	return p
}

// do runs actions on the page, within a minute.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// until evaluates expr (a JavaScript expression of a T) until ok accepts
// its value, or fails the test after a deadline. It polls: the page's
// state is in another process.
func until[T any](p *page, what, expr string, ok func(T) bool) T {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := eval[T](p, expr)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s: still %s", what, jsonString(v))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// panelState is what demo.state() returns for one panel of the demo page.
type panelState struct {
	Count       int         `json:"count"`
	Frames      int         `json:"frames"`
	MaxPerFrame int         `json:"maxPerFrame"`
	LastID      string      `json:"lastId"`
	Reconnects  int         `json:"reconnects"`
	Resyncs     []string    `json:"resyncs"`
	Closed      int         `json:"closed"` // the code with which the server said to stay away
	Bursts      []burstSeen `json:"bursts"`
}

// burstSeen is a burst as a panel checked it: got messages 1..Got of N,
// each once, in order (OK), or not (Why).
type burstSeen struct {
	K      int    `json:"k"`
	N      int    `json:"n"`
	Got    int    `json:"got"`
	OK     bool   `json:"ok"`
	Why    string `json:"why"`
	Frames int    `json:"frames"` // WebSocket frames it came in
}

type pageState struct {
	WS  panelState `json:"ws"`
	SSE panelState `json:"sse"`
}

// state returns the demo page's state.
func (p *page) state() pageState {
	p.t.Helper()
	return eval[pageState](p, "demo.state()")
}

// panel returns the state of the panel "ws" or "sse".
func (s pageState) panel(name string) panelState {
	if name == "sse" {
		return s.SSE
	}
	return s.WS
}

// burst returns burst k as the panel saw it.
func (s panelState) burst(k int) (burstSeen, bool) {
	for _, b := range s.Bursts {
		if b.K == k {
			return b, true
		}
	}
	return burstSeen{}, false
}

// complete reports whether the panel got burst k of n whole, in order,
// once each.
func (s panelState) complete(k, n int) bool {
	b, ok := s.burst(k)
	return ok && b.OK && b.N == n && b.Got == n
}

// awaitBurst waits until both panels (or only ws or sse) have burst k of n
// complete, and fails at once if a panel saw it go wrong.
func (p *page) awaitBurst(k, n int, panels ...string) pageState {
	p.t.Helper()
	if len(panels) == 0 {
		panels = []string{"ws", "sse"}
	}
	return until(p, fmt.Sprintf("burst #%d of %d in %v", k, n, panels), "demo.state()", func(s pageState) bool {
		done := true
		for _, name := range panels {
			ps := s.panel(name)
			if b, ok := ps.burst(k); ok && !b.OK {
				p.t.Fatalf("%s panel: burst #%d: %s", name, k, b.Why)
			}
			done = done && ps.complete(k, n)
		}
		return done
	})
}

// awaitConnected waits until both panels show their connection open.
func (p *page) awaitConnected() {
	p.t.Helper()
	until(p, "both panels connected", `document.querySelectorAll("#ws .status.open, #sse .status.open").length`,
		func(n int) bool { return n == 2 })
}

// assertEveryMessage checks that each panel named (or both) received every
// message the demo published, each once, in order: the IDs it saw are the
// Ring's, <epoch>-1 to <epoch>-N for the N messages published, with none
// missing and none twice. (Each test's demo has one room, so the Ring's
// sequence is the room's.)
func (p *page) assertEveryMessage(d *demo, panels ...string) {
	p.t.Helper()
	if len(panels) == 0 {
		panels = []string{"ws", "sse"}
	}
	published := int(d.chat.Hub().Stats().Published)
	ids := eval[map[string][]string](p, "demo.ids()")
	for _, name := range panels {
		got := ids[name]
		if !assert.Len(p.t, got, published, "%s panel: messages received, of those published", name) {
			continue
		}
		epoch, _, _ := strings.Cut(got[0], "-")
		for i, id := range got {
			if want := epoch + "-" + strconv.Itoa(i+1); id != want {
				p.t.Errorf("%s panel: message %d has ID %s, want %s", name, i+1, id, want)
				break
			}
		}
	}
}
