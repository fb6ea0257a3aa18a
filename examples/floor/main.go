package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/floor"
)

func main() {
	url := flag.String("url", "floor://239.7.7.8:7401?iface=lo", "channel URL (name your LAN interface in iface= to share a floor across machines)")
	name := flag.String("name", os.Getenv("USER"), "your name (unique among the members)")
	voters := flag.String("voters", "ana,ben,cy", "the voters, comma-separated")
	mode := flag.String("mode", "everywhere", "everywhere (the coordinator moves with the floor) or localised (it stays)")
	policy := flag.String("policy", "fifo", "fifo, priority, preemptive or delayed")
	demo := flag.Bool("demo", false, "play a session of three members, with a crash, and exit")
	flag.Parse()
	cfg := floor.Config{Name: *name, Voters: strings.Split(*voters, ",")}
	switch *mode {
	case "everywhere":
		cfg.Mode = floor.Everywhere
	case "localised":
		cfg.Mode = floor.Localised
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
	p, ok := map[string]floor.Policy{"fifo": floor.FIFO, "priority": floor.Priority,
		"preemptive": floor.Preemptive, "delayed": floor.DelayedPreemptive}[*policy]
	if !ok {
		log.Fatalf("unknown -policy %q", *policy)
	}
	cfg.Policy = p
	var err error
	if *demo {
		err = runDemo(os.Stdout, *url, cfg.Mode)
	} else {
		err = run(*url, cfg)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func describe(st floor.State) string {
	var q []string
	for _, e := range st.Queue {
		q = append(q, e.Member.Name)
	}
	h := st.Holder.Name
	if h == "" {
		h = "nobody"
	}
	return fmt.Sprintf("%s holds the floor, queue [%s], coordinator %s (epoch %d)", h, strings.Join(q, " "), st.Coordinator.Name, st.Epoch)
}

func run(url string, cfg floor.Config) error {
	ctx := context.Background()
	ch, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer ch.Close()
	f, err := floor.Open(ch, "stage", cfg, floor.WithEvents(func(e floor.Event) {
		switch e.Kind {
		case floor.Granted, floor.Lapsed, floor.Lost, floor.Preempted, floor.Coordinating:
			fmt.Printf("%s you: %v\n", time.Now().Format("15:04:05.000"), e)
		}
	}))
	if err != nil {
		return err
	}
	defer f.Close()
	go func() {
		last := ""
		for {
			changed := f.Changed()
			if s := describe(f.State()); s != last {
				fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), s)
				last = s
			}
			<-changed
		}
	}()
	fmt.Printf("joined floor %q on %s as %s (%v, %v); type request [priority], release, state, quit\n", "stage", url, cfg.Name, cfg.Mode, cfg.Policy)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		w := strings.Fields(in.Text())
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "request":
			prio := 0
			if len(w) > 1 {
				prio, _ = strconv.Atoi(w[1])
			}
			go func() {
				if _, err := f.Request(ctx, prio); err != nil {
					fmt.Println("  request:", err)
				}
			}()
		case "release":
			f.Release()
		case "state":
			fmt.Println(" ", describe(f.State()))
		case "quit":
			return nil
		default:
			fmt.Println("  request [priority], release, state or quit")
		}
	}
	return nil
}

// demoMember is one member of the demo, in this process.
type demoMember struct {
	name string
	ch   *channel.Channel
	f    *floor.Floor
}

