package sign_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/sign"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// onChannel is the channel identity of the bound tests.
const onChannel = "mem://members"

// A member bound to its key (its id derived from the key and the salt its
// signatures carry) is verified on a channel, batch=1 and in batches.
func TestBoundRoundTrip(t *testing.T) {
	x := ident(t, 1)
	for _, batch := range []int{1, 16} {
		c := bound(config(x, trust(t, x), batch), onChannel, testSalt)
		f := newFixture(t, c, c, boundFlow(x, testSalt))
		f.sendN(t, 0, 32)
		f.Link.Flush()
		f.expect(t, 0, 32)
		f.checkDrops(t, nil)
		if st := f.lb.State(); !st.Pinned || st.Signer != x.Fingerprint() {
			t.Fatalf("batch=%d: state %+v", batch, st)
		}
	}
}

// A trusted signer cannot speak for another member: y's signatures on x's
// flow (x's member id) are dropped as "wrong-member", with y's own salt
// and with x's salt copied from x's packets, before any signer is pinned;
// x's own packets are delivered afterwards. This is the hijack of a flow
// forgotten by its receiver (or not yet started): before binding, y's
// first signature would have pinned y as the flow's signer.
func TestWrongMemberDropped(t *testing.T) {
	x, y := ident(t, 1), ident(t, 2)
	victim := boundFlow(x, testSalt)
	for _, batch := range []int{1, 16} {
		for _, salt := range []uint64{testSalt + 1, testSalt} { // y's own salt, x's salt
			rx := bound(config(nil, trust(t, x, y), batch), onChannel, 0)
			f := newFixture(t, bound(config(x, nil, batch), onChannel, testSalt), rx, victim)
			// y's stack, on x's flow: what an insider holding y's key and
			// claiming x's member id sends.
			g := newFixture(t, bound(config(y, nil, batch), onChannel, salt), rx, victim)
			g.sendN(t, 0, 16)
			f.feed(g.take()...)
			f.Clock.Advance(time.Minute)
			f.expect(t, 0, 0)
			want := map[string]uint64{"wrong-member": 16}
			if batch == 16 {
				want = map[string]uint64{"wrong-member": 1, "expired": 16}
			}
			f.checkDrops(t, want)
			if st := f.lb.State(); st.Pinned {
				t.Fatalf("batch=%d salt=%#x: y pinned on x's flow: %+v", batch, salt, st)
			}
			ev := f.EventsB.Take()
			if len(ev) != 1 || ev[0].Kind != "wrong-member" || !strings.Contains(ev[0].Detail, y.Fingerprint().String()) {
				t.Fatalf("batch=%d salt=%#x: events %+v", batch, salt, ev)
			}
			// x's own postings are delivered, and x is pinned.
			f.sendN(t, 0, 16)
			f.Link.Flush()
			f.expect(t, 0, 16)
			if st := f.lb.State(); !st.Pinned || st.Signer != x.Fingerprint() {
				t.Fatalf("batch=%d: state %+v", batch, st)
			}
			// And y stays out once x is pinned: "wrong-signer" comes first.
			g.sendN(t, 16, 16)
			f.feed(g.take()...)
			f.Clock.Advance(time.Minute)
			f.expect(t, 0, 0)
		}
	}
}

// Salt 0 is an unbound signature: a receiver outside a channel accepts it
// (the unbound test pairs all rely on that), a receiver on a channel does
// not. A salt on a flow whose member id it does not give is refused
// everywhere.
func TestUnboundOnlyOutsideChannels(t *testing.T) {
	x := ident(t, 1)
	for _, batch := range []int{1, 16} {
		// Unbound packets at a receiver on a channel.
		rx := bound(config(nil, trust(t, x), batch), onChannel, 0)
		f := newFixture(t, config(x, nil, batch), rx, testFlow)
		f.sendN(t, 0, 16)
		f.Link.Flush()
		f.Clock.Advance(time.Minute)
		f.expect(t, 0, 0)
		if d := f.drops(); d["wrong-member"] == 0 || d["bad-signature"] != 0 {
			t.Fatalf("batch=%d: unbound packets on a channel: drops %v", batch, d)
		}
		// A salt that does not give the flow's member id (7), outside a
		// channel.
		f = newFixture(t, bound(config(x, nil, batch), "", testSalt), config(nil, trust(t, x), batch), testFlow)
		f.sendN(t, 0, 16)
		f.Link.Flush()
		f.Clock.Advance(time.Minute)
		f.expect(t, 0, 0)
		if d := f.drops(); d["wrong-member"] == 0 {
			t.Fatalf("batch=%d: misbound packets: drops %v", batch, d)
		}
	}
}

// A sender's stack on a channel without a member salt refuses to bind.
func TestBindNeedsSaltOnChannel(t *testing.T) {
	x := ident(t, 1)
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	for _, tc := range []struct {
		c       sign.Config
		role    stack.Role
		wantErr error
	}{
		{bound(config(x, nil, 1), onChannel, 0), stack.Sender, sign.ErrNoMemberSalt},
		{bound(config(x, nil, 1), onChannel, testSalt), stack.Sender, nil},
		{bound(config(x, nil, 1), "", 0), stack.Sender, nil},
		{bound(config(nil, trust(t, x), 1), onChannel, 0), stack.Receiver, nil},
	} {
		st, err := stack.New(stack.Config{Layers: []stack.Layer{mustNew(t, tc.c)}, MTU: 1500, Wire: release, Deliver: release,
			Flow: stack.Flow{Role: tc.role, Local: 1, Remote: 1}})
		if err == nil {
			st.Close()
		}
		if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
			t.Fatalf("channel %q salt %#x role %v: %v, want %v", tc.c.Channel, tc.c.MemberSalt, tc.role, err, tc.wantErr)
		}
	}
}

