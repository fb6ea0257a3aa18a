package channel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
)

// Bound identities (issue 15): on a signed channel a member's id is bound
// to its signing key, so no trusted signer speaks for another member.
//
// The insider is a real channel holding its own trusted identity (and the
// channel key on keyed channels) but claiming the victim's member id
// through a test hook (withMemberID): software modified to lie about its
// id. Everything it sends, it sends through the channel's own stacks and
// wire; the receiver is an ordinary channel.

// withMemberID makes Open take id as the member id instead of drawing or
// deriving one.
func withMemberID(id uint64) Option {
	return func(c *config) error { c.testID = id; return nil }
}

// withMemberSalt makes Open derive the member id with salt instead of a
// random one (with an identity), so a test knows a member's salt.
func withMemberSalt(salt uint64) Option {
	return func(c *config) error { c.testSalt = salt; return nil }
}

func newIdentity(t *testing.T) *keys.Identity {
	t.Helper()
	id, err := keys.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func trustOf(t *testing.T, ids ...*keys.Identity) *keys.Trust {
	t.Helper()
	tr, err := keys.NewTrust()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		must(t, tr.Add(id.Public()))
	}
	return tr
}

// received records what a subscriber got, by body.
type received struct {
	mu  sync.Mutex
	got []*posting.Posting
}

func (r *received) add(p *posting.Posting) {
	r.mu.Lock()
	r.got = append(r.got, p)
	r.mu.Unlock()
}

// forged returns what was delivered with a body starting "forged".
func (r *received) forged() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.got {
		if s, _ := p.Body.(string); strings.HasPrefix(s, "forged") {
			out = append(out, fmt.Sprintf("%q from %016x on %q", s, p.Sender, p.Stream))
		}
	}
	return out
}

// has reports whether body was delivered from sender on stream.
func (r *received) has(sender uint64, stream, body string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.got {
		if p.Body == body && p.Sender == sender && p.Stream == stream {
			return true
		}
	}
	return false
}

// signDrops returns the sign layer's drops on rx's flow of stream from
// sender, and whether rx has that flow.
func signDrops(rx *Channel, sender uint64, stream string) (map[string]uint64, bool) {
	for _, f := range rx.Stats().Flows {
		if f.Sender != sender || f.Stream != stream {
			continue
		}
		for _, ls := range f.Stack.Layers {
			if ls.Name == "sign" {
				return ls.Drops, true
			}
		}
	}
	return nil, false
}

// awaitRefused waits until rx's sign layer has refused packets of the
// insider on each of streams from victim's id ("wrong-member", or
// "wrong-signer" on a flow whose signer the victim pinned), failing at
// once if a forged posting is delivered.
func awaitRefused(t *testing.T, rx *Channel, got *received, victim uint64, streams ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f := got.forged(); len(f) > 0 {
			t.Fatalf("forged postings delivered under the victim's id %016x: %v", victim, f)
		}
		refused := 0
		for _, s := range streams {
			if d, _ := signDrops(rx, victim, s); d["wrong-member"]+d["wrong-signer"] > 0 {
				refused++
			}
		}
		if refused == len(streams) {
			return
		}
		if time.Now().After(deadline) {
			var all []string
			for _, s := range streams {
				d, ok := signDrops(rx, victim, s)
				all = append(all, fmt.Sprintf("%s: flow %v drops %v", s, ok, d))
			}
			t.Fatalf("the insider's packets were not refused on every stream: %v", all)
		}
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
}

