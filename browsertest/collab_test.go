//go:build linux

package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// The collaboration app (examples/collab) end to end: participant
// processes built from the example, pages in headless Chromium.

// buildCollab builds the example into a temporary directory.
func buildCollab(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "collab")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rwanda-go/rwanda/examples/collab")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/collab: %v\n%s", err, out)
	}
	return bin
}

// participant is a child process of the example.
type participant struct {
	name, id, base string // base: http://host:port
	cmd            *exec.Cmd
	started        time.Time
	exited         chan struct{}
	lines          chan string // stdout after the first line (the last 100 kept)
}

var openLine = regexp.MustCompile(`^collab: (\S+) \(member ([0-9a-f]+)\) in .*: open (http://\S+)/$`)

// startParticipant runs the example as name on group url with extra flags;
// the child dies with the test (SIGKILL on the test's death, Pdeathsig)
// and is stopped (SIGTERM, then SIGKILL) at cleanup.
func startParticipant(t *testing.T, bin, name, url string, extra ...string) *participant {
	t.Helper()
	args := append([]string{"-name", name, "-url", url, "-http", "127.0.0.1:0", "-voters", "ana,ben,cy"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &logWriter{t: t, prefix: name + ": "}
	p := &participant{name: name, cmd: cmd, exited: make(chan struct{}), started: time.Now(), lines: make(chan string, 100)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
				continue
			}
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(lines)
		close(p.lines)
	}()
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case l, ok := <-lines:
		m := openLine.FindStringSubmatch(l)
		if !ok || m == nil {
			t.Fatalf("%s: first line %q", name, l)
		}
		p.id, p.base = m[2], m[3]
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30 s", name)
	}
	return p
}

// stop ends the child gracefully (SIGTERM), or kills it after 5 s.
func (p *participant) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Errorf("%s did not exit within 5 s of SIGTERM; killed", p.name)
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill ends the child at once: no goodbye.
func (p *participant) kill() time.Time {
	at := time.Now()
	p.cmd.Process.Kill()
	<-p.exited
	return at
}

// stats reads the child's /debug/collab.
func (p *participant) stats(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(p.base + "/debug/collab")
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: stats: %v", p.name, err)
	}
	return m
}

// logWriter logs a child's standard error, line by line.
type logWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for l := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(b), nil
}

// chromium starts a headless browser with fake media devices.
func chromium(t *testing.T, ctx context.Context) context.Context {
	exe := browser(t)
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1360, 760),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true))...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("chromium: %v", err)
	}
	return bctx
}

// tab is a tab showing a participant's page.
type tab struct {
	ctx  context.Context
	name string
}

func openPage(t *testing.T, bctx context.Context, p *participant) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	pg := &tab{ctx: ctx, name: p.name}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1340, 720), chromedp.Navigate(p.base+"/")); err != nil {
		t.Fatalf("page of %s: %v", p.name, err)
	}
	pg.wait(t, "window.collab && collab.ready && collab.roster.length > 0", 20*time.Second)
	return pg
}

// wait polls expr in the page (every 10 ms) until it is truthy.
func (pg *tab) wait(t *testing.T, expr string, limit time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(pg.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(limit))); err != nil {
		state, _ := chromedp.Run(pg.ctx, chromedp.Evaluate[string](`JSON.stringify({floors: collab.floors, roster: collab.roster.map(m => m.name), sentAudio: collab.sentAudio, captureError: collab.captureError, audio: collab.audioState()})`))
		t.Fatalf("page of %s: %s: not true within %v: %v\nthe page's state: %s", pg.name, expr, limit, err, state)
	}
}

func eval[T any](t *testing.T, pg *tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(pg.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("page of %s: %s: %v", pg.name, expr, err)
	}
	return v
}

func (pg *tab) do(t *testing.T, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(pg.ctx, a); err != nil {
		t.Fatalf("page of %s: %s: %v", pg.name, what, err)
	}
}

