package stacktest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
)

// The suite must pass a correct layer and fail broken ones. Broken layers
// run in a child test process, since a failing TestLayer fails its test.

type passthrough struct{ stack.Base }

func (passthrough) Name() string { return "pass" }

// underdeclared pushes 8 bytes but declares 0.
type underdeclared struct{ stack.Base }

func (underdeclared) Name() string { return "underdeclared" }
func (l *underdeclared) Down(p *stack.Packet) error {
	p.Push(8)
	return l.Base.Down(p)
}
func (l *underdeclared) Up(p *stack.Packet) error {
	p.Consume(8)
	return l.Base.Up(p)
}

// leaky keeps every packet it sees on the way up and delivers a copy.
type leaky struct {
	stack.Base
	kept []*stack.Packet
}

func (*leaky) Name() string { return "leaky" }
func (l *leaky) Up(p *stack.Packet) error {
	l.kept = append(l.kept, p)
	return l.Base.Up(p.Clone())
}

// fragile panics on a short packet.
type fragile struct{ stack.Base }

func (fragile) Name() string  { return "fragile" }
func (fragile) Overhead() int { return 2 }
func (l *fragile) Down(p *stack.Packet) error {
	copy(p.Push(2), "OK")
	return l.Base.Down(p)
}
func (l *fragile) Up(p *stack.Packet) error {
	b := p.Bytes()
	if b[0] != 'O' || b[1] != 'K' { // no length check
		p.Release()
		return nil
	}
	p.Consume(2)
	return l.Base.Up(p)
}

// scrambler flips a byte of the payload.
type scrambler struct{ stack.Base }

func (scrambler) Name() string { return "scrambler" }
func (l *scrambler) Up(p *stack.Packet) error {
	if p.Len() > 10 {
		p.Bytes()[10] ^= 1
	}
	return l.Base.Up(p)
}

var broken = map[string]Factory{
	"underdeclared": func() (stack.Layer, error) { return &underdeclared{}, nil },
	"leaky":         func() (stack.Layer, error) { return &leaky{}, nil },
	"fragile":       func() (stack.Layer, error) { return &fragile{}, nil },
	"scrambler":     func() (stack.Layer, error) { return &scrambler{}, nil },
}

func TestSuitePassesCorrectLayer(t *testing.T) {
	TestLayer(t, func() (stack.Layer, error) { return &passthrough{}, nil }, Options{Sizes: []int{0, 1, 100, 1450}})
}

func TestBrokenLayerChild(t *testing.T) {
	name := os.Getenv("STACKTEST_BROKEN")
	if name == "" {
		t.Skip("run by TestSuiteCatchesBrokenLayers")
	}
	TestLayer(t, broken[name], Options{Sizes: []int{0, 1, 100, 1400}})
}

func TestSuiteCatchesBrokenLayers(t *testing.T) {
	for name, want := range map[string]string{
		"underdeclared": "more than its Overhead",
		"leaky":         "not released",
		"fragile":       "panic on garbage input",
		"scrambler":     "came back as",
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenLayerChild$", "-test.v", "-test.timeout=120s")
			cmd.Env = append(os.Environ(), "STACKTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a broken layer:\n%s", out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("failure does not say %q:\n%s", want, out)
			}
		})
	}
}