// awaitDelivered waits until each of bodies was delivered from sender on
// stream, failing at once if a forged posting is delivered.
func awaitDelivered(t *testing.T, got *received, sender uint64, stream string, bodies ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f := got.forged(); len(f) > 0 {
			t.Fatalf("forged postings delivered under the victim's id %016x: %v", sender, f)
		}
		missing := ""
		for _, b := range bodies {
			if !got.has(sender, stream, b) {
				missing = b
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the victim's posting %q on %q was not delivered", missing, stream)
		}
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
}

// victimSilenced is where the tests stop on keyed channels: the insider's
// datagrams under the victim's id used the victim's datagram counters too
// (keyed channels keep one replay window per member id, channel/auth.go),
// so the victim's next datagrams are refused ("replayed") until its
// counter passes the insider's. That is a denial of service by a holder of
// the channel key, below the sign layer, not a forgery; forgeries were
// checked above.
func victimSilenced(t *testing.T, rx *Channel) {
	t.Helper()
	t.Logf("keyed channel: the victim's later postings are not checked (datagrams refused by the receiver so far: %v)", rx.Stats().Drops)
}

// signedNet is a signed channel's URLs: the receiver's, and the members'
// that reach it.
type signedNet struct {
	name       string
	rx, member func(t *testing.T) (string, string)
	keyed      bool
}

func signedNets() []signedNet {
	return []signedNet{
		{name: "mem", rx: func(t *testing.T) (string, string) { u := memURL(t); return u, u }},
		{name: "mem-keyed", keyed: true, rx: func(t *testing.T) (string, string) { u := memURL(t); return u, u }},
		{name: "udp-keyed", keyed: true, rx: func(t *testing.T) (string, string) {
			port := freePort(t)
			return fmt.Sprintf("itest://:%d?channel=bound", port), fmt.Sprintf("itest://127.0.0.1:%d?channel=bound", port)
		}},
	}
}

// TestSignedNoFlowHijack: a trusted insider cannot take over a member's
// flows. The victim A posts on stream "s" (its signer is pinned there);
// the insider B, holding its own trusted key and claiming A's member id,
// says goodbye in A's name (the receiver forgets A and its flows), then
// posts forgeries signed with its own key on "s" and on "late", a stream A
// has not used yet. Before member ids were bound to keys, B's first
// signature pinned B as the signer of those flows: its forgeries were
// delivered under A's id, and A's own postings were dropped
// ("wrong-signer"). Now B's are refused and A's are delivered.
func TestSignedNoFlowHijack(t *testing.T) {
	for _, n := range signedNets() {
		t.Run(n.name, func(t *testing.T) {
			a, b := newIdentity(t), newIdentity(t)
			rxURL, url := n.rx(t)
			opts := []Option{WithQoS("reliable/sign"), WithTrusted(trustOf(t, a, b)),
				WithReceivePolicy(Policy{Require: []string{"sign"}})}
			if n.keyed {
				opts = append(opts, WithKey(testKey))
			}
			rx := open(t, rxURL, opts...)
			got := &received{}
			if _, err := rx.SubscribeFunc(got.add); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			victim := open(t, url, append(opts, WithIdentity(a), WithBlockingPush())...)
			must(t, victim.Push(ctx, posting.New("genuine-0", posting.WithStream("s"))))
			awaitDelivered(t, got, victim.ID(), "s", "genuine-0")

			// The insider's goodbye in the victim's name.
			bye := open(t, url, append(opts, WithIdentity(b), withMemberID(victim.ID()))...)
			must(t, bye.Close())
			// WithLinger(0): its forgeries are never acknowledged; its Close
			// need not wait for that.
			insider := open(t, url, append(opts, WithIdentity(b), withMemberID(victim.ID()), WithBlockingPush(), WithLinger(0))...)
			if insider.ID() != victim.ID() {
				t.Fatalf("the insider's id %016x is not the victim's %016x", insider.ID(), victim.ID())
			}
			for i := range 3 {
				must(t, insider.Push(ctx, posting.New(fmt.Sprintf("forged-s-%d", i), posting.WithStream("s"))))
				must(t, insider.Push(ctx, posting.New(fmt.Sprintf("forged-late-%d", i), posting.WithStream("late"))))
			}
			awaitRefused(t, rx, got, victim.ID(), "s", "late")
			if n.keyed {
				victimSilenced(t, rx)
				return
			}

			// The victim's own postings are delivered, on both streams.
			must(t, victim.Push(ctx, posting.New("genuine-1", posting.WithStream("s"))))
			must(t, victim.Push(ctx, posting.New("genuine-late", posting.WithStream("late"))))
			awaitDelivered(t, got, victim.ID(), "s", "genuine-1")
			awaitDelivered(t, got, victim.ID(), "late", "genuine-late")
			ds, _ := signDrops(rx, victim.ID(), "s")
			dl, _ := signDrops(rx, victim.ID(), "late")
			t.Logf("receiver's sign drops on the victim's flows: s %v, late %v", ds, dl)
		})
	}
}

// TestSignedInsiderCannotForge: a trusted insider (holding the channel key
// too on keyed channels) cannot make a signed channel deliver a posting
// under another member's id, here a member that has sent nothing yet —
// whether the insider signs with its own salt or copies the victim's.
// The victim's first posting is then delivered: the insider pinned
// nothing.
func TestSignedInsiderCannotForge(t *testing.T) {
	const victimSalt = 0x5eed
	for _, n := range signedNets() {
		for _, salt := range []struct {
			name string
			salt uint64 // 0: the insider's own, drawn at random
		}{{"own-salt", 0}, {"victims-salt", victimSalt}} {
			t.Run(n.name+"/"+salt.name, func(t *testing.T) {
				a, b := newIdentity(t), newIdentity(t)
				rxURL, url := n.rx(t)
				opts := []Option{WithQoS("reliable/sign"), WithTrusted(trustOf(t, a, b)),
					WithReceivePolicy(Policy{Require: []string{"sign"}})}
				if n.keyed {
					opts = append(opts, WithKey(testKey))
				}
				rx := open(t, rxURL, opts...)
				got := &received{}
				if _, err := rx.SubscribeFunc(got.add); err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				victim := open(t, url, append(opts, WithIdentity(a), withMemberSalt(victimSalt), WithBlockingPush())...)
				insider := open(t, url, append(opts, WithIdentity(b), withMemberID(victim.ID()), withMemberSalt(salt.salt),
					WithBlockingPush(), WithLinger(0))...) // its forgeries are never acknowledged
				for i := range 3 {
					must(t, insider.Push(ctx, posting.New(fmt.Sprintf("forged-%d", i), posting.WithStream("s"))))
				}
				awaitRefused(t, rx, got, victim.ID(), "s")
				if n.keyed {
					victimSilenced(t, rx)
					return
				}
				must(t, victim.Push(ctx, posting.New("genuine", posting.WithStream("s"))))
				awaitDelivered(t, got, victim.ID(), "s", "genuine")
				d, _ := signDrops(rx, victim.ID(), "s")
				t.Logf("receiver's sign drops: %v", d)
			})
		}
	}
}

// A channel with an identity takes keys.MemberID of its public key and a
// salt as its id, a fresh salt per Open; one without keeps a random id.
func TestMemberIDDerived(t *testing.T) {
	a := newIdentity(t)
	url := memURL(t)
	c1 := open(t, url, WithIdentity(a))
	c2 := open(t, url, WithIdentity(a))
	for _, c := range []*Channel{c1, c2} {
		if c.salt == 0 || c.ID() == 0 || c.ID() != keys.MemberID(a.Public(), c.salt) {
			t.Fatalf("id %016x, salt %016x: not derived from the identity", c.ID(), c.salt)
		}
	}
	if c1.ID() == c2.ID() || c1.salt == c2.salt {
		t.Fatal("two channels of one identity share an id")
	}
	if c := open(t, url); c.salt != 0 || c.ID() == 0 {
		t.Fatalf("without an identity: id %016x, salt %016x", c.ID(), c.salt)
	}
	c := open(t, url, WithIdentity(a), withMemberSalt(7))
	if c.ID() != keys.MemberID(a.Public(), 7) {
		t.Fatalf("id %016x with salt 7", c.ID())
	}
}