// The header of version 2 (kind byte 0x6_): SIGNED and SIG carry the
// member salt after the fingerprint, DATA and FEEDBACK are unchanged but
// for the version; the layer declares 101 bytes of overhead with batch=1.
func TestHeaderV2(t *testing.T) {
	x := ident(t, 1)
	flow := boundFlow(x, testSalt)
	flow.Instance = 300 // a two-byte uvarint
	var fp, salt [8]byte
	binary.BigEndian.PutUint64(fp[:], uint64(x.Fingerprint()))
	binary.BigEndian.PutUint64(salt[:], testSalt)

	c := bound(config(x, trust(t, x), 1), onChannel, testSalt)
	if o := mustNew(t, c).Overhead(); o != 101 {
		t.Fatalf("batch=1 overhead %d, want 101", o)
	}
	if o := mustNew(t, bound(config(x, trust(t, x), 4), onChannel, testSalt)).Overhead(); o != 11 {
		t.Fatalf("batch=4 overhead %d, want 11", o)
	}
	f := newFixture(t, c, c, flow)
	f.sendN(t, 0, 1)
	pk := f.take()[0]
	want := append([]byte{0x61}, fp[:]...)
	want = append(want, salt[:]...)
	want = binary.AppendUvarint(want, 300) // instance
	want = binary.AppendUvarint(want, 0)   // sequence number
	if !bytes.HasPrefix(pk, want) || len(pk) != len(want)+sign.SignatureLen+len(payload(50, 0)) ||
		!bytes.Equal(pk[len(want)+sign.SignatureLen:], payload(50, 0)) {
		t.Fatalf("SIGNED packet %x, want header %x, signature, payload", pk, want)
	}
	f.feed(pk)
	f.expect(t, 0, 1)

	c4 := bound(config(x, trust(t, x), 4), onChannel, testSalt)
	f = newFixture(t, c4, c4, flow)
	f.sendN(t, 0, 4)
	pks := f.take()
	if len(pks) != 5 {
		t.Fatalf("%d packets for a batch of 4", len(pks))
	}
	for i, d := range pks[:4] {
		if d[0] != 0x62 || d[1] != byte(i) {
			t.Fatalf("DATA packet %d starts %x", i, d[:2])
		}
	}
	want = append([]byte{0x63}, fp[:]...)
	want = append(want, salt[:]...)
	want = binary.AppendUvarint(want, 300) // instance
	want = binary.AppendUvarint(want, 0)   // first
	want = binary.AppendUvarint(want, 4)   // count
	if sig := pks[4]; !bytes.HasPrefix(sig, want) || len(sig) != len(want)+4*sign.DigestLen+sign.SignatureLen {
		t.Fatalf("SIG packet %x, want header %x, 4 digests, signature", sig, want)
	}
	f.feed(pks...)
	f.expect(t, 0, 4)

	fb := f.B.NewPacket(3)
	fb.Append([]byte("ack"))
	if err := f.B.Down(fb); err != nil {
		t.Fatal(err)
	}
	if q := f.Link.Queued(stacktest.BtoA); len(q) != 1 || !bytes.Equal(q[0], []byte{0x64, 'a', 'c', 'k'}) {
		t.Fatalf("feedback %x", q)
	}
}

// Headers of version 1 (kind 0x5_, no member salt: a sender of an older
// release) are malformed; kinds of no version this layer knows are
// unsigned; a version 2 header cut short anywhere is malformed.
func TestHeaderVersions(t *testing.T) {
	x := ident(t, 1)
	c := bound(config(x, trust(t, x), 1), onChannel, testSalt)
	f := newFixture(t, c, c, boundFlow(x, testSalt))
	f.sendN(t, 0, 1)
	pk := f.take()[0]
	// The same packet as version 1 laid it out: kind 0x51, no salt.
	v1 := slices.Concat([]byte{0x51}, pk[1:9], pk[17:])
	f.feed(v1, []byte{0x52, 0, 'x'}, []byte{0x53, 1, 2, 3}, []byte{0x54, 'a'})
	f.checkDrops(t, map[string]uint64{"malformed": 4})
	f.feed([]byte{0x71, 0, 'x'}, []byte{0x41}, []byte{0x65})
	f.checkDrops(t, map[string]uint64{"malformed": 4, "unsigned": 3})
	hdr := 1 + 8 + 8 + 1 + 1 + sign.SignatureLen // instance 1 and sequence number 0: one byte each
	for i := 1; i < hdr; i++ {
		f.feed(pk[:i])
	}
	f.checkDrops(t, map[string]uint64{"malformed": 4 + uint64(hdr) - 1, "unsigned": 3})
	f.expect(t, 0, 0)
	f.feed(pk)
	f.expect(t, 0, 1)
}

// Any change to a bound SIGNED packet, the salt included, is caught; the
// genuine packet goes through afterwards.
func TestBoundTampered(t *testing.T) {
	x := ident(t, 1)
	c := bound(config(x, trust(t, x), 1), onChannel, testSalt)
	f := newFixture(t, c, c, boundFlow(x, testSalt))
	f.sendN(t, 0, 1)
	genuine := f.take()[0]
	for i := range genuine {
		b := bytes.Clone(genuine)
		b[i] ^= 0x20
		f.feed(b)
	}
	f.expect(t, 0, 0)
	if d := f.drops(); d["wrong-member"] != 8 { // each byte of the salt
		t.Fatalf("drops %v", d)
	}
	f.feed(genuine)
	f.expect(t, 0, 1)
}