// draw drags the mouse across the board along pts (board coordinates;
// the board is at its natural size, 1000×600).
func (pg *tab) draw(t *testing.T, pts [][2]float64) {
	t.Helper()
	org := eval[[]float64](t, pg, `(() => { const r = document.getElementById("board").getBoundingClientRect(); return [r.left, r.top]; })()`)
	at := func(i int) (float64, float64) { return org[0] + pts[i][0], org[1] + pts[i][1] }
	x, y := at(0)
	pg.do(t, "mouse down", chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	for i := 1; i < len(pts); i++ {
		x, y = at(i)
		pg.do(t, "mouse move", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y, chromedp.ButtonLeft))
	}
	pg.do(t, "mouse up", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// groupURL is a fresh multicast group on loopback.
func groupURL() string {
	return fmt.Sprintf("collab://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
}

// schedulingDelay measures how late this machine serves the children and
// the browser now: the longest of a few round trips to each.
func schedulingDelay(t *testing.T, ps []*participant, pgs []*tab) time.Duration {
	var worst time.Duration
	for range 5 {
		for _, p := range ps {
			start := time.Now()
			resp, err := http.Get(p.base + "/debug/collab")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			worst = max(worst, time.Since(start))
		}
		for _, pg := range pgs {
			start := time.Now()
			eval[bool](t, pg, "true")
			worst = max(worst, time.Since(start))
		}
	}
	return worst
}

// testImage is a 320×200 picture of four coloured quarters and a gradient.
func testImage(t *testing.T) (string, *image.RGBA) {
	m := image.NewRGBA(image.Rect(0, 0, 320, 200))
	for y := range 200 {
		for x := range 320 {
			c := color.RGBA{uint8(x * 255 / 319), uint8(y * 255 / 199), 0x80, 0xff}
			if x < 160 && y < 100 {
				c = color.RGBA{0xd0, 0x30, 0x30, 0xff}
			}
			m.SetRGBA(x, y, c)
		}
	}
	path := filepath.Join(t.TempDir(), "shared.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, m); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path, m
}

// TestTimingCollabSession: three participant processes (ana with two
// bots, ben, cy), a page on each in one headless Chromium with fake media
// devices. A stroke drawn in one page appears in the others; chat and
// presence work (a join shows within 1 s, a departure within 3 s of the
// last heartbeat: 2.5 s configured; plus the scheduling delay measured); the floor moves on request and release,
// with the queue shown; one page's captured audio moves another page's
// level meter; an image shared by the presenter appears in the page of a
// participant that joins afterwards.
func TestTimingCollabSession(t *testing.T) {
	browser(t) // skips (or fails, CI=true) without chromium, before building
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildCollab(t)
	url := groupURL()
	ana := startParticipant(t, bin, "ana", url, "-bots", "2", "-bot-chat", "1s")
	ben := startParticipant(t, bin, "ben", url)
	cy := startParticipant(t, bin, "cy", url)
	bctx := chromium(t, ctx)
	pa, pb, pc := openPage(t, bctx, ana), openPage(t, bctx, ben), openPage(t, bctx, cy)
	pages := []*tab{pa, pb, pc}

	// Presence: everyone (and the bots) in every page.
	for _, pg := range pages {
		pg.wait(t, `collab.roster.length === 5 && ["ana","ben","cy","ana-bot1","ana-bot2"].every(n => collab.roster.some(m => m.name === n))`, 10*time.Second)
	}

	// A stroke drawn in ana's page (in a colour no bot uses, below the
	// bots' reach) appears in ben's and cy's.
	pa.do(t, "colour", chromedp.SetValue("#color", "#123456"))
	var pts [][2]float64
	for x := 100.0; x <= 400; x += 20 {
		pts = append(pts, [2]float64{x, 580})
	}
	pa.draw(t, pts)
	for _, pg := range []*tab{pb, pc} {
		pg.wait(t, fmt.Sprintf(`(collab.strokes[%q]?.count ?? 0) > 0 && collab.strokes[%q].gaps === 0`, ana.id, ana.id), 10*time.Second)
		pg.wait(t, `(() => { const d = document.getElementById("board").getContext("2d").getImageData(250, 580, 1, 1).data;
			return d[0] === 0x12 && d[1] === 0x34 && d[2] === 0x56 && d[3] === 255; })()`, 5*time.Second)
	}
	// The bots' strokes and pointers reach every page, without gaps.
	for _, pg := range pages {
		pg.wait(t, `Object.values(collab.strokes).some(s => s.count > 0) && Object.values(collab.strokes).every(s => s.gaps === 0) && collab.pointerAges().length >= 2`, 10*time.Second)
	}

	// Chat: ben says something; ana and cy read it; the bots chat too.
	pb.do(t, "type", chromedp.SendKeys("#chatin", "hello from ben"))
	pb.do(t, "send", chromedp.Click("#chatform button"))
	for _, pg := range []*tab{pa, pc} {
		pg.wait(t, `collab.chat.some(l => l.name === "ben" && l.text === "hello from ben")`, 5*time.Second)
		pg.wait(t, `collab.chat.some(l => l.name.startsWith("ana-bot"))`, 5*time.Second)
	}

	// The presenter floor: ana asks and gets it; ben asks and queues; ana
	// releases and it moves to ben.
	holder := func(f, name string, queue ...string) string {
		q, _ := json.Marshal(append([]string{}, queue...))
		return fmt.Sprintf(`collab.floors[%q]?.holder === %q && JSON.stringify(collab.floors[%q].queue) === %q`, f, name, f, q)
	}
	pa.do(t, "request presenter", chromedp.Click("#floor-btn-presenter"))
	for _, pg := range pages {
		pg.wait(t, holder("presenter", "ana"), 10*time.Second)
	}
	pa.wait(t, `collab.floors.presenter.mine && !document.getElementById("upload").disabled`, 5*time.Second)
	pb.do(t, "request presenter", chromedp.Click("#floor-btn-presenter"))
	for _, pg := range pages {
		pg.wait(t, holder("presenter", "ana", "ben"), 10*time.Second)
	}
	pb.wait(t, `document.querySelector("#floor-presenter .q").textContent.includes("ben")`, time.Second)
	pa.do(t, "release presenter", chromedp.Click("#floor-btn-presenter"))
	for _, pg := range pages {
		pg.wait(t, holder("presenter", "ben"), 10*time.Second)
	}
	pb.wait(t, `collab.floors.presenter.mine`, 5*time.Second)

	// The shared image: ben, the presenter, uploads one.
	path, want := testImage(t)
	pb.do(t, "upload", chromedp.SetUploadFiles("#upload", []string{path}))
	pb.wait(t, `collab.image > 0`, 20*time.Second)

	// Push to talk: ana takes the speak floor; her fake microphone's beeps
	// move the level meter of ana in ben's and cy's pages. cy asks to
	// speak too and queues; when ana stops, the floor moves to cy.
	pa.do(t, "talk", chromedp.Click("#talk"))
	pa.wait(t, `collab.floors.speak?.mine === true`, 10*time.Second)
	pa.wait(t, `collab.sentAudio > 10`, 20*time.Second)
	pb.wait(t, fmt.Sprintf(`document.querySelector('#roster li[data-id=%q] meter').value > 0.01`, ana.id), 15*time.Second)
	pc.wait(t, fmt.Sprintf(`(collab.levelPeak[%q] ?? 0) > 0.01`, ana.id), 5*time.Second)
	if st := ana.stats(t); st["hub"].(map[string]any)["audioIn"].(float64) == 0 {
		t.Fatalf("ana pushed no audio: %v", st["hub"])
	}
	pc.do(t, "ask to talk", chromedp.Click("#talk"))
	for _, pg := range pages {
		pg.wait(t, holder("speak", "ana", "cy"), 10*time.Second)
	}
	if os.Getenv("COLLAB_SCREENSHOT") != "" {
		pb.wait(t, fmt.Sprintf(`document.querySelector('#roster li[data-id=%q] meter').value > 0.02`, ana.id), 10*time.Second)
		shot, err := chromedp.Run(pb.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv("COLLAB_SCREENSHOT"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pa.do(t, "stop talking", chromedp.Click("#talk"))
	for _, pg := range pages {
		pg.wait(t, holder("speak", "cy"), 10*time.Second)
	}
	pc.wait(t, `collab.floors.speak.mine`, 5*time.Second)
	pc.do(t, "stop talking", chromedp.Click("#talk"))
	for _, pg := range pages {
		pg.wait(t, holder("speak", ""), 10*time.Second)
	}

	// Presence: dee joins (a page that joins afterwards); it shows within
	// 1 s everywhere, and dee's page gets the image through tiles.
	sched := schedulingDelay(t, []*participant{ana, ben, cy}, pages)
	dee := startParticipant(t, bin, "dee", url)
	deeJoined := time.UnixMilli(int64(dee.stats(t)["joined"].(float64)))
	shown := map[*tab]time.Time{}
	for _, pg := range pages {
		pg.wait(t, fmt.Sprintf(`collab.seen[%q]?.joined > 0`, dee.id), 10*time.Second)
		shown[pg] = time.UnixMilli(int64(eval[float64](t, pg, fmt.Sprintf(`collab.seen[%q].joined`, dee.id))))
	}
	sched = max(sched, schedulingDelay(t, []*participant{ana, ben, cy, dee}, pages))
	t.Logf("scheduling delay measured: %v", sched)
	for pg, at := range shown {
		d := at.Sub(deeJoined)
		t.Logf("page of %s showed dee %v after dee's first hello", pg.name, d)
		if d > time.Second+sched {
			t.Errorf("page of %s showed dee %v after dee said hello; want ≤ 1s + %v", pg.name, d, sched)
		}
	}
	pd := openPage(t, bctx, dee)
	pd.wait(t, `collab.image > 0 && document.getElementById("shared").complete && document.getElementById("shared").naturalWidth === 320 && collab.imageComplete`, 30*time.Second)
	checkImage(t, dee.base+"/image.png", want)
	// The board's history: ana's stroke, drawn before dee joined, is on
	// dee's board too.
	pd.wait(t, `collab.history > 0 && (() => { const d = document.getElementById("board").getContext("2d").getImageData(250, 580, 1, 1).data;
		return d[0] === 0x12 && d[1] === 0x34 && d[2] === 0x56 && d[3] === 255; })()`, 10*time.Second)

	// Departure: cy dies without a goodbye. Each participant finds it
	// gone the departure timeout (2.5 s) after its last heartbeat arrived,
	// within the check's period (a tenth of the heartbeat) and the
	// scheduling delay measured, never before; and every page drops it
	// within 3 s of that heartbeat (plus the scheduling delay).
	cy.kill()
	left := map[*tab]time.Time{}
	for _, pg := range []*tab{pa, pb, pd} {
		pg.wait(t, fmt.Sprintf(`collab.seen[%q]?.left > 0`, cy.id), 10*time.Second)
		left[pg] = time.UnixMilli(int64(eval[float64](t, pg, fmt.Sprintf(`collab.seen[%q].left`, cy.id))))
	}
	sched = max(sched, schedulingDelay(t, []*participant{ana, ben, dee}, pages[:2]))
	for pg, at := range left {
		p := map[*tab]*participant{pa: ana, pb: ben, pd: dee}[pg]
		var heard, gone time.Time
		for _, d := range p.stats(t)["departed"].([]any) {
			if d := d.(map[string]any); d["key"] == cy.id {
				heard = time.UnixMilli(int64(d["lastHeard"].(float64)))
				gone = time.UnixMilli(int64(d["gone"].(float64)))
			}
		}
		if heard.IsZero() {
			t.Fatalf("%s does not list cy as departed", p.name)
		}
		d := at.Sub(heard)
		t.Logf("page of %s dropped cy %v after its last heartbeat (%s found it gone after %v)", pg.name, d, p.name, gone.Sub(heard))
		if g := gone.Sub(heard); g < 2500*time.Millisecond || g > 2550*time.Millisecond+sched {
			t.Errorf("%s found cy gone %v after its last heartbeat; want 2.5s..2.55s + %v", p.name, g, sched)
		}
		if d > 3*time.Second+sched {
			t.Errorf("page of %s dropped cy %v after its last heartbeat; want ≤ 3s + %v", pg.name, d, sched)
		}
	}
	// A goodbye: dee leaves cleanly and is gone at once.
	dee.stop(t)
	pa.wait(t, fmt.Sprintf(`collab.seen[%q]?.left > 0`, dee.id), time.Second+sched)

}

// checkImage compares the image served at url with want, pixel by pixel.
func checkImage(t *testing.T, url string, want *image.RGBA) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := png.Decode(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("shared image %v, want %v", got.Bounds(), want.Bounds())
	}
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			r, g, b, a := got.At(x, y).RGBA()
			w := want.RGBAAt(x, y)
			if uint8(r>>8) != w.R || uint8(g>>8) != w.G || uint8(b>>8) != w.B || uint8(a>>8) != w.A {
				t.Fatalf("shared image pixel (%d,%d) = %v, want %v", x, y, got.At(x, y), w)
			}
		}
	}
}
