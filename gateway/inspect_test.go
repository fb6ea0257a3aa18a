package gateway

import (
	"encoding/binary"
	"testing"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// datagram builds a wire v2 datagram from sender with the given frames
// (type, body).
func datagram(sender uint64, frames ...[]byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte{wireMagic, wireVersion << 4}, sender)
	for _, f := range frames {
		b = append(b, f[0])
		b = binary.AppendUvarint(b, uint64(len(f)-1))
		b = append(b, f[1:]...)
	}
	return b
}

func dataFrame(stream uint32, m *stack.Meta, payload string) []byte {
	b := binary.AppendUvarint([]byte{frameData}, uint64(stream))
	b = stack.AppendRelay(b, m)
	return append(b, payload...)
}

func feedbackFrame(target uint64, stream uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte{frameFeedback}, target)
	b = binary.AppendUvarint(b, uint64(stream))
	return append(b, payload...)
}

func TestInspect(t *testing.T) {
	m := &stack.Meta{Media: posting.Video, Flags: stack.FlagDroppable | stack.FlagLeft | stack.FlagFrameEnd, Left: 150, Tag: &stack.Tag{Frame: 9}}
	b := datagram(7, dataFrame(3, m, "xyz"), feedbackFrame(5, 2, []byte("R\x01\x02")))
	var d dgram
	if err := inspect(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.sender != 7 || d.data != 1 || d.stream != 3 || d.meta.Media != posting.Video || d.meta.Frame() != 9 ||
		d.meta.Left != 150 || !d.all || len(d.feedback) != 1 || d.feedback[0].target != 5 || d.frames != 2 {
		t.Fatalf("%+v", d)
	}
	it := newItem(b, &d, t0)
	if !it.Droppable || !it.End || it.Frame != 9 || it.Left.Milliseconds() != 150 {
		t.Fatalf("item %+v", it)
	}
	// Feedback alone is addressed: routed, not broadcast.
	if err := inspect(datagram(7, feedbackFrame(5, 2, nil)), &d); err != nil || d.all || len(d.targets) != 1 {
		t.Fatalf("feedback only: %v %+v", err, d)
	}
	// FEEDBACK_TO (statuses, reports: for the target alone) is feedback
	// as well: read for the client's adaptation, and addressed.
	to := feedbackFrame(5, 2, []byte("R\x01"))
	to[0] = frameFeedbackTo
	if err := inspect(datagram(7, to, feedbackFrame(6, 3, nil)), &d); err != nil || d.all || len(d.targets) != 2 ||
		len(d.feedback) != 2 || d.feedback[0].target != 5 || d.feedback[0].stream != 2 || string(d.feedback[0].payload) != "R\x01" {
		t.Fatalf("FEEDBACK_TO: %v %+v", err, d)
	}
	for name, bad := range map[string][]byte{
		"short":        b[:5],
		"sender 0":     datagram(0),
		"version":      append([]byte{wireMagic, 1 << 4}, b[2:]...),
		"cut frame":    b[:len(b)-1-len("R\x01\x02")-4],
		"bad relay":    datagram(7, []byte{frameData, 1, 0x07}),
		"stream 0":     datagram(7, dataFrame(0, m, "")),
		"keyed, short": append([]byte{wireMagic, wireVersion<<4 | flagAuth}, b[2:12]...),
	} {
		if err := inspect(bad, &d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMonitorOuter(t *testing.T) {
	for qos, want := range map[string]bool{
		"frag/order/window(ttl=200ms)/monitor(report=250ms)": true,
		"monitor":                                true,
		"frag/monitor/encrypt":                   false,
		"frag/order/window/monitor(k=8)/encrypt": false,
		"frag/x(a=monitor/b)":                    false,
	} {
		if got := monitorOuter(qos); got != want {
			t.Errorf("%q: %v", qos, got)
		}
	}
}

// FuzzInspect: whatever arrives, inspect neither panics nor reads past
// the datagram, and what it returns is consistent with the bytes.
func FuzzInspect(f *testing.F) {
	m := &stack.Meta{Media: posting.Audio, Flags: stack.FlagDroppable | stack.FlagLeft, Left: 100, Tag: &stack.Tag{Key: "k"}}
	f.Add(datagram(7, dataFrame(3, m, "xyz"), feedbackFrame(5, 2, []byte("R\x01\x02\x00"))))
	f.Add(datagram(9, []byte{frameAnnounce, 1, 1, 0, 0, 'm', 'o', 'n', 'i', 't', 'o', 'r'}))
	f.Add(datagram(9, []byte{frameQuery, 0, 0, 0, 0, 0, 0, 0, 1, 0}, []byte{99, 1, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d dgram
		if err := inspect(b, &d); err != nil {
			return
		}
		if d.sender == 0 || len(d.targets) > 16 || (!d.all && len(d.targets) == 0) {
			t.Fatalf("%+v", d)
		}
		for _, fb := range d.feedback {
			if fb.off < headerLen || fb.end > len(b) || fb.off >= fb.end {
				t.Fatalf("feedback frame at %d..%d of %d", fb.off, fb.end, len(b))
			}
			monitorReport(fb.payload)
		}
		newItem(b, &d, t0)
	})
}
