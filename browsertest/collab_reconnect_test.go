package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCollabPageComesBack: when a participant's process dies and a new one
// starts on the same address, the page it served says it is reconnecting,
// then comes back by itself, showing the new participant (a new member).
func TestCollabPageComesBack(t *testing.T) {
	browser(t) // skips (or fails, CI=true) without chromium, before building
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := buildCollab(t)
	url := groupURL()
	ana := startParticipant(t, bin, "ana", url)
	bctx := chromium(t, ctx)
	pg := openPage(t, bctx, ana)
	pg.wait(t, fmt.Sprintf(`collab.id === %q`, ana.id), 10*time.Second)

	ana.kill()
	pg.wait(t, `!collab.ready && document.getElementById("status").textContent.includes("reconnecting")`, 10*time.Second)
	addr := strings.TrimPrefix(ana.base, "http://")
	again := startParticipant(t, bin, "ana", url, "-http", addr)
	if again.base != ana.base {
		t.Fatalf("the new participant serves %s, not %s", again.base, ana.base)
	}
	// The page asks every 1, 2, 4 s...: it is back within 20 s. It
	// reloads meanwhile, which ends any evaluation under way: ask again.
	back := fmt.Sprintf(`!!(window.collab && collab.ready && collab.id === %q && collab.roster.length > 0)`, again.id)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(pg.ctx, chromedp.Evaluate[bool](back))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not come back within 20 s: %s: %v, %v", back, ok, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the page's state
	}
}
