package channel

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// TestOutageNoRedelivery: a receiver delivers a reliable posting whose
// acknowledgement is lost, then hears nothing from the sender for longer
// than it keeps a silent member (five announce intervals) or its flow
// (three) — an outage, or both processes starved of CPU. The sender
// still holds the posting and retransmits it when the path comes back;
// the receiver, which forgot the member and its flow, builds the flow
// anew from the sender's floor — and must not deliver the posting a
// second time.
func TestOutageNoRedelivery(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	name := strings.ReplaceAll(t.Name(), "/", ".") + fmt.Sprint(hubSeq.Add(1))
	url := "outage+zzpipe://" + name + "?channel=outage&mtu=1472&end="
	rx := open(t, url+"b", WithClock(clock), WithQoS("reliable"))
	got := collectInOrder(t, rx)
	tx := open(t, url+"a", WithClock(clock), WithQoS("reliable"), WithBlockingPush())
	advance(t, clock, 100*time.Millisecond, rx, tx) // hellos
	const a, b = 0, 1
	cutPipe(name, b, true) // the acknowledgements are lost
	pushSmall(t, tx, 0, 1)
	waitFor(t, "posting 0", func() bool { return got.len() == 1 })
	cutPipe(name, a, true) // and then everything
	advance(t, clock, 6*time.Second, rx, tx)
	if n := len(rx.Stats().Flows); n != 0 {
		t.Fatalf("the receiver kept %d flows over the outage; want it to have forgotten the sender's", n)
	}
	cutPipe(name, a, false)
	cutPipe(name, b, false)
	advance(t, clock, 15*time.Second, rx, tx) // the sender retransmits; acknowledged
	if n := windowCounter(tx.Stats(), "s", "retransmits"); n == 0 {
		t.Fatal("the sender retransmitted nothing after the outage")
	}
	got.check(t, tx.ID(), 1)
	if d := rx.Stats().Drops; d["duplicate"] == 0 {
		t.Fatalf("receiver drops %v: no duplicate counted", d)
	}
}