// runDemo plays a session: three members join, the floor moves from one to
// the next, and the member that coordinates crashes while another holds
// the floor or waits for it; a new coordinator takes over, keeping the
// holder and the queue.
func runDemo(w *os.File, url string, mode floor.Mode) error {
	start := time.Now()
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%6.3fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	voters := []string{"ana", "ben", "cy"}
	ms := map[string]*demoMember{}
	for _, n := range voters {
		ch, err := channel.Open(ctx, url)
		if err != nil {
			return err
		}
		m := &demoMember{name: n, ch: ch}
		m.f, err = floor.Open(ch, "stage", floor.Config{Name: n, Voters: voters, Mode: mode},
			floor.WithEvents(func(e floor.Event) {
				switch e.Kind {
				case floor.Granted, floor.Lost, floor.Lapsed, floor.Coordinating:
					say("    %-4s %v", n, e)
				}
			}))
		if err != nil {
			return err
		}
		defer func() { m.f.Close(); m.ch.Close() }()
		ms[n] = m
	}
	ana, ben, cy := ms["ana"], ms["ben"], ms["cy"]
	say("ana, ben and cy share the floor %q on %s (%v resource, voters %v, lease %v)", "stage", url, mode, voters, floor.DefaultLease)

	// wait polls a condition on the members' views (their goroutines work).
	wait := func(what string, cond func() bool) error {
		for !cond() {
			if ctx.Err() != nil {
				return fmt.Errorf("demo: no %s: %w", what, ctx.Err())
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}
	seenBy := func(m *demoMember, holder string, queue ...string) func() bool {
		return func() bool {
			st := m.f.State()
			var q []string
			for _, e := range st.Queue {
				q = append(q, e.Member.Name)
			}
			return st.Holder.Name == holder && strings.Join(q, " ") == strings.Join(queue, " ")
		}
	}
	if err := wait("coordinator", func() bool { return ana.f.Coordinating() }); err != nil {
		return err
	}
	say("%s", describe(ben.f.State()))

	say("ben asks for the floor")
	g, err := ben.f.Request(ctx, 0)
	if err != nil {
		return err
	}
	say("ben holds it: token %x, valid %v", g.Token, g.Valid())
	say("cy asks too")
	go cy.f.Request(ctx, 0)
	if err := wait("cy queued", seenBy(ana, "ben", "cy")); err != nil {
		return err
	}
	say("%s", describe(ana.f.State()))
	say("ben releases, and asks again")
	g.Release()
	if err := wait("cy holding", func() bool { return cy.f.Grant() != nil }); err != nil {
		return err
	}
	go ben.f.Request(ctx, 0)
	if err := wait("ben queued", seenBy(ana, "cy", "ben")); err != nil {
		return err
	}
	say("%s", describe(ana.f.State()))

	// The coordinator crashes: its channel goes silent, with no goodbye and
	// no hand-over (its Floor is closed after its channel, so what it would
	// say on leaving goes nowhere).
	var victim *demoMember
	for _, m := range ms {
		if m.f.Coordinating() {
			victim = m
		}
	}
	var others []*demoMember
	for _, n := range voters {
		if ms[n] != victim {
			others = append(others, ms[n])
		}
	}
	crashed := time.Now()
	say("%s, the coordinator, crashes", victim.name)
	victim.ch.Close()
	victim.f.Close()
	var heir *demoMember
	if err := wait("a new coordinator", func() bool {
		for _, m := range others {
			if m.f.Coordinating() {
				heir = m
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	// An everywhere resource's holder was the coordinator: ben, next in
	// the queue, takes both. A localised resource's holder keeps the floor.
	holder, next := "cy", "ben"
	if victim == cy {
		holder, next = "ben", ""
	}
	if err := wait("the floor granted again", func() bool { return ms[holder].f.Grant() != nil }); err != nil {
		return err
	}
	if next != "" {
		if err := wait("the queue", seenBy(heir, holder, next)); err != nil {
			return err
		}
	}
	say("%s coordinates %v after the crash; %s", heir.name, time.Since(crashed).Round(time.Millisecond), describe(heir.f.State()))
	say("%s releases", holder)
	ms[holder].f.Release()
	if next != "" {
		if err := wait(next+" holding", func() bool { return ms[next].f.Grant() != nil }); err != nil {
			return err
		}
		say("%s releases", next)
		ms[next].f.Release()
	}
	if err := wait("a free floor", seenBy(others[0], "")); err != nil {
		return err
	}
	say("%s", describe(others[0].f.State()))
	return nil
}
